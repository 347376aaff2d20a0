import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { ReadingsResponseSchema } from '../../services/api/routes/readings.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'

/**
 * GET /api/v1/readings against the real InfluxDB: a known set (2 garden devices × 24 h of 10-minute readings,
 * 2024-01-15T12:00Z … 2024-01-16T12:00Z, winter: Amsterdam is UTC+1, so its days start at 23:00Z) and every
 * expected number computed here from the input readings, independently of the API's code.
 */
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const START = Date.UTC(2024, 0, 15, 12)
const END = START + DAY
const N = 144

const tempA = (i: number) => (i % 37) * 0.25 - 2
const tempB = (i: number) => 10 + ((i * 7) % 23) * 0.5
const pmA = (i: number) => 5 + (i % 11) * 1.5
const calA = (i: number) => (i % 2 === 0 ? pmA(i) * 0.5 : undefined)

interface Input { device: string; time: number; value: number; calibrated?: number }
const temps: Input[] = []
const pms: Input[] = []
for (let i = 0; i < N; i++) {
  temps.push({ device: 'g-a', time: START + i * 10 * MIN, value: tempA(i) }, { device: 'g-b', time: START + i * 10 * MIN, value: tempB(i) })
  pms.push({ device: 'g-a', time: START + i * 10 * MIN, value: pmA(i), ...(calA(i) === undefined ? {} : { calibrated: calA(i)! }) })
}

// hourly readings over the spring-forward day 2024-03-31 (Amsterdam: 23 hours, 2024-03-30T23:00Z … 2024-03-31T22:00Z)
const DST_START = Date.UTC(2024, 2, 30, 12)

const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})

/** Window start of `t`: UTC hours, UTC days, or Amsterdam winter days (start 23:00Z). */
const windowStart = {
  '1h': (t: number) => Math.floor(t / HOUR) * HOUR,
  '1d': (t: number) => Math.floor(t / DAY) * DAY,
  '1d-ams': (t: number) => Math.floor((t + HOUR) / DAY) * DAY - HOUR,
}

function expectedWindows(input: Input[], start: (t: number) => number, key: (r: Input) => string = (r) => r.device) {
  const groups = new Map<string, { time: number; device: string; values: number[] }>()
  for (const r of input) {
    const time = start(r.time)
    const id = `${time}|${key(r)}`
    if (!groups.has(id)) groups.set(id, { time, device: key(r), values: [] })
    groups.get(id)!.values.push(r.value)
  }
  return [...groups.values()]
    .sort((a, b) => a.time - b.time || (a.device < b.device ? -1 : 1))
    .map((g) => ({ time: new Date(g.time).toISOString(), device: g.device, mean: g.values.reduce((s, v) => s + v, 0) / g.values.length, min: Math.min(...g.values), max: Math.max(...g.values), count: g.values.length }))
}

function expectRowsClose(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>) {
  expect(actual.map((r) => [r.time, r.device, r.min, r.max, r.count])).toEqual(expected.map((r) => [r.time, r.device, r.min, r.max, r.count]))
  actual.forEach((r, i) => expect(r.mean as number).toBeCloseTo(expected[i]!.mean as number, 9))
}

