import { mean, rootMeanSquare } from 'simple-statistics'
import type { Quantity } from '../quantities.ts'
import { demingFit } from './metrics.ts'

/**
 * Measurement uncertainty of calibrated sensor data and the label that follows from it.
 *
 * Method: the EU "Guide to the Demonstration of Equivalence of Ambient Air Monitoring Methods" (GDE, EC Working
 * Group, January 2010), section 9.5, as CEN/TS 17660-1:2021 (sensor systems for gaseous pollutants) applies it
 * to sensors:
 * - orthogonal (Deming, δ = 1) regression of the candidate y on the reference x: y = a + b·x (9.5.3.2);
 * - combined standard uncertainty of the candidate at concentration x (eq. 9.5.3.2 / 22 of the GDE):
 *     u²_c,s(y_i) = RSS/(n − 2) − u²(x_i) + [a + (b − 1)·x_i]²,   RSS = Σ (y_i − a − b·x_i)²
 *   the first two terms are the random part (scatter around the line, less the reference's own uncertainty), the
 *   last is the bias at x_i;
 * - relative expanded uncertainty at the limit value LV (coverage factor k = 2): W = 2·u_c,s(LV) / LV.
 * The candidate here is the CALIBRATED sensor value, and its pairs are values the calibration did not fit (held
 * out, core/calibration/held-out.ts): an uncertainty from the fit's own data would flatter it.
 *
 * Not done (say so where it matters): GDE's test for significant slope/intercept and its separate calibration of
 * the candidate (we report the line instead), and its split by concentration range (≥ LV/2 datasets).
 */

/**
 * The EU data quality objective for indicative measurements of one quantity.
 * - `limitValue`: in the quantity's unit, for `averaging` means ('day' = UTC calendar day, 'hour').
 * - `relativeUncertainty`: the largest allowed relative expanded uncertainty W (0.5 = 50 %).
 * - `minDataCapture`: least share of the period's averaging intervals with a value (0.9 = 90 %).
 */
export interface DataQualityObjective {
  limitValue: number
  averaging: 'hour' | 'day'
  relativeUncertainty: number
  minDataCapture: number
  source: string
}

/**
 * Directive 2008/50/EC Annex I, section A (data quality objectives for indicative measurements: uncertainty
 * 50 % for PM10 and PM2.5, 25 % for NO2; minimum data capture 90 %); limit values from Annex XI (PM10 daily
 * 50 µg/m³, NO2 hourly 200 µg/m³) and, for PM2.5, Directive (EU) 2024/2881 Annex I (daily limit value 25 µg/m³,
 * to be attained by 2030; 2008/50/EC had only an annual PM2.5 limit, also 25 µg/m³). CEN/TS 17660-1:2021 calls a
 * sensor meeting the indicative objective "class 1". Temperature and humidity have no EU objective.
 */
export const DATA_QUALITY_OBJECTIVES: Partial<Record<Quantity, DataQualityObjective>> = {
  pm2_5: { limitValue: 25, averaging: 'day', relativeUncertainty: 0.5, minDataCapture: 0.9, source: '2008/50/EC Annex I; LV 2024/2881 Annex I' },
  pm10: { limitValue: 50, averaging: 'day', relativeUncertainty: 0.5, minDataCapture: 0.9, source: '2008/50/EC Annex I and XI' },
  no2: { limitValue: 200, averaging: 'hour', relativeUncertainty: 0.25, minDataCapture: 0.9, source: '2008/50/EC Annex I and XI' },
}

/** Fewest held-out pairs an uncertainty is computed from (ours; the GDE asks ≥ 40 pairs per comparison site for full equivalence). */
export const MIN_UNCERTAINTY_PAIRS = 10

/** The GDE 9.5 uncertainty of a candidate against a reference, evaluated at `at` (the limit value). */
export interface GdeUncertainty {
  n: number
  /** Orthogonal regression candidate = intercept + slope · reference (intercept in the unit). */
  slope: number
  intercept: number
  /** Residual sum of squares Σ (y_i − a − b·x_i)², unit². */
  rss: number
  /** RSS/(n − 2) − u²(x), unit², floored at 0 (a reference noisier than the scatter cannot make it negative). */
  randomVariance: number
  /** Concentration the uncertainty is evaluated at, in the unit (the limit value). */
  at: number
  /** a + (b − 1)·at, in the unit. */
  biasAt: number
  /** u_c,s at `at`, in the unit. */
  standardUncertainty: number
  /** U = 2·u_c,s (k = 2), in the unit. */
  expandedUncertainty: number
  /** W = U / at (0.5 = 50 %). */
  relativeExpandedUncertainty: number
}

