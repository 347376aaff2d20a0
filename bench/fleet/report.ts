import { rangeLines, type AggregateStep, type Round } from './rounds.ts'
import type { StackId } from './stacks/index.ts'
import type { StepResult } from './step.ts'

/** The results of one stack: its steps in rate order, or the error that stopped it. */
export interface StackResult {
  id: StackId
  label: string
  steps: StepResult[]
  error?: string
  /** On a result aggregated over rounds (`--repeat`): the rounds the stack ran in. */
  rounds?: number[]
}

export interface Target {
  name: string
  status: 'PASS' | 'FAIL' | 'n/a'
  detail: string
}

const MB = 1024 * 1024
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

export const TABLE_HEADER = `${'stack'.padEnd(11)}${'msg/s'.padStart(7)}${'offered'.padStart(9)}${'readings/s'.padStart(12)}${'loss'.padStart(8)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'PUBACK p99'.padStart(11)}${'drain s'.padStart(8)}${'CPU s/1k'.padStart(9)}${'RSS MB'.padStart(8)}`

/** One table row; notes follow on their own lines. */
export function formatRow(id: string, r: StepResult): string {
  const row =
    id.padEnd(11) +
    num(r.rate).padStart(7) +
    num(r.offeredPerS).padStart(9) +
    num(r.storedPerS).padStart(12) +
    `${(100 * r.loss).toFixed(r.loss > 0 && r.loss < 0.001 ? 3 : 1)}%`.padStart(8) +
    num(r.latencyMs.p50).padStart(8) +
    num(r.latencyMs.p99).padStart(8) +
    num(r.pubackMs.p99).padStart(11) +
    r.drainS.toFixed(1).padStart(8) +
    r.cpuSPer1kReadings.toFixed(3).padStart(9) +
    num(r.peakRssBytes / MB).padStart(8)
  const jvm = r.others.filter((p) => p.name.includes('JVM')).map((p) => `${''.padEnd(11)}  + ${p.name}: ${(p.cpuS / (r.storedReadings / 1000 || 1)).toFixed(3)} CPU s/1k readings, ${num(p.peakRssBytes / MB)} MB RSS (not in the row)`)
  return [row, ...jvm, ...r.notes.map((n) => `${''.padEnd(11)}  ! ${n}`)].join('\n')
}

/** Highest readings/s stored over the rates: the stack's throughput at saturation. */
export function saturation(stack: StackResult | undefined): number | undefined {
  if (!stack || stack.steps.length === 0) return undefined
  return Math.max(...stack.steps.map((s) => s.storedPerS))
}

function stepAt(stack: StackResult | undefined, rate: number): StepResult | undefined {
  return stack?.steps.find((s) => s.rate === rate)
}

/** The ratios the benchmark prints, as [stack, base] pairs of the given stacks: each one over the ceiling, then over Node-RED. */
export function ratioPairs(ids: readonly StackId[]): Array<[StackId, StackId]> {
  return (['ceiling', 'node-red'] as const).filter((base) => ids.includes(base)).flatMap((base) => ids.filter((id) => id !== base && id !== 'ceiling').map((id): [StackId, StackId] => [id, base]))
}

/** Ratio lines: each stack's readings/s over the ceiling's and Node-RED's, per rate and at saturation. */
export function ratioLines(results: StackResult[], rates: number[]): string[] {
  const byId = new Map(results.map((r) => [r.id, r]))
  const lines = [`${'ratio (readings/s stored)'.padEnd(28)}${rates.map((r) => num(r).padStart(9)).join('')}${'saturation'.padStart(12)}`]
  for (const [stackId, baseId] of ratioPairs(results.map((r) => r.id))) {
    const base = byId.get(baseId)!
    const stack = byId.get(stackId)!
    if (base.steps.length > 0 && stack.steps.length > 0) {
      const perRate = rates.map((rate) => {
        const a = stepAt(stack, rate)
        const b = stepAt(base, rate)
        return (a && b && b.storedPerS > 0 ? `${(a.storedPerS / b.storedPerS).toFixed(2)}×` : '-').padStart(9)
      })
      const sat = saturation(stack)! / saturation(base)!
      lines.push(`${`${stack.id} / ${baseId}`.padEnd(28)}${perRate.join('')}${`${sat.toFixed(2)}×`.padStart(12)}`)
    }
  }
  return lines
}

