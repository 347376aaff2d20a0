import type { CalibrationInput, CalibrationModel } from './methods/method.ts'
import type { HeldOutPair } from './uncertainty.ts'

/**
 * Held-out evaluation of a calibration: every hourly value of a device is calibrated by a model fitted WITHOUT
 * that device's values of the same day block, so the metrics and the uncertainty (core/calibration/uncertainty.ts)
 * say how the calibration does on data it has not seen — the fit's own data flatter it (issue 11: MBE exactly
 * 0.000 and slope 1 after calibration).
 *
 * Scheme: k-fold cross-validation by contiguous blocks of UTC days ("blocked" cross-validation: hourly air
 * quality is autocorrelated over hours, so random hours would leak; Roberts et al. 2017, Ecography 40:913–929).
 * The period's days are cut into `folds` blocks of equal length (21 days, 3 folds: weeks 1, 2, 3). For each
 * evaluated device and block, the device's hours in that block are removed from the input (other devices keep
 * theirs), the method is fitted again and applied to the removed hours. So:
 * - per-device fits (linear regression, hour-of-day bias, κ, radiation regression) are evaluated on time they
 *   were not fitted on;
 * - shared group factors (the group ratio) are, in those hours, computed without the device: leave-one-device-out.
 * The reference stays in the input for all hours: methods that use the same hour's reference (the group ratio)
 * use it in operation too.
 */

export interface HeldOutOptions {
  /** Number of day blocks, ≥ 2; default 3. */
  folds?: number
  /** Devices to evaluate; default every device of the input. */
  deviceIds?: readonly string[]
}

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/**
 * Held-out hourly values per device: `{ time, raw, calibrated, reference? }` (time = end of the hour, epoch ms
 * UTC, values in the canonical unit) for each hour the model refitted without it gave a value; `reference` only
 * where the input's reference has that hour. `fit` builds the model from an input (e.g.
 * `(i) => chooseMethod(quantity, i)`). Cost: (devices × folds) fits.
 * Errors: RangeError for folds < 2 or not an integer; the method's own errors, unchanged.
 */
export function heldOutHourly(
  input: CalibrationInput,
  fit: (input: CalibrationInput) => CalibrationModel,
  options: HeldOutOptions = {},
): Map<string, Array<{ time: number; raw: number; calibrated: number; reference?: number }>> {
  const folds = options.folds ?? 3
  if (!Number.isInteger(folds) || folds < 2) throw new RangeError(`folds must be an integer ≥ 2, got ${folds}`)
  const reference = new Map(input.reference.map((r) => [r.time, r.value]))
  const days = input.devices.flatMap((d) => d.hourly.map((h) => Math.floor((h.time - HOUR_MS) / DAY_MS)))
  const out = new Map<string, Array<{ time: number; raw: number; calibrated: number; reference?: number }>>()
  if (days.length === 0) return out
  const first = Math.min(...days)
  const blockDays = Math.ceil((Math.max(...days) - first + 1) / folds)
  const blockOf = (time: number) => Math.floor((Math.floor((time - HOUR_MS) / DAY_MS) - first) / blockDays)
  const wanted = new Set(options.deviceIds ?? input.devices.map((d) => d.deviceId))
  for (const device of input.devices) {
    if (!wanted.has(device.deviceId)) continue
    const rows: Array<{ time: number; raw: number; calibrated: number; reference?: number }> = []
    for (let block = 0; block < folds; block++) {
      const held = device.hourly.filter((h) => blockOf(h.time) === block)
      if (held.length === 0) continue
      const training = { ...input, devices: input.devices.map((d) => (d === device ? { ...d, hourly: d.hourly.filter((h) => blockOf(h.time) !== block) } : d)) }
      const model = fit(training)
      for (const h of held) {
        const calibrated = model.apply(device.deviceId, h.time, h.value)
        if (calibrated === undefined || !Number.isFinite(calibrated)) continue
        const ref = reference.get(h.time)
        rows.push({ time: h.time, raw: h.value, calibrated, ...(ref === undefined ? {} : { reference: ref }) })
      }
    }
    out.set(device.deviceId, rows.sort((a, b) => a.time - b.time))
  }
  return out
}

/** The rows of heldOutHourly that have a reference, as held-out pairs for assessUncertainty. */
export function heldOutPairs(rows: ReadonlyArray<{ time: number; calibrated: number; reference?: number }>): HeldOutPair[] {
  return rows.flatMap((r) => (r.reference === undefined ? [] : [{ time: r.time, calibrated: r.calibrated, reference: r.reference }]))
}
