import { mean, median } from 'simple-statistics'
import type { Reading } from '../reading.ts'
import type { HourlyValue } from './types.ts'

/** One hour in milliseconds. */
export const HOUR_MS = 3_600_000

/** Default share of the expected readings an hour needs to be kept (75 %, the usual hourly-mean rule). */
export const DEFAULT_COMPLETENESS = 0.75

/**
 * Slack on the completeness comparison, in readings: `0.1 * 30` is 3.0000000000000004 in binary floating point,
 * and 3 readings must still count as 3 ≥ 3.
 */
const COUNT_EPSILON = 1e-9

export interface HourlyMeansOptions {
  /** Share 0…1 of the expected readings per hour an hour needs to be kept; default 0.75. */
  completeness?: number
  /** The device's reporting interval, ms (> 0). Default: the median gap between consecutive readings. */
  expectedIntervalMs?: number
}

/**
 * End of the hour `observedAt` (epoch ms UTC) falls in, on the reference convention (core/reference/reference.ts):
 * the hour ending at T covers (T − 1 h, T], so 13:00:00.000Z belongs to the hour ending 13:00Z and
 * 13:00:00.001Z to the hour ending 14:00Z. Pure arithmetic on epoch ms: no time zone, no DST.
 */
export function hourEnding(observedAt: number): number {
  return Math.ceil(observedAt / HOUR_MS) * HOUR_MS
}

/**
 * Hourly means of one device's readings of one quantity, on the reference's grid.
 *
 * - Input: readings of ONE device and ONE quantity (any order; value in the quantity's canonical unit,
 *   observedAt epoch ms UTC). Output: `{ time, value, count }` per kept hour, oldest first; `time` is the end of
 *   the hour (see hourEnding), `value` the mean in the same unit, `count` the readings averaged.
 * - Readings with any quality flag (`flags.length > 0`) are left out of the mean and the count.
 * - Completeness: expected = 3 600 000 / expectedIntervalMs readings per hour; an hour is kept only when
 *   count ≥ completeness × expected (a 148 s device expects 24.3 per hour, so at 0.75 it needs 19).
 *   `expectedIntervalMs` defaults to medianIntervalMs(readings): the median of the gaps between consecutive
 *   distinct observation times of ALL readings (flagged ones too: a flag says the value is doubtful, not that
 *   the device did not report), which is robust against outages and the occasional retransmission.
 * - Errors: readings from more than one device or quantity; completeness outside 0…1; expectedIntervalMs not a
 *   finite number > 0; no expectedIntervalMs and fewer than 2 distinct observation times (nothing to infer
 *   the interval from). No readings at all gives [].
 */
export function hourlyMeans(readings: readonly Reading[], options: HourlyMeansOptions = {}): HourlyValue[] {
  const completeness = options.completeness ?? DEFAULT_COMPLETENESS
  if (!(completeness >= 0 && completeness <= 1)) throw new RangeError(`completeness must be within 0…1, got ${completeness}`)
  if (readings.length === 0) return []
  const first = readings[0]!
  for (const r of readings) {
    if (r.deviceId !== first.deviceId || r.quantity !== first.quantity) {
      throw new Error(`hourlyMeans takes one device and quantity, got ${first.deviceId} ${first.quantity} and ${r.deviceId} ${r.quantity}`)
    }
  }
  const required = completeness * expectedReadingsPerHour(readings, options.expectedIntervalMs)

  const byHour = new Map<number, number[]>()
  for (const r of readings) {
    if (r.flags.length > 0) continue
    const end = hourEnding(r.observedAt)
    const values = byHour.get(end)
    if (values) values.push(r.value)
    else byHour.set(end, [r.value])
  }
  const hours: HourlyValue[] = []
  for (const [time, values] of byHour) {
    if (values.length + COUNT_EPSILON >= required) hours.push({ time, value: mean(values), count: values.length })
  }
  return hours.sort((a, b) => a.time - b.time)
}

/**
 * Readings per hour the device should deliver: 3 600 000 / intervalMs, with intervalMs = `expectedIntervalMs`
 * when given, else medianIntervalMs(readings). Errors as hourlyMeans.
 */
export function expectedReadingsPerHour(readings: readonly Reading[], expectedIntervalMs?: number): number {
  const interval = expectedIntervalMs ?? medianIntervalMs(readings)
  if (!(Number.isFinite(interval) && interval > 0)) throw new RangeError(`expectedIntervalMs must be a finite number > 0, got ${interval}`)
  return HOUR_MS / interval
}

/**
 * Median gap in ms between consecutive distinct observation times (readings sorted by observedAt; repeated
 * times are one observation time). Errors: fewer than 2 distinct times.
 */
export function medianIntervalMs(readings: readonly Reading[]): number {
  const times = [...new Set(readings.map((r) => r.observedAt))].sort((a, b) => a - b)
  if (times.length < 2) {
    throw new Error(`cannot infer the reporting interval from ${times.length} distinct observation time(s); pass expectedIntervalMs`)
  }
  return median(times.slice(1).map((t, i) => t - times[i]!))
}

/**
 * Joins device and reference hours on equal end-of-hour `time` (epoch ms UTC): one
 * `{ time, sensor, reference }` per hour present in both, oldest first, values in the series' unit. Hours in
 * only one of them are dropped. Errors: a time that occurs twice in the same input (not an hourly series).
 */
export function pairHourly(
  device: readonly HourlyValue[],
  reference: readonly HourlyValue[],
): Array<{ time: number; sensor: number; reference: number }> {
  const ref = indexByTime(reference, 'reference')
  const pairs: Array<{ time: number; sensor: number; reference: number }> = []
  for (const [time, hour] of indexByTime(device, 'device')) {
    const r = ref.get(time)
    if (r) pairs.push({ time, sensor: hour.value, reference: r.value })
  }
  return pairs.sort((a, b) => a.time - b.time)
}

function indexByTime(values: readonly HourlyValue[], name: string): Map<number, HourlyValue> {
  const byTime = new Map<number, HourlyValue>()
  for (const v of values) {
    if (byTime.has(v.time)) throw new Error(`${name} series has hour ${new Date(v.time).toISOString()} twice`)
    byTime.set(v.time, v)
  }
  return byTime
}
