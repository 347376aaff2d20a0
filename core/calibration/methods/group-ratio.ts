import { mean, median } from 'simple-statistics'
import { type PmKohlerOptions, pmKohler } from './kohler.ts'
import {
  type CalibrationInput,
  type CalibrationModel,
  checkOption,
  clamp,
  hourEnding,
  indexGroupMembers,
  indexHourly,
  isPm,
} from './method.ts'

/**
 * `pm-group-ratio`: the RIVM Samen Meten calibration of PM sensors by a group factor per hour.
 *
 * Source: RIVM, "Kalibratie van fijnstofsensoren",
 * https://www.samenmetenaanluchtkwaliteit.nl/dataportaal/kalibratie-van-fijnstofsensoren (applied there to Nova
 * SDS011 PM10/PM2.5 and Sensirion SPS30 PM2.5); Wesseling, J. et al. (2019), "Development and implementation of a
 * platform for public information on air quality, sensor measurements, and citizen science", Atmosphere 10(8), 445,
 * doi:10.3390/atmos10080445. Assumption (RIVM): the PM concentration does not differ much within a city, so the
 * ratio of a group of nearby sensors to a reference station in that hour estimates each sensor's local correction,
 * which is dominated by humidity and common to all sensors of a type.
 *
 *   f_h = statistic over the group's devices of their raw hourly means at h / reference_h,   calibrated = raw / f_h
 *
 * The group is `input.groupMembers` (default: every device of the input); every device of the input is calibrated
 * with the group's factors. The factors are the same for every device and appear in every device's report, so
 * whoever may not be published (no consent) must not be a member: a published factor and the members' public
 * hourly means would give back its hourly mean.
 *
 * RIVM does not publish its exact parameters; ours, with defaults: at least 3 devices with a value that hour
 * (`minGroupSize`), reference_h ≥ 1 µg/m³ (`minReference`; below it the ratio is noise and there is no factor),
 * f clipped to [0.2, 5] (`clip`), statistic mean (`statistic: 'median'` is more robust to a single faulty sensor).
 *
 * Fallback: in an hour without a group factor (group too small, reference missing or below `minReference`) a
 * reading is calibrated with `pm-kohler` (./kohler.ts) when `input.humidity` is given and `fallback` is not false;
 * otherwise it cannot be calibrated (apply → undefined). `methodAt` tells which method calibrated a reading.
 * The fallback's κ is fitted per device over all hours with reference and humidity (also those with a factor).
 */

export interface PmGroupRatioOptions {
  /** Minimum devices with a value in an hour for a factor; default 3 (ours). */
  minGroupSize?: number
  /** Minimum reference concentration, µg/m³, for a factor; default 1 (ours). */
  minReference?: number
  /** Bounds the factor is clipped to; default [0.2, 5] (ours). */
  clip?: readonly [number, number]
  /** Group statistic of the devices' hourly means; default 'mean' (RIVM: "het gemiddelde van een groep"). */
  statistic?: 'mean' | 'median'
  /** Use the κ-Köhler fallback in hours without a factor when humidity is given; default true. */
  fallback?: boolean
  /** Options of the fallback (./kohler.ts). */
  kohler?: PmKohlerOptions
}

export interface GroupFactor {
  /** End of the hour, epoch ms UTC. */
  time: number
  /** Clipped factor (dimensionless). */
  factor: number
  /** Factor before clipping. */
  unclipped: number
  /** Devices in the statistic. */
  groupSize: number
}

/**
 * The per-hour group factors over `input.groupMembers` (see the module comment); hours without a factor are
 * absent. Sorted by time. Errors: RangeError for options out of range; Error for a series off the hourly grid or
 * a group member that is not in `input.devices` (./method.ts).
 */
