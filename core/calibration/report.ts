import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { QUANTITIES, type Quantity } from '../quantities.ts'
import { formatIsoMs } from '../time.ts'
import { type PlotPoint, calibrationPlots, formatNumber } from './plots.ts'
import type { CalibrationResult, Metrics } from './types.ts'
import { type CalibrationLabel, LABEL_TEXT, type UncertaintyAssessment } from './uncertainty.ts'

/**
 * Calibration reports: one JSON document per device and quantity, with the two SVG plots next to it
 * (core/calibration/plots.ts). `buildReport` is pure; `writeReport` is the only I/O.
 */

/**
 * Every report carries a label that follows its numbers (core/calibration/uncertainty.ts CalibrationLabel):
 * `indicative` only where the EU objective for indicative measurements is met on held-out data, `experimental`
 * otherwise, `uncalibrated` without calibrated values; `labelText` says what it means. RIVM presents its
 * calibrated sensor data the same way: "experimental", not equivalent to reference measurements
 * (https://www.samenmeten.nl/nieuws/rivm-kalibreert-fijnstofsensoren-met-experimentele-methode).
 */
export { LABEL_TEXT, type CalibrationLabel } from './uncertainty.ts'

/** The uncertainty block of a report: numbers in the quantity's unit, relative ones as shares (0.5 = 50 %). */
export interface ReportUncertainty {
  method: string
  /** Held-out scheme the pairs come from. */
  heldOut: string
  averaging: 'hour' | 'day'
  n: number
  objective: { limitValue: number; relativeUncertainty: number; minDataCapture: number; source: string } | null
  /** U (k = 2) at the limit value, or 2·RMSE without an objective; null when not computed (see `reasons`). */
  expandedUncertainty: number | null
  relativeExpandedUncertainty: number | null
  /** GDE regression of calibrated on reference over the `averaging` means, and its terms (null: not computed). */
  regression: { slope: number; intercept: number; rss: number; randomVariance: number; biasAtLimit: number } | null
  dataCapture: number
  betweenSampler: number | null
  reasons: string[]
}

/** Metrics with non-finite values (no pairs, zero variance) as null, so the report survives JSON. */
export type ReportMetrics = { [K in keyof Metrics]: number | null }

export interface CalibrationReport {
  deviceId: string
  quantity: Quantity
  /** Canonical unit of the quantity (values, biases, intercepts, RMSE/MAE/MBE). */
  unit: string
  method: string
  version: string
  reference: { station: string; distanceKm: number | null }
  /** ISO-8601 UTC: start (inclusive) and end (exclusive) of the calibrated period. */
  period: { from: string; to: string }
  /** The fit applied (ISO-8601 UTC): its window [from, to), when it was made, its hours, whether this run reused it; null without one. */
  fit: { from: string; to: string; fittedAt: string; hours: number; reused: boolean } | null
  /** Method coefficients (see the method's docstring for the keys); non-finite numbers as null. */
  coefficients: Record<string, number | null | Array<number | null>>
  /** Against the reference over paired hourly means (core/calibration/metrics.ts). */
  /**
   * `heldOut`: raw and calibrated over the same held-out hours (the fit never saw them; null when fewer than 3):
   * the improvement. `before`/`after`: over the fit's own hours, for comparison only (in-sample).
   */
  metrics: { before: ReportMetrics; after: ReportMetrics; heldOut: { before: ReportMetrics; after: ReportMetrics } | null }
  notes: string[]
  /** Hours in the series: with a raw, a calibrated and a reference value. */
  hours: { raw: number; calibrated: number; reference: number }
  label: CalibrationLabel
  labelText: string
  uncertainty: ReportUncertainty | null
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null)

function reportMetrics(metrics: Metrics): ReportMetrics {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, finiteOrNull(v)])) as ReportMetrics
}

