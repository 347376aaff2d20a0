import type { AckedReport, FromGenerator, PublishedReport, ToGenerator } from './load/messages.ts'
import type { InfluxBench } from './measure/influx.ts'
import { cpuSeconds, loadAverage, ProcessWindow, type ProcessRef } from './measure/procs.ts'
import { quantile, VisibilityTracker } from './measure/visibility.ts'
import type { TsChild } from './stacks/child.ts'
import type { RunningStack } from './stacks/index.ts'

export const READINGS_PER_MESSAGE = 5
/** The quantity whose points the latency is measured on (one per message). */
const PROBE_QUANTITY = 'pm10'

export interface StepSettings {
  step: number
  rate: number
  durationMs: number
  window: number
  /** Every tenth device: their pm10 points are followed for the latency and the drain (device ids, and their index in the fleet). */
  probes: { ids: string[]; indices: number[] }
  /** The stack's PUBACK means "durable" (SensHagen's embedded broker: stored, or in Kafka), not just "the broker has it" (Mosquitto). */
  pubackMeansDurable: boolean
  pollMs: number
  settleMs: number
  maxDrainMs: number
}

export interface StepResult {
  rate: number
  durationS: number
  /** Observed times (= publish times, epoch ms) of the step's first and last message. */
  observedFromMs: number
  observedToMs: number
  published: number
  /** Messages actually offered per second (published / publishing span). */
  offeredPerS: number
  windowFull: number
  disconnected: number
  acked: number
  unacked: number
  expectedReadings: number
  /** Queryable when the step ended. */
  storedReadings: number
  /** Queryable only later, found by a recount when the stack's last step is over (a backlog that outlived its step). */
  storedLater: number
  /** 1 − (stored + storedLater) / (published × 5): what never became queryable while the stack ran. */
  loss: number
  /** Embedded SensHagen: readings whose PUBACK the device had but that were never stored (must be 0); set by `recount`. */
  ackedNotStored: number
  /** Whether a PUBACK meant durable here (StepSettings.pubackMeansDurable). */
  pubackMeansDurable: boolean
  /** Stored readings ÷ seconds from the first publish until the last probe reading was queryable. */
  storedPerS: number
  /** Seconds from the end of the publishing until the last probe reading was queryable. */
  drainS: number
  drainTimedOut: boolean
  latencyMs: { p50: number; p99: number; max: number; samples: number }
  pubackMs: { p50: number; p99: number; max: number }
  /** CPU seconds of the stack's own processes, and per 1,000 stored readings. */
  cpuS: number
  cpuSPer1kReadings: number
  /** Sum of the stack's own processes' peak RSS. */
  peakRssBytes: number
  processes: Array<ProcessRef & { cpuS: number; peakRssBytes: number; peakFrom: string }>
  /** Shared daemons (Kafka's JVM, influxd) and the load generator, reported apart. */
  others: Array<ProcessRef & { cpuS: number; peakRssBytes: number; peakFrom: string }>
  maxTickGapMs: number
  bumped: number
  closedConnections: Record<string, number>
  pollQueries: number
  pollQueryMsAvg: number
  loadAverage: [number, number, number]
  notes: string[]
}

