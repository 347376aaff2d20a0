import { RefusedError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Quantity } from '../quantities.ts'
import { parseIsoTimestamp } from '../time.ts'
import { HOUR_MS, isRecord, isoSeconds, parseJsonText, rawText, selectObservations, splitWindows, valueFlags, type ReferenceParseResult, type ReferenceProblem } from './common.ts'
import { ReferenceHttp, type ReferenceSourceOptions } from './http.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSource, ReferenceStation } from './reference.ts'

/** RIVM Luchtmeetnet open API (no key). Docs: https://api-docs.luchtmeetnet.nl/ */
export const LUCHTMEETNET_BASE_URL = 'https://api.luchtmeetnet.nl/open_api'

/** Luchtmeetnet `formula` → SensHagen quantity. All three are hourly means in µg/m³, our canonical unit. Other formulas (O3, NO, CO, FN, BCWB…) have no quantity here and are counted as ignored. */
export const LUCHTMEETNET_FORMULAS: Readonly<Record<string, Quantity>> = { PM25: 'pm2_5', PM10: 'pm10', NO2: 'no2' }

/** Quantity → Luchtmeetnet `formula` (inverse of LUCHTMEETNET_FORMULAS). */
export function luchtmeetnetFormula(quantity: Quantity): string | undefined {
  return Object.entries(LUCHTMEETNET_FORMULAS).find(([, q]) => q === quantity)?.[0]
}

/**
 * One readable `/measurements` record, whatever its formula: `time` = `timestamp_measured` (end of the hour),
 * `value` null when the API had no measurement, flags `negative` below 0 (every Luchtmeetnet formula is a
 * concentration, which cannot be negative).
 */
export interface LuchtmeetnetRecord {
  station: string
  formula: string
  value: number | null
  time: number
  periodMs: number
  flags: string[]
}

/** One parsed `/measurements` page. */
export interface LuchtmeetnetMeasurementsPage extends ReferenceParseResult {
  /** Every readable record, including formulas without a quantity and null values (the observations are the mapped, non-null ones). */
  records: LuchtmeetnetRecord[]
  /** `pagination.last_page`; 0 for the empty response. */
  lastPage: number
  currentPage: number
  /** Records with `value: null` (no measurement that hour), skipped. */
  missing: number
  /** Records of formulas without a SensHagen quantity, by formula (e.g. `{O3: 7}`), skipped. */
  ignored: Record<string, number>
}

/**
 * Parses a `/measurements` response (JSON text or parsed value) into observations. Never throws.
 *
 * Record `{station_number, value, timestamp_measured, formula, timestamp_measured_start?, timestamp_measured_end?}`:
 * `timestamp_measured` is the END of the hourly mean in UTC (`…+00:00`; it equals `timestamp_measured_end`
 * where present) and becomes `time`; `periodMs` is end − start when both are given, else one hour. `value` is
 * in µg/m³; null values are skipped (counted in `missing`); negative values are kept and flagged `negative`.
 */
export function parseLuchtmeetnetMeasurements(input: unknown): LuchtmeetnetMeasurementsPage {
  const page: LuchtmeetnetMeasurementsPage = { observations: [], problems: [], records: [], lastPage: 0, currentPage: 0, missing: 0, ignored: {} }
  const json = typeof input === 'string' ? parseJsonText(input) : { ok: true as const, value: input }
  if (!json.ok) return { ...page, problems: [json.problem] }
  const body = json.value
  if (!isRecord(body) || !Array.isArray(body.data)) return { ...page, problems: [{ where: 'response', message: 'not a Luchtmeetnet measurements response: no data array', raw: rawText(body) }] }
  const pagination = isRecord(body.pagination) ? body.pagination : {}
  page.lastPage = typeof pagination.last_page === 'number' ? pagination.last_page : 1
  page.currentPage = typeof pagination.current_page === 'number' ? pagination.current_page : 1
  body.data.forEach((record, index) => {
    const where = `data[${index}]`
    const problem = (message: string) => page.problems.push({ where, message, raw: rawText(record) })
    if (!isRecord(record)) return problem('not an object')
    const { station_number: station, formula, value } = record
    if (typeof station !== 'string' || station === '') return problem('station_number must be a non-empty string')
    if (typeof formula !== 'string') return problem('formula must be a string')
    if (value !== null && (typeof value !== 'number' || !Number.isFinite(value))) return problem('value must be a number or null')
    const time = parseTime(record.timestamp_measured)
    if (time === undefined) return problem('timestamp_measured must be an ISO-8601 date-time with zone')
    const start = parseTime(record.timestamp_measured_start)
    const end = parseTime(record.timestamp_measured_end)
    const periodMs = start !== undefined && end !== undefined && end > start ? end - start : HOUR_MS
    page.records.push({ station, formula, value, time, periodMs, flags: value !== null && value < 0 ? ['negative'] : [] })
    const quantity = LUCHTMEETNET_FORMULAS[formula]
    if (quantity === undefined) {
      page.ignored[formula] = (page.ignored[formula] ?? 0) + 1
      return
    }
    if (value === null) {
      page.missing++
      return
    }
    page.observations.push({ station, source: 'luchtmeetnet', quantity, value, time, periodMs, flags: valueFlags(quantity, value) })
  })
  return page
}

