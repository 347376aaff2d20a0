import { Point } from '@influxdata/influxdb-client'
import type { Quantity } from '../quantities.ts'
import type { InfluxSeries } from '../store/influx-queries.ts'
import { influxqlString } from '../store/schema.ts'
import type { StoredChoice } from './methods/index.ts'
import type { Metrics } from './types.ts'
import type { UncertaintyAssessment } from './uncertainty.ts'

/**
 * Stored calibration fits: what the calibration worker fitted for one device and quantity, kept so that later
 * runs apply it to new data without refitting (services/calibration/calibrator.ts: fit and apply are separate in
 * time, SENSHAGEN_CALIBRATION_REFIT_HOURS).
 *
 * Where: InfluxDB measurement `calibration_fits` (tags `device`, `quantity`; time = the END of the fit window),
 * beside the readings it calibrates. Why InfluxDB and not the registry's SQL store: the worker already holds the
 * InfluxDB store and no registry write access; a fit is a time-stamped record of a data window, and its history is
 * queryable with the readings and reference it came from (SELECT … FROM calibration_fits WHERE device = 'x'); the
 * registry (core/registry) is the devices' own record, not derived data. One point per device, quantity and fit
 * window end: a forced refit of the same window overwrites it, a new window adds one.
 */
export const FITS_MEASUREMENT = 'calibration_fits'

/** One device's stored fit for one quantity. Times epoch ms UTC. */
export interface CalibrationFit extends StoredChoice {
  deviceId: string
  quantity: Quantity
  /** Method version (CalibrationModel.version) at fitting time. */
  version: string
  /** The fit window [from, to): the hourly data the methods were fitted on. */
  window: { from: number; to: number }
  /** Hourly means of the device in the fit window. */
  n: number
  /** Wall-clock time of the fit. */
  fittedAt: number
  /** Raw and calibrated against the reference over held-out hours (core/calibration/assess.ts), when ≥ 3. */
  heldOut?: { before: Metrics; after: Metrics }
  /** Held-out uncertainty and label (core/calibration/uncertainty.ts); absent when the device was not assessed. */
  uncertainty?: UncertaintyAssessment
  /** `indicative` | `experimental` | `uncalibrated` (uncertainty.label, else `uncalibrated`). */
  label: string
}

export interface CalibrationFitStore {
  /**
   * The latest fit of each device for `quantity` whose fit window ends in (to − maxAgeMs, to], by device id; a
   * device without one is absent (then the worker refits).
   */
  latest(quantity: Quantity, to: number, maxAgeMs: number): Promise<Map<string, CalibrationFit>>
  /** Stores fits (same device, quantity and window end: overwritten). */
  save(fits: readonly CalibrationFit[]): Promise<void>
}

/** Coefficients that describe the fit window's hours, not the fit (group factors per hour): not stored. */
const APPLY_TIME_KEYS = ['factor_times', 'factors', 'fallback_times', 'clipped_hours']

/** The fits in InfluxDB (see FITS_MEASUREMENT), through the store's line writes and InfluxQL. Errors: the store's. */
export function influxFitStore(store: { writeLines(lines: readonly string[]): Promise<void>; influxql(statement: string): Promise<InfluxSeries[]> }): CalibrationFitStore {
  return {
    async latest(quantity, to, maxAgeMs) {
      const ns = (ms: number) => `${BigInt(Math.round(ms)) * 1_000_000n}`
      const series = await store.influxql(
        `SELECT * FROM ${FITS_MEASUREMENT} WHERE quantity = ${influxqlString(quantity)} AND time <= ${ns(to)} AND time > ${ns(to - maxAgeMs)} GROUP BY device ORDER BY time DESC LIMIT 1`,
      )
      const fits = new Map<string, CalibrationFit>()
      for (const s of series) {
        const row = s.values[0]
        const deviceId = s.tags?.device
        if (row === undefined || deviceId === undefined) continue
        fits.set(deviceId, fitOfRow(deviceId, quantity, Object.fromEntries(s.columns.map((c, i) => [c, row[i]]))))
      }
      return fits
    },
    async save(fits) {
      const lines = fits.map((fit) => {
        const parameters = Object.fromEntries(
          Object.entries(fit.parameters).map(([method, c]) => [method, Object.fromEntries(Object.entries(c).filter(([key]) => !APPLY_TIME_KEYS.includes(key)))]),
        )
        const point = new Point(FITS_MEASUREMENT)
          .tag('device', fit.deviceId)
          .tag('quantity', fit.quantity)
          .stringField('method', fit.method)
          .stringField('version', fit.version)
          .stringField('parameters', JSON.stringify(parameters))
          .intField('fit_from', fit.window.from)
          .intField('n', fit.n)
          .intField('fitted_at', fit.fittedAt)
          .stringField('label', fit.label)
          .floatField('u', fit.uncertainty?.expandedUncertainty ?? -1)
          .floatField('w', fit.uncertainty?.relativeExpandedUncertainty ?? -1)
          .stringField('uncertainty', JSON.stringify(fit.uncertainty ?? null))
          .stringField('held_out', JSON.stringify(fit.heldOut ?? null))
          .stringField('notes', JSON.stringify(fit.notes))
          .timestamp(String(fit.window.to))
        return point.toLineProtocol()!
      })
      for (let i = 0; i < lines.length; i += 1000) await store.writeLines(lines.slice(i, i + 1000))
    },
  }
}

function fitOfRow(deviceId: string, quantity: Quantity, row: Record<string, unknown>): CalibrationFit {
  const uncertainty = JSON.parse(String(row.uncertainty ?? 'null')) as UncertaintyAssessment | null
  const heldOut = JSON.parse(String(row.held_out ?? 'null')) as { before: Metrics; after: Metrics } | null
  return {
    deviceId,
    quantity,
    method: String(row.method),
    version: String(row.version),
    parameters: JSON.parse(String(row.parameters)) as CalibrationFit['parameters'],
    notes: JSON.parse(String(row.notes ?? '[]')) as string[],
    window: { from: Number(row.fit_from), to: Number(row.time) },
    n: Number(row.n),
    fittedAt: Number(row.fitted_at),
    label: String(row.label),
    ...(uncertainty === null ? {} : { uncertainty }),
    ...(heldOut === null ? {} : { heldOut: restoreMetrics(heldOut) }),
  }
}

/** JSON turns NaN into null; metrics of a stored fit read null back as NaN (core/calibration/metrics.ts shapes). */
function restoreMetrics(heldOut: { before: Metrics; after: Metrics }): { before: Metrics; after: Metrics } {
  const nan = (m: Metrics) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v === null ? Number.NaN : v])) as unknown as Metrics
  return { before: nan(heldOut.before), after: nan(heldOut.after) }
}