export interface StepDeps {
  generator: TsChild<ToGenerator, FromGenerator>
  generatorPid: number
  influxdPid: number | undefined
  stack: RunningStack
  influx: InfluxBench
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** A stack counts as idle below this share of one core (Node's timers and MQTT keepalives stay under 5 %). */
const IDLE_CPU_SHARE = 0.1

/**
 * One offered rate on one stack: publish for durationMs, follow the points into InfluxDB until all are
 * queryable, or until the stack is done with fewer: nothing more stored for settleMs after the last PUBACK while
 * its processes sat idle (a stack still working through a backlog keeps a core busy), or maxDrainMs passed.
 * Then count, time and measure. CPU and peak RSS cover the window from the first publish until that end.
 */
export async function runStep(deps: StepDeps, s: StepSettings): Promise<StepResult> {
  const { generator, stack, influx } = deps
  const others: ProcessRef[] = [...stack.shared, { name: 'load generator', pid: deps.generatorPid, own: true }]
  if (deps.influxdPid !== undefined) others.push({ name: 'influxd (shared)', pid: deps.influxdPid, own: false })
  const window = new ProcessWindow([...stack.processes, ...others])
  const load = loadAverage()
  const startWall = Date.now()
  generator.send({ type: 'run', step: s.step, rate: s.rate, durationMs: s.durationMs, window: s.window, ackWaitMs: s.maxDrainMs })
  const probe = { quantity: PROBE_QUANTITY, devices: s.probes.ids }
  const tracker = new VisibilityTracker(influx, probe, startWall - 1)
  let published: PublishedReport | undefined
  let acked: AckedReport | undefined
  let failure: Error | undefined
  void generator
    .next('published', s.durationMs + 60_000)
    .then((report) => {
      published = report
      return generator.next('acked', s.maxDrainMs + 60_000)
    })
    .then((report) => (acked = report))
    .catch((error: Error) => (failure = error))

  let count = 0
  let countChangedAt = 0
  let lastCount = 0
  let drainTimedOut = false
  const cpu: Array<{ at: number; s: number }> = []
  const stackCpu = () => stack.processes.reduce((sum, p) => sum + cpuSeconds(p.pid), 0)
  /** CPU share of one core the stack used over the last settleMs. */
  const recentCpuShare = () => {
    const now = cpu.at(-1)!
    const then = cpu.find((c) => c.at >= now.at - s.settleMs) ?? now
    return now.at > then.at ? (now.s - then.s) / ((now.at - then.at) / 1000) : 1
  }
  for (;;) {
    if (failure) throw failure
    const tick = Date.now()
    await tracker.poll()
    window.sample()
    cpu.push({ at: Date.now(), s: stackCpu() })
    if (published) {
      const report = published
      const publishEnd = startWall + report.spanMs
      if (countChangedAt === 0) countChangedAt = publishEnd
      if (Date.now() - lastCount >= 250) {
        lastCount = Date.now()
        const n = await influx.count(report.firstObservedMs, report.lastObservedMs, probe)
        if (n !== count) (count = n), (countChangedAt = Date.now())
      }
      const probesPublished = s.probes.indices.reduce((sum, i) => sum + report.publishedPerDevice[i]!, 0)
      if (acked && count >= probesPublished) break
      if (acked && Date.now() - countChangedAt >= s.settleMs && recentCpuShare() < IDLE_CPU_SHARE) break
      if (Date.now() - publishEnd > s.maxDrainMs) {
        drainTimedOut = true
        break
      }
    }
    await sleep(Math.max(10, s.pollMs - (Date.now() - tick)))
  }
  const measured = window.finish()
  const endPoll = Date.now()
  await tracker.poll()
  const p = published!
  const stored = await influx.count(p.firstObservedMs, p.lastObservedMs)
  const { sorted, lastVisibleMs } = tracker.latencies(await influx.observedTimes(probe, p.firstObservedMs, p.lastObservedMs), endPoll)
  const own = measured.slice(0, stack.processes.length)
  const cpuS = own.reduce((sum, x) => sum + x.cpuS, 0)
  const expected = p.published * READINGS_PER_MESSAGE
  const ackedCount = acked?.acked ?? 0
  const result: StepResult = {
    rate: s.rate,
    durationS: s.durationMs / 1000,
    observedFromMs: p.firstObservedMs,
    observedToMs: p.lastObservedMs,
    published: p.published,
    offeredPerS: p.published / (p.spanMs / 1000),
    windowFull: p.windowFull,
    disconnected: p.disconnected,
    acked: ackedCount,
    unacked: acked?.unacked ?? p.published,
    expectedReadings: expected,
    storedReadings: stored,
    storedLater: 0,
    loss: expected === 0 ? 0 : 1 - stored / expected,
    ackedNotStored: 0,
    pubackMeansDurable: s.pubackMeansDurable,
    storedPerS: stored / (Math.max(lastVisibleMs - p.firstObservedMs, p.spanMs) / 1000),
    drainS: Math.max(0, (lastVisibleMs - (startWall + p.spanMs)) / 1000),
    drainTimedOut,
    latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? 0, samples: sorted.length },
    pubackMs: { p50: acked?.pubackP50Ms ?? 0, p99: acked?.pubackP99Ms ?? 0, max: acked?.pubackMaxMs ?? 0 },
    cpuS,
    cpuSPer1kReadings: stored === 0 ? 0 : cpuS / (stored / 1000),
    peakRssBytes: own.reduce((sum, x) => sum + x.peakRssBytes, 0),
    processes: own,
    others: measured.slice(stack.processes.length),
    maxTickGapMs: p.maxTickGapMs,
    bumped: p.bumped,
    closedConnections: acked?.closed ?? {},
    pollQueries: tracker.queries,
    pollQueryMsAvg: tracker.queries ? tracker.queryMs / tracker.queries : 0,
    loadAverage: load,
    notes: [],
  }
  result.notes = notesFor(result, s)
  return result
}

function notesFor(r: StepResult, s: StepSettings): string[] {
  const notes: string[] = []
  const due = Math.floor((s.rate * s.durationMs) / 1000)
  if (r.published < 0.99 * due) {
    notes.push(`publisher offered only ${((100 * r.published) / due).toFixed(0)} % of the rate (${r.windowFull} skipped at a full in-flight window, ${r.disconnected} for closed connections)`)
  }
  if (r.maxTickGapMs > 100) notes.push(`load generator stalled up to ${r.maxTickGapMs.toFixed(0)} ms (publishes went out in bursts)`)
  if (r.drainTimedOut) notes.push(`still not all stored ${s.maxDrainMs / 1000} s after the publishing ended`)
  if (r.unacked > 0) notes.push(`${r.unacked} messages never acknowledged`)
  const closed = Object.entries(r.closedConnections)
  if (closed.length > 0) notes.push(`connections closed: ${closed.map(([why, n]) => `${n} ${why}`).join(', ')}`)
  return notes
}

/**
 * After a stack's last step and its cool-down: counts each step's readings again. What became queryable after
 * its step ended (a backlog that outlived the step, stored during the next ones) is storedLater; the loss is what
 * never did while the stack ran (`stackIdle` false: it was still working when the cool-down gave up).
 */
export async function recount(influx: InfluxBench, steps: StepResult[], stackIdle: boolean): Promise<void> {
  for (const step of steps) {
    step.storedLater = Math.max(0, (await influx.count(step.observedFromMs, step.observedToMs)) - step.storedReadings)
    step.loss = step.expectedReadings === 0 ? 0 : 1 - (step.storedReadings + step.storedLater) / step.expectedReadings
    if (step.pubackMeansDurable) step.ackedNotStored = Math.max(0, step.acked * READINGS_PER_MESSAGE - step.storedReadings - step.storedLater)
    if (step.ackedNotStored > 0) step.notes.push(`${step.ackedNotStored} readings acknowledged (PUBACK) but never stored`)
    if (step.storedLater > 0) step.notes.push(`${step.storedLater} readings became queryable only after the step ended (not in its readings/s)`)
    if (step.loss > 0 && !stackIdle) step.notes.push('the stack was still busy when it was stopped: some of the loss may be a backlog it had not stored yet')
  }
}

/**
 * Waits until the stack's processes idle (under IDLE_CPU_SHARE of a core over one second), at most maxMs, so
 * that a backlog left by a step that timed out does not run into the next one. Returns the seconds waited.
 */
export async function coolDown(stack: RunningStack, maxMs: number): Promise<{ waitedS: number; idle: boolean }> {
  const start = Date.now()
  const cpu = () => stack.processes.reduce((sum, p) => sum + cpuSeconds(p.pid), 0)
  for (;;) {
    const before = cpu()
    await sleep(1_000)
    const idle = cpu() - before < IDLE_CPU_SHARE
    if (idle || Date.now() - start >= maxMs) return { waitedS: (Date.now() - start) / 1000, idle }
  }
}