function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const parsed = parseIsoTimestamp(value)
  return parsed.ok ? parsed.ms : undefined
}

/** Parses a `/stations?page=N` response: `{pagination: {last_page}, data: [{number, location}]}`. Never throws. */
export function parseLuchtmeetnetStationList(input: unknown): { stations: Array<{ id: string; name: string }>; lastPage: number; problems: ReferenceProblem[] } {
  const json = typeof input === 'string' ? parseJsonText(input) : { ok: true as const, value: input }
  if (!json.ok) return { stations: [], lastPage: 0, problems: [json.problem] }
  const body = json.value
  if (!isRecord(body) || !Array.isArray(body.data)) return { stations: [], lastPage: 0, problems: [{ where: 'response', message: 'not a Luchtmeetnet stations response', raw: rawText(body) }] }
  const lastPage = isRecord(body.pagination) && typeof body.pagination.last_page === 'number' ? body.pagination.last_page : 1
  const stations: Array<{ id: string; name: string }> = []
  const problems: ReferenceProblem[] = []
  body.data.forEach((entry, index) => {
    if (isRecord(entry) && typeof entry.number === 'string') stations.push({ id: entry.number, name: typeof entry.location === 'string' ? entry.location : entry.number })
    else problems.push({ where: `data[${index}]`, message: 'station entry without a number', raw: rawText(entry) })
  })
  return { stations, lastPage, problems }
}

/**
 * Parses a `/stations/{number}` response: `data.location` (name), `data.components` (formulas such as "PM25")
 * and `data.geometry.coordinates` = [lon, lat] (GeoJSON order). Never throws; no station when coordinates are missing.
 */
export function parseLuchtmeetnetStationDetail(id: string, input: unknown): { station?: ReferenceStation; problems: ReferenceProblem[] } {
  const json = typeof input === 'string' ? parseJsonText(input) : { ok: true as const, value: input }
  if (!json.ok) return { problems: [json.problem] }
  const data = isRecord(json.value) && isRecord(json.value.data) ? json.value.data : undefined
  const coordinates = data && isRecord(data.geometry) && Array.isArray(data.geometry.coordinates) ? data.geometry.coordinates : undefined
  const [lon, lat] = coordinates ?? []
  if (data === undefined || typeof lon !== 'number' || typeof lat !== 'number') {
    return { problems: [{ where: `stations/${id}`, message: 'no data.geometry.coordinates [lon, lat]', raw: rawText(json.value) }] }
  }
  const components = Array.isArray(data.components) ? data.components.filter((c): c is string => typeof c === 'string') : []
  const quantities = [...new Set(components.map((c) => LUCHTMEETNET_FORMULAS[c]).filter((q): q is Quantity => q !== undefined))]
  const name = typeof data.location === 'string' ? data.location : id
  return { station: { id, source: 'luchtmeetnet', name, lat, lon, quantities }, problems: [] }
}

