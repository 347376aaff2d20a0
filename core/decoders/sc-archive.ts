import type { Quantity } from '../quantities.ts'
import { parseIsoTimestamp } from '../time.ts'

/**
 * sensor.community archive CSV (archive.sensor.community daily files, one file per sensor per UTC day).
 *
 * Layout (feinstaub-api `export_as_csv.py` and real files, see test/fixtures/sensor-community-archive/SOURCES.md):
 * `;`-separated, header row, no quoting, fixed prefix `sensor_id;sensor_type;location;lat;lon;timestamp;`
 * then per sensor type, e.g. SDS011 `P1;durP1;ratioP1;P2;durP2;ratioP2`, BME280
 * `pressure;altitude;pressure_sealevel;temperature;humidity`, SPS30 `P1;P4;P2;P0;N10;N4;N25;N1;N05;TS`.
 *
 * Conventions applied here:
 * - `timestamp` is UTC without an offset (2017–2019 files) or with microseconds and `+00:00` (2015/2016).
 * - `P1` is PM10 and `P2` is PM2.5 (`P0` PM1, `P4` PM4): the sensor.community naming, not PM1/PM2.
 * - `pressure` is in Pa: the record says so (`units`), and the ingest converts it to hPa exactly (core/units.ts).
 * - Columns outside the vocabulary (`durP1`, `ratioP1`, `N*`, `TS`, `altitude`, `pressure_sealevel`) are not stored.
 * - An empty cell means the sensor gave no value: it is passed on as `null` (stored as a `missing` rejection).
 * - A cell that is not a plain decimal number is passed on as its text so the ingest rejects it with a reason.
 * - A row with fewer or more cells than the header (a file cut mid-row) is rejected whole: a cut-off last
 *   cell could otherwise be read as a different number.
 */
export const SC_ARCHIVE_FORMAT = 'sc-archive'

const PREFIX = ['sensor_id', 'sensor_type', 'location', 'lat', 'lon', 'timestamp'] as const

/**
 * sensor.community value names (archive columns, data-API `value_type`) → quantity, with the unit when it is
 * not the canonical one. P1 is PM10 and P2 is PM2.5 (device-formats research §0.5).
 */
export const SC_VALUE_TYPES: Record<string, { quantity: Quantity; unit?: string }> = {
  P0: { quantity: 'pm1' },
  P1: { quantity: 'pm10' },
  P2: { quantity: 'pm2_5' },
  P4: { quantity: 'pm4' },
  temperature: { quantity: 'air_temperature' },
  humidity: { quantity: 'relative_humidity' },
  pressure: { quantity: 'air_pressure', unit: 'Pa' },
}

/**
 * sensor.community value names that are not measurements of the vocabulary: SDS011 duration/ratio columns
 * (always empty), SPS30 number concentrations and typical size, altitude and sea-level pressure, node metadata.
 * They are left out; any other unknown name is passed on so the ingest dead-letters it (`unknown_quantity`).
 */
export const SC_METADATA = new Set(['durP1', 'ratioP1', 'durP2', 'ratioP2', 'N05', 'N1', 'N25', 'N4', 'N10', 'TS', 'altitude', 'pressure_sealevel', 'samples', 'min_micro', 'max_micro', 'interval', 'signal'])

const DECIMAL = /^-?\d+(?:\.\d+)?$/

export interface ArchiveRecord {
  line: number
  deviceId: string
  sensorModel: string
  observedAt: number
  /**
   * Quantity → value as in the file (`null` for an empty cell, the cell text when not a number); a value name
   * outside the vocabulary and SC_METADATA appears under its own name, for the ingest to dead-letter.
   */
  readings: Record<string, number | null | string>
  /** Quantity → unit of its value when not the canonical one (`air_pressure: 'Pa'`). */
  units: Partial<Record<Quantity, string>>
  /**
   * The row's `lat`/`lon` (exact, as the archive publishes them; absent when either is empty or no decimal
   * degrees in range). Never part of a reading: replay records it as the device's position history.
   */
  location?: { lat: number; lon: number }
}

export interface ArchiveRowRejection {
  line: number
  rule: 'truncated' | 'schema' | 'time_zone'
  message: string
  raw: string
}

export type ArchiveRowResult = { ok: true; record: ArchiveRecord } | { ok: false; rejection: ArchiveRowRejection }

/** Checks the header row; throws an Error naming the first missing prefix column. */
export function parseArchiveHeader(line: string): string[] {
  const columns = line.trim().split(';')
  PREFIX.forEach((name, i) => {
    if (columns[i] !== name) throw new Error(`not a sensor.community archive header: column ${i + 1} must be '${name}', got '${columns[i] ?? ''}'`)
  })
  return columns
}

/** Decodes one data row (1-based `line` for messages). Device id is `sc-<sensor_id>`. */
export function parseArchiveRow(header: string[], text: string, line: number): ArchiveRowResult {
  const cells = text.replace(/\r$/, '').split(';')
  const reject = (rule: ArchiveRowRejection['rule'], message: string): ArchiveRowResult => ({
    ok: false,
    rejection: { line, rule, message: `line ${line}: ${message}`, raw: text },
  })
  if (cells.length !== header.length) {
    return reject(cells.length < header.length ? 'truncated' : 'schema', `row has ${cells.length} of ${header.length} columns`)
  }
  const [sensorId, sensorType, , latText, lonText, timestamp] = cells as [string, string, string, string, string, string]
  if (!/^\d+$/.test(sensorId)) return reject('schema', `sensor_id '${sensorId}' is not a number`)
  const time = parseIsoTimestamp(timestamp, { assumeZone: 'UTC' })
  if (!time.ok) return reject(time.rule === 'time_zone' ? 'time_zone' : 'schema', `timestamp '${timestamp}' ${time.message}`)

  const readings: ArchiveRecord['readings'] = {}
  const units: ArchiveRecord['units'] = {}
  header.forEach((name, i) => {
    if (i < PREFIX.length || SC_METADATA.has(name)) return
    const column = SC_VALUE_TYPES[name]
    readings[column?.quantity ?? name] = scValue(cells[i] ?? '')
    if (column?.unit) units[column.quantity] = column.unit
  })
  const record: ArchiveRecord = { line, deviceId: `sc-${sensorId}`, sensorModel: sensorType, observedAt: time.ms, readings, units }
  const lat = scValue(latText)
  const lon = scValue(lonText)
  if (typeof lat === 'number' && typeof lon === 'number' && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) record.location = { lat, lon }
  return { ok: true, record }
}

/** A sensor.community value text: `null` when empty, a number when plain decimal, else the text itself. */
export function scValue(text: string): number | null | string {
  const cell = text.trim()
  return cell === '' ? null : DECIMAL.test(cell) ? Number(cell) : cell
}
