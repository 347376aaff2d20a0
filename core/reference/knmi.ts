import { RefusedError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Quantity } from '../quantities.ts'
import { HOUR_MS, selectObservations, splitWindows, valueFlags, type ReferenceParseResult } from './common.ts'
import { ReferenceHttp, type ReferenceSourceOptions } from './http.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSource, ReferenceStation } from './reference.ts'
import { KNMI_STATIONS } from './stations.ts'

/** Base of the KNMI script API; hourly data is POSTed to `${base}/uurgegevens`. */
export const KNMI_BASE_URL = 'https://www.daggegevens.knmi.nl/klimatologie'

/** The attribution KNMI requires (header of every uurgegevens file). Show it wherever KNMI data is published. */
export const KNMI_LICENCE =
  'DEZE GEGEVENS MOGEN VRIJ WORDEN GEBRUIKT MITS DE VOLGENDE BRONVERMELDING WORDT GEGEVEN: KONINKLIJK NEDERLANDS METEOROLOGISCH INSTITUUT (KNMI)'

/** The quantities taken from KNMI hourly data, and the column each comes from. */
export const KNMI_COLUMNS: Readonly<Record<string, Quantity>> = {
  T: 'air_temperature',
  U: 'relative_humidity',
  RH: 'precipitation',
  FH: 'wind_speed',
  DD: 'wind_from_direction',
  Q: 'global_radiation',
}
export const KNMI_QUANTITIES: readonly Quantity[] = Object.values(KNMI_COLUMNS)

/** What parseKnmiHourly returns. */
export interface KnmiHourlyParse extends ReferenceParseResult {
  /** Stations listed in the header (`# STN LON(east) LAT(north) ALT(m) NAME` block of the script API); empty for zip files. */
  stations: ReferenceStation[]
  /** Data rows read (including rows with problems). */
  rows: number
  /** Blank fields of the six columns used, and DD 0 (calm) / 990 (variable): no observation. */
  missing: number
}

/**
 * Parses KNMI hourly station data ("uurgegevens"): the zip-archive text (plain header, CRLF) and the script
 * API output (every header line prefixed with `#`) alike. Never throws.
 *
 * Layout (header of the files themselves): a column line `STN,YYYYMMDD,HH,DD,FH,…` (`T10` or `T10N`, either is
 * fine: columns are found by name), then comma-separated, space-padded rows; a blank field is a missing value.
 * Time: HH runs 1–24 in UT and is the hour ENDING at HH ("Uurvak 05 loopt van 04.00 UT tot 5.00 UT"), so
 * time = YYYYMMDD 00:00Z + HH h (HH 24 → 00:00Z the next day).
 * Columns used (units as in the file header):
 * - T  air temperature at 1.50 m, 0.1 °C, spot value at the end of the hour → air_temperature, periodMs 0.
 * - U  relative humidity at 1.50 m, %, spot value → relative_humidity, periodMs 0.
 * - RH hourly precipitation sum, 0.1 mm; −1 means < 0.05 mm → precipitation 0 flagged `trace`; periodMs 1 h.
 * - FH hourly mean wind speed, 0.1 m/s → wind_speed, periodMs 1 h.
 * - Q  global radiation, J/cm² summed over the hour → global_radiation as the hour's mean irradiance in W/m²:
 *   1 J/cm² per hour = 10 000 J/m² / 3600 s = 2.78 W/m² (research reference-data.md §3a), periodMs 1 h. Read for
 *   the radiation error of garden thermometers (core/calibration/methods/radiation-offset.ts).
 * - DD wind direction, degrees, mean over the LAST 10 MINUTES of the hour → wind_from_direction, periodMs
 *   600 000; 0 (calm) and 990 (variable) give no observation.
 * Not used: P is pressure reduced to mean sea level, while SensHagen's air_pressure is station-level
 * pressure; storing it under air_pressure would mix two different quantities (they differ by ≈ 0.12 hPa per
 * metre of altitude), so P is skipped on purpose. The other columns have no quantity here.
 */