/**
 * The JSON-serialisable report of one calibration result. `series` are its hourly rows (`time` end of the hour,
 * epoch ms UTC; values in the canonical unit), counted in `hours`; `notes` the model's notes for the device
 * (duplicates removed, order kept). Pure; `JSON.parse(JSON.stringify(report))` equals the report.
 */
export function buildReport(
  result: CalibrationResult,
  series: ReadonlyArray<{ time: number; raw?: number; calibrated?: number; reference?: number }>,
  notes: string[],
): CalibrationReport {
  const count = (key: 'raw' | 'calibrated' | 'reference') => series.filter((p) => p[key] !== undefined && Number.isFinite(p[key])).length
  const label = resultLabel(result, count('calibrated'))
  return {
    deviceId: result.deviceId,
    quantity: result.quantity,
    unit: QUANTITIES[result.quantity].unit,
    method: result.method,
    version: result.version,
    reference: { station: result.referenceStation, distanceKm: result.referenceDistanceKm ?? null },
    period: { from: formatIsoMs(result.from), to: formatIsoMs(result.to) },
    fit: result.fit ? { from: formatIsoMs(result.fit.from), to: formatIsoMs(result.fit.to), fittedAt: formatIsoMs(result.fit.fittedAt), hours: result.fit.n, reused: result.fit.reused } : null,
    coefficients: Object.fromEntries(
      Object.entries(result.coefficients).map(([k, v]) => [k, Array.isArray(v) ? v.map(finiteOrNull) : finiteOrNull(v)]),
    ),
    metrics: {
      before: reportMetrics(result.before),
      after: reportMetrics(result.after),
      heldOut: result.heldOut ? { before: reportMetrics(result.heldOut.before), after: reportMetrics(result.heldOut.after) } : null,
    },
    notes: [...new Set(notes)],
    hours: { raw: count('raw'), calibrated: count('calibrated'), reference: count('reference') },
    label,
    labelText: LABEL_TEXT[label],
    uncertainty: result.uncertainty ? reportUncertainty(result.uncertainty) : null,
  }
}

/**
 * The label of a result: `uncalibrated` when `calibratedHours` is 0, else the uncertainty assessment's label,
 * `experimental` when there is none.
 */
export function resultLabel(result: Pick<CalibrationResult, 'uncertainty'>, calibratedHours: number): CalibrationLabel {
  if (calibratedHours === 0) return 'uncalibrated'
  return result.uncertainty?.label ?? 'experimental'
}

function reportUncertainty(u: UncertaintyAssessment): ReportUncertainty {
  const gde = u.gde
  return {
    method: u.objective ? 'GDE 2010 9.5: orthogonal regression, W = 2·u_c / LV (k = 2)' : 'U = 2·RMSE of held-out hours (k = 2)',
    heldOut: 'blocked 3-fold cross-validation by UTC day blocks (core/calibration/held-out.ts)',
    averaging: u.averaging,
    n: u.n,
    objective: u.objective ? { limitValue: u.objective.limitValue, relativeUncertainty: u.objective.relativeUncertainty, minDataCapture: u.objective.minDataCapture, source: u.objective.source } : null,
    expandedUncertainty: u.expandedUncertainty === null ? null : finiteOrNull(u.expandedUncertainty),
    relativeExpandedUncertainty: u.relativeExpandedUncertainty === null ? null : finiteOrNull(u.relativeExpandedUncertainty),
    regression: gde ? { slope: gde.slope, intercept: gde.intercept, rss: gde.rss, randomVariance: gde.randomVariance, biasAtLimit: gde.biasAt } : null,
    dataCapture: u.dataCapture,
    betweenSampler: u.betweenSampler,
    reasons: u.reasons,
  }
}

/**
 * A name safe as one path segment on Linux, macOS and Windows and in a URL: every character outside
 * [A-Za-z0-9_.-] (and a leading '.') becomes `~` + its UTF-8 bytes in hex (`ttn:app:dev` → `ttn~3Aapp~3Adev`).
 * Reversible, so two ids never share a directory.
 */
