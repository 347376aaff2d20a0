import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { isGridCentre } from '../../core/registry/coarsen.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { exportOpenData } from '../../services/api/open-data-export.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL, uniqueId, waitFor } from '../helpers/env.ts'

/**
 * The municipality's rule, checked on every public output: a device without consent (`g-private`) or not in
 * the registry (`g-ghost`) appears nowhere — device lists, readings, "now", calibration, live events, the
 * OpenAPI document, open-data files, logs — and no public coordinate is finer than the grid: every lat/lon is a
 * cell centre, and no exact garden coordinate is ever printed, in full or rounded.
 */
const EXACT = {
  'g-public': { lat: 52.531234, lon: 6.057891 },
  'g-hood': { lat: 52.528765, lon: 6.063321 },
  'g-private': { lat: 52.527654, lon: 6.054321 },
}
const HIDDEN = ['g-private', 'g-ghost']
const DAY = Date.UTC(2024, 0, 15)
const NOW = Date.now()

const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags: [],
})
/** Values no one would mistake for a coordinate near Zwolle; hidden devices get extreme ones that would show in any mean. */
function readingsOf(device: string, at: number, hidden: boolean): Reading[] {
  return [
    reading(device, 'air_temperature', at, hidden ? 44 : 12.5),
    reading(device, 'relative_humidity', at, hidden ? 3 : 80),
    reading(device, 'pm2_5', at, hidden ? 400 : 8.25),
    reading(device, 'pm10', at, hidden ? 900 : 14),
    reading(device, 'air_pressure', at, hidden ? 950 : 1012.5),
  ]
}

/** Every lat/lon/latitude/longitude in a JSON value; each {lat, lon} pair must be a grid-cell centre. */
function coordinates(value: unknown, out: Array<[string, number]> = []): Array<[string, number]> {
  if (Array.isArray(value)) value.forEach((v) => coordinates(v, out))
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    if (typeof o.lat === 'number' || typeof o.lon === 'number') expect(isGridCentre(o.lat as number, o.lon as number), JSON.stringify(o)).toBe(true)
    for (const [k, v] of Object.entries(o)) {
      if (/^(lat|lon|latitude|longitude)$/i.test(k)) out.push([k, v as number])
      coordinates(v, out)
    }
  }
  return out
}

/** No exact coordinate, in full or rounded to 3–5 decimals (a 3-decimal rounding may coincide with a cell centre: only when it is one). */
function expectNoExactCoordinates(text: string, where: string) {
  for (const { lat, lon } of Object.values(EXACT)) {
    for (const decimals of [6, 5, 4]) {
      expect(text, `${where}: ${lat.toFixed(decimals)}`).not.toContain(lat.toFixed(decimals))
      expect(text, `${where}: ${lon.toFixed(decimals)}`).not.toContain(lon.toFixed(decimals))
    }
  }
  // every number that looks like a coordinate near the site is a grid-cell centre; times are taken out first, or
  // the seconds and milliseconds of `…T10:41:52.422Z` would read as latitude 52.422 now and then (a CI run failed so)
  const withoutTimes = text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?/g, '<time>')
  for (const match of withoutTimes.matchAll(/-?\d+\.\d{3,}/g)) {
    const n = Number(match[0])
    if (n > 52.4 && n < 52.7) expect(isGridCentre(n, 6.0585), `${where}: latitude-like ${match[0]}`).toBe(true)
    if (n > 5.9 && n < 6.2) expect(isGridCentre(52.531, n), `${where}: longitude-like ${match[0]}`).toBe(true)
  }
}

