import { parquetWriteBuffer } from 'hyparquet-writer'
import type { DeviceRegistry } from '../../../core/registry/registry.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import { ProblemError } from '../problem.ts'
import { csvCell } from '../csv.ts'
import { archiveHeader, archiveLines, sensorTypeSlug } from './archive-layout.ts'
import type { Period } from './period.ts'
import { inertText, openDataRows, type OpenDataRow } from './rows.ts'
import { OPEN_DATA_SOURCES, OPEN_DATA_SOURCE_NAMES, isOpenDataSource, sourceOfDecoder, type OpenDataSource } from './sources.ts'

/**
 * The open-data files of a period, by name (the same names over HTTP, GET /api/v1/bulk/<period>/<name>, and in
 * `senshagen export`'s folder):
 * - `<source>.csv`: one row per reading (LONG_COLUMNS), `,`-separated, RFC 4180 quoting, UTF-8, header first, no
 *   comment lines, so Python's csv module and pandas read it without options;
 * - `<source>.parquet`: the same columns (Apache Parquet, written by hyparquet-writer);
 * - `<source>_<sensor type>.csv`: the sensor.community archive layout (open-data/archive-layout.ts);
 * - `datapackage.json`: the Frictionless Data Package describing each file, its schema and its licence.
 * `<source>` is `senshagen` or `sensor-community` (open-data/sources.ts): a file never mixes licences.
 */

/** The long files' columns, with their Frictionless Table Schema type and meaning. */
export const LONG_COLUMNS = [
  { name: 'time', type: 'datetime', description: 'observed time, ISO-8601 UTC with milliseconds' },
  { name: 'device', type: 'string', description: 'device id' },
  { name: 'quantity', type: 'string', description: 'quantity name (README "Quantities")' },
  { name: 'value', type: 'number', description: 'raw value, in unit' },
  { name: 'unit', type: 'string', description: 'canonical unit of the quantity' },
  { name: 'calibrated', type: 'number', description: 'calibrated value in unit; empty when none' },
  { name: 'calibrated_uncertainty', type: 'number', description: 'expanded uncertainty (k = 2) of calibrated, in unit; empty when not calibrated or not assessed' },
  { name: 'calibration_label', type: 'string', description: 'indicative, experimental, or uncalibrated (README "Uncertainty, labels and plots")' },
  { name: 'flags', type: 'string', description: 'quality flags, comma-separated; empty when none (aggregates should leave flagged readings out)' },
  { name: 'sensor_type', type: 'string', description: 'sensor model the reading names; empty when unknown' },
  { name: 'lat', type: 'number', description: 'published latitude (grid-cell or neighbourhood centre) of the position valid at time, degrees north' },
  { name: 'lon', type: 'number', description: 'published longitude, degrees east' },
  { name: 'precision_m', type: 'integer', description: 'the device lies within this many metres of lat/lon' },
] as const

/** Most rows a Parquet file is built from (it is made in memory, ≈ 200 B a row): larger → 413, use daily files. */
export const MAX_PARQUET_ROWS = 500_000

export interface OpenDataContext {
  store: Pick<ReadingStore, 'readingRows'>
  registry: DeviceRegistry
  period: Period
}

export type FileKind = { kind: 'long-csv' | 'parquet'; source: OpenDataSource } | { kind: 'archive'; source: OpenDataSource; sensorType: string } | { kind: 'datapackage' }

/** What a file name asks for, or undefined when it is no open-data file name. */
export function parseFileName(name: string): FileKind | undefined {
  if (name === 'datapackage.json') return { kind: 'datapackage' }
  const match = /^([a-z-]+?)(?:_([a-z0-9-]+))?\.(csv|parquet)$/.exec(name)
  if (!match || !isOpenDataSource(match[1]!)) return undefined
  const source = match[1]
  if (match[2] !== undefined) return match[3] === 'csv' ? { kind: 'archive', source, sensorType: match[2] } : undefined
  return { kind: match[3] === 'csv' ? 'long-csv' : 'parquet', source }
}

function longCells(r: OpenDataRow): Array<string | number | null> {
  return [new Date(r.time).toISOString(), r.device, r.quantity, r.value, r.unit, r.calibrated, r.calibratedUncertainty, r.calibrationLabel, r.flags, inertText(r.sensorType), r.lat, r.lon, r.precisionM]
}

