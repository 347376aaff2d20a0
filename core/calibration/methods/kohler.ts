import {
  type CalibrationInput,
  type CalibrationModel,
  checkOption,
  clamp,
  hourEnding,
  indexDevices,
  indexHourly,
  isPm,
  numbers,
  type StoredParameters,
} from './method.ts'

/**
 * `pm-kohler`: hygroscopic-growth correction of optical PM sensors with single-parameter κ-Köhler theory and a
 * per-device gain.
 *
 * Source: Crilley, L. R. et al. (2018), "Evaluation of a low-cost optical particle counter (Alphasense OPC-N2)
 * for ambient air monitoring", Atmos. Meas. Tech. 11, 709–720, doi:10.5194/amt-11-709-2018, eq. 6 (after
 * Petters & Kreidenweis 2007; used the same way for PM sensors by Di Antonio et al. 2018, Sensors 18, 2790):
 *
 *   C(κ, RH) = 1 + (κ / 1.65) / (−1 + 1 / a_w),   a_w = RH / 100,   PM = a · PM_raw / C
 *
 * (1.65 is the dry-particle density, g/cm³, relative to water assumed there). The gain `a` is ours (issue 11):
 * without it a fitted κ absorbs the sensor's gain and leaves a residual that changes sign with RH (+17 % at RH
 * 40–60 %, −26 % at 90–95 % in the audit). The growth diverges as a_w → 1, so RH is clamped to [0, 95] % before
 * use (95 is ours: beyond it fog droplets, not particle growth, dominate); hours above the ceiling are left out
 * of the fit and their readings carry the flag `humid`. a and κ are fitted per device by least squares on
 * concentrations, min over κ ∈ [0, 1], a > 0 of Σ_h (a · raw_h / C(κ, RH_h) − reference_h)²: for a given κ the
 * best a has the closed form Σ x·ref / Σ x² (x = raw / C), so κ is searched on a 0.01 grid refined by
 * golden-section search; a is bounded to [0.05, 20] (ours). The bound [0, 1] on κ is ours (κ of ambient aerosol
 * lies well inside it). The reference is the regional station (fallback) or the one the device is collocated
 * with. Where they cannot be fitted (fewer than `minFitHours` usable hours) a = 1 and the default κ = 0.3, the
 * typical continental-aerosol value (Andreae & Rosenfeld 2008, Earth-Sci. Rev. 89, 13–41), are used.
 */

/** Dry-particle density relative to water in Crilley et al. (2018) eq. 6. */
export const KOHLER_DENSITY_RATIO = 1.65
/** κ used when it cannot be fitted (Andreae & Rosenfeld 2008: continental aerosol κ ≈ 0.3). */
export const DEFAULT_KAPPA = 0.3
/** RH ceiling, %, before the growth factor is computed (ours). */
export const KOHLER_MAX_RH = 95
/**
 * Calibration flag of a PM reading in an hour with RH ≥ 95 % or a clipped humidity factor: the calibrated value
 * is kept but unreliable (RIVM: in fog the group correction "reduces peaks but cannot fully correct them").
 */
export const HUMID_FLAG = 'humid'

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
  /** Gain a (dimensionless): calibrated = a · raw / C; 1 when not fitted. */
  gain: number
  /** false when there were too few hours and `kappa` is the default */
  fitted: boolean
  /** hours used */
  hours: number
}

/** Bounds of the fitted gain a (ours). */
export const KOHLER_GAIN_BOUNDS = [0.05, 20] as const

/**
 * Least-squares gain a and κ ∈ [0, 1] for hours of (raw device mean, reference, RH %) — see the module comment.
 * Hours with RH above `maxRh` (clamped growth) are left out. Returns a = 1 and the default κ with
 * `fitted: false` when fewer than `minFitHours` hours remain.
 */
