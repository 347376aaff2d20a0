import { median } from 'simple-statistics'
import { ratioPairs, saturation, type StackResult } from './report.ts'
import type { StepResult } from './step.ts'

/**
 * `--repeat N`: the run goes in rounds, each one running the selected stacks in the usual order (Node-RED only
 * in round 1 unless --repeat-node-red). A round is the list of its stacks' results, exactly as a single run
 * measures them. This file turns the rounds into one result per stack and rate (the tables, ratios and targets
 * read it like one round's) and gives the range of each ratio over the rounds.
 */
export type Round = StackResult[]

/** One step standing for the rounds: which rounds it aggregates (1-based). Absent on a round's own step. */
export type AggregateStep = StepResult & { rounds?: number[] }

/**
 * Per stack (in the order of first appearance) and rate, one step aggregating that step over the rounds the
 * stack ran in (a step missing in a round, because the stack failed there, is left out); `rounds` on the stack
 * lists them, `error` joins the rounds' errors ("round 2: …"). With a single round the round itself is
 * returned unchanged. See `aggregateSteps` for how each figure is aggregated.
 */
export function aggregateRounds(rounds: Round[]): StackResult[] {
  if (rounds.length === 1) return rounds[0]!
  const ids = stackIds(rounds)
  return ids.map((id) => {
    const ran = rounds.flatMap((round, i) => round.filter((stack) => stack.id === id).map((stack) => ({ round: i + 1, stack })))
    const errors = ran.filter((r) => r.stack.error !== undefined).map((r) => `round ${r.round}: ${r.stack.error}`)
    const rates = [...new Set(ran.flatMap((r) => r.stack.steps.map((step) => step.rate)))]
    const steps = rates.map((rate) => aggregateSteps(ran.flatMap((r) => r.stack.steps.filter((step) => step.rate === rate).map((step) => ({ round: r.round, step })))))
    return { id, label: ran[0]!.stack.label, steps, rounds: ran.map((r) => r.round), ...(errors.length > 0 ? { error: errors.join('; ') } : {}) }
  })
}

/**
 * One stack's step at one rate over several rounds (at least one), in the shape of one round's step:
 * - median: offered msg/s, readings/s stored, p50 and p99 publish → queryable, PUBACK p50 and p99, drain s,
 *   CPU s per 1,000 readings, the poll query time;
 * - maximum (the targets are bounds, and a loss in any round must show): loss, peak RSS (with the per-process
 *   figures of the round that peaked), the latency and PUBACK maxima, the generator's longest stall, the load
 *   averages; the shared processes' (Kafka JVM, influxd, generator) peak RSS;
 * - summed: the counts (published, acknowledged, expected, stored, stored later, acknowledged but not stored,
 *   skipped turns, closed connections, latency samples, poll queries) and CPU seconds, the shared processes'
 *   CPU seconds too (so a row's JVM CPU per 1,000 readings is pooled over the rounds);
 * - notes: each round's, as "round r: …", and the loss of every round when one lost readings.
 * A single round's step is returned as it is.
 */
