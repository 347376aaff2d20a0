import { type GroupFit, type PmGroupRatioOptions, fitGroups, restoreGroups } from './group-fit.ts'
import { HUMID_FLAG, KOHLER_MAX_RH, pmKohler, restorePmKohler } from './kohler.ts'
import { type CalibrationInput, type CalibrationModel, DAY_MS, type StoredParameters, hourEnding, indexHourly, isPm } from './method.ts'

export * from './group-fit.ts'

/**
 * `pm-group-ratio`: the RIVM Samen Meten calibration of PM sensors by a group factor per hour, with a per-device
 * scale so that each sensor's own gain is corrected.
 *
 * Source: RIVM, "Kalibratie van fijnstofsensoren",
 * https://www.samenmetenaanluchtkwaliteit.nl/dataportaal/kalibratie-van-fijnstofsensoren (applied there to Nova
 * SDS011 PM10/PM2.5 and Sensirion SPS30 PM2.5); Wesseling, J. et al. (2019), Atmosphere 10(8), 445,
 * doi:10.3390/atmos10080445. Assumption (RIVM): PM does not differ much within a city, so a group of nearby
 * sensors over the reference station in that hour estimates the sensors' common error, dominated by humidity.
 * RIVM does not publish its parameters (research §4a); everything marked "ours" below is our choice.
 *
 * Per group of same-model devices within 10 km with the reference within 30 km (./pm-groups.ts), per hour h and
 * device d (raw_{d,h} = the device's hourly mean):
 *
 *   s_d(t)  = median of raw_{d,h} / L_h over hours with RH_h < 70 % within ±`scaleWindowDays`/2 of t (the
 *             device's rolling scale against the group; normalised so the median member scale is 1)
 *   L_h     = robust statistic (default median) over the members of raw_{d,h} / s_d(h), leaving out values beyond
 *             ×/÷ `outlierRatio` (2) of that hour's median: one sensor reading ×10 or one garden's wood smoke
 *             does not move it
 *   f_h     = L_h / reference_h, clipped to [0.2, 5];   calibrated = raw / (s_d(t) · f_h)
 *
 * s and L are found by two rounds (start s = 1). The reference fixes the absolute level through f, the scale the
 * device's gain relative to its group, so the calibrated slope against the truth is 1 whatever the gain
 * (the RIVM ratio alone gives gain / group gain). RH < 70 % (ours) keeps the scale free of humidity growth,
 * which differs a little between sensors; without humidity every hour counts. A member whose overall scale is
 * beyond ×/÷ `maxScaleRatio` (2, ours: gains of 0.7–1.3 stay in) is a gain outlier: left out of L, still
 * calibrated with its own scale, noted. Drift (./drift.ts): the trend of raw / L; a drifting device's scale
 * uses the last `driftWindowDays` (3, ours) around each time instead of 7, and it is noted.
 *
 * Only `input.groupMembers` (default all) enter L, f and the scale normalisation: the factors are published in
 * every consented device's report. Every device of the input is calibrated with its group's factors and its own
 * scale. A device with fewer than `minScaleHours` (12) hours with a group level has scale 1 (the RIVM ratio alone,
 * noted `no_scale`). Hours without a factor (group too small, reference missing or < `minReference`, no group,
 * reference far) fall back to `pm-kohler` (./kohler.ts, gain and κ fitted against the
 * reference) when `input.humidity` is given and `fallback` is not false; otherwise apply → undefined.
 * Flags: `humid` when the hour's RH ≥ 95 % or its factor was clipped.
 */

/**
 * Builds the `pm-group-ratio` model (see the module comment).
 *
 * Coefficients of a device (numbers only): its group's `group_size` (devices of its model and place) and
 * `reference_km` (group centre to reference, −1 unknown); the group's factors `factor_times` (hour ends, epoch ms) and
 * `factors`, `clipped_hours`; this device's `scale` (latest), `scale_days` (UTC day starts, epoch ms) and
 * `scales`, `gain_outlier` (0/1), `drift_change_14d` (relative, NaN unknown), `drifting` (0/1/−1 unknown); the
 * parameters `min_group_size`, `min_reference` (µg/m³), `clip_min`, `clip_max`, `statistic` (0 mean,
 * 1 median, 2 trimmed mean), `dry_rh` (%); with the fallback also `gain`, `kappa`, `kappa_fitted` and
 * `fallback_times` (hours of this device's series calibrated by pm-kohler).
 * Notes: `no_group`, `reference_far`, `gain_outlier`, `drift`, `no_scale` (scale 1; each with the numbers), and the
 * fallback's notes when it calibrates hours of this device.
 * Errors: Error for a non-PM quantity; RangeError for options out of range; those of fitGroups.
 */