/**
 * GDE 2010 section 9.5 expanded uncertainty of `candidate` against `reference` at concentration `at`.
 * - `candidate[i]`, `reference[i]`: one pair (e.g. daily means of the calibrated sensor and of the reference
 *   station), same unit; `at` > 0 in that unit (the limit value); `referenceUncertainty` u(x_i) in the unit,
 *   default 0 (conservative: a non-zero u(x) lowers the result).
 * Errors: arrays of different length; fewer than 3 pairs (n − 2 must be > 0); a non-finite value (index named);
 * `at` not > 0; the regression's own errors (zero variance, zero covariance; core/calibration/metrics.ts demingFit).
 */
export function gdeUncertainty(candidate: readonly number[], reference: readonly number[], at: number, referenceUncertainty = 0): GdeUncertainty {
  if (candidate.length !== reference.length) throw new Error(`uncertainty needs as many candidate as reference values, got ${candidate.length} and ${reference.length}`)
  if (candidate.length < 3) throw new Error(`uncertainty needs at least 3 pairs (RSS/(n − 2)), got ${candidate.length}`)
  for (const [i, y] of candidate.entries()) if (!Number.isFinite(y)) throw new Error(`candidate value ${i} (${y}) is not a finite number`)
  for (const [i, x] of reference.entries()) if (!Number.isFinite(x)) throw new Error(`reference value ${i} (${x}) is not a finite number`)
  if (!(at > 0)) throw new Error(`uncertainty is evaluated at a concentration > 0, got ${at}`)
  const { slope, intercept } = demingFit(reference, candidate, 1)
  const rss = candidate.reduce((sum, y, i) => sum + (y - intercept - slope * reference[i]!) ** 2, 0)
  const n = candidate.length
  const randomVariance = Math.max(0, rss / (n - 2) - referenceUncertainty ** 2)
  const biasAt = intercept + (slope - 1) * at
  const standardUncertainty = Math.sqrt(randomVariance + biasAt ** 2)
  return { n, slope, intercept, rss, randomVariance, at, biasAt, standardUncertainty, expandedUncertainty: 2 * standardUncertainty, relativeExpandedUncertainty: (2 * standardUncertainty) / at }
}

/**
 * Absolute expanded uncertainty U (k = 2, unit of the value) of one calibrated value `value`, from a GDE fit:
 * 2·sqrt(randomVariance + [a + (b − 1)·value]²). The per-reading uncertainty SensHagen stores (`calibrated_u`).
 */
export function expandedUncertaintyAt(fit: Pick<GdeUncertainty, 'slope' | 'intercept' | 'randomVariance'>, value: number): number {
  return 2 * Math.sqrt(fit.randomVariance + (fit.intercept + (fit.slope - 1) * value) ** 2)
}

/**
 * Expanded uncertainty (k = 2) from the root mean square error against a reference, in the unit: 2·RMSE of
 * `candidate − reference` (bias and scatter together). For temperature and humidity, which have no EU objective
 * and no limit value to evaluate a relative uncertainty at. Errors: lengths differ, fewer than 3 pairs.
 */
export function rmseExpandedUncertainty(candidate: readonly number[], reference: readonly number[]): number {
  if (candidate.length !== reference.length) throw new Error(`uncertainty needs as many candidate as reference values, got ${candidate.length} and ${reference.length}`)
  if (candidate.length < 3) throw new Error(`uncertainty needs at least 3 pairs, got ${candidate.length}`)
  return 2 * rootMeanSquare(candidate.map((y, i) => y - reference[i]!))
}

/**
 * Between-sampler (between-sensor) standard uncertainty of collocated devices, in the unit: the pooled
 * standard deviation over times, sqrt(Σ_i Σ_j (y_ij − ȳ_i)² / Σ_i (p_i − 1)), with `values[i]` the p_i ≥ 2
 * devices' values at time i (times with fewer than 2 are skipped). For two devices this is GDE 2010 9.5.3.1,
 * u²_bs = Σ (y_i,1 − y_i,2)² / (2n). Returns undefined when no time has 2 values.
 */
export function betweenSamplerUncertainty(values: ReadonlyArray<readonly number[]>): number | undefined {
  let squares = 0
  let degrees = 0
  for (const row of values) {
    const finite = row.filter(Number.isFinite)
    if (finite.length < 2) continue
    const centre = mean(finite)
    squares += finite.reduce((s, y) => s + (y - centre) ** 2, 0)
    degrees += finite.length - 1
  }
  return degrees === 0 ? undefined : Math.sqrt(squares / degrees)
}

