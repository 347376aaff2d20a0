import { linearRegression, mean, rootMeanSquare, sampleCorrelation, sampleCovariance, sampleVariance } from 'simple-statistics'
import type { Metrics } from './types.ts'

/**
 * Agreement between a sensor and a reference over collocated pairs (hourly or daily means on the same grid).
 *
 * Shapes and conventions:
 * - Input: `pairs[i] = { reference, sensor }`, both in the same unit (the quantity's canonical unit, e.g. µg/m³).
 * - Regressions put the reference on y and the sensor on x: `reference ≈ intercept + slope · sensor`, so the
 *   coefficients are directly a linear correction of the sensor. Slopes are unitless, intercepts in the unit.
 * - Errors are `sensor − reference` (positive = sensor reads high). MBE, MAE, RMSE are in the unit.
 *
 * Definitions (n = number of pairs, e_i = sensor_i − reference_i):
 * - `mbe` = (1/n) Σ e_i; `mae` = (1/n) Σ |e_i|; `rmse` = sqrt((1/n) Σ e_i²) — population (1/n) means; RMSE as
 *   in US EPA 2021 "Performance Testing Protocols, Metrics, and Target Values for Fine Particulate Matter Air
 *   Sensors" (EPA/600/R-20/280), with one sensor (M = 1): sqrt(1/N Σ (x_d − R_d)²).
 * - `r2` = Pearson r², r = s_xy / (s_x s_y). For an OLS fit with intercept this equals 1 − SS_res/SS_tot.
 * - `ols_slope`, `ols_intercept`: ordinary least squares of reference on sensor (errors in y only).
 * - `deming_slope`, `deming_intercept`: Deming regression with error-variance ratio δ = 1 (orthogonal
 *   regression; errors in both), see `demingFit`.
 *
 * Library: simple-statistics 7 (mean with compensated summation, linearRegression on centred data,
 * sampleCorrelation, sampleVariance, sampleCovariance, rootMeanSquare). Deming is not in it and is written here.
 *
 * Errors (thrown, never NaN in the result): fewer than 3 pairs; a non-finite value (index named); all sensor or
 * all reference values equal (zero variance: slope and r² undefined); sensor and reference with covariance
 * exactly 0 (Deming slope undefined). Messages name the problem.
 */
export function computeMetrics(pairs: ReadonlyArray<{ reference: number; sensor: number }>): Metrics {
  if (pairs.length < MIN_PAIRS) throw new Error(`metrics need at least ${MIN_PAIRS} pairs, got ${pairs.length}`)
  const x: number[] = []
  const y: number[] = []
  for (const [i, pair] of pairs.entries()) {
    if (!Number.isFinite(pair.sensor)) throw new Error(`pair ${i}: sensor value ${pair.sensor} is not a finite number`)
    if (!Number.isFinite(pair.reference)) throw new Error(`pair ${i}: reference value ${pair.reference} is not a finite number`)
    x.push(pair.sensor)
    y.push(pair.reference)
  }
  requireVariation(x, 'sensor')
  requireVariation(y, 'reference')

  const errors = x.map((sensor, i) => sensor - y[i]!)
  const ols = linearRegression(x.map((sensor, i) => [sensor, y[i]!]))
  const r = sampleCorrelation(x, y)
  const deming = demingFit(x, y, 1)
  return {
    n: pairs.length,
    r2: r * r,
    rmse: rootMeanSquare(errors),
    mae: mean(errors.map(Math.abs)),
    mbe: mean(errors),
    ols_slope: ols.m,
    ols_intercept: ols.b,
    deming_slope: deming.slope,
    deming_intercept: deming.intercept,
  }
}

/** Fewest pairs computeMetrics accepts: with 2 any line fits exactly and r² = 1 says nothing. */
export const MIN_PAIRS = 3

/**
 * Deming regression of y on x, both measured with error: `y ≈ intercept + slope · x`.
 *
 * - `x`, `y`: equal-length arrays (≥ 2 values) in any units; `delta` = δ = σ²(error in y) / σ²(error in x),
 *   > 0; δ = 1 is orthogonal regression (equal error variances, the symmetric choice when neither instrument is
 *   known to be the more precise).
 * - Closed form (Deming 1943, "Statistical Adjustment of Data", Wiley; Linnet 1993, Clin. Chem. 39(3):424–432,
 *   "Evaluation of regression procedures for methods comparison studies"; as on Wikipedia "Deming regression"):
 *     slope = (s_yy − δ s_xx + sqrt((s_yy − δ s_xx)² + 4 δ s_xy²)) / (2 s_xy),  intercept = ȳ − slope · x̄,
 *   with s_xx, s_yy, s_xy the sample (co)variances (the common 1/(n−1) cancels). When s_yy − δ s_xx < 0 the
 *   algebraically equal form slope = 2 δ s_xy / (sqrt(…) − (s_yy − δ s_xx)) is used to avoid cancellation.
 * - Errors: lengths differ or < 2 values, δ not finite and > 0, s_xy = 0 (the fitted direction is undefined),
 *   s_xx = 0 or s_yy = 0.
 */
export function demingFit(x: readonly number[], y: readonly number[], delta = 1): { slope: number; intercept: number } {
  if (x.length !== y.length) throw new Error(`Deming regression needs equal-length x and y, got ${x.length} and ${y.length}`)
  if (x.length < 2) throw new Error(`Deming regression needs at least 2 points, got ${x.length}`)
  if (!(Number.isFinite(delta) && delta > 0)) throw new Error(`Deming regression: delta must be a finite number > 0, got ${delta}`)
  const sxx = sampleVariance([...x])
  const syy = sampleVariance([...y])
  const sxy = sampleCovariance([...x], [...y])
  if (sxx === 0 || syy === 0) throw new Error('Deming regression: x or y has zero variance')
  if (sxy === 0) throw new Error('Deming regression: x and y have covariance 0, the slope is undefined')
  const d = syy - delta * sxx
  const root = Math.sqrt(d * d + 4 * delta * sxy * sxy)
  const slope = d >= 0 ? (d + root) / (2 * sxy) : (2 * delta * sxy) / (root - d)
  return { slope, intercept: mean([...y]) - slope * mean([...x]) }
}

function requireVariation(values: readonly number[], name: 'sensor' | 'reference'): void {
  const first = values[0]!
  if (values.every((v) => v === first)) {
    throw new Error(`all ${values.length} ${name} values equal ${first}: zero variance, regression and r² are undefined`)
  }
}
