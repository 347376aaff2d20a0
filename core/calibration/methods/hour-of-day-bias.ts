import { linearRegression, mean, sampleCorrelation } from 'simple-statistics'
import {
  type CalibrationInput,
  type CalibrationModel,
  DAY_MS,
  HOUR_MS,
  checkOption,
  clamp,
  hourEnding,
  hourOfDay,
  indexDevices,
  indexHourly,
  pairsWith,
} from './method.ts'

/**
 * `hour-of-day-bias`: air temperature and relative humidity of citizen weather stations against KNMI.
 *
 *   bias_d = mean over days of (sensor hourly mean − reference) for UTC hour of day d = 0…23
 *   calibrated = raw − bias_d(hour of day of the reading's hour)        (RH then clamped to [0, 100] %)
 *
 * Radiation heating of a badly shielded sensor shows as a daytime bias, which this removes on average (it cannot
 * follow cloudy versus sunny days). Method: ours. KNMI T and U are spot values at the end of the hour; the
 * device value is an hourly mean, so a small diurnal bias (≈ half the hourly change) is part of what is learned.
 * An hour of day with fewer than `minDaysPerHour` days (default 3, ours) has no bias: its readings cannot be
 * calibrated.
 *
 * Notes, in the spirit of CrowdQC/CrowdQC+ (Napoly et al. 2018, Front. Earth Sci. 6:118,
 * doi:10.3389/feart.2018.00118; Fenner et al. 2021, Front. Environ. Sci., doi:10.3389/fenvs.2021.720747), which
 * compare a station with the crowd; we compare it with the reference. Assessed only with at least
 * `minPairsForNotes` paired hours (default 24, ours):
 * - `unreliable`: Pearson r of the device's hourly series with the reference < 0.9 (the CrowdQC m4 threshold).
 * - `sun_exposed` (air_temperature only): mean bias over hours 9–15 UTC exceeds the mean bias over 0–4 UTC by
 *   more than 1.5 °C (ours).
 * - `indoor`: the amplitude (max − min) of the device's mean diurnal cycle is < 30 % of the reference's (ours;
 *   indoor stations show a damped daily cycle, cf. Meier et al. 2017, Urban Climate 19, 170–191).
 * - `drifting`: |OLS slope of the daily (UTC) mean bias on day| × 7 > 0.5 °C (air_temperature) or 3 % (RH) per
 *   7 days, with at least 7 days (all ours).
 */

export interface HourOfDayBiasOptions {
  /** Minimum days with a pair for an hour-of-day bias; default 3 (ours). */
  minDaysPerHour?: number
  /** Minimum paired hours before notes are assessed; default 24 (ours). */
  minPairsForNotes?: number
  /** `unreliable` below this Pearson r; default 0.9 (CrowdQC m4). */
  minCorrelation?: number
  /** `sun_exposed` when day − night bias exceeds this, °C; default 1.5 (ours). */
  sunExposedDelta?: number
  /** `indoor` when device/reference diurnal amplitude is below this ratio; default 0.3 (ours). */
  indoorAmplitudeRatio?: number
  /** `drifting` when |bias trend| per 7 days exceeds this, canonical unit; default 0.5 °C or 3 % RH (ours). */
  driftPer7Days?: number
  /** Minimum days for the drift trend; default 7 (ours). */
  minDriftDays?: number
}

/** UTC hours of day (hour start) counted as day and night for `sun_exposed` (ours). */
export const DAY_HOURS = [9, 10, 11, 12, 13, 14, 15] as const
export const NIGHT_HOURS = [0, 1, 2, 3, 4] as const

interface DeviceFit {
  /** bias per hour of day; undefined where too few days */
  bias: Array<number | undefined>
  notes: string[]
  diagnostics: Record<string, number>
}

/** Mean of the values whose hour of day is in `hours`, or undefined when there are none. */
function meanAt(byHour: number[][], hours: readonly number[]): number | undefined {
  const values = hours.flatMap((h) => byHour[h] ?? [])
  return values.length > 0 ? mean(values) : undefined
}

/** max − min of the per-hour-of-day means (hours with values only). */
function amplitude(byHour: number[][]): number {
  const means = byHour.filter((v) => v.length > 0).map((v) => mean(v))
  return means.length > 0 ? Math.max(...means) - Math.min(...means) : 0
}

/**
 * Builds the `hour-of-day-bias` model for air_temperature or relative_humidity.
 * Coefficients: `hours_of_day` (0–23 with a bias) and `bias` (canonical unit, same order), `n` (pairs), and the
 * diagnostics behind the notes when assessed: `r`, `day_night_bias` (°C), `amplitude_ratio`, `drift_per_7_days`.
 * Errors: Error for another quantity; RangeError for options out of range.
 */