export function aggregateSteps(list: Array<{ round: number; step: StepResult }>): AggregateStep {
  if (list.length === 1) return list[0]!.step
  const steps = list.map((x) => x.step)
  const med = (f: (s: StepResult) => number) => median(steps.map(f))
  const most = (f: (s: StepResult) => number) => Math.max(...steps.map(f))
  const sum = (f: (s: StepResult) => number) => steps.reduce((total, s) => total + f(s), 0)
  const peak = steps.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a))
  const closed: Record<string, number> = {}
  for (const s of steps) for (const [why, n] of Object.entries(s.closedConnections)) closed[why] = (closed[why] ?? 0) + n
  const others = steps[0]!.others.map((p) => {
    const same = steps.flatMap((s) => s.others.filter((o) => o.name === p.name))
    return { ...p, cpuS: same.reduce((total, o) => total + o.cpuS, 0), peakRssBytes: Math.max(...same.map((o) => o.peakRssBytes)) }
  })
  const notes = list.flatMap(({ round, step }) => step.notes.map((note) => `round ${round}: ${note}`))
  if (steps.some((s) => s.loss > 0)) notes.unshift(`loss per round: ${list.map(({ round, step }) => `${round}: ${(100 * step.loss).toFixed(step.loss > 0 && step.loss < 0.001 ? 3 : 1)} %`).join(', ')}`)
  return {
    ...steps[0]!,
    rounds: list.map((x) => x.round),
    observedFromMs: Math.min(...steps.map((s) => s.observedFromMs)),
    observedToMs: most((s) => s.observedToMs),
    published: sum((s) => s.published),
    offeredPerS: med((s) => s.offeredPerS),
    windowFull: sum((s) => s.windowFull),
    disconnected: sum((s) => s.disconnected),
    acked: sum((s) => s.acked),
    unacked: sum((s) => s.unacked),
    expectedReadings: sum((s) => s.expectedReadings),
    storedReadings: sum((s) => s.storedReadings),
    storedLater: sum((s) => s.storedLater),
    loss: most((s) => s.loss),
    ackedNotStored: sum((s) => s.ackedNotStored),
    storedPerS: med((s) => s.storedPerS),
    drainS: med((s) => s.drainS),
    drainTimedOut: steps.some((s) => s.drainTimedOut),
    latencyMs: { p50: med((s) => s.latencyMs.p50), p99: med((s) => s.latencyMs.p99), max: most((s) => s.latencyMs.max), samples: sum((s) => s.latencyMs.samples) },
    pubackMs: { p50: med((s) => s.pubackMs.p50), p99: med((s) => s.pubackMs.p99), max: most((s) => s.pubackMs.max) },
    cpuS: sum((s) => s.cpuS),
    cpuSPer1kReadings: med((s) => s.cpuSPer1kReadings),
    peakRssBytes: peak.peakRssBytes,
    processes: peak.processes,
    others,
    maxTickGapMs: most((s) => s.maxTickGapMs),
    bumped: sum((s) => s.bumped),
    closedConnections: closed,
    pollQueries: sum((s) => s.pollQueries),
    pollQueryMsAvg: med((s) => s.pollQueryMsAvg),
    loadAverage: [0, 1, 2].map((i) => most((s) => s.loadAverage[i]!)) as [number, number, number],
    notes,
  }
}

/** The stacks of the rounds, each once, in the order of first appearance. */
function stackIds(rounds: Round[]): StackResult['id'][] {
  return [...new Set(rounds.flatMap((round) => round.map((stack) => stack.id)))]
}

/** One ratio at saturation in every round that had both stacks (`round` 1-based). */
export interface RoundRatios {
  stack: string
  base: string
  perRound: Array<{ round: number; ratio: number }>
}

/**
 * Per ratio of the ratio table (each stack over the ceiling, and over Node-RED), the ratio of the two stacks'
 * readings/s at saturation in each round that had both. A base that ran in one round only (Node-RED without
 * --repeat-node-red) is compared from that round with every round of the other stack.
 */
export function roundRatios(rounds: Round[]): RoundRatios[] {
  const ran = (id: string) => rounds.map((round) => round.find((stack) => stack.id === id))
  const ids = stackIds(rounds)
  return ratioPairs(ids).map(([stack, base]) => {
    const bases = ran(base)
    const only = bases.filter((b) => b !== undefined)
    const perRound = ran(stack).flatMap((s, i) => {
      const x = saturation(s)
      const y = saturation(bases[i] ?? (only.length === 1 ? only[0] : undefined))
      return x === undefined || y === undefined || y === 0 ? [] : [{ round: i + 1, ratio: x / y }]
    })
    return { stack, base, perRound }
  })
}

/** Text lines: per ratio at saturation, its range over the rounds (min–max) and each round's ratio ('-': not both in that round). */
export function rangeLines(rounds: Round[]): string[] {
  const lines = [`${'ratio at saturation'.padEnd(28)}${'range over rounds'.padStart(18)}   per round (${rounds.map((_, i) => i + 1).join(' / ')})`]
  const ranOnce = (id: string) => !rounds.slice(1).some((round) => round.some((s) => s.id === id))
  for (const { stack, base, perRound } of roundRatios(rounds)) {
    if (perRound.length === 0) continue
    const ratios = perRound.map((r) => r.ratio)
    const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`
    const each = rounds.map((_, i) => perRound.find((r) => r.round === i + 1)?.ratio.toFixed(2) ?? '-').join(' / ')
    lines.push(`${`${stack} / ${base}`.padEnd(28)}${range.padStart(18)}   ${each}${base === 'node-red' && perRound.length > 1 && ranOnce(base) ? '  (Node-RED: round 1)' : ''}`)
  }
  return lines
}
