import { QUANTITIES, type Quantity } from './quantities.ts'
import type { Reading } from './reading.ts'

/**
 * Quality flags stored with each reading (InfluxDB field `flags`, comma-separated). A flagged reading is
 * stored with its raw value and stays queryable; calibration leaves it out of its fits.
 */
export const FLAGS = {
  /** Outside the quantity's plausible range for the Dutch climate (QUANTITIES[q].plausible). */
  implausible: 'implausible',
  /** Nova Fitness SDS011 at the top of its range: PM2.5 ≥ 999.9, PM10 ≥ 1999.9 µg/m³ (SDS011 datasheet V1.3). */
  saturated: 'saturated',
  /** DS18B20 error values: 85 °C (power-on reset, read before conversion), −127 °C (no device); Maxim DS18B20 datasheet. */
  sensorErrorCode: 'sensor_error_code',
  /** Relative humidity above 100 % (condensation on capacitive sensors). */
  rhAbove100: 'rh_above_100',
  /** PM2.5 greater than PM10 at the same device and time: impossible, PM10 includes PM2.5. */
  pm25GtPm10: 'pm25_gt_pm10',
  /** The same value for at least STUCK.minReadings readings spanning STUCK.minSpanMs. */
  stuck: 'stuck',
  /** A jump from the previous reading (within SPIKE.maxGapMs) larger than SPIKE.step for the quantity. */
  spike: 'spike',
} as const

/** Sensor-specific error and saturation values, judged before the physical range so they are kept, flagged. */
export function sentinelFlag(quantity: Quantity, value: number, sensorModel: string | undefined): string | undefined {
  if (sensorModel === undefined) return undefined
  if (/SDS0/i.test(sensorModel) && ((quantity === 'pm2_5' && value >= 999.9) || (quantity === 'pm10' && value >= 1999.9))) return FLAGS.saturated
  if (/DS18B20/i.test(sensorModel) && quantity === 'air_temperature' && (value === 85 || value === -127)) return FLAGS.sensorErrorCode
  return undefined
}

/** Stuck-value window: CrowdQC+-style persistence check (Fenner et al. 2021, "CrowdQC+", Front. Environ. Sci.). */
export const STUCK = { minReadings: 6, minSpanMs: 3_600_000 }
/** Largest believable change between two readings at most maxGapMs apart, per quantity, canonical unit. */
export const SPIKE = {
  maxGapMs: 15 * 60_000,
  step: { air_temperature: 5, relative_humidity: 25, air_pressure: 5, no2: 200 } as Partial<Record<Quantity, number>>,
  /** PM: a rise to more than `pmFactor` × the previous value and at least `pmMin` µg/m³. */
  pmFactor: 10,
  pmMin: 100,
}
const STUCK_QUANTITIES = new Set<Quantity>(['air_temperature', 'relative_humidity', 'air_pressure', 'pm1', 'pm2_5', 'pm4', 'pm10', 'no2'])
const PM = new Set<Quantity>(['pm1', 'pm2_5', 'pm4', 'pm10'])

interface SeriesState {
  deviceId: string
  quantity: Quantity
  last: number
  lastAt: number
  runValue: number
  runStart: number
  runCount: number
  /** Neighbours in the recency list (`newer` undefined for the most recent, `older` for the least). */
  newer?: SeriesState
  older?: SeriesState
}

/**
 * Adds quality flags to the readings of one message, in place. Stateless checks (implausible, RH above 100,
 * PM2.5 > PM10) look at the reading and its message; stuck and spike compare with the series' previous
 * readings, kept in memory for at most `maxSeries` series (least recently seen dropped first). The history is
 * per process and starts empty after a restart, so the first readings after a restart are not checked for
 * stuck values or spikes.
 */
export class QualityFlagger {
  /** device id → quantity → state: looked up with the reading's own strings, no key string per reading. */
  private readonly series = new Map<string, Map<Quantity, SeriesState>>()
  private size = 0
  /** Most and least recently seen series: moving a series to the front is a few pointer writes, no Map churn. */
  private newest?: SeriesState
  private oldest?: SeriesState

