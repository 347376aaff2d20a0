import { linearRegression } from 'simple-statistics'
import { QUANTITIES } from '../../quantities.ts'
import { type CalibrationInput, type CalibrationModel, type StoredParameters, checkOption, clamp, indexDevices, indexHourly, numbers, pairsWith } from './method.ts'

/**
 * `linear-collocated`: per-sensor ordinary least squares for devices mounted at the reference station,
 *
 *   reference ≈ a + b · sensor   over the device's paired hourly means,   calibrated = a + b · raw
 *
 * The usual field calibration of a low-cost sensor collocated with a reference instrument (e.g. RIVM's
 * "startkalibratie" of NO2 sensors at a reference station, https://www.samenmeten.nl/documenten/kalibratie-van-no2-sensoren).
 * The regression is simple-statistics `linearRegression` with the sensor as x. Calibrated values are clamped to the quantity's physical range
 * (core/quantities.ts `min`/`max`), so a negative intercept cannot make PM negative. Only devices listed in
 * `input.collocated` are fitted, and only with at least `minPairs` pairs (default 24, one day of hours: ours)
 * and a sensor series that is not constant; any other device cannot be calibrated by this method.
 */

export interface LinearCollocatedOptions {
  /** Minimum paired hours for a fit; default 24 (ours). */
  minPairs?: number
}

interface LinearFit {
  a: number
  b: number
  n: number
}

/**
 * Builds the `linear-collocated` model.
 * Coefficients: `a` (intercept, canonical unit), `b` (slope, dimensionless), `n` (pairs); only `n` when not fitted.
 * Notes: `not_collocated` for a device not in `input.collocated`; `insufficient_pairs` when it has fewer than
 * `minPairs` pairs or a constant sensor series.
 * Errors: RangeError for `minPairs` < 2.
 */
export function linearCollocated(input: CalibrationInput, options: LinearCollocatedOptions = {}): CalibrationModel {
  const minPairs = options.minPairs ?? 24
  checkOption('minPairs', minPairs, 2, Infinity)
  const collocated = new Set(input.collocated ?? [])
  const reference = indexHourly(input.reference, 'reference')
  const fits = new Map<string, LinearFit>()
  const pairCounts = new Map<string, number>()
  for (const [deviceId, hourly] of indexDevices(input)) {
    if (!collocated.has(deviceId)) continue
    const pairs = pairsWith(hourly, reference)
    pairCounts.set(deviceId, pairs.length)
    if (pairs.length < minPairs || pairs.every((p) => p.sensor === pairs[0]?.sensor)) continue
    const { m, b } = linearRegression(pairs.map((p) => [p.sensor, p.reference]))
    fits.set(deviceId, { a: b, b: m, n: pairs.length })
  }

  const notes = (deviceId: string): string[] => {
    if (!collocated.has(deviceId)) return ['not_collocated']
    return fits.has(deviceId) ? [] : ['insufficient_pairs']
  }
  return linearModel(input, (deviceId) => fits.get(deviceId), (deviceId) => pairCounts.get(deviceId) ?? 0, notes)
}

/** The `linear-collocated` model of fitted (or stored) lines; used by linearCollocated and restoreLinearCollocated. */
function linearModel(input: CalibrationInput, fitOf: (deviceId: string) => LinearFit | undefined, pairs: (deviceId: string) => number, notes: (deviceId: string) => string[]): CalibrationModel {
  const { min, max } = QUANTITIES[input.quantity]
  return {
    method: 'linear-collocated',
    version: '1',
    apply(deviceId, _observedAt, value) {
      const fit = fitOf(deviceId)
      return fit === undefined ? undefined : clamp(fit.a + fit.b * value, min, max)
    },
    coefficients(deviceId): Record<string, number> {
      const fit = fitOf(deviceId)
      return fit ? { a: fit.a, b: fit.b, n: fit.n } : { n: pairs(deviceId) }
    },
    notes,
    methodAt(deviceId) {
      return fitOf(deviceId) ? 'linear-collocated' : undefined
    },
  }
}

/** The `linear-collocated` model of stored coefficients `a`, `b`, `n` (core/calibration/fits.ts). */
export function restoreLinearCollocated(input: CalibrationInput, stored: StoredParameters): CalibrationModel {
  const fitOf = (deviceId: string): LinearFit | undefined => {
    const c = numbers(stored.parameters(deviceId))
    return c.a === undefined || c.b === undefined ? undefined : { a: c.a, b: c.b, n: c.n ?? 0 }
  }
  return linearModel(input, fitOf, (deviceId) => numbers(stored.parameters(deviceId)).n ?? 0, stored.notes)
}
