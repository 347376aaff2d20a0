import { QUANTITIES, type Quantity } from '../../../core/quantities.ts'
import { positionAt, type PublicDevice } from '../../../core/registry/registry.ts'
import type { CalibrationLabel } from '../../../core/calibration/uncertainty.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import { compareIds } from '../readings-query.ts'
import { storedCalibration } from '../window-quality.ts'
import type { Period } from './period.ts'
import { sourceOfDecoder, type OpenDataSource } from './sources.ts'

/**
 * The rows every open-data file is made of (bulk files over HTTP and `senshagen export` share them): one stored
 * reading of a public device, flagged ones included and their flags given, with the published position valid
 * at the reading's time (positionAt, core/registry/registry.ts: the device's position history, coarsened).
 */
export interface OpenDataRow {
  /** Observed time, epoch ms UTC. */
  time: number
  device: string
  quantity: Quantity
  /** Raw value in the quantity's canonical unit (`unit`). */
  value: number
  unit: string
  /** Calibrated value in `unit`, null when the reading has none. */
  calibrated: number | null
  /** Expanded uncertainty (k = 2) of `calibrated`, in `unit`; null when not calibrated or not assessed (window-quality.ts storedCalibration). */
  calibratedUncertainty: number | null
  /** Label of `calibrated`: `indicative`, `experimental`, or `uncalibrated` without one (core/calibration/uncertainty.ts). */
  calibrationLabel: CalibrationLabel
  /** Quality flags (core/quality.ts), comma-separated, "" when none. */
  flags: string
  /** The sensor model the reading names (field `sensor`), "" when unknown. */
  sensorType: string
  source: OpenDataSource
  neighbourhood: string
  /** The published position valid at `time` (positionAt, from the position history) and how far the device may lie from it, metres. */
  lat: number
  lon: number
  precisionM: number
}

/**
 * The period's rows of `devices` (public devices only: callers take them from the registry), one array per
 * device in id order, each by time then quantity. `sources`: only rows of these sources. One store query
 * (readingRows) per device, so memory holds one device-period at a time. Errors: those of the store.
 */
export async function* openDataRows(
  store: Pick<ReadingStore, 'readingRows'>,
  devices: readonly PublicDevice[],
  period: Period,
  sources?: readonly OpenDataSource[],
): AsyncGenerator<OpenDataRow[]> {
  for (const device of [...devices].sort((a, b) => compareIds(a.id, b.id))) {
    const values = await store.readingRows({ devices: [device.id], from: period.from, to: period.to, fields: ['value', 'calibrated', 'calibrated_u', 'calibration_label', 'flags', 'sensor', 'source'] })
    const rows: OpenDataRow[] = []
    for (const { time, quantity, fields } of values) {
      if (typeof fields.value !== 'number') continue
      const source = sourceOfDecoder(fields.source as string | null)
      if (sources !== undefined && !sources.includes(source)) continue
      const position = positionAt(device, time)
      const { calibrated, uncertainty, label } = storedCalibration(fields)
      rows.push({
        time, device: device.id, quantity, value: fields.value, unit: QUANTITIES[quantity].unit,
        calibrated, calibratedUncertainty: uncertainty, calibrationLabel: label,
        flags: typeof fields.flags === 'string' ? fields.flags : '',
        sensorType: typeof fields.sensor === 'string' ? fields.sensor : '',
        source, neighbourhood: device.neighbourhood, lat: position.lat, lon: position.lon, precisionM: position.precisionM,
      })
    }
    rows.sort((a, b) => a.time - b.time || compareIds(a.quantity, b.quantity))
    if (rows.length > 0) yield rows
  }
}

/**
 * A text cell a spreadsheet will not run as a formula (OWASP "CSV Injection"): text starting with `=`, `+`, `-`,
 * `@`, tab or carriage return gets a leading `'`. For free text only (sensor models); numbers are written as numbers.
 */
export function inertText(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text
}