  constructor(private readonly maxSeries = 50_000) {}

  flag(readings: Reading[]): void {
    for (const r of readings) {
      const [low, high] = QUANTITIES[r.quantity].plausible
      if (r.value < low || r.value > high) addFlag(r, FLAGS.implausible)
      if (r.quantity === 'relative_humidity' && r.value > 100) addFlag(r, FLAGS.rhAbove100)
      this.history(r)
    }
    for (const pm25 of readings) {
      if (pm25.quantity !== 'pm2_5') continue
      const pm10 = readings.find((r) => r.quantity === 'pm10' && r.deviceId === pm25.deviceId && r.observedAt === pm25.observedAt)
      if (pm10 && pm25.value > pm10.value) {
        addFlag(pm25, FLAGS.pm25GtPm10)
        addFlag(pm10, FLAGS.pm25GtPm10)
      }
    }
    for (const r of readings) if (r.flags.length > 1) r.flags.sort()
  }

  private history(r: Reading): void {
    let quantities = this.series.get(r.deviceId)
    if (quantities === undefined) this.series.set(r.deviceId, (quantities = new Map()))
    const state = quantities.get(r.quantity)
    if (state === undefined) {
      const created: SeriesState = { deviceId: r.deviceId, quantity: r.quantity, last: r.value, lastAt: r.observedAt, runValue: r.value, runStart: r.observedAt, runCount: 1 }
      quantities.set(r.quantity, created)
      this.size++
      this.touch(created)
      this.evict()
      return
    }
    this.touch(state)
    // a redelivered/out-of-order reading: the history stays, the reading is not judged
    if (r.observedAt <= state.lastAt) return
    const step = SPIKE.step[r.quantity]
    if (r.observedAt - state.lastAt <= SPIKE.maxGapMs) {
      if (step !== undefined && Math.abs(r.value - state.last) > step) addFlag(r, FLAGS.spike)
      if (PM.has(r.quantity) && r.value >= SPIKE.pmMin && r.value > SPIKE.pmFactor * Math.max(state.last, 1)) addFlag(r, FLAGS.spike)
    }
    if (r.value === state.runValue) {
      state.runCount++
      const stuckable = STUCK_QUANTITIES.has(r.quantity) && !(PM.has(r.quantity) && r.value === 0)
      if (stuckable && state.runCount >= STUCK.minReadings && r.observedAt - state.runStart >= STUCK.minSpanMs) addFlag(r, FLAGS.stuck)
    } else {
      state.runValue = r.value
      state.runStart = r.observedAt
      state.runCount = 1
    }
    state.last = r.value
    state.lastAt = r.observedAt
  }

  /** Makes `state` the most recently seen series. */
  private touch(state: SeriesState): void {
    if (this.newest === state) return
    // unlink (a new state has no neighbours and is not the oldest unless it is the only one)
    if (state.newer) state.newer.older = state.older
    if (state.older) state.older.newer = state.newer
    if (this.oldest === state) this.oldest = state.newer
    state.newer = undefined
    state.older = this.newest
    if (this.newest) this.newest.newer = state
    this.newest = state
    this.oldest ??= state
  }

  /** Forgets the least recently seen series beyond `maxSeries`. */
  private evict(): void {
    while (this.size > this.maxSeries && this.oldest) {
      const gone = this.oldest
      this.oldest = gone.newer
      if (this.oldest) this.oldest.older = undefined
      else this.newest = undefined
      gone.newer = undefined
      const quantities = this.series.get(gone.deviceId)!
      quantities.delete(gone.quantity)
      if (quantities.size === 0) this.series.delete(gone.deviceId)
      this.size--
    }
  }
}

function addFlag(reading: Reading, flag: string): void {
  if (!reading.flags.includes(flag)) reading.flags.push(flag)
}