describe('GET /api/v1/readings', () => {
  const database = uniqueId('api_readings')
  let store: InfluxReadingStore
  let app: FastifyInstance
  const get = async (query: string) => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/readings?${query}` })
    return { status: response.statusCode, type: response.headers['content-type'], link: response.headers.link as string | undefined, body: response.body, json: () => JSON.parse(response.body) }
  }
  const range = `from=${new Date(START).toISOString()}&to=${new Date(END).toISOString()}`

  beforeAll(async () => {
    const logger = createLogger('silent')
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    await store.write({
      readings: [
        ...temps.map((r) => reading(r.device, 'air_temperature', r.time, r.value)),
        ...pms.map((r) => reading(r.device, 'pm2_5', r.time, r.value)),
        reading('g-other', 'air_temperature', START, 99), // a public device of another neighbourhood
        ...Array.from({ length: 60 }, (_, i) => reading('g-other', 'relative_humidity', DST_START + i * HOUR, i)),
      ],
      rejections: [],
    })
    await store.writeLines(pms.filter((r) => r.calibrated !== undefined).map((r) => `reading,device=${r.device},quantity=pm2_5 calibrated=${r.calibrated},calibration_method="pm-group-ratio",calibration_version="t" ${r.time}`))
    const registry = parseRegistry(
      {
        neighbourhoods: [
          { id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } },
          { id: 'elders', name: 'Elders', municipality: 'Zwolle', center: { lat: 52.5, lon: 6.1 } },
        ],
        devices: [
          { id: 'g-a', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
          { id: 'g-b', neighbourhood: 'wijk', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
          { id: 'g-other', neighbourhood: 'elders', consent: true, location: { lat: 52.5, lon: 6.1 } },
        ],
      },
      'test',
    )
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000 }, registry: { path: '' }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store, registry, logger, publicDir: '/nonexistent' })
  })
  afterAll(async () => {
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
  })

  it('returns the raw readings of one device, oldest first, as JSON and CSV', async () => {
    const json = await get(`device=g-a&quantity=air_temperature&${range}`)
    expect(json.status).toBe(200)
    const body = ReadingsResponseSchema.parse(json.json())
    expect(body).toMatchObject({ device: 'g-a', neighbourhood: null, quantity: 'air_temperature', unit: '°C', series: 'raw', window: null, next: null, columns: ['time', 'device', 'quantity', 'unit', 'value', 'uncertainty', 'label', 'flags'] })
    // a raw value says uncalibrated, with no uncertainty
    const expected = temps.filter((r) => r.device === 'g-a').map((r) => ({ time: new Date(r.time).toISOString(), device: 'g-a', quantity: 'air_temperature', unit: '°C', value: r.value, uncertainty: null, label: 'uncalibrated', flags: [] }))
    expect(body.rows).toEqual(expected)
    const csv = await get(`device=g-a&quantity=air_temperature&${range}&format=csv`)
    expect(csv.type).toBe('text/csv; charset=utf-8')
    expect(csv.body).toBe(['time,device,quantity,unit,value,uncertainty,label,flags', ...expected.map((r) => `${r.time},g-a,air_temperature,°C,${r.value},,uncalibrated,`)].join('\n') + '\n')
  })

  it('gives raw, calibrated (only readings that have one) or both', async () => {
    const calibrated = (await get(`device=g-a&quantity=pm2_5&${range}&series=calibrated`)).json()
    // points calibrated without a stored uncertainty or label (before calibrated_u): not assessed, experimental
    expect(calibrated.rows).toEqual(pms.filter((r) => r.calibrated !== undefined).map((r) => ({ time: new Date(r.time).toISOString(), device: 'g-a', quantity: 'pm2_5', unit: 'µg/m³', value: r.calibrated, uncertainty: null, label: 'experimental', flags: [] })))
    const both = (await get(`device=g-a&quantity=pm2_5&${range}&series=both&limit=3`)).json()
    expect(both.columns).toEqual(['time', 'device', 'quantity', 'unit', 'raw', 'calibrated', 'uncertainty', 'label', 'flags'])
    expect(both.rows).toEqual([0, 1, 2].map((i) => ({ time: new Date(START + i * 10 * MIN).toISOString(), device: 'g-a', quantity: 'pm2_5', unit: 'µg/m³', raw: pmA(i), calibrated: calA(i) ?? null, uncertainty: null, label: calA(i) === undefined ? 'uncalibrated' : 'experimental', flags: [] })))
    const csv = await get(`device=g-a&quantity=pm2_5&${range}&series=both&limit=2&format=csv`)
    expect(csv.body).toBe(`time,device,quantity,unit,raw,calibrated,uncertainty,label,flags\n${new Date(START).toISOString()},g-a,pm2_5,µg/m³,5,2.5,,experimental,\n${new Date(START + 10 * MIN).toISOString()},g-a,pm2_5,µg/m³,6.5,,,uncalibrated,\n`)
  })

  it('aggregates per hour and per UTC day exactly as computed from the input', async () => {
    const hourly = ReadingsResponseSchema.parse((await get(`neighbourhood=wijk&quantity=air_temperature&${range}&window=1h`)).json())
    expect(hourly.columns).toEqual(['time', 'device', 'quantity', 'unit', 'mean', 'min', 'max', 'count', 'uncertainty', 'label', 'expected', 'completeness', 'partial'])
    expect(new Set(hourly.rows.map((r) => `${(r as { label: string }).label}|${(r as { uncertainty: null }).uncertainty}`))).toEqual(new Set(['uncalibrated|null']))
    expectRowsClose(hourly.rows, expectedWindows(temps, windowStart['1h']))
    expect(hourly.rows).toHaveLength(48)
    // 10-minute readings: 6 expected per hour, every hour whole and inside the range
    expect(new Set(hourly.rows.map((r) => JSON.stringify([r.unit, (r as { expected: number }).expected, (r as { completeness: number }).completeness, (r as { partial: boolean }).partial])))).toEqual(new Set([JSON.stringify(['°C', 6, 1, false])]))
    const daily = (await get(`device=g-b&quantity=air_temperature&${range}&window=1d`)).json()
    expect(daily.tz).toBe('UTC')
    expectRowsClose(daily.rows, expectedWindows(temps.filter((r) => r.device === 'g-b'), windowStart['1d']))
    expect(daily.rows.map((r: { time: string; count: number }) => [r.time, r.count])).toEqual([['2024-01-15T00:00:00.000Z', 72], ['2024-01-16T00:00:00.000Z', 72]])
  })

  it('follows local days with tz=Europe/Amsterdam: in winter the day starts at 23:00Z', async () => {
    const body = (await get(`neighbourhood=wijk&quantity=air_temperature&${range}&window=1d&tz=Europe/Amsterdam`)).json()
    expect(body.tz).toBe('Europe/Amsterdam')
    const expected = expectedWindows(temps, windowStart['1d-ams'])
    expect(expected.map((r) => [r.time, r.count])).toEqual([['2024-01-14T23:00:00.000Z', 66], ['2024-01-14T23:00:00.000Z', 66], ['2024-01-15T23:00:00.000Z', 78], ['2024-01-15T23:00:00.000Z', 78]])
    expectRowsClose(body.rows, expected)
    // the neighbourhood aggregate: each garden counts once (here both have 66 and 78 readings, so it is also the pooled mean)
    expectRowsClose(body.aggregate, expectedWindows(temps, windowStart['1d-ams'], () => 'neighbourhood:wijk'))
  })

  it('follows a 23-hour local day at the daylight-saving change', async () => {
    const boundaries = [Date.UTC(2024, 2, 29, 23), Date.UTC(2024, 2, 30, 23), Date.UTC(2024, 2, 31, 22), Date.UTC(2024, 3, 1, 22)]
    const start = (t: number) => boundaries.filter((b) => b <= t).pop()!
    const input = Array.from({ length: 60 }, (_, i) => ({ device: 'g-other', time: DST_START + i * HOUR, value: i }))
    const query = `neighbourhood=elders&quantity=relative_humidity&from=2024-03-30T12:00:00Z&to=2024-04-02T00:00:00Z&window=1d&tz=Europe/Amsterdam`
    const body = (await get(query)).json()
    expect(body.rows.map((r: { count: number }) => r.count)).toEqual([11, 23, 24, 2])
    expectRowsClose(body.rows, expectedWindows(input, start))
    expectRowsClose(body.aggregate, expectedWindows(input, start, () => 'neighbourhood:elders'))
    expect(body.next).toBeNull()
    const first = (await get(`${query}&limit=2`)).json()
    const second = (await get(`${query}&limit=2&cursor=${first.next}`)).json()
    expect([...first.aggregate, ...second.aggregate].map((r: { time: string; count: number }) => [r.time, r.count])).toEqual(
      expectedWindows(input, start).map((r) => [r.time, r.count]),
    )
  })

  it('aggregates calibrated values, and both series side by side', async () => {
    const calibratedInput = pms.filter((r) => r.calibrated !== undefined).map((r) => ({ ...r, value: r.calibrated! }))
    const calibrated = (await get(`device=g-a&quantity=pm2_5&${range}&window=1d&series=calibrated`)).json()
    expectRowsClose(calibrated.rows, expectedWindows(calibratedInput, windowStart['1d']))
    const both = (await get(`device=g-a&quantity=pm2_5&${range}&window=1d&series=both&format=csv`)).body.trim().split('\n')
    expect(both[0]).toBe('time,device,quantity,unit,raw_mean,raw_min,raw_max,raw_count,calibrated_mean,calibrated_min,calibrated_max,calibrated_count,uncertainty,label,expected,completeness,partial')
    // calibrated without a stored label or uncertainty: experimental, not assessed (window-quality.ts windowCalibration)
    expect(calibrated.rows.map((r: { label: string; uncertainty: number | null }) => [r.label, r.uncertainty])).toEqual([['experimental', null], ['experimental', null]])
    const raw = expectedWindows(pms, windowStart['1d'])
    const cal = expectedWindows(calibratedInput, windowStart['1d'])
    both.slice(1).forEach((line, i) => {
      const cells = line.split(',')
      expect(cells.slice(0, 4)).toEqual([raw[i]!.time, 'g-a', 'pm2_5', 'µg/m³'])
      expect(Number(cells[4])).toBeCloseTo(raw[i]!.mean, 9)
      expect(cells.slice(5, 8).map(Number)).toEqual([raw[i]!.min, raw[i]!.max, raw[i]!.count])
      expect(Number(cells[8])).toBeCloseTo(cal[i]!.mean, 9)
      expect(cells.slice(9, 12).map(Number)).toEqual([cal[i]!.min, cal[i]!.max, cal[i]!.count])
      // 12:00Z to 12:00Z: both UTC days are cut by the range; 72 of the 144 expected 10-minute readings each
      expect(cells.slice(12)).toEqual(['', 'experimental', '72', '1', 'true'])
    })
  })

  it('pages with limit and an opaque cursor: next in the body, Link header, nothing lost or repeated', async () => {
    const all = temps.map((r) => `${new Date(r.time).toISOString()}|${r.device}|${r.value}`)
    const seen: string[] = []
    let url = `neighbourhood=wijk&quantity=air_temperature&${range}&limit=5`
    for (let pages = 0; pages < 100; pages++) {
      const page = await get(url)
      const body = page.json()
      expect(body.rows.length).toBeLessThanOrEqual(5)
      seen.push(...body.rows.map((r: { time: string; device: string; value: number }) => `${r.time}|${r.device}|${r.value}`))
      if (body.next === null) {
        expect(page.link).toBe('<https://creativecommons.org/licenses/by/4.0/>; rel="license"; title="CC-BY-4.0"')
        break
      }
      expect(page.link).toBe(`</api/v1/readings?${new URLSearchParams(url).toString().replace(/&cursor=[^&]*/, '')}&cursor=${body.next}>; rel="next", <https://creativecommons.org/licenses/by/4.0/>; rel="license"; title="CC-BY-4.0"`)
      url = page.link!.slice('</api/v1/readings?'.length, page.link!.indexOf('>'))
    }
    expect(seen).toEqual(all)
  })

  it('pages window aggregates and sends each neighbourhood aggregate exactly once (CSV too)', async () => {
    const rows: string[] = []
    const aggregate: string[] = []
    let url = `neighbourhood=wijk&quantity=air_temperature&${range}&window=1h&limit=5`
    while (url) {
      const body = (await get(url)).json()
      rows.push(...body.rows.map((r: { time: string; device: string; count: number }) => `${r.time}|${r.device}|${r.count}`))
      aggregate.push(...body.aggregate.map((r: { time: string; count: number }) => `${r.time}|${r.count}`))
      url = body.next === null ? '' : `${url.replace(/&cursor=.*$/, '')}&cursor=${body.next}`
    }
    expect(rows).toEqual(expectedWindows(temps, windowStart['1h']).map((r) => `${r.time}|${r.device}|${r.count}`))
    expect(aggregate).toEqual(expectedWindows(temps, windowStart['1h'], () => 'n').map((r) => `${r.time}|${r.count}`))
    const csv = await get(`neighbourhood=wijk&quantity=air_temperature&${range}&window=1h&limit=3&format=csv`)
    expect(csv.body.split('\n').slice(0, 5)).toEqual([
      'time,device,quantity,unit,mean,min,max,count,uncertainty,label,expected,completeness,partial',
      // pooled: 2 gardens × 6 readings expected in the hour
      expect.stringMatching(/^2024-01-15T12:00:00.000Z,neighbourhood:wijk,air_temperature,°C,[\d.]+,-?[\d.]+,[\d.]+,12,,uncalibrated,12,1,false$/),
      expect.stringMatching(/^2024-01-15T12:00:00.000Z,g-a,/),
      expect.stringMatching(/^2024-01-15T12:00:00.000Z,g-b,/),
      expect.stringMatching(/^2024-01-15T13:00:00.000Z,neighbourhood:wijk,/), // the aggregate comes before its window's device rows
    ])
    expect(csv.link).toMatch(/^<\/api\/v1\/readings\?.*&cursor=[A-Za-z0-9_-]+>; rel="next", <https:\/\/creativecommons.org\/licenses\/by\/4.0\/>; rel="license"; title="CC-BY-4.0"$/)
  })

  it('keeps neighbourhoods apart', async () => {
    const body = (await get(`neighbourhood=elders&quantity=air_temperature&${range}`)).json()
    expect(body.rows).toEqual([{ time: new Date(START).toISOString(), device: 'g-other', quantity: 'air_temperature', unit: '°C', value: 99, uncertainty: null, label: 'uncalibrated', flags: [] }])
  })

  it.each([
    ['device=g-a&quantity=humidity', 'quantity', /unknown quantity 'humidity'; one of air_temperature/],
    ['device=g-a&quantity=pm2_5&from=yesterday', 'from', /'yesterday' must be an ISO-8601 date-time/],
    ['device=g-a&quantity=pm2_5&from=2024-01-15T10:00:00', 'from', /must carry a zone/],
    ['device=g-a&quantity=pm2_5&from=2024-01-16&to=2024-01-15', 'to', /must be after from/],
    ['device=g-a&quantity=pm2_5&from=2024-01-16&to=2024-01-16', 'to', /must be after from/],
    ['device=g-a&quantity=pm2_5&window=2h', 'window', /Invalid option/],
    ['device=g-a&quantity=pm2_5&window=1h&tz=Europe/Zwolle', 'tz', /not an IANA time zone/],
    ['device=g-a&quantity=pm2_5&limit=0', 'limit', /Too small/],
    ['device=g-a&quantity=pm2_5&limit=100001', 'limit', /Too big/],
    ['device=g-a&quantity=pm2_5&cursor=bm90LWEtY3Vyc29y', 'cursor', /not a cursor from this API/],
    ['device=g-a&quantity=pm2_5&format=xml', 'format', /Invalid option/],
    ['quantity=pm2_5', 'device', /exactly one of device and neighbourhood/],
    ['device=g-a&neighbourhood=wijk&quantity=pm2_5', 'device', /exactly one of device and neighbourhood/],
    ['device=bad%20id&quantity=pm2_5', 'device', /device id must be/],
    ['device=g-a&quantity=pm2_5&form=2024-01-15', 'form', /unknown parameter; this endpoint takes device, neighbourhood, quantity, from, to/],
    ['device=g-a&quantity=pm2_5&from=-99999999999999999d', 'from', /outside the storable times/],
    ['device=g-a&quantity=pm2_5&to=99999999999999999', 'to', /must be an ISO-8601|epoch milliseconds/],
    ['device=g-a&quantity=pm2_5&from=9999999999999999', 'from', /outside the storable times/],
    [`device=g-a&quantity=pm2_5&cursor=${Buffer.from(JSON.stringify({ t: 9007199254740991, d: 'g-a' })).toString('base64url')}`, 'cursor', /not a cursor from this API/],
    ['device=g-a&quantity=pm2_5&window=1h&include_flags=saturatd', 'include_flags', /unknown flag 'saturatd'; one of implausible, saturated/],
    ['device=g-a&quantity=pm2_5&format=csv&sep=tab', 'sep', /Invalid option/],
  ])('400 problem naming the parameter: %s', async (query, name, reason) => {
    const response = await get(query)
    expect(response.status).toBe(400)
    expect(response.type).toBe('application/problem+json; charset=utf-8')
    const problem = response.json()
    expect(problem).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400, instance: '/api/v1/readings' })
    expect(problem['invalid-params'].map((p: { name: string }) => p.name)).toEqual([name])
    expect(problem['invalid-params'][0].reason).toMatch(reason)
  })

  it('404 for an unknown device or neighbourhood', async () => {
    for (const query of ['device=g-nope&quantity=pm2_5', 'neighbourhood=nowhere&quantity=pm2_5']) {
      const response = await get(query)
      expect(response.status).toBe(404)
      expect(response.json()).toMatchObject({ type: 'about:blank', title: 'Not Found', status: 404 })
    }
  })
})
