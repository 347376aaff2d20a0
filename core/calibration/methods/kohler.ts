import {
  type CalibrationInput,
  type CalibrationModel,
  checkOption,
  clamp,
  hourEnding,
  indexDevices,
  indexHourly,
  isPm,
} from './method.ts'

/**
 * `pm-kohler`: hygroscopic-growth correction of optical PM sensors with single-parameter κ-Köhler theory.
 *
 * Source: Crilley, L. R. et al. (2018), "Evaluation of a low-cost optical particle counter (Alphasense OPC-N2)
 * for ambient air monitoring", Atmos. Meas. Tech. 11, 709–720, doi:10.5194/amt-11-709-2018, eq. 6:
 *
 *   C(RH) = 1 + (κ / 1.65) / (−1 + 1 / a_w),   a_w = RH / 100,   PM_corr = PM_raw / C
 *
 * (1.65 is the dry-particle density, g/cm³, relative to water assumed there). The growth diverges as a_w → 1, so
 * RH is clamped to [0, 95] % before use (95 is ours: beyond it fog droplets, not particle growth, dominate and
 * the factor is meaningless). κ is fitted per device by least squares on concentrations,
 * min over κ ∈ [0, 1] of Σ_h (raw_h / C(κ, RH_h) − reference_h)², by a 0.01 grid refined by golden-section
 * search; the bound [0, 1] is ours (κ of ambient aerosol lies well inside it). A per-device κ also absorbs the
 * device's gain, as in Crilley et al. Where it cannot be fitted (fewer than `minFitHours` usable hours) the default
 * κ = 0.3 is used, the typical continental-aerosol value (Andreae & Rosenfeld 2008, Earth-Sci. Rev. 89, 13–41).
 */

/** Dry-particle density relative to water in Crilley et al. (2018) eq. 6. */
export const KOHLER_DENSITY_RATIO = 1.65
/** κ used when it cannot be fitted (Andreae & Rosenfeld 2008: continental aerosol κ ≈ 0.3). */
export const DEFAULT_KAPPA = 0.3
/** RH ceiling, %, before the growth factor is computed (ours). */
export const KOHLER_MAX_RH = 95

export interface PmKohlerOptions {
  /** κ for devices that cannot be fitted, in [0, 1]; default 0.3. */
  defaultKappa?: number
  /** Fit κ per device (default true); false uses `defaultKappa` for every device. */
  fit?: boolean
  /** Minimum hours with device value, reference ≥ `minReference` and humidity to fit κ; default 24 (ours). */
  minFitHours?: number
  /** Reference hours below this concentration, µg/m³, are left out of the fit; default 1 (ours). */
  minReference?: number
  /** RH ceiling, %; default 95. */
  maxRh?: number
}

/**
 * κ-Köhler growth factor C (dimensionless, ≥ 1) at relative humidity `rhPercent` (%), Crilley et al. (2018) eq. 6.
 * RH is clamped to [0, maxRh]; at RH 0 the factor is 1. Errors: RangeError for a non-finite κ or RH.
 * κ = 0.3 gives C(50 %) = 1.181818, C(80 %) = 1.727273, C(90 %) = 2.636364, C(95 %) = 4.454545.
 */
export function kohlerGrowth(kappa: number, rhPercent: number, maxRh = KOHLER_MAX_RH): number {
  if (!Number.isFinite(kappa) || !Number.isFinite(rhPercent)) throw new RangeError(`kohlerGrowth needs finite κ and RH, got ${kappa}, ${rhPercent}`)
  const aw = clamp(rhPercent, 0, maxRh) / 100
  if (aw === 0) return 1
  return 1 + kappa / KOHLER_DENSITY_RATIO / (-1 + 1 / aw)
}

export interface KappaFit {
  kappa: number
  /** false when there were too few hours and `kappa` is the default */
  fitted: boolean
  /** hours used */
  hours: number
}

/**
 * Least-squares κ ∈ [0, 1] for hours of (raw device mean, reference, RH %) — see the module comment.
 * Returns the default κ with `fitted: false` when fewer than `minFitHours` hours are given.
 */