export function pmGroupRatio(input: CalibrationInput, options: PmGroupRatioOptions = {}): CalibrationModel {
  if (!isPm(input.quantity)) throw new Error(`pm-group-ratio calibrates pm2_5 and pm10, not ${input.quantity}`)
  const fits = fitGroups(input, options)
  const fallback = input.humidity !== undefined && options.fallback !== false ? pmKohler(input, options.kohler) : undefined
  return groupRatioModel(input, fits, fallback, options)
}

/**
 * The `pm-group-ratio` model of stored fits (core/calibration/fits.ts) applied to `input`, the apply window: each
 * device's stored daily scales (`scale_days`, `scales`; after the last stored day its latest `scale`) and
 * `gain_outlier`, and per hour of `input` the group level L_h of the consented members' raw / scale and the
 * factor f_h = L_h / reference_h, as pmGroupRatio computes them (so on the fit's own hours both give the same
 * values). Groups are formed anew from `input` (pmGroups, `options.groups`); a device without a stored scale
 * enters no level and has no group value (its κ-Köhler fallback still applies). The κ-Köhler fallback uses the
 * stored `gain`, `kappa`, `kappa_fitted`. Notes are the stored fit's. Errors: those of pmGroupRatio.
 */
export function restorePmGroupRatio(input: CalibrationInput, stored: StoredParameters, options: PmGroupRatioOptions = {}): CalibrationModel {
  if (!isPm(input.quantity)) throw new Error(`pm-group-ratio calibrates pm2_5 and pm10, not ${input.quantity}`)
  const fallback = input.humidity !== undefined && options.fallback !== false ? restorePmKohler(input, stored, options.kohler) : undefined
  return groupRatioModel(input, restoreGroups(input, stored, options), fallback, options, stored.notes)
}

