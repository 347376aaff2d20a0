import { mkdirSync, writeFileSync } from 'node:fs'
import { publishUntilAcked, type FleetDevice, type FleetMessage, type PublishStats } from '../helpers/fleet.ts'
import { uniqueId, waitFor } from '../helpers/env.ts'
import { Stack, type Mode, type Service, type Topology } from './stack.ts'
import { verify, storedCounts, type Outcome } from './verify.ts'
import { fleet, invalidMessage, message, valuesOf, type WorkloadSize } from './workload.ts'

/**
 * The fault matrix (issue 10, item 4; README "Fault matrix"): one fault at a time, injected into a running
 * deployment while the fleet publishes, then every acknowledged reading must be stored exactly once with its
 * value and time, and every rejection kept with its rule. A scenario = a deployment shape, a fault and, for the
 * data faults, what the devices send after the main traffic.
 */
/** The fleet as a scenario sends it; `conflicts`: the conflicting readings the writer must record in `conflict` device events. */
export interface Shaped {
  main: FleetDevice[]
  later: FleetDevice[][]
  conflicts?: number
}

export interface Scenario {
  key: string
  /** What happens, for the report and the README. */
  fault: string
  modes: Mode[]
  topology: Topology
  calibration?: boolean
  privateInflux?: boolean
  privateKafka?: boolean
  /** Injected once 30 % of the main traffic is acknowledged; resolves when the deployment is whole again. */
  inject?(stack: Stack): Promise<void>
  /** Changes the fleet before it publishes: `main` publishes concurrently (the fault lands in it), then each of `later`. */
  shape?(devices: FleetDevice[], size: WorkloadSize, end: number): Shaped
  /**
   * A known, documented gap: up to `maxLostMessages` acknowledged messages may go missing, and conflict events
   * may record as few as `minConflicts` of the expected conflicting readings (the test still fails beyond either
   * bound); the report marks the row KNOWN with `why` whenever the gap shows, and a loss is printed at error
   * level with its count.
   */
  known?: { maxLostMessages?(size: WorkloadSize): number; minConflicts?(expected: number): number; why: string }
}

const OFFLINE_MS = 30 * 60_000
const FAST_MS = 10 * 60_000

/** Devices `d` with d % every === at (native ones only when `at` is not 3 mod 4). */
const every = (devices: FleetDevice[], n: number, at: number) => devices.filter((_, d) => d % n === at)

/**
 * The flood of `invalid-flood` and `invalid-restart`: 20 native devices × 60 invalid messages (INVALID_KINDS in
 * turn) observed just after `end`, and one valid message of each of the first 10, observed a minute after `end`.
 */
function invalidFlood(devices: FleetDevice[], end: number): { flood: FleetDevice[]; valid: FleetDevice[] } {
  const natives = devices.filter((d) => !d.id.startsWith('tasmota-')).slice(0, 20)
  return {
    flood: natives.map((device, n) => ({ ...device, messages: Array.from({ length: 60 }, (_, i) => invalidMessage(device.id, end + 1_000 + n * 100 + i, i)) })),
    valid: natives.slice(0, 10).map((device) => ({ ...device, messages: [message(device.id, end + 60_000, valuesOf(devices.indexOf(device), 2000))] })),
  }
}

/** kill -9 of `service` at 30 % of the traffic, the same command started again 1 s later; both modes unless `modes`. */
function kill9(key: string, service: Service, what: string, options: Pick<Scenario, 'topology' | 'calibration'> & { modes?: Mode[] }): Scenario {
  return { key, fault: `kill -9 of ${what}, restarted after 1 s`, modes: ['direct', 'kafka'], ...options, inject: (stack) => stack.kill9AndRestart(service) }
}

