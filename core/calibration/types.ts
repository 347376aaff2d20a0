import type { Quantity } from '../quantities.ts'
import type { UncertaintyAssessment } from './uncertainty.ts'

/**
 * Hourly values on the reference's grid: `time` is the END of the hour, epoch ms UTC (core/reference/reference.ts).
 * A device hour is the mean of its readings with observedAt in (time − 1 h, time], quality-flagged readings
 * excluded, kept only when complete enough (core/calibration/align.ts).
 */
export interface HourlyValue {
  time: number
  value: number
  /** Readings that went into the mean (0 for reference values). */
  count: number
}

export interface HourlySeries {
  id: string // device id or reference station id
  quantity: Quantity
  values: HourlyValue[]
}

/**
 * The result of calibrating one device and quantity over a period: the method, its coefficients, and the
 * metrics before and after against the reference (core/calibration/metrics.ts).
 */
export interface CalibrationResult {
  deviceId: string
  quantity: Quantity
  method: string
  /** Method version, stored with every calibrated value so a recalculation with a changed method is visible. */
  version: string
  referenceStation: string
  referenceDistanceKm?: number
  from: number
  to: number
  coefficients: Record<string, number | number[]>
  /** Over the fit's own hours (in-sample): for comparison only, the improvement is judged on `heldOut`. */
  before: Metrics
  after: Metrics
  /** Raw and calibrated over held-out hours (core/calibration/held-out.ts); absent when fewer than 3 pairs. */
  heldOut?: { before: Metrics; after: Metrics }
  /** Uncertainty on held-out data and the label it earns (core/calibration/uncertainty.ts). */
  uncertainty?: UncertaintyAssessment
  /**
   * The fit that calibrated this period (core/calibration/fits.ts): its window [from, to) (epoch ms UTC), wall-clock
   * `fittedAt`, hourly means `n` it saw, and `reused` when this run applied a stored fit instead of fitting.
   */
  fit?: { from: number; to: number; fittedAt: number; n: number; reused: boolean }
  /** Method notes (CrowdQC-style flags) and why nothing or worse came out, for people reading the result. */
  notes?: string[]
}

/** See core/calibration/metrics.ts for definitions and sources; errors are sensor − reference. */
export interface Metrics {
  n: number
  r2: number
  rmse: number
  mae: number
  mbe: number
  ols_slope: number
  ols_intercept: number
  deming_slope: number
  deming_intercept: number
}