export function fileSafeName(name: string): string {
  if (name === '') throw new Error('fileSafeName: empty name')
  const escape = (c: string) => [...Buffer.from(c, 'utf8')].map((b) => `~${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  return [...name].map((c, i) => (/[A-Za-z0-9_-]/.test(c) || (c === '.' && i > 0) ? c : escape(c))).join('')
}

export interface ReportPaths {
  json: string
  scatter: string
  timeseries: string
  /** Temperature and humidity only: bias by hour of day and against radiation. */
  bias?: string
}

/** The second heading line of a report's plots: label and uncertainty, e.g. `indicative · U = 6.1 µg/m³ (24.4 %) at 25 µg/m³, daily, n = 21`. */
export function plotSummary(report: CalibrationReport): string {
  const u = report.uncertainty
  if (!u) return report.label
  const size = u.expandedUncertainty === null ? 'uncertainty not computed' : `U = ${formatNumber(u.expandedUncertainty)} ${report.unit}`
  const at = u.objective && u.relativeExpandedUncertainty !== null ? ` (${formatNumber(u.relativeExpandedUncertainty * 100)} %) at ${u.objective.limitValue} ${report.unit}` : ''
  const held = report.metrics.heldOut ? `; held out: RMSE ${formatNumber(report.metrics.heldOut.before.rmse ?? Number.NaN)} → ${formatNumber(report.metrics.heldOut.after.rmse ?? Number.NaN)}` : ''
  return `${report.label} · ${size}${at}, ${u.averaging === 'day' ? 'daily' : 'hourly'}, n = ${u.n}, capture ${formatNumber(u.dataCapture * 100)} %${held}`
}

/**
 * Writes `<dir>/<deviceId>/<quantity>.json`, `<quantity>-scatter.svg`, `<quantity>-timeseries.svg` and, for
 * temperature and humidity, `<quantity>-bias.svg` (names
 * through fileSafeName; the directory is created; existing files are overwritten, so a recalculation replaces its
 * report). `plots` are the two SVG texts, or the hourly rows to draw them from (core/calibration/plots.ts).
 * Returns the paths written. Errors: the file-system error (EACCES, ENOSPC…), unchanged.
 */
export async function writeReport(
  dir: string,
  report: CalibrationReport,
  plots: { scatter: string; timeseries: string; bias?: string } | readonly PlotPoint[],
): Promise<ReportPaths> {
  const svg = Array.isArray(plots)
    ? calibrationPlots(plots as readonly PlotPoint[], {
        deviceId: report.deviceId,
        quantity: report.quantity,
        referenceStation: report.reference.station,
        method: report.method,
        summary: plotSummary(report),
      })
    : (plots as { scatter: string; timeseries: string; bias?: string })
  const deviceDir = join(dir, fileSafeName(report.deviceId))
  await mkdir(deviceDir, { recursive: true })
  const base = fileSafeName(report.quantity)
  const paths: ReportPaths = {
    json: join(deviceDir, `${base}.json`),
    scatter: join(deviceDir, `${base}-scatter.svg`),
    timeseries: join(deviceDir, `${base}-timeseries.svg`),
    ...(svg.bias === undefined ? {} : { bias: join(deviceDir, `${base}-bias.svg`) }),
  }
  await replaceFile(paths.json, `${JSON.stringify(report, null, 2)}\n`)
  await replaceFile(paths.scatter, svg.scatter)
  await replaceFile(paths.timeseries, svg.timeseries)
  if (paths.bias !== undefined) await replaceFile(paths.bias, svg.bias!)
  return paths
}

/**
 * Writes `text` to a temporary file beside `path` and renames it over `path` (atomic on one file system), so a
 * reader, or a second calibration worker writing the same report (README "Scaling out"), never sees half a file.
 */
async function replaceFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(temporary, text)
  await rename(temporary, path)
}