/** The issue's targets (issue 9 item 6), each PASS, FAIL or n/a when the run lacks the stack or rate. */
export function evaluateTargets(results: StackResult[]): Target[] {
  const byId = new Map(results.map((r) => [r.id, r]))
  const targets: Target[] = []
  const ratio = (name: string, a: StackId, b: StackId, min: number) => {
    const x = saturation(byId.get(a))
    const y = saturation(byId.get(b))
    if (x === undefined || y === undefined || y === 0) return targets.push({ name, status: 'n/a', detail: `needs ${a} and ${b}` })
    // a ratio just under its target gets a third digit, so that a FAIL never reads "0.80×" against 0.8
    const digits = x / y < min && (x / y).toFixed(2) === min.toFixed(2) ? 3 : 2
    targets.push({ name, status: x / y >= min ? 'PASS' : 'FAIL', detail: `${(x / y).toFixed(digits)}× (${num(x)} vs ${num(y)} readings/s at saturation)` })
  }
  ratio('direct mode ≥ 0.8× the ceiling', 'direct', 'ceiling', 0.8)
  ratio('Kafka mode ≥ 0.4× the ceiling', 'kafka', 'ceiling', 0.4)
  ratio('direct mode ≥ 4× Node-RED', 'direct', 'node-red', 4)
  const p99 = (name: string, id: StackId, maxMs: number) => {
    const step = stepAt(byId.get(id), 1000)
    if (!step) return targets.push({ name, status: 'n/a', detail: `needs ${id} at 1000 msg/s` })
    targets.push({ name, status: step.latencyMs.p99 <= maxMs ? 'PASS' : 'FAIL', detail: `p99 ${num(step.latencyMs.p99)} ms` })
  }
  p99('p99 publish→queryable ≤ 1 s at 1k msg/s (direct)', 'direct', 1000)
  p99('p99 publish→queryable ≤ 2 s at 1k msg/s (Kafka)', 'kafka', 2000)
  for (const id of ['direct', 'kafka', 'subscribed'] as const) {
    const name = `resident memory ≤ 300 MB at 10k msg/s (${id}${id === 'kafka' ? ', JVM apart' : ''})`
    const step = stepAt(byId.get(id), 10_000)
    if (!step) targets.push({ name, status: 'n/a', detail: `needs ${id} at 10000 msg/s` })
    else targets.push({ name, status: step.peakRssBytes <= 300 * MB ? 'PASS' : 'FAIL', detail: `peak ${num(step.peakRssBytes / MB)} MB (${step.processes.map((p) => `${p.name} ${num(p.peakRssBytes / MB)}`).join(' + ')})` })
  }
  for (const id of ['direct', 'kafka', 'subscribed'] as const) {
    const stack = byId.get(id)
    const name = `no loss at QoS 1 (${id})`
    if (!stack || stack.steps.length === 0) {
      targets.push({ name, status: 'n/a', detail: stack?.error ?? `needs ${id}` })
      continue
    }
    const lost = stack.steps.filter((s) => s.loss > 0 || s.ackedNotStored > 0)
    targets.push({
      name,
      status: lost.length === 0 ? 'PASS' : 'FAIL',
      detail: lost.length === 0 ? 'every published reading stored' : lost.map((s) => `${num(s.rate)} msg/s: ${num(s.expectedReadings - s.storedReadings - s.storedLater)} never stored${s.ackedNotStored > 0 ? `, ${num(s.ackedNotStored)} acknowledged but not stored` : ''}${overRounds(s)}`).join('; '),
    })
  }
  return targets
}

/** For a step aggregated over rounds, what its counts are summed over. */
function overRounds(step: AggregateStep): string {
  return step.rounds ? ` (sum over rounds ${step.rounds.join(', ')})` : ''
}

/** Markdown table: header and one row per stack and rate; `withNotes` false drops the notes column (the rounds' compact tables). */
function markdownTable(results: StackResult[], withNotes: boolean): string[] {
  const lines = [
    `| stack | offered msg/s (of) | readings/s stored | loss | p50 / p99 ms | PUBACK p99 ms | CPU s / 1k readings | peak RSS MB |${withNotes ? ' notes |' : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|---:|${withNotes ? '---|' : ''}`,
  ]
  for (const stack of results) {
    if (stack.error) lines.push(`| ${stack.id} | | | | | | | | failed: ${stack.error} |`)
    for (const r of stack.steps) {
      const jvm = r.others.find((p) => p.name.includes('JVM'))
      const notes = [...(jvm ? [`JVM apart: ${(jvm.cpuS / (r.storedReadings / 1000 || 1)).toFixed(3)} CPU s/1k, ${num(jvm.peakRssBytes / MB)} MB`] : []), ...r.notes].join('; ')
      lines.push(
        `| ${stack.id} | ${num(r.offeredPerS)} (${num(r.rate)}) | ${num(r.storedPerS)} | ${(100 * r.loss).toFixed(1)} % | ${num(r.latencyMs.p50)} / ${num(r.latencyMs.p99)} | ${num(r.pubackMs.p99)} | ${r.cpuSPer1kReadings.toFixed(3)} | ${num(r.peakRssBytes / MB)} |${withNotes ? ` ${notes} |` : ''}`,
      )
    }
  }
  return lines
}

/**
 * The results as Markdown (docs/benchmarks.md quotes it): one table row per stack and rate, ratios, targets.
 * With several `rounds` (`--repeat`), `results` are their aggregate (rounds.ts); then the ranges of the ratios
 * over the rounds follow, and one compact table per round (no notes: the aggregate's carry them).
 */
export function markdownReport(results: StackResult[], rates: number[], targets: Target[], header: string, rounds: Round[] = []): string {
  const lines = [header, '', ...markdownTable(results, true)]
  lines.push('', '```', ...ratioLines(results, rates), ...(rounds.length > 1 ? ['', ...rangeLines(rounds)] : []), '```', '', '| target | result | |', '|---|---|---|')
  for (const t of targets) lines.push(`| ${t.name} | ${t.status} | ${t.detail} |`)
  if (rounds.length > 1) for (const [i, round] of rounds.entries()) lines.push('', `Round ${i + 1} of ${rounds.length}:`, '', ...markdownTable(round, false))
  return `${lines.join('\n')}\n`
}