/**
 * Data capture: share 0…1 of the `expected` averaging intervals (e.g. hours of the period) that have a valid
 * value (`received`). Errors: `expected` not > 0, `received` negative or above `expected`.
 */
export function dataCapture(received: number, expected: number): number {
  if (!(expected > 0)) throw new Error(`data capture needs expected > 0 intervals, got ${expected}`)
  if (!(received >= 0 && received <= expected)) throw new Error(`data capture: received ${received} must be within 0…${expected}`)
  return received / expected
}

/**
 * The label a calibrated series carries everywhere it is shown (reports, CLI, API, page):
 * - `indicative`: the EU data quality objective for indicative measurements is met on held-out data
 *   (W ≤ objective at the limit value and data capture ≥ 90 %; 2008/50/EC Annex I);
 * - `experimental`: calibrated, but the objective is not met, not shown (too few held-out pairs), or does not
 *   exist (temperature, humidity) — RIVM's own word for its calibrated sensor data
 *   (https://www.samenmeten.nl/nieuws/rivm-kalibreert-fijnstofsensoren-met-experimentele-methode);
 * - `uncalibrated`: no calibrated value.
 * None of them is "equivalent to reference measurements".
 */
export type CalibrationLabel = 'indicative' | 'experimental' | 'uncalibrated'

export const LABEL_TEXT: Record<CalibrationLabel, string> = {
  indicative: 'indicative: meets the EU data quality objective for indicative measurements on held-out data; not equivalent to reference measurements',
  experimental: 'experimental: calibrated, but not shown to meet an EU data quality objective; not equivalent to reference measurements',
  uncalibrated: 'uncalibrated: raw sensor value',
}

/** One held-out hour: the calibrated value the model gave without this hour in its fit, and the reference. */
export interface HeldOutPair {
  /** End of the hour, epoch ms UTC. */
  time: number
  calibrated: number
  reference: number
}

/** Uncertainty of one device and quantity over a period, on held-out data, and the label it earns. */
export interface UncertaintyAssessment {
  label: CalibrationLabel
  /** Why the label is not `indicative` (empty when it is). */
  reasons: string[]
  /** The objective tested, or null (temperature, humidity). */
  objective: DataQualityObjective | null
  /** Means the objective is tested on ('day' for PM, 'hour' otherwise) and how many held-out pairs of them. */
  averaging: 'hour' | 'day'
  n: number
  /** GDE 9.5 at the limit value on `averaging` means (quantities with an objective, ≥ MIN_UNCERTAINTY_PAIRS). */
  gde: GdeUncertainty | null
  /** GDE 9.5 on hourly means: gives the per-reading uncertainty (quantities with an objective). */
  hourlyGde: GdeUncertainty | null
  /** Expanded uncertainty (k = 2) in the unit: U at the limit value, or 2·RMSE (hourly) without an objective. */
  expandedUncertainty: number | null
  /** W = U / limit value (null without an objective). */
  relativeExpandedUncertainty: number | null
  /** Hours of the period with a valid hourly mean, share 0…1. */
  dataCapture: number
  /** Between-sampler standard uncertainty of the collocated devices, unit (null: fewer than 2 collocated). */
  betweenSampler: number | null
}

/** Least hours a day needs to count as a daily mean: 75 % of 24 (2008/50/EC Annex XI, criteria for aggregation). */
export const MIN_HOURS_PER_DAY = 18

/**
 * Daily means (UTC days; an hour ending at T belongs to the day of T − 1 h) of held-out pairs, kept where a day
 * has ≥ MIN_HOURS_PER_DAY paired hours; calibrated and reference averaged over the same hours.
 */
export function dailyPairs(hourly: readonly HeldOutPair[]): HeldOutPair[] {
  const days = new Map<number, HeldOutPair[]>()
  for (const p of hourly) {
    const day = Math.floor((p.time - 3_600_000) / 86_400_000) * 86_400_000
    days.get(day)?.push(p) ?? days.set(day, [p])
  }
  return [...days]
    .filter(([, hours]) => hours.length >= MIN_HOURS_PER_DAY)
    .map(([day, hours]) => ({ time: day, calibrated: mean(hours.map((h) => h.calibrated)), reference: mean(hours.map((h) => h.reference)) }))
    .sort((a, b) => a.time - b.time)
}