export function hourOfDayBias(input: CalibrationInput, options: HourOfDayBiasOptions = {}): CalibrationModel {
  const { quantity } = input
  if (quantity !== 'air_temperature' && quantity !== 'relative_humidity') {
    throw new Error(`hour-of-day-bias calibrates air_temperature and relative_humidity, not ${quantity}`)
  }
  const o = {
    minDaysPerHour: options.minDaysPerHour ?? 3,
    minPairsForNotes: options.minPairsForNotes ?? 24,
    minCorrelation: options.minCorrelation ?? 0.9,
    sunExposedDelta: options.sunExposedDelta ?? 1.5,
    indoorAmplitudeRatio: options.indoorAmplitudeRatio ?? 0.3,
    driftPer7Days: options.driftPer7Days ?? (quantity === 'air_temperature' ? 0.5 : 3),
    minDriftDays: options.minDriftDays ?? 7,
  }
  checkOption('minDaysPerHour', o.minDaysPerHour, 1, Infinity)
  checkOption('minPairsForNotes', o.minPairsForNotes, 3, Infinity)
  checkOption('minCorrelation', o.minCorrelation, -1, 1)
  checkOption('sunExposedDelta', o.sunExposedDelta, 0, Infinity)
  checkOption('indoorAmplitudeRatio', o.indoorAmplitudeRatio, 0, Infinity)
  checkOption('driftPer7Days', o.driftPer7Days, 0, Infinity)
  checkOption('minDriftDays', o.minDriftDays, 2, Infinity)

  const reference = indexHourly(input.reference, 'reference')
  const fits = new Map<string, DeviceFit>()
  for (const [deviceId, hourly] of indexDevices(input)) {
    const pairs = pairsWith(hourly, reference)
    const diffs: number[][] = Array.from({ length: 24 }, () => [])
    const sensorByHour: number[][] = Array.from({ length: 24 }, () => [])
    const referenceByHour: number[][] = Array.from({ length: 24 }, () => [])
    const diffsByDay = new Map<number, number[]>()
    for (const p of pairs) {
      const h = hourOfDay(p.time)
      diffs[h]?.push(p.sensor - p.reference)
      sensorByHour[h]?.push(p.sensor)
      referenceByHour[h]?.push(p.reference)
      const day = Math.floor((p.time - HOUR_MS) / DAY_MS)
      const dayDiffs = diffsByDay.get(day)
      if (dayDiffs) dayDiffs.push(p.sensor - p.reference)
      else diffsByDay.set(day, [p.sensor - p.reference])
    }
    const bias = diffs.map((d) => (d.length >= o.minDaysPerHour ? mean(d) : undefined))
    const notes: string[] = []
    const diagnostics: Record<string, number> = { n: pairs.length }
    if (pairs.length >= o.minPairsForNotes) {
      const r = sampleCorrelation(pairs.map((p) => p.sensor), pairs.map((p) => p.reference))
      if (Number.isFinite(r)) diagnostics.r = r
      if (!(r >= o.minCorrelation)) notes.push('unreliable') // NaN (a constant series) counts as unreliable
      const day = meanAt(diffs, DAY_HOURS)
      const night = meanAt(diffs, NIGHT_HOURS)
      if (quantity === 'air_temperature' && day !== undefined && night !== undefined) {
        diagnostics.day_night_bias = day - night
        if (day - night > o.sunExposedDelta) notes.push('sun_exposed')
      }
      const referenceAmplitude = amplitude(referenceByHour)
      if (referenceAmplitude > 0) {
        diagnostics.amplitude_ratio = amplitude(sensorByHour) / referenceAmplitude
        if (diagnostics.amplitude_ratio < o.indoorAmplitudeRatio) notes.push('indoor')
      }
      if (diffsByDay.size >= o.minDriftDays) {
        const { m } = linearRegression([...diffsByDay].map(([d, values]) => [d, mean(values)]))
        diagnostics.drift_per_7_days = m * 7
        if (Math.abs(m * 7) > o.driftPer7Days) notes.push('drifting')
      }
    }
    fits.set(deviceId, { bias, notes, diagnostics })
  }

  return {
    method: 'hour-of-day-bias',
    version: '1',
    apply(deviceId, observedAt, value) {
      const b = fits.get(deviceId)?.bias[hourOfDay(hourEnding(observedAt))]
      if (b === undefined) return undefined
      return quantity === 'relative_humidity' ? clamp(value - b, 0, 100) : value - b
    },
    coefficients(deviceId): Record<string, number | number[]> {
      const fit = fits.get(deviceId)
      if (!fit) return { n: 0 }
      const hours = fit.bias.flatMap((b, h) => (b === undefined ? [] : [h]))
      return { hours_of_day: hours, bias: hours.map((h) => fit.bias[h] as number), ...fit.diagnostics }
    },
    notes(deviceId) {
      return [...(fits.get(deviceId)?.notes ?? [])]
    },
    methodAt(deviceId, observedAt) {
      return fits.get(deviceId)?.bias[hourOfDay(hourEnding(observedAt))] === undefined ? undefined : 'hour-of-day-bias'
    },
  }
}
