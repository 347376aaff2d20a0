import { RefusedError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Quantity } from '../quantities.ts'
import { parseIsoTimestamp } from '../time.ts'
import { HOUR_MS, isRecord, parseJsonText, rawText, selectObservations, splitWindows, valueFlags, type ReferenceParseResult, type ReferenceProblem } from './common.ts'
import { ReferenceHttp, type CachePolicy, type ReferenceSourceOptions } from './http.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSource, ReferenceStation } from './reference.ts'

/** RIVM Samen Meten: OGC SensorThings API v1.0, no authentication. */
export const SAMENMETEN_BASE_URL = 'https://api-samenmeten.rivm.nl/v1.0'

/**
 * Default `$filter` of SamenMetenSource.stations(): the Things of the municipality of Zwolle (CBS code 0193;
 * RIVM's R package samanapir filters `properties/codegemeente eq '<code>'` the same way).
 */
export const SAMENMETEN_ZWOLLE_FILTER = "properties/codegemeente eq '193'"

/**
 * ObservedProperty name → quantity. `<name>_kal` is the same property as calibrated by RIVM; its observations
 * are flagged `calibrated`. Only these names are mapped (`pm10` is confirmed by a recorded ObservedProperty
 * response; `pm25`, `no2` and the `_kal` forms by the research notes).
 */
export const SAMENMETEN_PROPERTIES: Readonly<Record<string, Quantity>> = { pm25: 'pm2_5', pm10: 'pm10', no2: 'no2' }

/**
 * Whether an instant `phenomenonTime` marks the END (default) or the START of the hourly mean. Samen Meten
 * does not document it, and it is not known (research reference-data.md §3). `end` follows the Luchtmeetnet
 * convention of the same institute; with `start` every time is moved one hour later. An interval
 * `start/end` phenomenonTime needs no convention: its end is used.
 */
export type PhenomenonTimeConvention = 'end' | 'start'

export interface SamenMetenOptions extends ReferenceSourceOptions {
  phenomenonTime?: PhenomenonTimeConvention
  /** For a Thing-level station: take the RIVM-calibrated `<name>_kal` datastream when there is one (default true). */
  preferCalibrated?: boolean
  /** `$filter` for stations() (default SAMENMETEN_ZWOLLE_FILTER; null = every Thing, thousands). */
  thingFilter?: string | null
}

export interface SamenMetenObservationsPage extends ReferenceParseResult {
  /** `@iot.nextLink`: URL of the next page; absent on the last page. */
  nextLink?: string
  /** Observations with `result: null`, skipped. */
  missing: number
}

/**
 * Parses one SensorThings Observations page `{value: [{"@iot.id", phenomenonTime, result, resultTime}],
 * "@iot.nextLink"?}` of one datastream. The response does not name station or quantity, so the caller says
 * them. Never throws. `time` per `phenomenonTime` convention (see PhenomenonTimeConvention), periodMs one hour
 * (or the interval's length), flags `calibrated` when `calibrated` and `negative` below 0.
 */
export function parseSamenMetenObservations(
  input: unknown,
  series: { station: string; quantity: Quantity; calibrated?: boolean; phenomenonTime?: PhenomenonTimeConvention },
): SamenMetenObservationsPage {
  const page: SamenMetenObservationsPage = { observations: [], problems: [], missing: 0 }
  const json = typeof input === 'string' ? parseJsonText(input) : { ok: true as const, value: input }
  if (!json.ok) return { ...page, problems: [json.problem] }
  const body = json.value
  if (!isRecord(body) || !Array.isArray(body.value)) return { ...page, problems: [{ where: 'response', message: 'not a SensorThings collection: no value array', raw: rawText(body) }] }
  if (typeof body['@iot.nextLink'] === 'string') page.nextLink = body['@iot.nextLink']
  const shift = (series.phenomenonTime ?? 'end') === 'start' ? HOUR_MS : 0
  body.value.forEach((entry, index) => {
    const problem = (message: string) => page.problems.push({ where: `value[${index}]`, message, raw: rawText(entry) })
    if (!isRecord(entry)) return problem('not an object')
    if (entry.result === null) {
      page.missing++
      return
    }
    if (typeof entry.result !== 'number' || !Number.isFinite(entry.result)) return problem('result must be a number or null')
    const period = parsePhenomenonTime(entry.phenomenonTime)
    if (period === undefined) return problem('phenomenonTime must be an ISO-8601 instant or start/end interval with zone')
    const time = period.interval ? period.end : period.end + shift
    const periodMs = period.interval ? period.end - period.start : HOUR_MS
    const flags = [...valueFlags(series.quantity, entry.result), ...(series.calibrated ? ['calibrated'] : [])]
    page.observations.push({ station: series.station, source: 'samenmeten', quantity: series.quantity, value: entry.result, time, periodMs, flags })
  })
  return page
}

