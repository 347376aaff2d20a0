import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * An independent reading of the sensor.community archive fixtures, written for the tests (it does not use
 * core/decoders/sc-archive.ts, the code under test): what every archive file must yield once stored.
 * Pressure stays as the file's Pa text so tests can compare exactly (stored hPa × 100 printed with two
 * decimals must equal the cell).
 */
export const ARCHIVE_DIR = new URL('../fixtures/sensor-community-archive/', import.meta.url).pathname

export interface ExpectedValue {
  device: string
  quantity: string
  time: number
  /** The cell text exactly as in the file (Pa for air_pressure). */
  cell: string
}

const QUANTITY_OF: Record<string, string> = {
  P0: 'pm1',
  P1: 'pm10',
  P2: 'pm2_5',
  P4: 'pm4',
  temperature: 'air_temperature',
  humidity: 'relative_humidity',
  pressure: 'air_pressure',
}

export function archiveFiles(): string[] {
  return readdirSync(ARCHIVE_DIR)
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .map((f) => join(ARCHIVE_DIR, f))
}

/** Non-empty values of complete rows; `empty` counts empty quantity cells of complete rows; `short` cut rows. */
export function expectedFromFile(file: string): { values: ExpectedValue[]; empty: number; short: number } {
  const [headerLine, ...rows] = readFileSync(file, 'utf8').split('\n')
  const header = headerLine!.split(';')
  const values: ExpectedValue[] = []
  let empty = 0
  let short = 0
  for (const row of rows) {
    if (row === '') continue
    const cells = row.split(';')
    if (cells.length !== header.length) {
      short++
      continue
    }
    const stamp = cells[5]!
    const time = Date.parse(/(Z|[+-]\d\d:\d\d)$/.test(stamp) ? stamp : `${stamp}Z`)
    header.forEach((name, i) => {
      const quantity = QUANTITY_OF[name]
      if (!quantity || i < 6) return
      if (cells[i] === '') empty++
      else values.push({ device: `sc-${cells[0]}`, quantity, time, cell: cells[i]! })
    })
  }
  return { values, empty, short }
}

/** True when a stored value equals the file's cell (air_pressure stored in hPa, the file has Pa). */
export function sameAsCell(quantity: string, stored: number, cell: string): boolean {
  return quantity === 'air_pressure' ? (stored * 100).toFixed(2) === cell : stored === Number(cell)
}

/**
 * Every device the archive fixtures and the written data-API files replay as (sc-<sensor_id>, and the Meet je Stad
 * stations 173, 781, 391, 44), registered with consent in the archief neighbourhood: replay publishes only for registered devices.
 */
export const ARCHIVE_DEVICES = ['sc-2184', 'sc-5331', 'sc-5332', 'sc-8733', 'sc-15093', 'sc-22885', 'sc-92', 'sc-90001', 'sc-90002', 'sc-90003', 'mjs-173', 'mjs-781', 'mjs-391', 'mjs-44'].map((id) => ({
  id,
  neighbourhood: 'archief',
  consent: true,
}))
