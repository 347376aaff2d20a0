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
 * - `pressure` is in Pa and becomes hPa by moving the decimal point (exact, no binary rounding).
 * - Columns outside the vocabulary (`durP1`, `ratioP1`, `N*`, `TS`, `altitude`, `pressure_sealevel`) are not stored.
 * - An empty cell means the sensor gave no value: it is passed on as `null` (stored as a `missing` rejection).
 * - A cell that is not a plain decimal number is passed on as its text so the ingest rejects it with a reason.
 * - A row with fewer or more cells than the header (a file cut mid-row) is rejected whole: a cut-off last
 *   cell could otherwise be read as a different number.
 */
export const SC_ARCHIVE_FORMAT = 'sc-archive'

const PREFIX = ['sensor_id', 'sensor_type', 'location', 'lat', 'lon', 'timestamp'] as const

/** Archive column → quantity, with the power of ten that converts the archive unit to the canonical one. */
const COLUMNS: Record<string, { quantity: Quantity; exponent: number }> = {
  P0: { quantity: 'pm1', exponent: 0 },
  P1: { quantity: 'pm10', exponent: 0 },
  P2: { quantity: 'pm2_5', exponent: 0 },
  P4: { quantity: 'pm4', exponent: 0 },
  temperature: { quantity: 'air_temperature', exponent: 0 },
  humidity: { quantity: 'relative_humidity', exponent: 0 },
  pressure: { quantity: 'air_pressure', exponent: -2 }, // Pa → hPa
}

const DECIMAL = /^-?\d+(?:\.\d+)?$/

export interface ArchiveRecord {
  line: number
  deviceId: string
  sensorModel: string
  observedAt: number
  /** Quantity → value in the canonical unit; `null` for an empty cell, the cell text when not a number. */
  readings: Partial<Record<Quantity, number | null | string>>
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
  const [sensorId, sensorType, , , , timestamp] = cells as [string, string, string, string, string, string]
  if (!/^\d+$/.test(sensorId)) return reject('schema', `sensor_id '${sensorId}' is not a number`)
  const time = parseIsoTimestamp(timestamp, { assumeZone: 'UTC' })
  if (!time.ok) return reject(time.rule === 'time_zone' ? 'time_zone' : 'schema', `timestamp '${timestamp}' ${time.message}`)

  const readings: ArchiveRecord['readings'] = {}
  header.forEach((name, i) => {
    const column = COLUMNS[name]
    if (!column || i < PREFIX.length) return
    const cell = (cells[i] ?? '').trim()
    readings[column.quantity] = cell === '' ? null : DECIMAL.test(cell) ? Number(shiftDecimal(cell, column.exponent)) : cell
  })
  return {
    ok: true,
    record: { line, deviceId: `sc-${sensorId}`, sensorModel: sensorType, observedAt: time.ms, readings },
  }
}

/**
 * Multiplies a plain decimal string by 10^exponent by moving the decimal point, so that
 * `shiftDecimal('102490.52', -2)` is exactly `'1024.9052'` (102490.52 / 100 in binary floating point is
 * 1024.9052000000001; so are 74 of the 574 pressures of one real BME280 day).
 */
export function shiftDecimal(text: string, exponent: number): string {
  if (exponent === 0) return text
  const negative = text.startsWith('-')
  const [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.')
  let digits = whole + fraction
  let point = whole.length + exponent
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits
    point = 1
  } else if (point > digits.length) {
    digits = digits.padEnd(point, '0')
  }
  const shifted = `${digits.slice(0, point)}.${digits.slice(point)}`.replace(/\.$/, '')
  return (negative ? '-' : '') + shifted
}