function parsePhenomenonTime(value: unknown): { start: number; end: number; interval: boolean } | undefined {
  if (typeof value !== 'string') return undefined
  const parts = value.split('/')
  const ms = parts.map((p) => {
    const parsed = parseIsoTimestamp(p)
    return parsed.ok ? parsed.ms : undefined
  })
  const [start, end] = ms
  if (parts.length === 1 && start !== undefined) return { start, end: start, interval: false }
  if (parts.length === 2 && start !== undefined && end !== undefined && end > start) return { start, end, interval: true }
  return undefined
}

/** OData query string with the `$` of the option names kept literal (as RIVM's own client sends them) and values percent-encoded. */
function odataQuery(options: Record<string, string>): string {
  return Object.entries(options).map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&')
}

/** `samenmeten:<thing id>` or `samenmeten:datastream:<datastream id>` → its parts; undefined for anything else. */
export function parseSamenMetenStation(station: string): { kind: 'thing' | 'datastream'; id: string } | undefined {
  const m = /^samenmeten:(datastream:)?(\d+)$/.exec(station)
  return m ? { kind: m[1] ? 'datastream' : 'thing', id: m[2]! } : undefined
}

/** ObservedProperty name → quantity and whether it is the calibrated `_kal` series; undefined when unmapped. */
export function samenMetenProperty(name: string): { quantity: Quantity; calibrated: boolean } | undefined {
  const calibrated = name.endsWith('_kal')
  const quantity = SAMENMETEN_PROPERTIES[calibrated ? name.slice(0, -4) : name]
  return quantity === undefined ? undefined : { quantity, calibrated }
}

/**
 * ReferenceSource for RIVM Samen Meten (SensorThings API).
 *
 * Station ids: `samenmeten:<Thing @iot.id>` (a sensor kit; the Datastream observing the quantity is looked up
 * through `/Things(id)/Datastreams?$expand=ObservedProperty`, the `_kal` one first unless preferCalibrated is
 * false) or `samenmeten:datastream:<Datastream @iot.id>` (one series; its `/Datastreams(id)/ObservedProperty`
 * must match the quantity asked for). Observations: per window of at most one week,
 * `/Datastreams(id)/Observations?$filter=phenomenonTime ge '…' and phenomenonTime lt '…'&$orderby=phenomenonTime`,
 * following `@iot.nextLink` until it is absent. stations(): the Things matching `thingFilter` with their
 * Locations (GeoJSON [lon, lat]) and datastream properties.
 *
 * Errors: RefusedError for a malformed station id, a datastream observing another property, a Thing without
 * a datastream for the quantity, a 4xx; UnavailableError once retries are used up.
 */
export class SamenMetenSource implements ReferenceSource {
  readonly name = 'samenmeten' as const
  readonly http: ReferenceHttp
  private readonly logger: Logger

  constructor(
    readonly baseUrl: string = SAMENMETEN_BASE_URL,
    private readonly options: SamenMetenOptions,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
    this.http = new ReferenceHttp('samenmeten', options)
    this.logger = options.logger.child({ component: 'reference', source: 'samenmeten' })
  }

  async stations(): Promise<ReferenceStation[]> {
    const filter = this.options.thingFilter === undefined ? SAMENMETEN_ZWOLLE_FILTER : this.options.thingFilter
    const url = `${this.baseUrl}/Things?${odataQuery({ ...(filter === null ? {} : { $filter: filter }), $expand: 'Locations,Datastreams/ObservedProperty' })}`
    const stations: ReferenceStation[] = []
    for (const thing of await this.collect(url, { kind: 'metadata' })) {
      const location = Array.isArray(thing.Locations) && isRecord(thing.Locations[0]) ? thing.Locations[0].location : undefined
      const [lon, lat] = isRecord(location) && Array.isArray(location.coordinates) ? location.coordinates : []
      if (typeof thing['@iot.id'] !== 'number' || typeof lon !== 'number' || typeof lat !== 'number') continue
      const quantities = new Set<Quantity>()
      for (const ds of Array.isArray(thing.Datastreams) ? thing.Datastreams : []) {
        const property = isRecord(ds) && isRecord(ds.ObservedProperty) && typeof ds.ObservedProperty.name === 'string' ? samenMetenProperty(ds.ObservedProperty.name) : undefined
        if (property) quantities.add(property.quantity)
      }
      const id = `samenmeten:${thing['@iot.id']}`
      stations.push({ id, source: 'samenmeten', name: typeof thing.name === 'string' ? thing.name : id, lat, lon, quantities: [...quantities] })
    }
    return stations
  }

