import type { FixtureHandler, FixtureResponse } from './fixture-server.ts'
import { KNMI_TEXT, LML_EMPTY_TEXT, LML_PAGE2, SM_OBSERVATIONS, type LmlRecord } from './fixtures.ts'

/**
 * Local stand-ins for the three reference APIs, serving the real fixture responses. Everything that is NOT
 * real data is marked SYNTHETIC below; it exists only to exercise a branch the real excerpts do not contain
 * (a null value, a negative PM value, station metadata).
 */
const HOUR = 3_600_000
const json = (value: unknown, status = 200): FixtureResponse => ({ status, body: JSON.stringify(value) })
const notFound = (what: string): FixtureResponse => ({ status: 404, contentType: 'text/plain', body: `not found: ${what}` })

// ---------------------------------------------------------------- Luchtmeetnet (base path /open_api)

/**
 * Paging: the 49 real NL49012 records of the page-2 excerpt are split here into two pages, records 1–25 and
 * 26–49, in their original order. Page 2 carries the fixture's verbatim `pagination` object (page 2 of 2);
 * page 1's pagination object is made up in the same shape. Each page is then filtered by `formula` and by
 * start ≤ timestamp_measured ≤ end. When nothing matches, the real empty response is served verbatim.
 */
const LML_PAGES: LmlRecord[][] = [LML_PAGE2.data.slice(0, 25), LML_PAGE2.data.slice(25)]
const LML_PAGE1_PAGINATION = { last_page: 2, first_page: 1, prev_page: 1, current_page: 1, page_list: [1, 2], next_page: 2 }
/** SYNTHETIC station NL00001: the real NL49012 PM25 records, with the 18:00Z value set to −0.5 and the 17:00Z one to null. */
const LML_VARIANT: LmlRecord[] = LML_PAGE2.data
  .filter((r) => r.formula === 'PM25')
  .map((r) => ({
    ...r,
    station_number: 'NL00001',
    value: r.timestamp_measured.startsWith('2026-02-10T18') ? -0.5 : r.timestamp_measured.startsWith('2026-02-10T17') ? null : r.value,
  }))
/** SYNTHETIC station metadata (coordinates from the research snapshot; components made up for the test). */
const LML_STATIONS: Record<string, { location: string; lon: number; lat: number; components: string[] }> = {
  NL10818: { location: 'Barsbeek-De Veenen', lon: 6.017571, lat: 52.654144, components: ['NO2', 'O3', 'PM10'] },
  NL10807: { location: 'Hellendoorn-Luttenbergerweg', lon: 6.402919, lat: 52.38833, components: ['NO2', 'PM10', 'PM25'] },
  NL10617: { location: 'Biddinghuizen-Kuilweg', lon: 5.59338, lat: 52.423214, components: ['PM10', 'PM25'] },
}

const utc = (text: string | null): number => (text === null ? NaN : Date.parse(`${text}Z`))

export const luchtmeetnetHandler: FixtureHandler = (request) => {
  if (request.path === '/open_api/stations') {
    const page = Number(request.query.get('page') ?? '1')
    const ids = page === 1 ? ['NL10818', 'NL10807'] : page === 2 ? ['NL10617'] : []
    return json({ pagination: { last_page: 2, current_page: page }, data: ids.map((id) => ({ number: id, location: LML_STATIONS[id]!.location })) })
  }
  const station = /^\/open_api\/stations\/(NL\d+)$/.exec(request.path)?.[1]
  if (station !== undefined) {
    const s = LML_STATIONS[station]
    return s ? json({ data: { location: s.location, components: s.components, geometry: { type: 'point', coordinates: [s.lon, s.lat] } } }) : notFound(station)
  }
  if (request.path !== '/open_api/measurements') return notFound(request.path)
  const start = utc(request.query.get('start'))
  const end = utc(request.query.get('end'))
  const formula = request.query.get('formula')
  const page = Number(request.query.get('page') ?? '1')
  const keep = (r: LmlRecord) => r.station_number === request.query.get('station_number') && (formula === null || r.formula === formula) && Date.parse(r.timestamp_measured) >= start && Date.parse(r.timestamp_measured) <= end
  const pages = request.query.get('station_number') === 'NL00001' ? [LML_VARIANT] : LML_PAGES
  if (!pages.some((p) => p.some(keep)) || page < 1 || page > pages.length) return { body: LML_EMPTY_TEXT }
  const pagination = pages.length === 1 ? { ...LML_PAGE1_PAGINATION, last_page: 1, page_list: [1], next_page: 1 } : page === 2 ? LML_PAGE2.pagination : LML_PAGE1_PAGINATION
  return json({ pagination, data: pages[page - 1]!.filter(keep) })
}

// ---------------------------------------------------------------- KNMI (POST /klimatologie/uurgegevens)

