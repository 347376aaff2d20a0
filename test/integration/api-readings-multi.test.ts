import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { MAX_SERIES, ReadingsResponseSchema } from '../../services/api/routes/readings.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { testApiConfig } from '../helpers/api.ts'
import { INFLUX_URL, isolatedEnv, uniqueId } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * GET /api/v1/readings with several devices and quantities against the real InfluxDB. Three series:
 * m-a air_temperature and m-a pm2_5 every minute (the same times: rows tie on time), 120 readings each, and m-b
 * air_temperature every minute, offset 30 s for the first hour, then twice a minute (on the minute and 30 s
 * after), 180 readings; m-b has no pm2_5. In the second hour m-b has twice m-a's readings per window, so the
 * mean of the device means and the pooled mean of all readings differ (e.g. 8 against 9.98 °C).
 * Expected rows are built here from the input, independently of the API's code.
 */
const MIN = 60_000
const START = Date.UTC(2024, 1, 1)
const N = 120
const END = START + N * MIN

interface Input { time: number; device: string; quantity: Quantity; value: number }
const input: Input[] = []
for (let i = 0; i < N; i++) {
  input.push({ time: START + i * MIN, device: 'm-a', quantity: 'air_temperature', value: (i % 17) * 0.5 - 3 })
  input.push({ time: START + i * MIN, device: 'm-a', quantity: 'pm2_5', value: 4 + (i % 13) })
  input.push({ time: START + i * MIN + (i < N / 2 ? 30_000 : 0), device: 'm-b', quantity: 'air_temperature', value: 12 + (i % 7) * 0.25 })
  if (i >= N / 2) input.push({ time: START + i * MIN + 30_000, device: 'm-b', quantity: 'air_temperature', value: 14 + (i % 5) * 0.5 })
}
const RAW_ROWS = 420
const keyOf = (r: { time: string | number; device: string; quantity: string; value?: unknown }) => `${new Date(r.time).toISOString()}|${r.device}|${r.quantity}|${String(r.value)}`
// the API's order: time, then quantity, then device
const expectedRaw = [...input]
  .sort((a, b) => a.time - b.time || (a.quantity < b.quantity ? -1 : a.quantity > b.quantity ? 1 : 0) || (a.device < b.device ? -1 : 1))
  .map(keyOf)

const mean = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length

/**
 * 10-minute windows of each series: `time|device|quantity|count|mean`, in the API's order. The neighbourhood's
 * window (`neighbourhood`) counts each device once: the mean of the device means (README "Reading the data").
 */
function expectedWindows(neighbourhood: boolean): string[] {
  const groups = new Map<string, { time: number; device: string; quantity: string; byDevice: Map<string, number[]> }>()
  for (const r of input) {
    const time = Math.floor(r.time / (10 * MIN)) * 10 * MIN
    const device = neighbourhood ? 'neighbourhood:noord' : r.device
    const id = `${time}|${r.quantity}|${device}`
    if (!groups.has(id)) groups.set(id, { time, device, quantity: r.quantity, byDevice: new Map() })
    const values = groups.get(id)!.byDevice
    values.get(r.device)?.push(r.value) ?? values.set(r.device, [r.value])
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1)) // times are 13 digits: text order is (time, quantity, device)
    .map(([, g]) => {
      const perDevice = [...g.byDevice.values()]
      const count = perDevice.reduce((n, v) => n + v.length, 0)
      return `${new Date(g.time).toISOString()}|${g.device}|${g.quantity}|${count}|${mean(perDevice.map(mean)).toFixed(9)}`
    })
}

const reading = (r: Input): Reading => ({
  deviceId: r.device, quantity: r.quantity, value: r.value, unit: QUANTITIES[r.quantity].unit, observedAt: r.time, receivedAt: r.time, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})