export function fitKappa(
  hours: ReadonlyArray<{ raw: number; reference: number; rh: number }>,
  options: { defaultKappa?: number; minFitHours?: number; maxRh?: number } = {},
): KappaFit {
  const defaultKappa = options.defaultKappa ?? DEFAULT_KAPPA
  const maxRh = options.maxRh ?? KOHLER_MAX_RH
  if (hours.length < (options.minFitHours ?? 24)) return { kappa: defaultKappa, fitted: false, hours: hours.length }
  const sse = (kappa: number): number => {
    let sum = 0
    for (const h of hours) sum += (h.raw / kohlerGrowth(kappa, h.rh, maxRh) - h.reference) ** 2
    return sum
  }
  let best = 0
  let bestSse = Infinity
  for (let i = 0; i <= 100; i++) {
    const value = sse(i / 100)
    if (value < bestSse) [best, bestSse] = [i / 100, value]
  }
  // golden-section search on the bracket around the best grid point
  let lo = Math.max(0, best - 0.01)
  let hi = Math.min(1, best + 0.01)
  const g = (Math.sqrt(5) - 1) / 2
  let x1 = hi - g * (hi - lo)
  let x2 = lo + g * (hi - lo)
  let f1 = sse(x1)
  let f2 = sse(x2)
  while (hi - lo > 1e-9) {
    if (f1 <= f2) {
      ;[hi, x2, f2] = [x2, x1, f1]
      x1 = hi - g * (hi - lo)
      f1 = sse(x1)
    } else {
      ;[lo, x1, f1] = [x1, x2, f2]
      x2 = lo + g * (hi - lo)
      f2 = sse(x2)
    }
  }
  const refined = (lo + hi) / 2
  return { kappa: sse(refined) < bestSse ? refined : best, fitted: true, hours: hours.length }
}

/**
 * Builds the `pm-kohler` model. `input.humidity` is required; a reading whose hour has no humidity value cannot
 * be calibrated (apply → undefined). Devices not in the input use the default κ.
 *
 * Coefficients: `kappa`, `kappa_fitted` (1 fitted, 0 default), `fit_hours`, `max_rh` (%).
 * Notes: `kappa_default` when the default κ is used.
 * Errors: Error for a non-PM quantity or missing humidity; RangeError for an option out of range.
 */
export function pmKohler(input: CalibrationInput, options: PmKohlerOptions = {}): CalibrationModel {
  if (!isPm(input.quantity)) throw new Error(`pm-kohler calibrates pm2_5 and pm10, not ${input.quantity}`)
  if (input.humidity === undefined) throw new Error('pm-kohler needs reference relative humidity (input.humidity)')
  const defaultKappa = options.defaultKappa ?? DEFAULT_KAPPA
  const maxRh = options.maxRh ?? KOHLER_MAX_RH
  const minReference = options.minReference ?? 1
  checkOption('defaultKappa', defaultKappa, 0, 1)
  checkOption('maxRh', maxRh, 0, 99.9)
  checkOption('minReference', minReference, 0, Infinity)
  checkOption('minFitHours', options.minFitHours ?? 24, 1, Infinity)

  const humidity = indexHourly(input.humidity, 'humidity')
  const reference = indexHourly(input.reference, 'reference')
  const fits = new Map<string, KappaFit>()
  for (const [deviceId, hourly] of indexDevices(input)) {
    const hours: Array<{ raw: number; reference: number; rh: number }> = []
    for (const [time, raw] of hourly) {
      const ref = reference.get(time)
      const rh = humidity.get(time)
      if (ref !== undefined && rh !== undefined && ref >= minReference) hours.push({ raw, reference: ref, rh })
    }
    const fit = options.fit === false ? { kappa: defaultKappa, fitted: false, hours: 0 } : fitKappa(hours, { ...options, defaultKappa, maxRh })
    fits.set(deviceId, fit)
  }
  const fitOf = (deviceId: string): KappaFit => fits.get(deviceId) ?? { kappa: defaultKappa, fitted: false, hours: 0 }

  return {
    method: 'pm-kohler',
    version: '1',
    apply(deviceId, observedAt, value) {
      const rh = humidity.get(hourEnding(observedAt))
      return rh === undefined ? undefined : value / kohlerGrowth(fitOf(deviceId).kappa, rh, maxRh)
    },
    coefficients(deviceId) {
      const fit = fitOf(deviceId)
      return { kappa: fit.kappa, kappa_fitted: fit.fitted ? 1 : 0, fit_hours: fit.hours, max_rh: maxRh }
    },
    notes(deviceId) {
      return fitOf(deviceId).fitted ? [] : ['kappa_default']
    },
    methodAt(_deviceId, observedAt) {
      return humidity.has(hourEnding(observedAt)) ? 'pm-kohler' : undefined
    },
  }
}