const KNMI_LINES = KNMI_TEXT.split('\r\n')
const KNMI_DATA_START = KNMI_LINES.findIndex((l) => /^\s*260,/.test(l))
/** The real header block (source text, legend, column line, blank line), verbatim with CRLF. */
const KNMI_HEADER = KNMI_LINES.slice(0, KNMI_DATA_START)
const KNMI_ROWS = KNMI_LINES.slice(KNMI_DATA_START).filter((l) => l.trim() !== '')
/** SYNTHETIC station 999: the real 260 rows renamed, with T blanked in hour 20000101 HH 3. */
const KNMI_VARIANT_ROWS = KNMI_ROWS.map((row) => {
  const fields = row.replace('260,', '999,').split(',')
  if (fields[1] === '20000101' && fields[2]!.trim() === '3') fields[7] = ' '.repeat(fields[7]!.length)
  return fields.join(',')
})
const knmiHourEnd = (code: string): number => Date.UTC(Number(code.slice(0, 4)), Number(code.slice(4, 6)) - 1, Number(code.slice(6, 8))) + Number(code.slice(8, 10)) * HOUR

export const knmiHandler: FixtureHandler = (request) => {
  if (request.method !== 'POST' || request.path !== '/klimatologie/uurgegevens') return notFound(`${request.method} ${request.path}`)
  const form = new URLSearchParams(request.body)
  const [stns, start, end] = [form.get('stns'), form.get('start'), form.get('end')]
  if (!stns || !/^\d{10}$/.test(start ?? '') || !/^\d{10}$/.test(end ?? '')) return { status: 400, contentType: 'text/plain', body: 'bad parameters' }
  const rows = stns === '999' ? KNMI_VARIANT_ROWS : stns === '260' ? KNMI_ROWS : []
  const from = knmiHourEnd(start!)
  const to = knmiHourEnd(end!)
  const selected = rows.filter((row) => {
    const [, date, hh] = row.split(',').map((f) => f.trim())
    const t = knmiHourEnd(`${date}${hh!.padStart(2, '0')}`)
    return t >= from && t <= to
  })
  return { contentType: 'text/plain', body: [...KNMI_HEADER, ...selected, ''].join('\r\n') }
}

// ---------------------------------------------------------------- Samen Meten (base path /v1.0)

const SM_PAGE_SIZE = 20
/**
 * Datastream 2819: the 31 real observations (hourly, 2019-09-09T00Z…2019-09-10T06Z), filtered by the
 * `$filter` bounds, served 20 per page with an `@iot.nextLink` ($skip) on every page but the last.
 * SYNTHETIC: its ObservedProperty (`pm25`: the fixture does not say which property 2819 is); datastream 9001
 * (`pm25_kal`) = the same observations with [2] set to null and [5] to −0.5; Thing 77 with both datastreams.
 */
const SM_SERIES: Record<string, { property: string; observations: Array<Record<string, unknown>> }> = {
  '2819': { property: 'pm25', observations: SM_OBSERVATIONS },
  '9001': { property: 'pm25_kal', observations: SM_OBSERVATIONS.map((o, i) => (i === 2 ? { ...o, result: null } : i === 5 ? { ...o, result: -0.5 } : o)) },
}
const SM_THING_DATASTREAMS = [
  { '@iot.id': 2819, name: 'LTD_TEST-pm25', ObservedProperty: { '@iot.id': 2, name: 'pm25' } },
  { '@iot.id': 9001, name: 'LTD_TEST-pm25_kal', ObservedProperty: { '@iot.id': 3, name: 'pm25_kal' } },
]

export const samenMetenHandler: FixtureHandler = (request, origin) => {
  if (request.path === '/v1.0/Things') {
    return json({ value: [{ '@iot.id': 77, name: 'LTD_TEST', Locations: [{ location: { type: 'Point', coordinates: [6.07, 52.54] } }], Datastreams: SM_THING_DATASTREAMS }] })
  }
  if (request.path === '/v1.0/Things(77)/Datastreams') return json({ value: SM_THING_DATASTREAMS })
  const property = /^\/v1\.0\/Datastreams\((\d+)\)\/ObservedProperty$/.exec(request.path)?.[1]
  if (property !== undefined) return SM_SERIES[property] ? json({ '@iot.id': 2, name: SM_SERIES[property].property, description: 'synthetic' }) : notFound(property)
  const id = /^\/v1\.0\/Datastreams\((\d+)\)\/Observations$/.exec(request.path)?.[1]
  if (id === undefined || SM_SERIES[id] === undefined) return notFound(request.path)
  const filter = request.query.get('$filter') ?? ''
  const bounds = /^phenomenonTime ge '([^']+)' and phenomenonTime lt '([^']+)'$/.exec(filter)
  if (!bounds) return json({ message: `unsupported $filter: ${filter}` }, 400)
  const [ge, lt] = [Date.parse(bounds[1]!), Date.parse(bounds[2]!)]
  const all = SM_SERIES[id].observations.filter((o) => Date.parse(o.phenomenonTime as string) >= ge && Date.parse(o.phenomenonTime as string) < lt)
  const skip = Number(request.query.get('$skip') ?? '0')
  const value = all.slice(skip, skip + SM_PAGE_SIZE)
  if (skip + SM_PAGE_SIZE >= all.length) return json({ value })
  const next = new URL(`${origin}/v1.0/Datastreams(${id})/Observations`)
  next.searchParams.set('$filter', filter)
  next.searchParams.set('$orderby', 'phenomenonTime')
  next.searchParams.set('$skip', String(skip + SM_PAGE_SIZE))
  return json({ '@iot.nextLink': next.toString(), value })
}