  async observations(query: ReferenceQuery): Promise<ReferenceObservation[]> {
    const served = Object.values(SAMENMETEN_PROPERTIES)
    if (!served.includes(query.quantity)) throw new RefusedError(`samenmeten has no ${query.quantity} mapped; it serves ${served.join(', ')}`)
    const station = parseSamenMetenStation(query.station)
    if (station === undefined) throw new RefusedError(`samenmeten station ids are samenmeten:<thing id> or samenmeten:datastream:<id>, got '${query.station}'`)
    const { datastream, calibrated } = station.kind === 'datastream' ? await this.checkDatastream(station.id, query.quantity) : await this.findDatastream(station.id, query.quantity)
    const shift = (this.options.phenomenonTime ?? 'end') === 'start' ? HOUR_MS : 0
    const found: ReferenceObservation[] = []
    for (const window of splitWindows(query.from, query.to)) {
      const iso = (ms: number) => `'${new Date(ms - shift).toISOString()}'`
      const filter = `phenomenonTime ge ${iso(window.from)} and phenomenonTime lt ${iso(window.to)}`
      let next: string | undefined = `${this.baseUrl}/Datastreams(${datastream})/Observations?${odataQuery({ $filter: filter, $orderby: 'phenomenonTime' })}`
      for (let page = 1; next !== undefined && page <= 10_000; page++) {
        const parsed = parseSamenMetenObservations(await this.http.text({ method: 'GET', url: next }, { kind: 'window', windowEnd: window.to }), {
          station: query.station,
          quantity: query.quantity,
          calibrated,
          phenomenonTime: this.options.phenomenonTime,
        })
        this.report(parsed.problems, `observations of datastream ${datastream}`)
        found.push(...parsed.observations.filter((o) => o.time >= window.from && o.time < window.to))
        next = parsed.nextLink
      }
    }
    return selectObservations(found, query)
  }

  /** A datastream id must observe `quantity`; returns whether it is the calibrated series. */
  private async checkDatastream(id: string, quantity: Quantity): Promise<{ datastream: string; calibrated: boolean }> {
    const json = parseJsonText(await this.http.text({ method: 'GET', url: `${this.baseUrl}/Datastreams(${id})/ObservedProperty` }, { kind: 'metadata' }))
    const name = json.ok && isRecord(json.value) && typeof json.value.name === 'string' ? json.value.name : undefined
    const property = name === undefined ? undefined : samenMetenProperty(name)
    if (property?.quantity !== quantity) throw new RefusedError(`samenmeten datastream ${id} observes '${name ?? 'unknown'}', not ${quantity}`)
    return { datastream: id, calibrated: property.calibrated }
  }

  private async findDatastream(thing: string, quantity: Quantity): Promise<{ datastream: string; calibrated: boolean }> {
    const url = `${this.baseUrl}/Things(${thing})/Datastreams?$expand=ObservedProperty`
    const candidates: Array<{ datastream: string; calibrated: boolean }> = []
    for (const ds of await this.collect(url, { kind: 'metadata' })) {
      const name = isRecord(ds.ObservedProperty) && typeof ds.ObservedProperty.name === 'string' ? ds.ObservedProperty.name : undefined
      const property = name === undefined ? undefined : samenMetenProperty(name)
      if (property?.quantity === quantity && (typeof ds['@iot.id'] === 'number' || typeof ds['@iot.id'] === 'string')) {
        candidates.push({ datastream: String(ds['@iot.id']), calibrated: property.calibrated })
      }
    }
    const preferCalibrated = this.options.preferCalibrated ?? true
    const chosen = candidates.find((c) => c.calibrated === preferCalibrated) ?? candidates[0]
    if (chosen === undefined) throw new RefusedError(`samenmeten thing ${thing} has no datastream for ${quantity}`)
    return chosen
  }

  /** Every entity of a collection, following `@iot.nextLink`. */
  private async collect(url: string, policy: CachePolicy): Promise<Array<Record<string, unknown>>> {
    const entities: Array<Record<string, unknown>> = []
    let next: string | undefined = url
    for (let page = 1; next !== undefined && page <= 10_000; page++) {
      const json = parseJsonText(await this.http.text({ method: 'GET', url: next }, policy))
      if (!json.ok || !isRecord(json.value) || !Array.isArray(json.value.value)) throw new RefusedError(`samenmeten: ${next} is not a SensorThings collection`)
      entities.push(...json.value.value.filter(isRecord))
      next = typeof json.value['@iot.nextLink'] === 'string' ? json.value['@iot.nextLink'] : undefined
    }
    return entities
  }

  private report(problems: ReferenceProblem[], what: string): void {
    if (problems.length) this.logger.warn({ problems: problems.slice(0, 5), count: problems.length }, `unreadable entries in ${what} skipped`)
  }
}