export const SCENARIOS: Scenario[] = [
  kill9('broker-kill', 'broker', '`senshagen broker` (embedded broker with the ingest in its process)', { topology: 'broker' }),
  kill9('ingest-kill', 'ingest', '`senshagen ingest` subscribed to the shipped Mosquitto', { topology: 'mosquitto' }),
  kill9('writer-kill', 'writer', '`senshagen writer` (direct mode has no writer process)', { topology: 'broker', modes: ['kafka'] }),
  kill9('calibration-kill', 'calibration', '`senshagen calibration` running beside the broker (its start-up run reads the window the traffic lands in)', { topology: 'broker', calibration: true }),
  kill9('up-kill', 'up', '`senshagen up` (broker, ingest, writer, calibration, API in one process)', { topology: 'up' }),
  {
    key: 'kafka-restart',
    fault: 'restart (SIGTERM, start) of a private Kafka 4.4 KRaft broker',
    modes: ['kafka'],
    topology: 'broker',
    privateKafka: true,
    async inject(stack) {
      await stack.kafka!.stop('SIGTERM')
      await stack.kafka!.start()
    },
  },
  {
    key: 'influx-stop',
    fault: 'private InfluxDB 1.6.7 stopped (SIGTERM) for 60 s, then started on the same data',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    privateInflux: true,
    async inject(stack) {
      await stack.influx!.stop('SIGTERM')
      await new Promise((resolve) => setTimeout(resolve, 60_000))
      await stack.influx!.start()
    },
  },
  {
    key: 'mosquitto-kill',
    fault: 'kill -9 of Mosquitto 2.0 with the shipped configuration (infra/mosquitto/conf.sh), restarted on its persistence after 1 s',
    modes: ['direct', 'kafka'],
    topology: 'mosquitto',
    async inject(stack) {
      await stack.mosquitto!.kill9()
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      await stack.mosquitto!.start()
    },
    known: {
      // Mosquitto reads one packet per connection per loop pass (src/mux_epoll.c) and saves after the pass
      // (src/loop.c), having sent each PUBACK at once (src/handle_publish.c): a kill loses at most the pass it
      // interrupts, one message per publishing connection (README "Brokers and crashes")
      maxLostMessages: (size) => size.devices,
      why: 'Mosquitto sends the PUBACK before the save after its event-loop pass: at most 1 message per publishing connection (README "Brokers and crashes")',
    },
  },
  {
    key: 'offline-backlog',
    fault: 'every 20th device (a Tasmota) offline for 30 min: its messages (observed over the past 30 min) flushed after the others',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    shape(devices, size, end) {
      const offline = new Set(every(devices, 20, 3)) // Tasmotas: their Time is local wall time
      const backlog = [...offline].map((device) => ({
        ...device,
        // as many messages as the others send, spread over the 30 min it was away
        messages: Array.from({ length: size.messages }, (_, seq) => message(device.id, end - OFFLINE_MS + Math.floor((seq * OFFLINE_MS) / size.messages / 1000) * 1000, valuesOf(devices.indexOf(device), 1000 + seq))),
      }))
      return { main: devices.filter((d) => !offline.has(d)), later: [backlog] }
    },
  },
  {
    key: 'invalid-flood',
    fault: '1,200 invalid messages (20 devices × 60: out of range, unknown quantity, broken JSON) after the traffic, then 10 valid ones',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    shape(devices, _size, end) {
      const { flood, valid } = invalidFlood(devices, end)
      return { main: devices, later: [flood, valid] }
    },
  },
  {
    key: 'invalid-restart',
    fault: 'kill -9 of `senshagen broker` (and in Kafka mode of `senshagen writer`) while 20 devices send 1,200 invalid messages and 10 valid ones, restarted after 1 s; then each of the 20 resends 6 of its invalid messages unchanged: every rejection stored once, at its first receipt',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    shape(devices, _size, end) {
      const { flood, valid } = invalidFlood(devices, end)
      // the valid message of a device after its invalid ones, all of it sent while the fault lands
      const sending = flood.map((device, n) => ({ ...device, messages: [...device.messages, ...(valid[n]?.messages ?? [])] }))
      // a device resends what it has no PUBACK for; here, deterministically, 6 each (2 of them broken JSON, which
      // has no observed time): the same rejections again, so none more expected
      const resent = flood.map((device) => ({ ...device, messages: device.messages.slice(0, 6).map((m) => ({ ...m, rejections: [] })) }))
      return { main: sending, later: [resent] }
    },
    async inject(stack) {
      await Promise.all(stack.services.filter((s) => s === 'broker' || s === 'writer').map((s) => stack.processes.get(s)!.kill9()))
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      for (const service of stack.services) if (service === 'broker' || service === 'writer') await stack.startService(service)
    },
  },
  {
    key: 'resends',
    fault: 'after the traffic, 20 devices resend 5 acknowledged messages unchanged and 2 with other values (conflicting)',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    shape(devices) {
      const resending = devices.slice(0, 20)
      const again = resending.map((device) => ({
        ...device,
        messages: [
          ...device.messages.slice(0, 5),
          ...[5, 6].map((seq) => {
            const time = device.messages[seq]!.readings[0]!.time
            return message(device.id, time, valuesOf(devices.indexOf(device), seq, 0.5))
          }),
        ],
      }))
      const conflicting = again.flatMap((device) => device.messages.slice(5))
      return { main: devices, later: [again], conflicts: conflicting.reduce((n, m) => n + m.readings.length, 0) }
    },
  },
  {
    key: 'clock-fast',
    fault: 'every 20th device with its clock 10 min fast: each of its readings dead-lettered time_future, the others stored',
    modes: ['direct', 'kafka'],
    topology: 'broker',
    shape(devices, size, end) {
      const fast = new Set(every(devices, 20, 1))
      const shifted = devices.map((device) => {
        if (!fast.has(device)) return device
        return {
          ...device,
          messages: device.messages.map((m, seq) => {
            const live = end + FAST_MS - (size.messages - seq) * 1_000 // the last `messages` seconds, stamped 10 min ahead
            const sent = message(device.id, live, valuesOf(devices.indexOf(device), seq))
            return { ...sent, readings: [], rejections: sent.readings.map(() => 'time_future') }
          }),
        }
      })
      return { main: shifted, later: [] }
    },
  },
]