describe('privacy: consent and coarsening on every public output', () => {
  const database = uniqueId('api_privacy')
  const logs: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) })
  let store: InfluxReadingStore
  let app: FastifyInstance
  let dir: string
  const outputs = new Map<string, string>() // where → text of a public output

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'senshagen-privacy-'))
    for (const device of ['g-public', 'g-private']) {
      await mkdir(join(dir, 'reports', device), { recursive: true })
      await writeFile(join(dir, 'reports', device, 'pm2_5.json'), JSON.stringify({ deviceId: device, quantity: 'pm2_5', method: 'pm-group-ratio' }))
      await writeFile(join(dir, 'reports', device, 'pm2_5-scatter.svg'), `<svg><title>${device}</title></svg>`)
    }
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const devices = ['g-public', 'g-hood', 'g-private', 'g-ghost']
    await store.write({ readings: devices.flatMap((d) => [...readingsOf(d, DAY + 3_600_000, HIDDEN.includes(d)), ...readingsOf(d, NOW - 60_000, HIDDEN.includes(d))]), rejections: [] })
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.5302, lon: 6.0604 }, radiusM: 1500 }],
        devices: [
          { id: 'g-public', neighbourhood: 'wijk', consent: true, location: EXACT['g-public'] },
          { id: 'g-hood', neighbourhood: 'wijk', consent: true, location: EXACT['g-hood'], coarsen: 'neighbourhood' },
          { id: 'g-private', neighbourhood: 'wijk', consent: false, location: EXACT['g-private'] },
        ],
      },
      'test',
    )
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 200, liveHeartbeatMs: 15_000 }, registry: { path: '' }, influx: { url: INFLUX_URL }, calibration: { reportsDir: join(dir, 'reports') } }
    app = await buildApiServer({ config, store, registry, logger, publicDir: '/nonexistent' })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

    // live: a stream open while every device sends a new reading
    const controller = new AbortController()
    const stream = await fetch(`${base}/api/v1/live`, { signal: controller.signal })
    let live = ''
    const pump = (async () => {
      const decoder = new TextDecoder()
      try {
        for await (const chunk of stream.body!) live += decoder.decode(chunk as Uint8Array, { stream: true })
      } catch {
        // aborted
      }
    })()
    await waitFor('connected', () => live.includes(': connected'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await store.write({ readings: devices.flatMap((d) => readingsOf(d, Date.now(), HIDDEN.includes(d))), rejections: [] })
    await waitFor('the public devices live', () => live.includes('"g-public"') && live.includes('"g-hood"'), 10_000, 50)
    await new Promise((resolve) => setTimeout(resolve, 600)) // three more polls
    controller.abort()
    await pump
    outputs.set('live', live)

    const range = 'from=2024-01-15&to=2024-01-16'
    const urls = [
      '/api/v1/neighbourhoods', '/api/v1/devices', '/api/v1/devices?neighbourhood=wijk', '/api/v1/devices/g-public', '/api/v1/devices/g-hood',
      `/api/v1/readings?neighbourhood=wijk&quantity=pm2_5&${range}`, `/api/v1/readings?neighbourhood=wijk&quantity=pm2_5&${range}&format=csv`,
      `/api/v1/readings?neighbourhood=wijk&quantity=pm2_5&${range}&window=1h&series=both`, `/api/v1/readings?neighbourhood=wijk&quantity=pm10&${range}&window=1d&format=csv`,
      '/api/v1/readings?neighbourhood=wijk&quantity=air_temperature&from=-2h&to=now', '/api/v1/neighbourhoods/wijk/now',
      '/api/v1/calibration/g-public/pm2_5', '/openapi.json', '/api/v1/health/devices',
      '/api/v1/latest', '/api/v1/latest?neighbourhood=wijk', // the residents' page's newest values
    ]
    for (const url of urls) {
      const response = await fetch(`${base}${url}`)
      expect(response.status, url).toBe(200)
      outputs.set(url, await response.text())
    }
    const out = join(dir, 'open-data')
    for (const file of await exportOpenData({ store, registry, period: '2024-01-15', outDir: out, logger })) {
      if (!file.path.endsWith('.parquet')) outputs.set(file.path, await readFile(file.path, 'utf8')) // Parquet: read back in api-open-data.test.ts
    }
  })
  afterAll(async () => {
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
    await rm(dir, { recursive: true, force: true })
  })

  it('collected every public output (and the public devices are in them)', () => {
    expect(outputs.size).toBe(17 + 3) // live, 16 URLs, 3 export text files (senshagen.csv, senshagen_sds011.csv, datapackage.json)
    expect(outputs.get('/api/v1/latest?neighbourhood=wijk')).toContain('"g-public"')
    expect(outputs.get('/api/v1/devices')).toContain('"g-public"')
    expect(outputs.get('live')).toMatch(/event: reading\ndata: \{"time":"[^"]+","device":"g-public"/)
  })

  it('shows a device without consent, or one not in the registry, nowhere', () => {
    for (const [where, text] of outputs) for (const id of HIDDEN) expect(text, `${where} mentions ${id}`).not.toContain(id)
    // their extreme values would show in any aggregate or "now" mean
    const now = JSON.parse(outputs.get('/api/v1/neighbourhoods/wijk/now')!)
    expect(now.devices).toBe(2)
    expect(now.quantities.pm2_5).toMatchObject({ value: 8.25, devices: 2, class: 'good' })
    expect(now.quantities.air_temperature.value).toBe(12.5)
    const hourly = JSON.parse(outputs.get('/api/v1/readings?neighbourhood=wijk&quantity=pm2_5&from=2024-01-15&to=2024-01-16&window=1h&series=both')!)
    expect(hourly.aggregate).toEqual([expect.objectContaining({ raw_max: 8.25, raw_count: 2 })])
    expect(JSON.parse(outputs.get('/api/v1/neighbourhoods')!).neighbourhoods[0].devices).toBe(2)
  })

  it('answers a non-consented, an unregistered and a never-seen device with the same 404', async () => {
    for (const path of ['/api/v1/devices/{id}', '/api/v1/readings?device={id}&quantity=pm2_5', '/api/v1/calibration/{id}/pm2_5', '/api/v1/calibration/{id}/pm2_5/scatter.svg']) {
      const answers = await Promise.all(['g-private', 'g-ghost', 'g-never'].map((id) => app.inject({ method: 'GET', url: path.replace('{id}', id) })))
      const bodies = answers.map((a) => {
        expect(a.statusCode).toBe(404)
        expect(a.headers['content-type']).toBe('application/problem+json; charset=utf-8')
        const { instance: _instance, ...rest } = a.json()
        return rest
      })
      expect(bodies[0]).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no public device with this id' })
      expect(bodies[1]).toEqual(bodies[0])
      expect(bodies[2]).toEqual(bodies[0])
    }
  })

  it('publishes no coordinate finer than the grid: every lat/lon is a cell centre, no exact position anywhere', async () => {
    for (const [where, text] of outputs) expectNoExactCoordinates(text, where)
    const devices = JSON.parse(outputs.get('/api/v1/devices')!)
    const found = coordinates(devices)
    expect(found.filter(([k]) => k === 'lat')).toHaveLength(2)
    expect(devices.devices.map((d: { location: unknown }) => d.location)).toEqual([
      { lat: 52.531, lon: 6.0615, precisionM: 1500 }, // g-hood: the neighbourhood centre, snapped
      { lat: 52.531, lon: 6.0585, precisionM: 151 }, // g-public: its grid cell
    ])
    coordinates(JSON.parse(outputs.get('/api/v1/neighbourhoods')!))
    for (const [where, text] of outputs) {
      if (!where.endsWith('.csv')) continue
      const lines = text.trim().split(/\r?\n/)
      const separator = lines[0]!.includes(';') ? ';' : ','
      const header = lines[0]!.split(separator)
      const [latAt, lonAt] = [header.indexOf('lat'), header.indexOf('lon')]
      expect(latAt).toBeGreaterThan(0)
      for (const line of lines.slice(1)) {
        const cells = line.split(separator)
        expect(isGridCentre(Number(cells[latAt]), Number(cells[lonAt])), `${where}: ${line}`).toBe(true)
      }
    }
  })

  it('logs method, route pattern and status only: no query strings, no hidden devices', async () => {
    await app.inject({ method: 'GET', url: '/api/v1/devices/g-private' })
    await app.inject({ method: 'GET', url: '/api/v1/readings?device=g-private&quantity=pm2_5&from=-1h' })
    const requests = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.msg === 'request')
    expect(requests.length).toBeGreaterThan(10)
    for (const line of requests) expect(Object.keys(line).filter((k) => !['level', 'time', 'pid', 'hostname', 'service', 'msg'].includes(k)).sort()).toEqual(['method', 'route', 'status'])
    expect(requests).toContainEqual(expect.objectContaining({ method: 'GET', route: '/api/v1/devices/:id', status: 404 }))
    const all = logs.join('')
    for (const id of HIDDEN) expect(all).not.toContain(id)
    expect(all).not.toContain('quantity=')
    for (const { lat } of Object.values(EXACT)) expect(all).not.toContain(String(lat))
  })
})