export function groupFactors(input: CalibrationInput, options: PmGroupRatioOptions = {}): GroupFactor[] {
  const minGroupSize = options.minGroupSize ?? 3
  const minReference = options.minReference ?? 1
  const [fMin, fMax] = options.clip ?? [0.2, 5]
  checkOption('minGroupSize', minGroupSize, 1, Infinity)
  checkOption('minReference', minReference, Number.MIN_VALUE, Infinity)
  checkOption('clip[0]', fMin, Number.MIN_VALUE, Infinity)
  checkOption('clip[1]', fMax, fMin, Infinity)
  const statistic = options.statistic === 'median' ? median : mean

  const byHour = new Map<number, number[]>()
  for (const hourly of indexGroupMembers(input).values()) {
    for (const [time, value] of hourly) {
      const values = byHour.get(time)
      if (values) values.push(value)
      else byHour.set(time, [value])
    }
  }
  const reference = indexHourly(input.reference, 'reference')
  const factors: GroupFactor[] = []
  for (const [time, values] of byHour) {
    const ref = reference.get(time)
    if (ref === undefined || ref < minReference || values.length < minGroupSize) continue
    const unclipped = statistic(values) / ref
    factors.push({ time, factor: clamp(unclipped, fMin, fMax), unclipped, groupSize: values.length })
  }
  return factors.sort((a, b) => a.time - b.time)
}

/**
 * Builds the `pm-group-ratio` model.
 *
 * Coefficients (factors are one regional series, the same for every device): `factor_times` (hour ends, epoch
 * ms) and `factors`; `clipped_hours`; the parameters `min_group_size`, `min_reference` (µg/m³), `clip_min`,
 * `clip_max`, `statistic` (0 mean, 1 median); with the fallback also this device's `kappa`, `kappa_fitted` and
 * `fallback_times` (hours of this device's hourly series calibrated by pm-kohler).
 * Notes: the fallback's notes (`kappa_default`) when this device has fallback hours.
 * Errors: Error for a non-PM quantity; RangeError for options out of range.
 */
export function pmGroupRatio(input: CalibrationInput, options: PmGroupRatioOptions = {}): CalibrationModel {
  if (!isPm(input.quantity)) throw new Error(`pm-group-ratio calibrates pm2_5 and pm10, not ${input.quantity}`)
  const list = groupFactors(input, options)
  const factors = new Map(list.map((f) => [f.time, f.factor]))
  const fallback = input.humidity !== undefined && options.fallback !== false ? pmKohler(input, options.kohler) : undefined
  const deviceHours = new Map(input.devices.map((d) => [d.deviceId, d.hourly.map((h) => h.time)]))
  const [clipMin, clipMax] = options.clip ?? [0.2, 5]

  const methodAt = (deviceId: string, observedAt: number): string | undefined =>
    factors.has(hourEnding(observedAt)) ? 'pm-group-ratio' : fallback?.methodAt?.(deviceId, observedAt)
  const fallbackTimes = (deviceId: string): number[] =>
    (deviceHours.get(deviceId) ?? []).filter((t) => methodAt(deviceId, t) === 'pm-kohler').sort((a, b) => a - b)

  return {
    method: 'pm-group-ratio',
    // 2: the factors are over `groupMembers` only (issue 8). Values stored with version 1 may have unregistered
    // or non-consented devices in their factor: recalculate those periods (senshagen calibrate --from --to).
    version: '2',
    apply(deviceId, observedAt, value) {
      const factor = factors.get(hourEnding(observedAt))
      if (factor !== undefined) return value / factor
      return fallback?.apply(deviceId, observedAt, value)
    },
    coefficients(deviceId) {
      const coefficients: Record<string, number | number[]> = {
        factor_times: list.map((f) => f.time),
        factors: list.map((f) => f.factor),
        clipped_hours: list.filter((f) => f.factor !== f.unclipped).length,
        min_group_size: options.minGroupSize ?? 3,
        min_reference: options.minReference ?? 1,
        clip_min: clipMin,
        clip_max: clipMax,
        statistic: options.statistic === 'median' ? 1 : 0,
      }
      if (fallback) {
        const { kappa, kappa_fitted } = fallback.coefficients(deviceId)
        Object.assign(coefficients, { kappa, kappa_fitted, fallback_times: fallbackTimes(deviceId) })
      }
      return coefficients
    },
    notes(deviceId) {
      return fallback && fallbackTimes(deviceId).length > 0 ? fallback.notes(deviceId) : []
    },
    methodAt,
  }
}
