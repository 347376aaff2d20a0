import { linearRegression, rSquared } from 'simple-statistics'
import {
  type CalibrationInput,
  type CalibrationModel,
  checkOption,
  clamp,
  hourEnding,
  indexDevices,
  indexHourly,
  numbers,
  pairsWith,
  type StoredParameters,
} from './method.ts'

/**
 * `radiation-offset`: air temperature and relative humidity of citizen weather stations. Corrects only the
 * instrument's own errors, a constant offset and the radiation error of its shield, and keeps the urban heat.
 *
 *   bias_h = sensor_h − reference_h                       (hourly mean against the KNMI station, e.g. 278 Heino)
 *   x_h    = Q_h / (FH_h + c)                             (W/m² per m/s; Q global radiation, FH wind at 10 m)
 *   bias_h ≈ a + b · x_h       fitted by OLS over daytime hours only (Q_h ≥ `minRadiation`)
 *   calibrated = raw − (a + b · x_h of the reading's hour)  (RH then clamped to [0, 100] %)
 *
 * Why this form: the radiation error of a naturally ventilated shield grows with the solar load and falls with
 * the wind that ventilates it (Nakamura & Mahrt 2005, J. Atmos. Oceanic Technol. 22:1046–1058,
 * doi:10.1175/JTECH1762.1, an empirical correction from wind speed and shortwave radiation). KNMI corrected 159 Dutch WOW
 * stations for short-wave radiation bias against the official network (Cornes, Dirksen & Sluiter 2020, Meteorol.
 * Appl. 27:e1814, doi:10.1002/met.1814, with a GAMM). The ratio Q/(FH + c) is the simplest term of that physics;
 * c = 1 m/s (ours) keeps calm hours finite.
 *
 * Why daytime hours only: the bias against a rural station also holds the city's real warmth, and the
 * canopy-layer urban heat island is a night-time phenomenon, small by day (Oke 1982, Q. J. R. Meteorol. Soc.
 * 108:1–24). Fitted by day, `a` is the sensor's offset plus whatever daytime difference the garden really has;
 * at night x = 0, the correction is `a` alone, and the night-time heat island is kept. Limit: a garden that is
 * really warmer than the rural station by day has that difference removed day and night (the offset cannot
 * tell it apart); such a difference is typically a few tenths of a °C.
 *
 * Relative humidity uses the same form: a heated sensor reads a lower RH (≈ −6 % of the RH per K near 20 °C,
 * from the Magnus formula), which the linear term follows to first order.
 *
 * A reading can be calibrated when its hour has both Q and FH; a device is fitted when it has at least
 * `minFitHours` daytime hours paired with the reference (default 48, ours: two summer days, four winter days).
 * With fewer, or without Q/FH at all, it is not calibrated (notes `insufficient_daytime_hours`,
 * `no_radiation_reference`). With daytime hours but no spread in x (b undefined) only the offset is fitted.
 */

export interface RadiationOffsetOptions {
  /** c in Q/(FH + c), m/s; default 1 (ours). */
  windOffset?: number
  /**
   * Hours with Q at or above this are daytime hours and enter the fit, W/m²; default 50 (ours). It leaves out the
   * hours around sunrise and sunset, when the heat island is still decaying or already building (Oke 1982); on
   * the synthetic fleet 20 W/m² let that warmth into the offset (night-time island 0.30 °C low, against 0.16 °C).
   */
  minRadiation?: number
  /** Minimum daytime hours paired with the reference for a fit; default 48 (ours). */
  minFitHours?: number
}

export const RADIATION_OFFSET_DEFAULTS = { windOffset: 1, minRadiation: 50, minFitHours: 48 } as const

interface DeviceFit {
  /** Offset a, canonical unit. */
  a: number
  /** Radiation coefficient b, canonical unit per (W/m² per m/s). */
  b: number
  n: number
  r2: number
}

/**
 * Builds the `radiation-offset` model for air_temperature or relative_humidity from `input.reference`,
 * `input.radiation` (W/m²) and `input.wind` (m/s).
 * Coefficients: `offset` (a, canonical unit), `radiation_coefficient` (b, canonical unit per W/m² per m/s),
 * `wind_offset` (c, m/s), `n` (daytime hours fitted), `r2` (of the fit); only `n` when not fitted.
 * Errors: Error for another quantity; RangeError for options out of range; indexHourly's errors for a series off
 * the hourly grid.
 */
