import { QUANTITY_NAMES, type Quantity } from '../../../core/quantities.ts'
import { shiftDecimal } from '../../../core/units.ts'
import { csvCell } from '../csv.ts'
import { inertText, type OpenDataRow } from './rows.ts'

/**
 * The sensor.community archive layout (archive.sensor.community daily files; core/decoders/sc-archive.ts and the
 * real files in test/fixtures/sensor-community-archive): one file per sensor type, `;`-separated, header
 * `sensor_id;sensor_type;location;lat;lon;timestamp;<the type's value columns>`, timestamps `YYYY-MM-DDTHH:MM:SS`
 * UTC without zone, one line per observation time carrying every value the sensor gave then. Pressure in Pa.
 *
 * Ours adds two columns at the end, which archive readers that pick columns by name ignore: `precision_m` (the
 * device lies within this many metres of lat/lon, which are the published, coarsened position) and `flags`
 * (`<column>:<flag>` items, comma-separated, e.g. `P1:saturated`). `sensor_id` is our device id and `location`
 * its neighbourhood id (the archive's numeric location id has no equivalent here).
 */

/** Quantity → archive value column: P1 = PM10, P2 = PM2.5, P0 = PM1, P4 = PM4 (sensor.community naming). */
export const VALUE_COLUMNS: Record<Quantity, string> = {
  pm10: 'P1',
  pm2_5: 'P2',
  pm1: 'P0',
  pm4: 'P4',
  air_temperature: 'temperature',
  relative_humidity: 'humidity',
  air_pressure: 'pressure',
  no2: 'no2',
  precipitation: 'precipitation',
  wind_speed: 'wind_speed',
  wind_from_direction: 'wind_from_direction',
  water_level: 'water_level',
  soil_moisture: 'soil_moisture',
  global_radiation: 'global_radiation',
}

/**
 * Value columns of the archive's files per sensor type, as in its real files (fixtures above) and the SPS30
 * order of a third-party archive importer (SOURCES.md). Columns we never store (durP1, N10, altitude …) stay empty.
 */
export const ARCHIVE_VALUE_COLUMNS: Record<string, readonly string[]> = {
  sds011: ['P1', 'durP1', 'ratioP1', 'P2', 'durP2', 'ratioP2'],
  sps30: ['P1', 'P4', 'P2', 'P0', 'N10', 'N4', 'N25', 'N1', 'N05', 'TS'],
  bme280: ['pressure', 'altitude', 'pressure_sealevel', 'temperature', 'humidity'],
  bmp280: ['pressure', 'altitude', 'pressure_sealevel', 'temperature'],
  dht22: ['temperature', 'humidity'],
}

/** Sensor types outside ARCHIVE_VALUE_COLUMNS (and combined models such as `BME280+SDS011`) get every quantity's column. */
export const GENERIC_VALUE_COLUMNS: readonly string[] = QUANTITY_NAMES.map((q) => VALUE_COLUMNS[q])

/** The file-name form of a sensor model: lower case, runs of other characters than [a-z0-9] as `-`; "" → `unknown`. */
export function sensorTypeSlug(sensorType: string): string {
  return sensorType.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'unknown'
}

export function archiveHeader(slug: string): string[] {
  return ['sensor_id', 'sensor_type', 'location', 'lat', 'lon', 'timestamp', ...(ARCHIVE_VALUE_COLUMNS[slug] ?? GENERIC_VALUE_COLUMNS), 'precision_m', 'flags']
}

/** `2024-01-15T10:28:30` from epoch ms (UTC, whole seconds, no zone: the archive's form). */
export function archiveTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19)
}

/** The archive gives pressure in Pa; we store hPa: the decimal point moves two places (exact, core/units.ts). */
export function archiveValue(quantity: Quantity, value: number): string {
  return quantity === 'air_pressure' ? shiftDecimal(String(value), 2) : String(value)
}

/**
 * Lines (with `\n`) of the archive-layout file of sensor type `slug` from the rows of one device (by time, as
 * openDataRows yields them): rows of other sensor types are skipped; rows of one time become one line.
 */
export function archiveLines(rows: readonly OpenDataRow[], slug: string): string[] {
  const columns = ARCHIVE_VALUE_COLUMNS[slug] ?? GENERIC_VALUE_COLUMNS
  const lines: string[] = []
  let i = 0
  while (i < rows.length) {
    const first = rows[i]!
    const values = new Map<string, string>()
    const flags: string[] = []
    let sensor: string | undefined
    for (; i < rows.length && rows[i]!.time === first.time; i++) {
      const row = rows[i]!
      if (sensorTypeSlug(row.sensorType) !== slug) continue
      sensor ??= row.sensorType
      const column = VALUE_COLUMNS[row.quantity]
      values.set(column, archiveValue(row.quantity, row.value))
      for (const flag of row.flags === '' ? [] : row.flags.split(',')) flags.push(`${column}:${flag}`)
    }
    if (sensor === undefined) continue
    const cells = [first.device, inertText(sensor), first.neighbourhood, first.lat, first.lon, archiveTimestamp(first.time), ...columns.map((c) => values.get(c) ?? ''), first.precisionM, flags.join(',')]
    lines.push(`${cells.map((c) => csvCell(c, ';')).join(';')}\n`)
  }
  return lines
}
