import { parseArgs } from 'node:util'
import { STACK_IDS, type StackId } from './stacks/index.ts'

/** `npm run bench -- [options]`; `--help` prints USAGE. */
export interface BenchOptions {
  stacks: StackId[]
  /** Offered rates, messages per second (five readings each). */
  rates: number[]
  durationS: number
  /** Rounds: each runs every selected stack again, in the same order; the tables report the median over them. */
  repeat: number
  /** Node-RED in every round, not only in round 1. */
  repeatNodeRed: boolean
  devices: number
  /** Unacknowledged publishes one device connection may have; a device at its window skips its turn. */
  window: number
  pollMs: number
  /** A step ends once its readings are all queryable, or nothing was stored for this long after the last PUBACK while the stack idled. */
  settleS: number
  /** …or at the latest this long after the publishing ended. */
  maxDrainS: number
  cpuProf: boolean
  keepData: boolean
  note: string | undefined
  out: string | undefined
  influxUrl: string
  kafkaBrokers: string
}

export const USAGE = `npm run bench -- [options]     (needs npm run infra:up: InfluxDB, Kafka; Mosquitto is started per stack)

  --stacks LIST      comma-separated, of ${STACK_IDS.join(', ')} (default: all, in that order)
  --rates LIST       offered msg/s, five readings each (default 1000,5000,10000,20000)
  --duration S       seconds of publishing per rate (default 8)
  --quick            --duration 3 --settle 2 --max-drain 30: a short but complete run (per round)
  --repeat N         run in N rounds, each stack again in the same order (default 1); the table then reports
                     per stack and rate the median over the rounds (peak RSS and loss: the worst round), the
                     ratios on those medians with their range over the rounds, and the targets on the medians
  --repeat-node-red  Node-RED in every round too; without it Node-RED runs in round 1 only: its backlogs make
                     each of its rounds take about 5 minutes, and its ratio's margin is large
  --devices N        device connections, each its own login (default 100, at least 100 for a recorded run)
  --window N         unacknowledged QoS 1 publishes per connection (default 100)
  --poll-ms MS       InfluxDB poll interval for the latency (default 100)
  --settle S         a step that stores fewer readings than were published ends once nothing new was stored
                     for S s after the last PUBACK and the stack's processes are idle (default 3)
  --max-drain S      give up waiting for a step's readings S s after its publishing ended (default 60)
  --cpu-prof         run SensHagen's server processes with node --cpu-prof; profiles and their top functions
                     go to the run's log folder
  --keep-data        keep the InfluxDB databases (bench_<run>_<stack>, _r<round> with --repeat) instead of
                     dropping them
  --note TEXT        stored with the results (e.g. "machine busy")
  --out FILE         results JSON (default reports/bench-<date-time>.json)
  --influx URL       InfluxDB 1.x (default SENSHAGEN_INFLUX_URL or http://127.0.0.1:8086)
  --kafka LIST       Kafka brokers (default SENSHAGEN_KAFKA_BROKERS or 127.0.0.1:9092)

SENSHAGEN_* variables in the environment reach SensHagen's processes (e.g. SENSHAGEN_WRITER_BATCH_SIZE).`

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      stacks: { type: 'string' },
      rates: { type: 'string' },
      duration: { type: 'string' },
      quick: { type: 'boolean' },
      repeat: { type: 'string' },
      'repeat-node-red': { type: 'boolean' },
      devices: { type: 'string' },
      window: { type: 'string' },
      'poll-ms': { type: 'string' },
      settle: { type: 'string' },
      'max-drain': { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      'keep-data': { type: 'boolean' },
      note: { type: 'string' },
      out: { type: 'string' },
      influx: { type: 'string' },
      kafka: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help'
  const quick = values.quick === true
  const stacks = (values.stacks ?? STACK_IDS.join(',')).split(',').map((s) => s.trim())
  for (const s of stacks) if (!(STACK_IDS as readonly string[]).includes(s)) throw new Error(`--stacks: unknown stack '${s}' (known: ${STACK_IDS.join(', ')})`)
  const options: BenchOptions = {
    stacks: STACK_IDS.filter((id) => stacks.includes(id)),
    rates: (values.rates ?? '1000,5000,10000,20000').split(',').map((r) => positive('--rates', r)),
    durationS: positive('--duration', values.duration ?? (quick ? '3' : '8')),
    repeat: positive('--repeat', values.repeat ?? '1'),
    repeatNodeRed: values['repeat-node-red'] === true,
    devices: Math.round(positive('--devices', values.devices ?? '100')),
    window: Math.round(positive('--window', values.window ?? '100')),
    pollMs: positive('--poll-ms', values['poll-ms'] ?? '100'),
    settleS: positive('--settle', values.settle ?? (quick ? '2' : '3')),
    maxDrainS: positive('--max-drain', values['max-drain'] ?? (quick ? '30' : '60')),
    cpuProf: values['cpu-prof'] === true,
    keepData: values['keep-data'] === true,
    note: values.note,
    out: values.out,
    influxUrl: values.influx ?? process.env.SENSHAGEN_INFLUX_URL ?? 'http://127.0.0.1:8086',
    kafkaBrokers: values.kafka ?? process.env.SENSHAGEN_KAFKA_BROKERS ?? '127.0.0.1:9092',
  }
  if (!Number.isInteger(options.repeat)) throw new Error(`--repeat: expected a whole number of rounds, got '${values.repeat}'`)
  if (options.window > 60_000) throw new Error('--window: at most 60000 (MQTT packet ids are 16 bits)')
  return options
}

function positive(name: string, text: string): number {
  const n = Number(text)
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${name}: expected a positive number, got '${text}'`)
  return n
}

/** Whether `stack` runs in `round` (1-based): every stack in round 1, Node-RED later only with --repeat-node-red. */
export function runsInRound(o: Pick<BenchOptions, 'repeatNodeRed'>, stack: StackId, round: number): boolean {
  return round === 1 || stack !== 'node-red' || o.repeatNodeRed
}

/**
 * A rough run time in seconds for a quiet machine, printed at the start. Per stack and round ~15 s to start it,
 * log in the devices and warm up; per rate its publishing plus ~4 s to drain and idle; Node-RED from 5k msg/s on
 * a backlog it works through for up to 1.2 × --max-drain (at most 10 × --duration). Calibrated on the quiet runs
 * of docs/benchmarks.md: the default run ~10 minutes, half of it Node-RED's; --quick 4.5 minutes.
 */
export function estimateS(o: BenchOptions): number {
  let total = 0
  for (let round = 1; round <= o.repeat; round++) {
    for (const stack of o.stacks.filter((id) => runsInRound(o, id, round))) {
      total += 15
      for (const rate of o.rates) total += o.durationS + 4 + (stack === 'node-red' && rate >= 5000 ? Math.min(1.2 * o.maxDrainS, 10 * o.durationS) : 0)
    }
  }
  return total
}