export function radiationOffset(input: CalibrationInput, options: RadiationOffsetOptions = {}): CalibrationModel {
  const { quantity } = input
  if (quantity !== 'air_temperature' && quantity !== 'relative_humidity') {
    throw new Error(`radiation-offset calibrates air_temperature and relative_humidity, not ${quantity}`)
  }
  const o = { ...RADIATION_OFFSET_DEFAULTS, ...options }
  checkOption('windOffset', o.windOffset, 0.1, 100)
  checkOption('minRadiation', o.minRadiation, 0, 1500)
  checkOption('minFitHours', o.minFitHours, 3, Infinity)

  const reference = indexHourly(input.reference, 'reference')
  const load = loadOf(input, o.windOffset)
  const noReference = (input.radiation ?? []).length === 0 || (input.wind ?? []).length === 0
  const fits = new Map<string, DeviceFit>()
  const counts = new Map<string, number>()
  for (const [deviceId, hourly] of indexDevices(input)) {
    const day = pairsWith(hourly, reference).flatMap((p) => {
      const x = load(p.time)
      return x !== undefined && x.q >= o.minRadiation ? [[x.x, p.sensor - p.reference]] : []
    })
    counts.set(deviceId, day.length)
    if (day.length < o.minFitHours) continue
    const spread = day.some(([x]) => x !== day[0]![0])
    const line = spread ? linearRegression(day) : { m: 0, b: day.reduce((s, [, d]) => s + d!, 0) / day.length }
    const predict = (x: number) => line.b + line.m * x
    fits.set(deviceId, { a: line.b, b: line.m, n: day.length, r2: spread ? rSquared(day, predict) : 0 })
  }
  const coefficients = (deviceId: string): Record<string, number> => {
    const fit = fits.get(deviceId)
    if (!fit) return { n: counts.get(deviceId) ?? 0 }
    return { offset: fit.a, radiation_coefficient: fit.b, wind_offset: o.windOffset, n: fit.n, r2: fit.r2 }
  }
  const notes = (deviceId: string): string[] => {
    if (fits.has(deviceId)) return []
    if (noReference) return ['no_radiation_reference: no KNMI global radiation (Q) or wind (FH) in the period; import them with senshagen reference']
    return [`insufficient_daytime_hours: ${counts.get(deviceId) ?? 0} daytime hours paired with the reference, ${o.minFitHours} needed`]
  }
  return radiationOffsetModel(input, coefficients, notes)
}

/** Radiation load x = Q / (FH + c) of an hour (and its Q, W/m²), undefined without both Q and FH. */
function loadOf(input: CalibrationInput, windOffset: number): (time: number) => { x: number; q: number } | undefined {
  const radiation = indexHourly(input.radiation ?? [], 'radiation')
  const wind = indexHourly(input.wind ?? [], 'wind')
  return (time) => {
    const q = radiation.get(time)
    const fh = wind.get(time)
    return q === undefined || fh === undefined ? undefined : { x: Math.max(0, q) / (Math.max(0, fh) + windOffset), q }
  }
}

/**
 * The `radiation-offset` model of fitted (or stored, core/calibration/fits.ts) coefficients: a device calibrates
 * where `coefficients(deviceId)` has `offset`, `radiation_coefficient` and `wind_offset` and its reading's hour has
 * Q and FH in `input`. Used by radiationOffset after fitting and by restoreRadiationOffset on a later apply window.
 */
function radiationOffsetModel(
  input: CalibrationInput,
  coefficients: (deviceId: string) => Record<string, number>,
  notes: (deviceId: string) => string[],
): CalibrationModel {
  // one load per wind offset c (the same for every device fitted with the same options)
  const loads = new Map<number, ReturnType<typeof loadOf>>()
  const correction = (deviceId: string, observedAt: number): number | undefined => {
    const c = coefficients(deviceId)
    if (c.offset === undefined || c.radiation_coefficient === undefined || c.wind_offset === undefined) return undefined
    const load = loads.get(c.wind_offset) ?? loads.set(c.wind_offset, loadOf(input, c.wind_offset)).get(c.wind_offset)!
    const x = load(hourEnding(observedAt))
    return x === undefined ? undefined : c.offset + c.radiation_coefficient * x.x
  }
  return {
    method: 'radiation-offset',
    version: '1',
    apply(deviceId, observedAt, value) {
      const c = correction(deviceId, observedAt)
      if (c === undefined) return undefined
      return input.quantity === 'relative_humidity' ? clamp(value - c, 0, 100) : value - c
    },
    coefficients,
    notes,
    methodAt(deviceId, observedAt) {
      return correction(deviceId, observedAt) === undefined ? undefined : 'radiation-offset'
    },
  }
}

/**
 * The `radiation-offset` model of stored coefficients (core/calibration/fits.ts) applied to `input`'s Q and FH
 * (the apply window); `notes` are the stored fit's. A device without coefficients is not calibrated.
 */
export function restoreRadiationOffset(input: CalibrationInput, stored: StoredParameters): CalibrationModel {
  return radiationOffsetModel(input, (deviceId) => numbers(stored.parameters(deviceId)), stored.notes)
}