/** The text of a long CSV file, in chunks (one device at a time). */
export async function* longCsv(ctx: OpenDataContext, source: OpenDataSource): AsyncGenerator<string> {
  yield `${LONG_COLUMNS.map((c) => c.name).join(',')}\r\n`
  for await (const rows of openDataRows(ctx.store, ctx.registry.publicDevices(), ctx.period, [source])) {
    yield rows.map((r) => `${longCells(r).map((c) => csvCell(c)).join(',')}\r\n`).join('')
  }
}

/** The text of an archive-layout file of one source and sensor type, in chunks. */
export async function* archiveCsv(ctx: OpenDataContext, source: OpenDataSource, sensorType: string): AsyncGenerator<string> {
  yield `${archiveHeader(sensorType).join(';')}\n`
  for await (const rows of openDataRows(ctx.store, ctx.registry.publicDevices(), ctx.period, [source])) {
    const lines = archiveLines(rows, sensorType)
    if (lines.length > 0) yield lines.join('')
  }
}

/** A Parquet file of the long columns. Errors: ProblemError 413 past MAX_PARQUET_ROWS; those of the store. */
export async function longParquet(ctx: OpenDataContext, source: OpenDataSource): Promise<Uint8Array> {
  const all: OpenDataRow[] = []
  for await (const rows of openDataRows(ctx.store, ctx.registry.publicDevices(), ctx.period, [source])) {
    if (all.length + rows.length > MAX_PARQUET_ROWS) {
      throw new ProblemError(413, `a Parquet file holds at most ${MAX_PARQUET_ROWS} readings (MAX_PARQUET_ROWS); ask for a day instead of a month, or for the CSV file`)
    }
    for (const r of rows) all.push(r)
  }
  const column = <T>(f: (r: OpenDataRow) => T) => all.map(f)
  const buffer = parquetWriteBuffer({
    columnData: [
      { name: 'time', data: column((r) => BigInt(r.time)), type: 'TIMESTAMP', nullable: false },
      { name: 'device', data: column((r) => r.device), type: 'STRING', nullable: false },
      { name: 'quantity', data: column((r) => r.quantity), type: 'STRING', nullable: false },
      { name: 'value', data: column((r) => r.value), type: 'DOUBLE', nullable: false },
      { name: 'unit', data: column((r) => r.unit), type: 'STRING', nullable: false },
      { name: 'calibrated', data: column((r) => r.calibrated), type: 'DOUBLE' },
      { name: 'calibrated_uncertainty', data: column((r) => r.calibratedUncertainty), type: 'DOUBLE' },
      { name: 'calibration_label', data: column((r) => r.calibrationLabel), type: 'STRING', nullable: false },
      { name: 'flags', data: column((r) => r.flags), type: 'STRING', nullable: false },
      { name: 'sensor_type', data: column((r) => r.sensorType), type: 'STRING', nullable: false },
      { name: 'lat', data: column((r) => r.lat), type: 'DOUBLE', nullable: false },
      { name: 'lon', data: column((r) => r.lon), type: 'DOUBLE', nullable: false },
      { name: 'precision_m', data: column((r) => r.precisionM), type: 'INT32', nullable: false },
    ],
    kvMetadata: [{ key: 'licence', value: `${OPEN_DATA_SOURCES[source].licence.name} ${OPEN_DATA_SOURCES[source].licence.path}` }],
  })
  return new Uint8Array(buffer)
}

/**
 * Which files a period has: the sources and the sensor types of each that have public readings. Reads only the
 * `sensor` and `source` fields of each reading (one readingRows query per device), not whole rows.
 */
export async function catalogue(ctx: OpenDataContext): Promise<Map<OpenDataSource, Set<string>>> {
  const found = new Map<OpenDataSource, Set<string>>()
  for (const device of ctx.registry.publicDevices()) {
    const rows = await ctx.store.readingRows({ devices: [device.id], from: ctx.period.from, to: ctx.period.to, fields: ['sensor', 'source'] })
    for (const { fields } of rows) {
      const source = sourceOfDecoder(fields.source as string | null)
      const types = found.get(source) ?? new Set<string>()
      types.add(sensorTypeSlug(typeof fields.sensor === 'string' ? fields.sensor : ''))
      found.set(source, types)
    }
  }
  return new Map(OPEN_DATA_SOURCE_NAMES.filter((s) => found.has(s)).map((s) => [s, found.get(s)!]))
}