export interface ReportRow {
  scenario: string
  mode: Mode
  /** Messages the devices had to publish (each until acknowledged). */
  planned: number
  /** Conflicting readings expected in `conflict` events. */
  conflicts: number
  /** `conflict` events the writers logged having written (each lists one device's conflicting readings of one write). */
  conflictEventsLogged: number
  outcome: Outcome
  stats: PublishStats
  seconds: number
  known?: string
}

/** Runs one scenario in one mode against a registry holding the fleet; never throws for what it measures (the caller asserts). */
export async function runScenario(scenario: Scenario, mode: Mode, size: WorkloadSize, registry: { env: Record<string, string>; secrets: Map<string, string> }): Promise<ReportRow> {
  const startedAt = Date.now()
  const stack = new Stack({ id: uniqueId(`fault_${scenario.key.replace('-', '_')}_${mode}`), mode, topology: scenario.topology, calibration: scenario.calibration, privateInflux: scenario.privateInflux, privateKafka: scenario.privateKafka, registryEnv: registry.env })
  live.add(stack)
  try {
    await stack.start()
    const end = Math.floor(Date.now() / 1000) * 1000 - 60_000
    const secrets = scenario.topology === 'mosquitto' ? undefined : registry.secrets
    const devices = fleet(size, secrets, end)
    const { main, later, conflicts = 0 } = scenario.shape?.(devices, size, end) ?? { main: devices, later: [] }
    const planned = [main, ...later].flat().reduce((n, d) => n + d.messages.length, 0)
    const acked: FleetMessage[] = []
    let finished = 0
    const stats: PublishStats = { sends: 0, resent: 0, reconnects: 0 }
    const publish = async (group: FleetDevice[]) => {
      const results = await Promise.all(group.map((device) => publishUntilAcked(device, { url: stack.mqttUrl, onAcked: (_, m) => void acked.push(m) }).finally(() => finished++)))
      for (const s of results) {
        stats.sends += s.sends
        stats.resent += s.resent
        stats.reconnects += s.reconnects
      }
    }
    const mainTotal = main.reduce((n, d) => n + d.messages.length, 0)
    const running = publish(main)
    const progress = process.env.SENSHAGEN_FAULTS_DEBUG ? setInterval(() => console.log(`${scenario.key} ${mode}: ${acked.length}/${planned} acknowledged, ${finished} devices done`), 5_000) : undefined
    let fault: Promise<void> = Promise.resolve()
    if (scenario.inject) {
      await waitFor('30 % of the traffic acknowledged', () => acked.length >= mainTotal * 0.3, 300_000, 20)
      if (acked.length >= mainTotal) throw new Error('the traffic ended before the fault: make the workload larger')
      fault = scenario.inject(stack)
    }
    await Promise.all([running, fault])
    for (const group of later) await publish(group)
    clearInterval(progress)

    const readings = new Set(acked.flatMap((m) => m.readings.map((r) => `${r.device}|${r.quantity}|${r.time}`))).size
    const rejections = acked.reduce((n, m) => n + m.rejections.length, 0)
    // Kafka mode stores after the PUBACK (the writer); a reading that never comes shows as lost below
    await waitFor('the store caught up', async () => {
      const counts = await storedCounts(stack.influxUrl, stack.database)
      return counts.readings >= readings && counts.rejections >= rejections
    }, 180_000, 500).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 1_500)) // what comes later would be a duplicate
    const outcome = await verify(stack.influxUrl, stack.database, acked)
    // the writer logs each conflict event it writes (core/store/reading-writer.ts): compared with what the store kept
    const conflictEventsLogged = stack.logLines('conflicting resend').length
    if (outcome.lost > 0) console.error(`LOST: ${scenario.key} (${mode}): ${outcome.lostMessages} acknowledged messages (${outcome.lost} readings) not stored${scenario.known ? `; known, bound ${scenario.known.maxLostMessages?.(size) ?? 0} messages: ${scenario.known.why}` : ''}`)
    return { scenario: scenario.key, mode, planned, conflicts, conflictEventsLogged, outcome, stats, seconds: (Date.now() - startedAt) / 1000, known: scenario.known?.why }
  } finally {
    live.delete(stack)
    await stack.stop()
  }
}

