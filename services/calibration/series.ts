import { hourlyMeans } from '../../core/calibration/align.ts'
import { computeMetrics } from '../../core/calibration/metrics.ts'
import type { HourlyValue, Metrics } from '../../core/calibration/types.ts'
import type { Quantity } from '../../core/quantities.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { queryReferenceObservations } from '../../core/reference/reference-store.ts'
import type { ReadingStore, StoredReading } from '../../core/store/store.ts'

const HOUR = 3_600_000

/**
 * Hourly reference values of one station and quantity for end-of-hour times in [from, to] (epoch ms UTC).
 * Hourly means (periodMs 1 h: Luchtmeetnet, KNMI Q, FH) are taken as they are. Spot values (periodMs 0: KNMI T
 * and U, observed at the end of the hour) become the mean of the two spot values bounding the hour, (v(T − 1 h)
 * + v(T)) / 2, the trapezoid estimate of the hourly mean a device's hourly mean is compared with; an hour
 * without both has none (research reference-data.md §4d: "uurgeg T is a spot value at the end of the hour").
 */
export async function referenceHourly(store: Pick<ReadingStore, 'referenceObservations'>, station: string, quantity: Quantity, from: number, to: number): Promise<HourlyValue[]> {
  const observations = await queryReferenceObservations(store, { station, quantity, from: from - HOUR, to: to + 1 })
  return hourlyReference(observations).filter((v) => v.time >= from)
}

/** The hourly series of stored reference observations (see referenceHourly). Pure. */
export function hourlyReference(observations: readonly ReferenceObservation[]): HourlyValue[] {
  const spot = new Map(observations.filter((o) => o.periodMs === 0).map((o) => [o.time, o.value]))
  const values: HourlyValue[] = []
  for (const o of observations) {
    if (o.periodMs !== 0) values.push({ time: o.time, value: o.value, count: 0 })
    else {
      const before = spot.get(o.time - HOUR)
      if (before !== undefined) values.push({ time: o.time, value: (before + o.value) / 2, count: 0 })
    }
  }
  return values
}

/** Hourly means; a series too short to know its reading interval (one distinct time) has none. */
export function safeHourly(readings: readonly StoredReading[], completeness: number): HourlyValue[] {
  try {
    return hourlyMeans(
      readings.map((r) => ({ deviceId: r.deviceId, quantity: r.quantity, value: r.value, unit: '', observedAt: r.time, receivedAt: r.time, timeSource: 'device' as const, sourceFormat: 'store', flags: r.flags })),
      { completeness },
    )
  } catch {
    return []
  }
}

/** Metrics of the pairs, or undefined when there are too few or no variance (reported as n = 0). */
export function metricsOf(pairs: ReadonlyArray<{ sensor: number; reference: number }>): Metrics | undefined {
  try {
    return computeMetrics(pairs)
  } catch {
    return undefined
  }
}

export function emptyMetrics(): Metrics {
  return { n: 0, r2: Number.NaN, rmse: Number.NaN, mae: Number.NaN, mbe: Number.NaN, ols_slope: Number.NaN, ols_intercept: Number.NaN, deming_slope: Number.NaN, deming_intercept: Number.NaN }
}

/**
 * Rows for the report plots: raw, calibrated and reference per end-of-hour time, oldest first, with the
 * reference station's relative humidity (%) and global radiation (W/m², KNMI Q) of the same hour where given.
 */
export function timeSeries(
  raw: readonly HourlyValue[],
  calibrated: readonly HourlyValue[],
  reference: readonly HourlyValue[],
  weather: { humidity?: readonly HourlyValue[]; radiation?: readonly HourlyValue[] } = {},
) {
  const rows = new Map<number, { time: number; raw?: number; calibrated?: number; reference?: number; humidity?: number; radiation?: number }>()
  const row = (time: number) => rows.get(time) ?? rows.set(time, { time }).get(time)!
  for (const v of raw) row(v.time).raw = v.value
  for (const v of calibrated) row(v.time).calibrated = v.value
  for (const v of reference) if (rows.has(v.time)) row(v.time).reference = v.value
  for (const v of weather.humidity ?? []) if (rows.has(v.time)) row(v.time).humidity = v.value
  for (const v of weather.radiation ?? []) if (rows.has(v.time)) row(v.time).radiation = v.value
  return [...rows.values()].sort((a, b) => a.time - b.time)
}