export function fitKappa(
  hours: ReadonlyArray<{ raw: number; reference: number; rh: number }>,
  options: { defaultKappa?: number; minFitHours?: number; maxRh?: number } = {},
): KappaFit {
  const defaultKappa = options.defaultKappa ?? DEFAULT_KAPPA
  const maxRh = options.maxRh ?? KOHLER_MAX_RH
  const usable = hours.filter((h) => h.rh <= maxRh)
  if (usable.length < (options.minFitHours ?? 24)) return { kappa: defaultKappa, gain: 1, fitted: false, hours: usable.length }
  const gainAt = (kappa: number): number => {
    let xy = 0
    let xx = 0
    for (const h of usable) {
      const x = h.raw / kohlerGrowth(kappa, h.rh, maxRh)
      xy += x * h.reference
      xx += x * x
    }
    return xx > 0 ? clamp(xy / xx, KOHLER_GAIN_BOUNDS[0], KOHLER_GAIN_BOUNDS[1]) : 1
  }
  const sse = (kappa: number): number => {
    const gain = gainAt(kappa)
    let sum = 0
    for (const h of usable) sum += ((gain * h.raw) / kohlerGrowth(kappa, h.rh, maxRh) - h.reference) ** 2
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
  const kappa = sse(refined) < bestSse ? refined : best
  return { kappa, gain: gainAt(kappa), fitted: true, hours: usable.length }
}

/**
 * Builds the `pm-kohler` model. `input.humidity` is required; a reading whose hour has no humidity value cannot
 * be calibrated (apply → undefined). Devices not in the input use the default κ.
 *
 * Coefficients: `gain` (a), `kappa`, `kappa_fitted` (1 fitted, 0 default), `fit_hours`, `max_rh` (%).
 * Notes: `kappa_default` when the defaults (a = 1, κ = 0.3) are used.
 * Flags: `humid` for a reading whose hour has RH ≥ `maxRh` (growth clamped, value kept but unreliable).
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
    const fit = options.fit === false ? { kappa: defaultKappa, gain: 1, fitted: false, hours: 0 } : fitKappa(hours, { ...options, defaultKappa, maxRh })
    fits.set(deviceId, fit)
  }
  return pmKohlerModel(humidity, maxRh, (deviceId) => fits.get(deviceId) ?? { kappa: defaultKappa, gain: 1, fitted: false, hours: 0 })
}

/**
 * The `pm-kohler` model of fitted (or stored) gains and κ, on the hourly reference humidity `humidity` (%, by
 * hour end). Used by pmKohler after fitting and by restorePmKohler on a later apply window.
 */
function pmKohlerModel(humidity: ReadonlyMap<number, number>, maxRh: number, fitOf: (deviceId: string) => KappaFit, notes?: (deviceId: string) => string[]): CalibrationModel {
  return {
    method: 'pm-kohler',
    // 2: gain term a (issue 11)
    version: '2',
    apply(deviceId, observedAt, value) {
      const rh = humidity.get(hourEnding(observedAt))
      if (rh === undefined) return undefined
      const fit = fitOf(deviceId)
      return (fit.gain * value) / kohlerGrowth(fit.kappa, rh, maxRh)
    },
    coefficients(deviceId) {
      const fit = fitOf(deviceId)
      return { gain: fit.gain, kappa: fit.kappa, kappa_fitted: fit.fitted ? 1 : 0, fit_hours: fit.hours, max_rh: maxRh }
    },
    flagsAt(_deviceId, observedAt) {
      const rh = humidity.get(hourEnding(observedAt))
      return rh !== undefined && rh >= maxRh ? [HUMID_FLAG] : []
    },
    notes: notes ?? ((deviceId) => (fitOf(deviceId).fitted ? [] : ['kappa_default'])),
    methodAt(_deviceId, observedAt) {
      return humidity.has(hourEnding(observedAt)) ? 'pm-kohler' : undefined
    },
  }
}

/**
 * The `pm-kohler` model of stored coefficients (`gain`, `kappa`, `kappa_fitted`, `fit_hours`, `max_rh`;
 * core/calibration/fits.ts) on `input.humidity` (the apply window). A device without stored coefficients gets
 * a = 1 and the default κ, as pmKohler gives a device it could not fit. Errors: Error without `input.humidity`.
 */
export function restorePmKohler(input: CalibrationInput, stored: StoredParameters, options: PmKohlerOptions = {}): CalibrationModel {
  if (input.humidity === undefined) throw new Error('pm-kohler needs reference relative humidity (input.humidity)')
  const maxRh = options.maxRh ?? KOHLER_MAX_RH
  const fitOf = (deviceId: string): KappaFit => {
    const c = numbers(stored.parameters(deviceId))
    return c.gain === undefined || c.kappa === undefined
      ? { kappa: options.defaultKappa ?? DEFAULT_KAPPA, gain: 1, fitted: false, hours: 0 }
      : { kappa: c.kappa, gain: c.gain, fitted: c.kappa_fitted === 1, hours: c.fit_hours ?? 0 }
  }
  return pmKohlerModel(indexHourly(input.humidity, 'humidity'), maxRh, fitOf, stored.notes)
}
