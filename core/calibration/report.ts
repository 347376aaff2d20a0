import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { QUANTITIES, type Quantity } from '../quantities.ts'
import { formatIsoMs } from '../time.ts'
import { type PlotPoint, calibrationPlots } from './plots.ts'
import type { CalibrationResult, Metrics } from './types.ts'

/**
 * Calibration reports: one JSON document per device and quantity, with the two SVG plots next to it
 * (core/calibration/plots.ts). `buildReport` is pure; `writeReport` is the only I/O.
 */

/**
 * The label on every report: calibrated sensor data is indicative and not equivalent to reference
 * measurements, as RIVM presents calibrated sensor data on the Samen Meten portal (there the calibration is
 * called experimental and values in fog "often not reliable",
 * https://www.samenmeten.nl/nieuws/rivm-kalibreert-fijnstofsensoren-met-experimentele-methode). Wording ours.
 */
export const INDICATIVE_LABEL = 'indicative, not equivalent to reference measurements'

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
  /** Method coefficients (see the method's docstring for the keys); non-finite numbers as null. */
  coefficients: Record<string, number | null | Array<number | null>>
  /** Against the reference over paired hourly means (core/calibration/metrics.ts). */
  metrics: { before: ReportMetrics; after: ReportMetrics }
  notes: string[]
  /** Hours in the series: with a raw, a calibrated and a reference value. */
  hours: { raw: number; calibrated: number; reference: number }
  label: typeof INDICATIVE_LABEL
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
  return {
    deviceId: result.deviceId,
    quantity: result.quantity,
    unit: QUANTITIES[result.quantity].unit,
    method: result.method,
    version: result.version,
    reference: { station: result.referenceStation, distanceKm: result.referenceDistanceKm ?? null },
    period: { from: formatIsoMs(result.from), to: formatIsoMs(result.to) },
    coefficients: Object.fromEntries(
      Object.entries(result.coefficients).map(([k, v]) => [k, Array.isArray(v) ? v.map(finiteOrNull) : finiteOrNull(v)]),
    ),
    metrics: { before: reportMetrics(result.before), after: reportMetrics(result.after) },
    notes: [...new Set(notes)],
    hours: { raw: count('raw'), calibrated: count('calibrated'), reference: count('reference') },
    label: INDICATIVE_LABEL,
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
}

/**
 * Writes `<dir>/<deviceId>/<quantity>.json`, `<quantity>-scatter.svg` and `<quantity>-timeseries.svg` (names
 * through fileSafeName; the directory is created; existing files are overwritten, so a recalculation replaces its
 * report). `plots` are the two SVG texts, or the hourly rows to draw them from (core/calibration/plots.ts).
 * Returns the paths written. Errors: the file-system error (EACCES, ENOSPC…), unchanged.
 */
export async function writeReport(
  dir: string,
  report: CalibrationReport,
  plots: { scatter: string; timeseries: string } | readonly PlotPoint[],
): Promise<ReportPaths> {
  const svg = Array.isArray(plots)
    ? calibrationPlots(plots as readonly PlotPoint[], {
        deviceId: report.deviceId,
        quantity: report.quantity,
        referenceStation: report.reference.station,
        method: report.method,
      })
    : (plots as { scatter: string; timeseries: string })
  const deviceDir = join(dir, fileSafeName(report.deviceId))
  await mkdir(deviceDir, { recursive: true })
  const base = fileSafeName(report.quantity)
  const paths = {
    json: join(deviceDir, `${base}.json`),
    scatter: join(deviceDir, `${base}-scatter.svg`),
    timeseries: join(deviceDir, `${base}-timeseries.svg`),
  }
  await replaceFile(paths.json, `${JSON.stringify(report, null, 2)}\n`)
  await replaceFile(paths.scatter, svg.scatter)
  await replaceFile(paths.timeseries, svg.timeseries)
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