/** The `pm-group-ratio` model of group fits and a κ-Köhler fallback; used by pmGroupRatio and restorePmGroupRatio. */
function groupRatioModel(
  input: CalibrationInput,
  fits: readonly GroupFit[],
  fallback: CalibrationModel | undefined,
  options: PmGroupRatioOptions,
  storedNotes?: (deviceId: string) => string[],
): CalibrationModel {
  const fitOf = new Map<string, GroupFit>()
  for (const fit of fits) for (const id of fit.group.deviceIds) fitOf.set(id, fit)
  const factorsOf = new Map(fits.map((fit) => [fit, new Map(fit.factors.map((f) => [f.time, f]))]))
  const humidity = input.humidity ? indexHourly(input.humidity, 'humidity') : undefined
  const deviceHours = new Map(input.devices.map((d) => [d.deviceId, d.hourly.map((h) => h.time)]))
  const maxRh = options.kohler?.maxRh ?? KOHLER_MAX_RH

  /** The group factor and this device's scale for the reading's hour, or undefined (then the fallback). */
  const groupTerms = (deviceId: string, observedAt: number) => {
    const fit = fitOf.get(deviceId)
    if (fit === undefined) return undefined
    const end = hourEnding(observedAt)
    const factor = factorsOf.get(fit)!.get(end)
    const scale = fit.scales.get(deviceId)?.get(Math.floor((end - 1) / DAY_MS)) ?? fit.overallScale.get(deviceId)
    return factor === undefined || scale === undefined ? undefined : { factor, scale }
  }
  const methodAt = (deviceId: string, observedAt: number): string | undefined =>
    groupTerms(deviceId, observedAt) ? 'pm-group-ratio' : fallback?.methodAt?.(deviceId, observedAt)
  const fallbackTimes = (deviceId: string): number[] =>
    (deviceHours.get(deviceId) ?? []).filter((t) => methodAt(deviceId, t) === 'pm-kohler').sort((a, b) => a - b)
  const statistic = options.statistic === 'mean' ? 0 : options.statistic === 'trimmed-mean' ? 2 : 1

  return {
    method: 'pm-group-ratio',
    // 3: per-device scale, robust median by default, groups by model and place, drift (issue 11). Values stored
    // with version 2 divided by the group mean's factor only: recalculate (senshagen calibrate --from --to).
    version: '3',
    apply(deviceId, observedAt, value) {
      const terms = groupTerms(deviceId, observedAt)
      if (terms) return value / (terms.scale * terms.factor.factor)
      return fallback?.apply(deviceId, observedAt, value)
    },
    coefficients(deviceId) {
      const fit = fitOf.get(deviceId)
      const scales = fit?.scales.get(deviceId) ?? new Map<number, number>()
      const days = [...scales.keys()].sort((a, b) => a - b)
      const drift = fit?.drift.get(deviceId)
      const coefficients: Record<string, number | number[]> = {
        group_size: fit?.group.deviceIds.length ?? 0,
        reference_km: fit?.group.referenceKm ?? -1,
        factor_times: fit?.factors.map((f) => f.time) ?? [],
        factors: fit?.factors.map((f) => f.factor) ?? [],
        clipped_hours: fit?.factors.filter((f) => f.factor !== f.unclipped).length ?? 0,
        scale: days.length > 0 ? scales.get(days[days.length - 1]!)! : Number.NaN,
        scale_days: days.map((d) => d * DAY_MS),
        scales: days.map((d) => scales.get(d)!),
        gain_outlier: fit?.gainOutliers.has(deviceId) ? 1 : 0,
        drift_change_14d: drift?.change ?? Number.NaN,
        drifting: drift?.drifting === undefined ? -1 : drift.drifting ? 1 : 0,
        min_group_size: options.minGroupSize ?? 3,
        min_reference: options.minReference ?? 1,
        clip_min: (options.clip ?? [0.2, 5])[0],
        clip_max: (options.clip ?? [0.2, 5])[1],
        statistic,
        dry_rh: options.dryRh ?? 70,
      }
      if (fallback) {
        const { gain, kappa, kappa_fitted } = fallback.coefficients(deviceId)
        Object.assign(coefficients, { gain, kappa, kappa_fitted, fallback_times: fallbackTimes(deviceId) })
      }
      return coefficients
    },
    notes(deviceId) {
      if (storedNotes) return storedNotes(deviceId)
      const notes = groupNotes(fitOf.get(deviceId), deviceId, options)
      if (fallback && fallbackTimes(deviceId).length > 0) notes.push(...fallback.notes(deviceId))
      return notes
    },
    methodAt,
    flagsAt(deviceId, observedAt) {
      const terms = groupTerms(deviceId, observedAt)
      if (!terms) return fallback?.flagsAt?.(deviceId, observedAt) ?? []
      const rh = humidity?.get(hourEnding(observedAt))
      return (rh !== undefined && rh >= maxRh) || terms.factor.factor !== terms.factor.unclipped ? [HUMID_FLAG] : []
    },
  }
}

/** Why a device's group calibration is limited, with the numbers (see pmGroupRatio's notes). */
function groupNotes(fit: GroupFit | undefined, deviceId: string, options: PmGroupRatioOptions): string[] {
  if (fit === undefined) return []
  const notes: string[] = []
  const { group } = fit
  if (group.deviceIds.length < (options.minGroupSize ?? 3)) {
    notes.push(`no_group: ${group.deviceIds.length} device(s) of model ${group.sensorModel} within ${options.groups?.radiusKm ?? 10} km; calibrated by κ-Köhler against the reference`)
  }
  if (!group.referenceNear) notes.push(`reference_far: the reference is ${group.referenceKm?.toFixed(1)} km from the group; calibrated by κ-Köhler`)
  if (fit.gainOutliers.has(deviceId)) {
    notes.push(`gain_outlier: reads ${fit.overallScale.get(deviceId)!.toFixed(2)}× its group at RH < ${options.dryRh ?? 70} %; left out of the group level, calibrated with its own scale (check the sensor)`)
  }
  const drift = fit.drift.get(deviceId)
  if (drift?.drifting) {
    notes.push(`drift: its ratio to the group changed ${(100 * drift.change).toFixed(0)} % per 14 days (Theil–Sen over ${drift.days} days); its scale uses a ${options.driftWindowDays ?? 3}-day window`)
  }
  if (fit.unscaled.has(deviceId) && group.referenceNear && group.deviceIds.length >= (options.minGroupSize ?? 3)) {
    notes.push(`no_scale: fewer than ${options.minScaleHours ?? 12} hours with a group level; its own gain is not corrected (calibrated = raw / group factor)`)
  }
  return notes
}
