import { computeMetrics } from './metrics.ts'
import { heldOutHourly, heldOutPairs } from './held-out.ts'
import type { CalibrationInput, CalibrationModel } from './methods/method.ts'
import type { Metrics } from './types.ts'
import { type UncertaintyAssessment, assessUncertainty, betweenSamplerUncertainty, dataCapture } from './uncertainty.ts'

const HOUR_MS = 3_600_000

/** One device's held-out evaluation: hourly rows, metrics of raw and calibrated on the same held-out hours, uncertainty. */
export interface DeviceAssessment {
  /** Held-out hourly rows (core/calibration/held-out.ts heldOutHourly). */
  heldOut: Array<{ time: number; raw: number; calibrated: number; reference?: number }>
  /** Raw and held-out calibrated against the reference over the same held-out hours; undefined when < 3 pairs or no variance. */
  metrics?: { before: Metrics; after: Metrics }
  uncertainty: UncertaintyAssessment
}

/**
 * Held-out evaluation and uncertainty of every device of `input` (core/calibration/uncertainty.ts): `fit` refits
 * the method (e.g. `(i) => chooseMethod(quantity, i)`), `period` is [from, to) in epoch ms UTC (data capture =
 * hours ending in (from, to] with an hourly mean / hours of the period), `collocated` the devices at the
 * reference station (their between-sampler spread, GDE 9.5.3.1, on the raw hourly means; null with fewer
 * than 2). Errors: the method's own, unchanged.
 */
export function assessDevices(
  input: CalibrationInput,
  fit: (input: CalibrationInput) => CalibrationModel,
  period: { from: number; to: number },
  collocated: readonly string[] = [],
  folds = 3,
): Map<string, DeviceAssessment> {
  const hours = Math.max(1, Math.round((period.to - period.from) / HOUR_MS))
  const betweenSampler = collocatedSpread(input, collocated)
  const out = new Map<string, DeviceAssessment>()
  for (const [deviceId, rows] of heldOutHourly(input, fit, { folds })) {
    const hourly = input.devices.find((d) => d.deviceId === deviceId)!.hourly
    const kept = hourly.filter((h) => h.time > period.from && h.time <= period.to).length
    const pairs = heldOutPairs(rows)
    const uncertainty = assessUncertainty(input.quantity, pairs, dataCapture(Math.min(kept, hours), hours), betweenSampler)
    const metrics = tryMetrics(rows)
    out.set(deviceId, { heldOut: rows, uncertainty, ...(metrics ? { metrics } : {}) })
  }
  return out
}

function tryMetrics(rows: DeviceAssessment['heldOut']): { before: Metrics; after: Metrics } | undefined {
  const paired = rows.filter((r) => r.reference !== undefined)
  try {
    return {
      before: computeMetrics(paired.map((r) => ({ sensor: r.raw, reference: r.reference! }))),
      after: computeMetrics(paired.map((r) => ({ sensor: r.calibrated, reference: r.reference! }))),
    }
  } catch {
    return undefined // fewer than 3 held-out pairs or no variance: the report says n = 0
  }
}

function collocatedSpread(input: CalibrationInput, collocated: readonly string[]): number | null {
  const devices = input.devices.filter((d) => collocated.includes(d.deviceId))
  if (devices.length < 2) return null
  const byTime = new Map<number, number[]>()
  for (const d of devices) for (const h of d.hourly) byTime.get(h.time)?.push(h.value) ?? byTime.set(h.time, [h.value])
  return betweenSamplerUncertainty([...byTime.values()]) ?? null
}