describe('GET /api/v1/readings with several devices and quantities', () => {
  const database = uniqueId('api_multi')
  let store: InfluxReadingStore
  let app: FastifyInstance
  // senshagen query's registry: the same devices, m-private without consent
  let cliRegistry: TestRegistry
  const range = `from=${new Date(START).toISOString()}&to=${new Date(END).toISOString()}`
  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url })
    return { status: response.statusCode, link: response.headers.link as string | undefined, body: response.body, json: () => JSON.parse(response.body) }
  }
  /** Follows `next` from `query` to the last page; each page's body is handed to `take`. */
  async function everyPage(query: string, take: (body: Record<string, unknown> & { rows: Array<Record<string, unknown>> }) => void): Promise<number> {
    let url = `/api/v1/readings?${query}`
    let pages = 0
    for (; pages < 500 && url !== ''; pages++) {
      const page = await get(url)
      expect(page.status).toBe(200)
      const body = ReadingsResponseSchema.parse(page.json())
      take(body as never)
      url = body.next === null ? '' : page.link!.slice(1, page.link!.indexOf('>'))
    }
    expect(url).toBe('')
    return pages
  }

  beforeAll(async () => {
    const logger = createLogger('silent')
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    await store.write({ readings: input.map(reading), rejections: [] })
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'noord', name: 'Noord', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
        devices: [
          { id: 'm-a', neighbourhood: 'noord', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
          { id: 'm-b', neighbourhood: 'noord', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
          { id: 'm-private', neighbourhood: 'noord', consent: false, location: { lat: 52.53, lon: 6.06 } },
        ],
      },
      'test',
    )
    app = await buildApiServer({ config: testApiConfig(), store, registry, logger, publicDir: '/nonexistent' })
    cliRegistry = await testRegistry([
      { id: 'm-a', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
      { id: 'm-b', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
      { id: 'm-private', neighbourhood: 'stadshagen', consent: false },
    ])
  }, 60_000)
  afterAll(async () => {
    await cliRegistry?.close()
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
  })

  it('pages 420 raw rows of 3 series 7 at a time: every row exactly once, in (time, quantity, device) order', async () => {
    const seen: string[] = []
    const pages = await everyPage(`device=m-b,m-a&quantity=pm2_5,air_temperature&${range}&limit=7`, (body) => {
      expect(body.rows.length).toBeLessThanOrEqual(7)
      expect(body).toMatchObject({ device: null, devices: ['m-a', 'm-b'], quantity: null, quantities: ['pm2_5', 'air_temperature'], unit: null })
      seen.push(...body.rows.map((r) => keyOf(r as never)))
    })
    expect(seen).toHaveLength(RAW_ROWS)
    expect(seen).toEqual(expectedRaw)
    expect(pages).toBeGreaterThanOrEqual(RAW_ROWS / 7)
  })

  it('pages the same rows as CSV through the Link header, each line naming device, quantity and unit', async () => {
    const lines: string[] = []
    let url = `/api/v1/readings?device=m-a,m-b&quantity=air_temperature,pm2_5&${range}&limit=50&format=csv`
    while (url !== '') {
      const page = await get(url)
      const [header, ...rows] = page.body.trim().split('\n')
      expect(header).toBe('time,device,quantity,unit,value,uncertainty,label,flags')
      lines.push(...rows)
      const next = /^<([^>]+)>; rel="next"/.exec(page.link ?? '')
      url = next ? next[1]! : ''
    }
    expect(lines.map((l) => l.split(','))).toEqual(
      expectedRaw.map((k) => {
        const [time, device, quantity, value] = k.split('|')
        return [time, device, quantity, QUANTITIES[quantity as Quantity].unit, value, '', 'uncalibrated', '']
      }),
    )
  })

  it('pages 10-minute windows of 3 series 5 at a time, and a neighbourhood aggregate once per window and quantity', async () => {
    const rows: string[] = []
    const aggregate: string[] = []
    const format = (r: Record<string, unknown>) => `${r.time}|${r.device}|${r.quantity}|${r.count}|${(r.mean as number).toFixed(9)}`
    await everyPage(`neighbourhood=noord&quantity=pm2_5,air_temperature&${range}&window=10m&limit=5`, (body) => {
      expect(body.rows.length).toBeLessThanOrEqual(5)
      rows.push(...body.rows.map(format))
      aggregate.push(...(body.aggregate as Array<Record<string, unknown>>).map(format))
    })
    expect(rows).toEqual(expectedWindows(false))
    expect(rows).toHaveLength(36)
    expect(aggregate).toEqual(expectedWindows(true))
    expect(aggregate).toHaveLength(24)
    // 01:00–01:10 air_temperature: m-a 10 readings, mean 2.05; m-b 20 readings, mean 13.95. Each device once: 8;
    // pooling all 30 readings would give 9.98
    expect(aggregate).toContain(`${new Date(START + 60 * MIN).toISOString()}|neighbourhood:noord|air_temperature|30|${(8).toFixed(9)}`)
  })

  it('/now takes the mean of the device means as the windows do, not the pooled mean', async () => {
    // [01:00, 02:00): m-a 60 readings, mean 1.2333…; m-b 120 readings, mean 13.88125; pooled would be 9.665…
    const now = (await get(`/api/v1/neighbourhoods/noord/now?at=${new Date(END).toISOString()}`)).json()
    expect(now.quantities.air_temperature).toMatchObject({ series: 'raw', devices: 2, count: 180, label: 'uncalibrated', uncertainty: null })
    expect(now.quantities.air_temperature.value).toBeCloseTo((1.2333333333333334 + 13.88125) / 2, 9)
    const hour = (await get(`/api/v1/readings?neighbourhood=noord&quantity=air_temperature&from=${new Date(END - 60 * MIN).toISOString()}&to=${new Date(END).toISOString()}&window=1h`)).json()
    expect(hour.aggregate).toMatchObject([{ count: 180, mean: now.quantities.air_temperature.value }])
  })

  it('writes windowed CSV of two quantities with each neighbourhood row before the device rows of its window and quantity', async () => {
    const csv = await get(`/api/v1/readings?neighbourhood=noord&quantity=pm2_5,air_temperature&${range}&window=10m&format=csv`)
    const [header, ...lines] = csv.body.trim().split('\n')
    expect(header).toBe('time,device,quantity,unit,mean,min,max,count,uncertainty,label,expected,completeness,partial')
    const got = lines.map((l) => l.split(',')).map(([time, device, quantity, , mean, , , count]) => `${time}|${device}|${quantity}|${count}|${Number(mean).toFixed(9)}`)
    const pooledFirst = [...expectedWindows(true), ...expectedWindows(false)].sort((a, b) => {
      const [ta, da, qa] = a.split('|')
      const [tb, db, qb] = b.split('|')
      const rank = (d: string) => (d.startsWith('neighbourhood:') ? '' : d)
      return ta! < tb! ? -1 : ta! > tb! ? 1 : qa! < qb! ? -1 : qa! > qb! ? 1 : rank(da!) < rank(db!) ? -1 : 1
    })
    expect(got).toEqual(pooledFirst)
    expect(got).toHaveLength(60)
  })

  it('counts every series in the cost bound and caps the series one request may name', async () => {
    const hundred = Array.from({ length: 26 }, (_, i) => `m-${String(i).padStart(2, '0')}`).join(',')
    const capped = await get(`/api/v1/readings?device=${hundred}&quantity=pm2_5,pm10&${range}`)
    expect(capped.status).toBe(400)
    expect(capped.json()['invalid-params']).toEqual([{ name: 'device', reason: `26 devices × 2 quantities = 52 series, more than the limit of ${MAX_SERIES} series per request` }])
    const one = (await get(`/api/v1/readings?device=m-a&quantity=pm2_5&from=1970-01-01&to=2100-01-01&window=10m`)).json()
    const three = (await get(`/api/v1/readings?device=m-a,m-b&quantity=pm2_5,air_temperature&from=1970-01-01&to=2100-01-01&window=10m`)).json()
    expect(one.detail).toMatch(/^query too costly: 1 series × 6837408 windows = 6837408 windows/)
    expect(three.detail).toMatch(/^query too costly: 4 series × 6837408 windows = 27349632 windows/)
  })

  it('answers the same 404 when one of the devices is not public', async () => {
    const hidden = await get(`/api/v1/readings?device=m-a,m-private&quantity=pm2_5&${range}`)
    const unknown = await get(`/api/v1/readings?device=m-a,nobody&quantity=pm2_5&${range}`)
    expect(hidden.status).toBe(404)
    expect(hidden.json().detail).toBe(unknown.json().detail)
  })

  it('names a bad list item and a missing quantity', async () => {
    const bad = (await get(`/api/v1/readings?device=m-a&quantity=pm2_5,pm25&${range}`)).json()
    expect(bad['invalid-params']).toEqual([{ name: 'quantity', reason: expect.stringMatching(/^item 2 'pm25': unknown quantity 'pm25'; one of /) }])
    const missing = await get(`/api/v1/readings?device=m-a&${range}`)
    expect(missing.status).toBe(400)
    expect(missing.json()['invalid-params']).toEqual([{ name: 'quantity', reason: 'quantity is required' }])
  })

  it('says a parameter was given twice instead of zod\'s "expected string, received array"', async () => {
    const twice = await get(`/api/v1/readings?device=m-a&device=m-b&quantity=pm2_5&${range}`)
    expect(twice.status).toBe(400)
    expect(twice.json()['invalid-params']).toEqual([{ name: 'device', reason: 'device is given 2 times; give it once (a parameter that takes several values takes them comma-separated: device=a,b)' }])
  })

  it('gives a value past two bounds one reason, the tighter bound\'s (not also the safe-integer range)', async () => {
    const huge = await get(`/api/v1/readings?device=m-a&quantity=pm2_5&${range}&limit=99999999999999999999`)
    expect(huge.status).toBe(400)
    expect(huge.json()['invalid-params']).toEqual([{ name: 'limit', reason: 'Too big: expected number to be <=100000' }])
  })

  it('answers "<name> is required" for every required query parameter of every route (from the OpenAPI document)', async () => {
    const doc = (await get('/openapi.json')).json() as { paths: Record<string, { get: { parameters?: Array<{ name: string; in: string; required?: boolean }> } }> }
    const required = Object.entries(doc.paths).flatMap(([path, item]) =>
      (item.get.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => ({ path, name: p.name })),
    )
    expect(required.map((r) => `${r.path} ${r.name}`)).toContain('/api/v1/readings quantity')
    for (const { path, name } of required) {
      const url = path.replace(/\{[^}]+\}/g, 'm-a')
      const response = await get(url)
      expect(response.status, url).toBe(400)
      expect(response.json()['invalid-params'], url).toContainEqual({ name, reason: `${name} is required` })
    }
  })

  /** `senshagen query` with `args`: exit status, stdout and stderr, whether it succeeded or not. */
  const query = (args: string[]) =>
    promisify(execFile)('node', ['bin/senshagen.js', 'query', '--from', new Date(START).toISOString(), '--to', new Date(END).toISOString(), ...args], {
      env: { ...process.env, ...isolatedEnv(database, cliRegistry.env) },
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    )

  it('senshagen query takes the same device and quantity lists and prints what the API gives, byte for byte', async () => {
    const lists = ['--device', 'm-b,m-a', '--quantity', 'pm2_5,air_temperature']
    const [csv, json, windows] = await Promise.all([query(lists), query([...lists, '--format', 'json']), query([...lists, '--window', '10m'])])
    const apiQuery = `device=m-b,m-a&quantity=pm2_5,air_temperature&${range}&limit=100000`
    // CSV: one row per reading with its device and quantity, in (time, quantity, device) order, as the API's CSV
    expect(csv).toMatchObject({ code: 0, stderr: `${RAW_ROWS} reading(s) of m-a,m-b pm2_5,air_temperature\n` })
    expect(csv.stdout).toBe((await get(`/api/v1/readings?${apiQuery}&format=csv`)).body)
    expect(csv.stdout.trim().split('\n').slice(1).map((l) => l.split(',')).map(([time, device, quantity, , value]) => `${time}|${device}|${quantity}|${value}`)).toEqual(expectedRaw)
    // JSON: the API's document, lists included (device and quantity null, devices and quantities named)
    const document = JSON.parse(json.stdout)
    expect(document).toEqual((await get(`/api/v1/readings?${apiQuery}`)).json())
    expect(document).toMatchObject({ device: null, devices: ['m-a', 'm-b'], quantity: null, quantities: ['pm2_5', 'air_temperature'], unit: null, next: null })
    expect(document.rows).toHaveLength(RAW_ROWS)
    expect(windows.stdout).toBe((await get(`/api/v1/readings?${apiQuery}&window=10m&format=csv`)).body)
    expect(windows.stdout.trim().split('\n')).toHaveLength(1 + 36)
  }, 180_000)

  it('senshagen query refuses a bad list with the API\'s reason, and a list with a non-public device as the API does', async () => {
    const many = Array.from({ length: 26 }, (_, i) => `m-${String(i).padStart(2, '0')}`).join(',')
    const cases = [
      { args: ['--device', 'm-a', '--quantity', 'pm2_5,pm25'], api: `device=m-a&quantity=pm2_5,pm25`, option: '--quantity' },
      { args: ['--device', 'm-a,,m-b', '--quantity', 'pm2_5'], api: `device=m-a,,m-b&quantity=pm2_5`, option: '--device' },
      { args: ['--device', many, '--quantity', 'pm2_5,pm10'], api: `device=${many}&quantity=pm2_5,pm10`, option: '--device' },
    ]
    const results = await Promise.all(cases.map((c) => query(c.args)))
    for (const [i, c] of cases.entries()) {
      const reasons = (await get(`/api/v1/readings?${c.api}&${range}`)).json()['invalid-params'] as Array<{ name: string; reason: string }>
      expect(reasons).toHaveLength(1)
      expect(results[i]).toEqual({ code: 2, stdout: '', stderr: `senshagen: ${c.option}: ${reasons[0]!.reason}\n` })
    }
    expect(results[0]!.stderr).toMatch(/^senshagen: --quantity: item 2 'pm25': unknown quantity 'pm25'; one of /)
    expect(results[2]!.stderr).toBe(`senshagen: --device: 26 devices × 2 quantities = 52 series, more than the limit of ${MAX_SERIES} series per request\n`)
    const hidden = await query(['--device', 'm-a,m-private', '--quantity', 'pm2_5'])
    expect(hidden).toEqual({ code: 1, stdout: '', stderr: "senshagen: --device: no public device with this id: 'm-private' (registered, active and consented devices only)\n" })
  }, 180_000)
})