const live = new Set<Stack>()

/** Stops every deployment a scenario left running (one that timed out): call in afterAll. */
export async function stopLeftovers(): Promise<void> {
  for (const stack of [...live]) {
    live.delete(stack)
    await stack.stop()
  }
}

/** The report: one line per scenario and mode. */
export function formatReport(rows: ReportRow[]): string {
  const header = ['scenario', 'mode', 'acked msgs', 'acked readings', 'stored', 'lost', 'duplicated', 'contradicting', 'rejections expected/kept', 'conflicts expected/recorded', 'resent', 's', 'note']
  const lines = rows.map((r) => [
    r.scenario,
    r.mode,
    r.outcome.ackedMessages,
    r.outcome.ackedReadings,
    r.outcome.stored,
    r.outcome.lost > 0 ? `${r.outcome.lost} (${r.outcome.lostMessages} msgs)` : 0,
    r.outcome.duplicated,
    r.outcome.contradicting,
    `${r.outcome.rejectionsExpected}/${r.outcome.rejectionsKept}${r.outcome.rejectionsDuplicated ? ` (+${r.outcome.rejectionsDuplicated} twice)` : ''}`,
    `${r.conflicts}/${r.outcome.conflicts} (${r.conflictEventsLogged} events logged, ${r.outcome.conflictEvents} stored)`,
    r.stats.resent,
    r.seconds.toFixed(0),
    r.known && (r.outcome.lost > 0 || r.outcome.conflicts < r.conflicts) ? `KNOWN: ${r.known}` : '',
  ].map(String))
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [row(header), row(widths.map((w) => '-'.repeat(w))), ...lines.map(row)].join('\n')
}

/** Prints the report and writes it to test-artifacts/`name`.md. */
export function printReport(name: string, rows: ReportRow[]): void {
  const text = `Fault matrix (${name}), ${new Date().toISOString()}\n\n${formatReport(rows)}\n`
  console.log(text)
  mkdirSync('test-artifacts', { recursive: true })
  writeFileSync(`test-artifacts/${name}.md`, text)
}

/**
 * The promise of an acknowledgement, checked on one row: every planned message acknowledged, no acknowledged
 * reading lost (a known scenario: at most its documented bound), none duplicated or contradicting, every
 * expected rejection kept once and no other, every conflicting resend recorded.
 */
export function checkRow(row: ReportRow, scenario: Scenario, size: WorkloadSize, expect: typeof import('vitest').expect): void {
  const { outcome } = row
  const context = `${row.scenario} (${row.mode}): ${outcome.examples.join('; ')}`
  expect(outcome.ackedMessages, context).toBe(row.planned)
  expect(outcome.lostMessages, context).toBeLessThanOrEqual(scenario.known?.maxLostMessages?.(size) ?? 0)
  expect(outcome.duplicated, context).toBe(0)
  expect(outcome.contradicting, context).toBe(0)
  expect(outcome.stored, context).toBe(outcome.ackedReadings - outcome.lost)
  expect(outcome.rejectionsKept, context).toBe(outcome.rejectionsExpected)
  expect(outcome.rejectionsUnexpected, context).toBe(0)
  expect(outcome.rejectionsDuplicated, context).toBe(0)
  const minConflicts = scenario.known?.minConflicts?.(row.conflicts) ?? row.conflicts
  expect(outcome.conflicts, context).toBeGreaterThanOrEqual(minConflicts)
  expect(outcome.conflicts, context).toBeLessThanOrEqual(row.conflicts)
}