/**
 * Assesses one device and quantity: `heldOut` are its held-out hourly pairs (core/calibration/held-out.ts),
 * `capture` its hourly data capture 0…1 (dataCapture), `betweenSampler` the collocated devices' spread or null.
 * Quantities with an objective (DATA_QUALITY_OBJECTIVES) get the GDE uncertainty on the objective's means and
 * the label by assignLabel; others get U = 2·RMSE of the held-out hours and `experimental`. A series with no
 * calibrated value at all is `uncalibrated`: the caller's decision, not this function's. Pure; never throws for too little or constant data (it says so in `reasons`).
 */
export function assessUncertainty(quantity: Quantity, heldOut: readonly HeldOutPair[], capture: number, betweenSampler: number | null = null): UncertaintyAssessment {
  const objective = DATA_QUALITY_OBJECTIVES[quantity] ?? null
  const averaging = objective?.averaging ?? 'hour'
  const pairs = averaging === 'day' ? dailyPairs(heldOut) : [...heldOut]
  const reasons: string[] = []
  const base = { objective, averaging, n: pairs.length, dataCapture: capture, betweenSampler }
  if (objective === null) {
    const u = heldOut.length >= MIN_UNCERTAINTY_PAIRS ? rmseExpandedUncertainty(heldOut.map((p) => p.calibrated), heldOut.map((p) => p.reference)) : null
    if (u === null) reasons.push(`too_few_pairs: ${heldOut.length} held-out hours, an uncertainty needs ${MIN_UNCERTAINTY_PAIRS}`)
    reasons.push(`no_objective: the EU sets no data quality objective for ${quantity}`)
    return { ...base, label: 'experimental', reasons, gde: null, hourlyGde: null, expandedUncertainty: u, relativeExpandedUncertainty: null }
  }
  const gde = tryGde(pairs, objective.limitValue, reasons, averaging)
  const hourlyGde = tryGde(heldOut, objective.limitValue, [], 'hour')
  const label = assignLabel(objective, gde?.relativeExpandedUncertainty ?? null, capture, reasons)
  return { ...base, label, reasons, gde, hourlyGde, expandedUncertainty: gde?.expandedUncertainty ?? null, relativeExpandedUncertainty: gde?.relativeExpandedUncertainty ?? null }
}

function tryGde(pairs: readonly HeldOutPair[], at: number, reasons: string[], averaging: string): GdeUncertainty | null {
  if (pairs.length < MIN_UNCERTAINTY_PAIRS) {
    reasons.push(`too_few_pairs: ${pairs.length} held-out ${averaging === 'day' ? 'daily' : 'hourly'} means, an uncertainty needs ${MIN_UNCERTAINTY_PAIRS}`)
    return null
  }
  try {
    return gdeUncertainty(pairs.map((p) => p.calibrated), pairs.map((p) => p.reference), at)
  } catch (error) {
    reasons.push(`no_uncertainty: ${(error as Error).message}`)
    return null
  }
}

/**
 * `indicative` when `relativeUncertainty` (W) ≤ the objective and `capture` ≥ its minimum, else `experimental`;
 * appends to `reasons` why not (W unknown, W above the objective, capture too low).
 */
export function assignLabel(objective: DataQualityObjective, relativeUncertainty: number | null, capture: number, reasons: string[] = []): 'indicative' | 'experimental' {
  const pct = (v: number) => `${Math.round(v * 1000) / 10} %`
  if (relativeUncertainty === null) reasons.push('uncertainty_unknown: the objective cannot be shown met')
  else if (relativeUncertainty > objective.relativeUncertainty) reasons.push(`uncertainty_above_objective: W = ${pct(relativeUncertainty)} > ${pct(objective.relativeUncertainty)} at ${objective.limitValue}`)
  if (capture < objective.minDataCapture) reasons.push(`data_capture_low: ${pct(capture)} < ${pct(objective.minDataCapture)}`)
  return reasons.length === 0 ? 'indicative' : 'experimental'
}

/**
 * Expanded uncertainty (k = 2, unit of the value) stored with one calibrated reading: from the hourly held-out
 * GDE fit at this value for quantities with an objective, the hourly 2·RMSE otherwise; undefined when the
 * assessment has none.
 */
export function readingUncertainty(assessment: UncertaintyAssessment, value: number): number | undefined {
  if (assessment.objective === null) return assessment.expandedUncertainty ?? undefined
  return assessment.hourlyGde ? expandedUncertaintyAt(assessment.hourlyGde, value) : undefined
}
