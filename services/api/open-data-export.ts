import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import type { Logger } from '../../core/logger.ts'
import { QUANTITY_NAMES, type Quantity } from '../../core/quantities.ts'
import type { DeviceRegistry, PublicDevice } from '../../core/registry/registry.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { shiftDecimal } from '../../core/units.ts'
import { csvCell } from './csv.ts'
import { compareIds } from './readings-query.ts'

/**
 * Open-data export (`senshagen export --day D`): one UTC day, one file per quantity, in the sensor.community
 * archive layout (archive.sensor.community: `;`-separated, header
 * `sensor_id;sensor_type;location;lat;lon;timestamp;<value columns>`, timestamps `YYYY-MM-DDTHH:MM:SS` UTC
 * without zone), with a first line `# licence: …`. File `<out>/<YYYY-MM-DD>_<quantity>.csv`.
 *
 * Public devices only (core/registry); lat/lon are the coarsened public position, never the garden's.
 * Columns: sensor_id = our device id; sensor_type = the sensor model the reading names (field `sensor`, empty
 * when unknown); location = the neighbourhood id (the archive's numeric location id has no equivalent);
 * timestamp = observed time truncated to the second; then the value column of the quantity (VALUE_COLUMNS: P1
 * = PM10, P2 = PM2.5, P0 = PM1, P4 = PM4 as in the archive; `pressure` in Pa as in the archive; others by their
 * SensHagen name in the canonical unit) and `<column>_calibrated` (empty when the reading has no calibrated
 * value). Rows by device, then time. Quality-flagged readings are included, as the archive includes everything.
 */
export const LICENCE_LINE =
  '# licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), attribution: SensHagen / Gemeente Zwolle'

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

/** The archive gives pressure in Pa; we store hPa: the decimal point moves two places (exact, core/units.ts). */
function archiveValue(quantity: Quantity, value: number | null): string {
  if (value === null || value === undefined) return ''
  return quantity === 'air_pressure' ? shiftDecimal(String(value), 2) : String(value)
}

export interface ExportedFile {
  quantity: Quantity
  path: string
  rows: number
  devices: number
}

export interface ExportOptions {
  store: Pick<ReadingStore, 'countReadings' | 'readingRows'>
  registry: DeviceRegistry
  /** `YYYY-MM-DD`, a UTC day. */
  day: string
  outDir: string
  logger: Logger
}

/** True for a real calendar date `YYYY-MM-DD` (not 2024-02-30). */
export function isUtcDay(day: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return false
  const ms = Date.parse(`${day}T00:00:00Z`)
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === day
}

/** `2024-01-15T10:28:30` from epoch ms (UTC, seconds, no zone: the archive's form). */
export function archiveTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19)
}

/**
 * Writes the day's files and returns them (quantities without public readings get no file). Each file is
 * written to `<name>.part` and renamed when complete. One store query (readingRows) per device and quantity, so
 * memory holds one device-day at a time. Errors: RangeError for a bad day; store and file-system errors.
 */
export async function exportOpenData(options: ExportOptions): Promise<ExportedFile[]> {
  const { store, registry, day, outDir, logger } = options
  if (!isUtcDay(day)) throw new RangeError(`day: '${day}' is not a date YYYY-MM-DD`)
  const from = Date.parse(`${day}T00:00:00Z`)
  const to = from + 86_400_000
  const devices = registry.publicDevices()
  if (devices.length === 0) return []
  const byId = new Map(devices.map((d) => [d.id, d]))
  const present = new Map<Quantity, PublicDevice[]>()
  for (const { deviceId, quantity } of await store.countReadings({ devices: devices.map((d) => d.id), from, to })) {
    const device = byId.get(deviceId)
    if (device === undefined) continue
    present.set(quantity, [...(present.get(quantity) ?? []), device])
  }
  await mkdir(outDir, { recursive: true })
  const files: ExportedFile[] = []
  for (const quantity of QUANTITY_NAMES) {
    const withData = (present.get(quantity) ?? []).sort((a, b) => compareIds(a.id, b.id))
    if (withData.length === 0) continue
    const path = join(outDir, `${day}_${quantity}.csv`)
    const rows = await writeQuantityFile(store, quantity, withData, from, to, path)
    files.push({ quantity, path, rows, devices: withData.length })
    logger.info({ quantity, rows, devices: withData.length }, 'open-data file written')
  }
  return files
}

async function writeQuantityFile(store: ExportOptions['store'], quantity: Quantity, devices: PublicDevice[], from: number, to: number, path: string): Promise<number> {
  const partPath = `${path}.part`
  const out = createWriteStream(partPath, { encoding: 'utf8' })
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain')
  }
  const column = VALUE_COLUMNS[quantity]
  let rows = 0
  try {
    await write(`${LICENCE_LINE}\n`)
    await write(`sensor_id;sensor_type;location;lat;lon;timestamp;${column};${column}_calibrated\n`)
    for (const device of devices) {
      const values = await store.readingRows({ devices: [device.id], quantities: [quantity], from, to, fields: ['value', 'calibrated', 'sensor'] })
      const lines: string[] = []
      for (const { time, fields } of values) {
        const [value, calibrated, sensor] = [fields.value, fields.calibrated, fields.sensor] as [number | null, number | null, string | null]
        if (value === null) continue
        const cells = [device.id, sensor ?? '', device.neighbourhood, device.location.lat, device.location.lon, archiveTimestamp(time), archiveValue(quantity, value), archiveValue(quantity, calibrated)]
        lines.push(`${cells.map((c) => csvCell(c, ';')).join(';')}\n`)
        rows++
        if (lines.length >= 1_000) await write(lines.splice(0).join(''))
      }
      await write(lines.join(''))
    }
    out.end()
    await once(out, 'finish')
    await rename(partPath, path)
    return rows
  } catch (error) {
    out.destroy()
    await rm(partPath, { force: true })
    throw error
  }
}