export function parseKnmiHourly(text: string): KnmiHourlyParse {
  const result: KnmiHourlyParse = { stations: [], observations: [], problems: [], rows: 0, missing: 0 }
  let columns: string[] | undefined
  const lines = text.split(/\r?\n/)
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`
    const commented = line.trimStart().startsWith('#')
    const content = line.replace(/^\s*#\s?/, '').trim()
    if (content === '') return
    if (columns === undefined) {
      if (/^STN\s*,\s*YYYYMMDD\s*,\s*HH\b/.test(content)) {
        columns = content.split(',').map((c) => c.trim())
        return
      }
      const station = /^(\d{3})\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(\S.*)$/.exec(content)
      if (station) {
        result.stations.push({ id: station[1]!, source: 'knmi', name: station[5]!.trim(), lon: Number(station[2]), lat: Number(station[3]), quantities: [...KNMI_QUANTITIES] })
      }
      return
    }
    if (commented) return
    result.rows++
    const fields = content.split(',').map((f) => f.trim())
    const problem = (message: string) => result.problems.push({ where, message, raw: content.slice(0, 200) })
    if (fields.length !== columns.length) return problem(`has ${fields.length} fields, the column line ${columns.length}`)
    const [stn, date, hh] = fields
    const time = knmiTime(date!, hh!)
    if (!/^\d+$/.test(stn!)) return problem('STN must be a station number')
    if (time === undefined) return problem('YYYYMMDD must be a date and HH an hour 1–24')
    for (const [column, quantity] of Object.entries(KNMI_COLUMNS)) {
      const at = columns.indexOf(column)
      if (at < 0) continue
      const field = fields[at]!
      if (field === '') {
        result.missing++
        continue
      }
      if (!/^-?\d+$/.test(field)) {
        problem(`${column} must be a whole number, got '${field}'`)
        continue
      }
      const observation = knmiObservation(stn!, quantity, Number(field), time)
      if (observation === undefined) result.missing++
      else result.observations.push(observation)
    }
  })
  if (columns === undefined) result.problems.push({ where: 'header', message: 'no column line `STN,YYYYMMDD,HH,…`: not KNMI hourly data', raw: text.slice(0, 200) })
  return result
}

/** End of the KNMI hour `HH` (1–24) of `YYYYMMDD`, epoch ms UTC; undefined when either is invalid. */
export function knmiTime(date: string, hh: string): number | undefined {
  const d = /^(\d{4})(\d{2})(\d{2})$/.exec(date)
  if (!d || !/^\d{1,2}$/.test(hh)) return undefined
  const hour = Number(hh)
  const midnight = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]))
  const check = new Date(midnight)
  if (check.getUTCFullYear() !== Number(d[1]) || check.getUTCMonth() !== Number(d[2]) - 1 || check.getUTCDate() !== Number(d[3])) return undefined
  if (hour < 1 || hour > 24) return undefined
  return midnight + hour * HOUR_MS
}

/** `YYYYMMDDHH` (HH 1–24) of the KNMI hour ending at `ms` (a whole hour, UTC): the script API's start/end form. */
export function knmiHourCode(ms: number): string {
  const end = new Date(ms)
  const hour = end.getUTCHours()
  const day = hour === 0 ? new Date(ms - HOUR_MS) : end
  const ymd = day.toISOString().slice(0, 10).replace(/-/g, '')
  return `${ymd}${String(hour === 0 ? 24 : hour).padStart(2, '0')}`
}

function knmiObservation(station: string, quantity: Quantity, raw: number, time: number): ReferenceObservation | undefined {
  const base = { station, source: 'knmi' as const, quantity, time }
  switch (quantity) {
    case 'air_temperature':
      return { ...base, value: raw / 10, periodMs: 0, flags: [] }
    case 'relative_humidity':
      return { ...base, value: raw, periodMs: 0, flags: valueFlags(quantity, raw) }
    case 'precipitation':
      if (raw === -1) return { ...base, value: 0, periodMs: HOUR_MS, flags: ['trace'] }
      return { ...base, value: raw / 10, periodMs: HOUR_MS, flags: valueFlags(quantity, raw) }
    case 'wind_speed':
      return { ...base, value: raw / 10, periodMs: HOUR_MS, flags: valueFlags(quantity, raw) }
    case 'global_radiation':
      return { ...base, value: (raw * 10_000) / 3600, periodMs: HOUR_MS, flags: valueFlags(quantity, raw) }
    case 'wind_from_direction':
      if (raw === 0 || raw === 990) return undefined
      return { ...base, value: raw, periodMs: 600_000, flags: valueFlags(quantity, raw) }
    default:
      return undefined
  }
}

/**
 * ReferenceSource for KNMI hourly station data through the script API: per window of at most one week,
 * `POST ${base}/uurgegevens` with form fields `stns=<station>`, `start`/`end` = `YYYYMMDDHH` (HH 1–24, the
 * first and last hour whose end lies in the window) and `vars=ALL` (one cached response then serves every
 * quantity). Station ids are KNMI numbers (`278` Heino). `stations()` is the static KNMI_STATIONS table
 * (hydropandas metadata; the script API has no station list).
 *
 * Errors: RefusedError for a quantity KNMI hourly data has no column for, or a response without a column
 * line (the API answers parameter errors with text); UnavailableError once retries are used up.
 */
export class KnmiSource implements ReferenceSource {
  readonly name = 'knmi' as const
  readonly http: ReferenceHttp
  private readonly logger: Logger

  constructor(
    readonly baseUrl: string = KNMI_BASE_URL,
    options: ReferenceSourceOptions,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.http = new ReferenceHttp('knmi', options)
    this.logger = options.logger.child({ component: 'reference', source: 'knmi' })
  }

  async stations(): Promise<ReferenceStation[]> {
    return KNMI_STATIONS.map((s) => ({ ...s, quantities: [...s.quantities] }))
  }

  async observations(query: ReferenceQuery): Promise<ReferenceObservation[]> {
    if (!KNMI_QUANTITIES.includes(query.quantity)) throw new RefusedError(`knmi has no ${query.quantity}; it serves ${KNMI_QUANTITIES.join(', ')}`)
    if (!/^\d{3}$/.test(query.station)) throw new RefusedError(`knmi station ids are three digits such as 278, got '${query.station}'`)
    const found: ReferenceObservation[] = []
    for (const window of splitWindows(query.from, query.to)) {
      const first = Math.ceil(window.from / HOUR_MS) * HOUR_MS
      const last = Math.ceil(window.to / HOUR_MS) * HOUR_MS - HOUR_MS
      if (first > last) continue
      const form = { stns: query.station, start: knmiHourCode(first), end: knmiHourCode(last), vars: 'ALL' }
      const body = await this.http.text({ method: 'POST', url: `${this.baseUrl}/uurgegevens`, form }, { kind: 'window', windowEnd: window.to })
      const parsed = parseKnmiHourly(body)
      if (parsed.problems.some((p) => p.where === 'header')) throw new RefusedError(`knmi: uurgegevens answered without data: ${body.slice(0, 200)}`)
      if (parsed.problems.length) this.logger.warn({ problems: parsed.problems.slice(0, 5), count: parsed.problems.length }, 'unreadable KNMI rows skipped')
      found.push(...parsed.observations.filter((o) => o.time >= window.from && o.time < window.to))
    }
    return selectObservations(found, query)
  }
}