/**
 * ReferenceSource for the Luchtmeetnet open API.
 *
 * - `stations()`: every `/stations?page=N` page, then `/stations/{number}` per station for coordinates and
 *   components (about 100 requests the first time; cached for `metadataMaxAgeMs`, and 429 answers are waited
 *   out). For offline use see LUCHTMEETNET_STATIONS (core/reference/stations.ts).
 * - `observations(q)`: `/measurements?station_number&formula&start&end&page` per window of at most one
 *   week (the API's limit), pages 1..last_page each; `start`/`end` are UTC `YYYY-MM-DDTHH:MM:SS` and are
 *   taken as bounds on `timestamp_measured` (end of hour), the way RIVM's own R package filters them; the
 *   result is filtered to [from, to) again here. Station ids: `NL10818`.
 *
 * Errors: RefusedError for a quantity Luchtmeetnet has no formula for, a non-JSON body or a 4xx;
 * UnavailableError once retries of network failures, 429 and 5xx are used up.
 */
export class LuchtmeetnetSource implements ReferenceSource {
  readonly name = 'luchtmeetnet' as const
  readonly http: ReferenceHttp
  private readonly logger: Logger

  constructor(
    readonly baseUrl: string = LUCHTMEETNET_BASE_URL,
    options: ReferenceSourceOptions,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.http = new ReferenceHttp('luchtmeetnet', options)
    this.logger = options.logger.child({ component: 'reference', source: 'luchtmeetnet' })
  }

  async stations(): Promise<ReferenceStation[]> {
    const list: Array<{ id: string; name: string }> = []
    for (let page = 1, lastPage = 1; page <= lastPage && page <= 1000; page++) {
      const parsed = parseLuchtmeetnetStationList(await this.get(`/stations`, { page: String(page) }, { kind: 'metadata' }))
      this.report(parsed.problems, `stations page ${page}`)
      list.push(...parsed.stations)
      lastPage = parsed.lastPage
    }
    const stations: ReferenceStation[] = []
    for (const { id } of list) {
      const detail = parseLuchtmeetnetStationDetail(id, await this.get(`/stations/${encodeURIComponent(id)}`, {}, { kind: 'metadata' }))
      this.report(detail.problems, `station ${id}`)
      if (detail.station) stations.push(detail.station)
    }
    return stations
  }

  async observations(query: ReferenceQuery): Promise<ReferenceObservation[]> {
    const formula = luchtmeetnetFormula(query.quantity)
    if (formula === undefined) throw new RefusedError(`luchtmeetnet has no ${query.quantity}; it serves ${Object.values(LUCHTMEETNET_FORMULAS).join(', ')}`)
    const found: ReferenceObservation[] = []
    for (const window of splitWindows(query.from, query.to)) {
      const params = { station_number: query.station, formula, start: isoSeconds(window.from), end: isoSeconds(window.to) }
      for (let page = 1, lastPage = 1; page <= lastPage && page <= 1000; page++) {
        const body = await this.get('/measurements', { ...params, page: String(page) }, { kind: 'window', windowEnd: window.to })
        const parsed = parseLuchtmeetnetMeasurements(body)
        if (parsed.problems.length && parsed.observations.length === 0 && !isMeasurementsBody(body)) {
          throw new RefusedError(`luchtmeetnet: /measurements answered something else than measurements: ${parsed.problems[0]!.message}`)
        }
        this.report(parsed.problems, `measurements ${query.station} ${formula} page ${page}`)
        found.push(...parsed.observations.filter((o) => o.time >= window.from && o.time < window.to))
        lastPage = parsed.lastPage
      }
    }
    return selectObservations(found, query)
  }

  private get(path: string, params: Record<string, string>, policy: Parameters<ReferenceHttp['text']>[1]): Promise<string> {
    const url = new URL(`${this.baseUrl}${path}`)
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
    return this.http.text({ method: 'GET', url: url.toString() }, policy)
  }

  private report(problems: ReferenceProblem[], what: string): void {
    if (problems.length) this.logger.warn({ problems: problems.slice(0, 5), count: problems.length }, `unreadable records in ${what} skipped`)
  }
}

function isMeasurementsBody(text: string): boolean {
  const json = parseJsonText(text)
  return json.ok && isRecord(json.value) && Array.isArray(json.value.data)
}
