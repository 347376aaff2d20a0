import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileSafeName } from '../../core/calibration/report.ts'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { importDevices, parseRegistryJson } from '../../core/registry/import.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { runApi } from '../../services/api/main.ts'
import { CalibrationReportSchema } from '../../services/api/routes/calibration.ts'
import { DeviceSchema, DevicesResponseSchema } from '../../services/api/routes/devices.ts'
import { NeighbourhoodsResponseSchema, NowResponseSchema } from '../../services/api/routes/neighbourhoods.ts'
import { ReferenceResponseSchema } from '../../services/api/routes/reference.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'
import { NEIGHBOURHOODS_FILE, testRegistry } from '../helpers/registry.ts'

/** Every endpoint of the public API but readings (test/integration/api-readings.test.ts) and privacy (api-privacy). */
const logger = createLogger('silent')
const NOW = Date.now()
const MIN = 60_000
const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number, extra: Partial<Reading> = {}): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'BME280+SDS011', flags: [], ...extra,
})
const REGISTRY = {
  neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
  devices: [
    { id: 'g-a', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
    { id: 'g-b', neighbourhood: 'wijk', consent: true, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' },
    { id: 'g-quiet', neighbourhood: 'wijk', consent: true, location: { lat: 52.5266, lon: 6.0552 } },
  ],
}

describe('public HTTP API', () => {
  const database = uniqueId('api')
  let store: InfluxReadingStore
  let app: FastifyInstance
  let dir: string
  const get = (url: string) => app.inject({ method: 'GET', url })
  const config = (reportsDir: string, influxUrl = INFLUX_URL) => ({
    api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000 }, influx: { url: influxUrl }, calibration: { reportsDir },
  })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'senshagen-api-'))
    await mkdir(join(dir, 'public'))
    await writeFile(join(dir, 'public', 'index.html'), '<!doctype html><title>page</title>')
    await mkdir(join(dir, 'reports', fileSafeName('g-a')), { recursive: true })
    const report = {
      deviceId: 'g-a', quantity: 'pm2_5', unit: 'µg/m³', method: 'pm-group-ratio', version: 't', reference: { station: 'NL10818', distanceKm: 14.1 },
      period: { from: '2024-01-15T00:00:00.000Z', to: '2024-01-16T00:00:00.000Z' }, coefficients: { ratio: 0.8 },
      metrics: { before: { n: 24, r2: 0.5 }, after: { n: 24, r2: 0.8 } }, notes: [], hours: { raw: 24, calibrated: 24, reference: 24 },
      label: 'indicative, not equivalent to reference measurements',
    }
    await writeFile(join(dir, 'reports', 'g-a', 'pm2_5.json'), JSON.stringify(report))
    await writeFile(join(dir, 'reports', 'g-a', 'pm2_5-scatter.svg'), '<svg xmlns="http://www.w3.org/2000/svg"><title>scatter</title></svg>')
    await writeFile(join(dir, 'reports', 'g-a', 'pm2_5-timeseries.svg'), '<svg xmlns="http://www.w3.org/2000/svg"><title>timeseries</title></svg>')
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    await store.write({
      readings: [
        // the last hour: temperature 28 and 26 °C (mean of device means 27: warm), humidity, PM2.5
        ...[5, 15, 25].flatMap((m) => [reading('g-a', 'air_temperature', NOW - m * MIN, 28), reading('g-b', 'air_temperature', NOW - m * MIN, 26)]),
        reading('g-a', 'air_temperature', NOW - 30 * MIN, 60, { flags: ['implausible'] }), // flagged: left out of "now"
        reading('g-a', 'relative_humidity', NOW - 5 * MIN, 80),
        reading('g-b', 'relative_humidity', NOW - 5 * MIN, 70),
        reading('g-b', 'relative_humidity', NOW - 15 * MIN, 72),
        reading('g-a', 'pm2_5', NOW - 10 * MIN, 40, { sensorModel: 'SDS011' }),
        reading('g-b', 'pm2_5', NOW - 10 * MIN, 20, { sensorModel: 'SDS011' }),
        reading('g-a', 'air_temperature', NOW - 2 * 3_600_000, 1), // older than an hour
      ],
      rejections: [],
    })
    await store.writeLines([`reading,device=g-a,quantity=pm2_5 calibrated=30,calibration_method="pm-group-ratio",calibration_version="t" ${NOW - 10 * MIN}`])
    await writeReferenceObservations(store, [
      { station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: 12.5, time: Date.UTC(2024, 0, 15, 11), periodMs: 3_600_000, flags: [] },
      { station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: -0.5, time: Date.UTC(2024, 0, 15, 12), periodMs: 3_600_000, flags: ['negative'] },
      { station: '278', source: 'knmi', quantity: 'air_temperature', value: 3.1, time: Date.UTC(2024, 0, 15, 12), periodMs: 0, flags: [] },
    ])
    app = await buildApiServer({ config: config(join(dir, 'reports')), store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: join(dir, 'public') })
  })
  afterAll(async () => {
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
    await rm(dir, { recursive: true, force: true })
  })

  it('health and readiness', async () => {
    expect((await get('/api/v1/health')).json()).toEqual({ status: 'ok', store: 'up' })
    expect((await get('/api/v1/ready')).json()).toEqual({ status: 'ready', influxdb: 1 })
    const down = await buildApiServer({ config: config(dir, 'http://127.0.0.1:9'), store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: dir })
    const response = await down.inject({ method: 'GET', url: '/api/v1/ready' })
    await down.close()
    expect(response.statusCode).toBe(503)
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(response.json()).toEqual({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the measurement store (InfluxDB) does not answer', instance: '/api/v1/ready' })
  })

  it('lists neighbourhoods with their grid-snapped centre and public device count', async () => {
    const body = NeighbourhoodsResponseSchema.parse((await get('/api/v1/neighbourhoods')).json())
    expect(body).toEqual({ neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.531, lon: 6.0615 }, devices: 3 }], basemap: false })
  })

  it('lists devices with coarsened location, sensor models, quantities, last reading and calibration', async () => {
    const body = DevicesResponseSchema.parse((await get('/api/v1/devices')).json())
    expect(body.devices.map((d) => d.id)).toEqual(['g-a', 'g-b', 'g-quiet'])
    expect(body.devices[0]).toEqual({
      id: 'g-a', neighbourhood: 'wijk', location: { lat: 52.531, lon: 6.0585, precisionM: 151 }, sensorModels: ['BME280+SDS011', 'SDS011'],
      quantities: ['air_temperature', 'pm2_5', 'relative_humidity'], lastSeen: new Date(NOW - 5 * MIN).toISOString(),
      calibration: { status: 'calibrated', methods: { pm2_5: 'pm-group-ratio' } },
    })
    expect(body.devices[1]!.location).toEqual({ lat: 52.531, lon: 6.0615, precisionM: 1000 }) // coarsen: neighbourhood
    expect(body.devices[1]!.calibration).toEqual({ status: 'uncalibrated', methods: {} })
    expect(body.devices[2]).toMatchObject({ id: 'g-quiet', sensorModels: [], quantities: [], lastSeen: null })
    expect((await get('/api/v1/devices?neighbourhood=wijk')).json()).toEqual(body)
    expect(DeviceSchema.parse((await get('/api/v1/devices/g-b')).json())).toEqual(body.devices[1])
    const unknown = await get('/api/v1/devices/g-zzz')
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no public device with this id', instance: '/api/v1/devices/g-zzz' })
    expect((await get('/api/v1/devices?neighbourhood=nowhere')).statusCode).toBe(404)
    expect((await get('/api/v1/devices?neighbourhood=Bad!')).json()['invalid-params'][0].name).toBe('neighbourhood')
  })

  it('summarises the last hour of a neighbourhood with plain-language classes', async () => {
    const body = NowResponseSchema.parse((await get(`/api/v1/neighbourhoods/wijk/now?at=${new Date(NOW + 1).toISOString()}`)).json())
    expect(body).toMatchObject({ neighbourhood: 'wijk', from: new Date(NOW + 1 - 3_600_000).toISOString(), to: new Date(NOW + 1).toISOString(), devices: 3 })
    expect(body.quantities.air_temperature).toEqual({ value: 27, unit: '°C', series: 'raw', label: 'uncalibrated', uncertainty: null, devices: 2, count: 6, flaggedDevices: 0, class: 'warm', advice: 'heat_warm' }) // g-a's flagged 60 °C is left out, but g-a still counts
    expect(body.quantities.relative_humidity).toEqual({ value: (80 + 71) / 2, unit: '%', series: 'raw', label: 'uncalibrated', uncertainty: null, devices: 2, count: 3, flaggedDevices: 0, class: null, advice: null })
    // g-a has a calibrated value in the hour: calibrated values only (30), LKI 5 (30–40 µg/m³) = moderate; no reference hour near now
    // stored without a label or uncertainty (as before calibrated_u): experimental, not assessed — never indicative unproven
    expect(body.quantities.pm2_5).toEqual({ value: 30, unit: 'µg/m³', series: 'calibrated', label: 'experimental', uncertainty: null, devices: 1, count: 1, flaggedDevices: 0, class: 'moderate', advice: 'lki_moderate', index: 5, reference: null })
    expect(body.sources.lki).toContain('https://www.rivm.nl/bibliotheek/rapporten/2014-0050.pdf')
    const empty = (await get('/api/v1/neighbourhoods/wijk/now?at=2020-01-01')).json()
    expect(empty.quantities.pm2_5).toEqual({ value: null, unit: 'µg/m³', series: null, label: 'uncalibrated', uncertainty: null, devices: 0, count: 0, flaggedDevices: 0, class: null, advice: null, index: null, reference: null })
    expect((await get('/api/v1/neighbourhoods/nowhere/now')).statusCode).toBe(404)
    expect((await get('/api/v1/neighbourhoods/wijk/now?at=soon')).json()['invalid-params']).toEqual([{ name: 'at', reason: expect.stringContaining("'soon' must be") }])
  })

  it('gives the newest reading per public device and quantity, with unit, flags and label', async () => {
    const body = (await get('/api/v1/latest?neighbourhood=wijk')).json()
    const at = (m: number) => new Date(NOW - m * MIN).toISOString()
    expect(body.latest).toEqual([
      { device: 'g-a', quantity: 'air_temperature', time: at(5), value: 28, unit: '°C', flags: [], calibrated: null, uncertainty: null, label: 'uncalibrated' },
      { device: 'g-a', quantity: 'pm2_5', time: at(10), value: 40, unit: 'µg/m³', flags: [], calibrated: 30, uncertainty: null, label: 'experimental' }, // calibrated without a stored label: not shown indicative
      { device: 'g-a', quantity: 'relative_humidity', time: at(5), value: 80, unit: '%', flags: [], calibrated: null, uncertainty: null, label: 'uncalibrated' },
      { device: 'g-b', quantity: 'air_temperature', time: at(5), value: 26, unit: '°C', flags: [], calibrated: null, uncertainty: null, label: 'uncalibrated' },
      { device: 'g-b', quantity: 'pm2_5', time: at(10), value: 20, unit: 'µg/m³', flags: [], calibrated: null, uncertainty: null, label: 'uncalibrated' },
      { device: 'g-b', quantity: 'relative_humidity', time: at(5), value: 70, unit: '%', flags: [], calibrated: null, uncertainty: null, label: 'uncalibrated' },
    ])
    expect((await get('/api/v1/latest?quantity=pm2_5')).json().latest.map((r: { device: string }) => r.device)).toEqual(['g-a', 'g-b'])
    expect((await get('/api/v1/latest?neighbourhood=nowhere')).statusCode).toBe(404)
    expect((await get('/api/v1/basemap')).statusCode).toBe(404) // no street map configured
  })

  it('serves reference-station observations as JSON and CSV', async () => {
    const url = '/api/v1/reference?station=NL10818&quantity=pm2_5&from=2024-01-15&to=2024-01-16'
    expect(ReferenceResponseSchema.parse((await get(url)).json())).toEqual({
      station: 'NL10818', quantity: 'pm2_5', unit: 'µg/m³', from: '2024-01-15T00:00:00.000Z', to: '2024-01-16T00:00:00.000Z',
      observations: [
        { time: '2024-01-15T11:00:00.000Z', value: 12.5, source: 'luchtmeetnet', periodMs: 3_600_000, flags: [] },
        { time: '2024-01-15T12:00:00.000Z', value: -0.5, source: 'luchtmeetnet', periodMs: 3_600_000, flags: ['negative'] },
      ],
    })
    const csv = await get(`${url}&format=csv`)
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8')
    expect(csv.body).toBe('time,station,quantity,source,value,period_ms,flags\n2024-01-15T11:00:00.000Z,NL10818,pm2_5,luchtmeetnet,12.5,3600000,\n2024-01-15T12:00:00.000Z,NL10818,pm2_5,luchtmeetnet,-0.5,3600000,negative\n')
    expect((await get('/api/v1/reference?station=278&quantity=air_temperature&from=2024-01-15&to=2024-01-16')).json().observations).toHaveLength(1)
    for (const [query, name] of [['station=a%20b&quantity=pm2_5', 'station'], ['station=NL10818&quantity=pm25', 'quantity'], ['station=NL10818&quantity=pm2_5&to=2000-01-01', 'to']]) {
      const response = await get(`/api/v1/reference?${query}`)
      expect(response.statusCode).toBe(400)
      expect(response.json()['invalid-params'].map((p: { name: string }) => p.name)).toEqual([name])
    }
  })

  it('serves calibration reports and plots of public devices', async () => {
    const report = await get('/api/v1/calibration/g-a/pm2_5')
    expect(report.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(CalibrationReportSchema.parse(report.json())).toMatchObject({ deviceId: 'g-a', method: 'pm-group-ratio', reference: { station: 'NL10818' } })
    for (const plot of ['scatter', 'timeseries']) {
      const svg = await get(`/api/v1/calibration/g-a/pm2_5/${plot}.svg`)
      expect(svg.headers['content-type']).toBe('image/svg+xml')
      expect(svg.body).toContain(`<title>${plot}</title>`)
    }
    expect((await get('/api/v1/calibration/g-a/pm10')).json()).toMatchObject({ status: 404, detail: 'no calibration report for this device and quantity' })
    expect((await get('/api/v1/calibration/g-zzz/pm2_5')).json()).toMatchObject({ status: 404, detail: 'no public device with this id' })
    expect((await get('/api/v1/calibration/g-a/pm25')).json()['invalid-params'][0].name).toBe('quantity')
  })

  it('documents every route in an OpenAPI 3.1 document generated from the zod models', async () => {
    const doc = (await get('/openapi.json')).json()
    expect(doc.openapi).toBe('3.1.0')
    const routes = registeredGetRoutes(app).filter((r) => !r.endsWith('*')) // fastify prints /sta/v1.1/* as /sta/v1.1*
    const documented = Object.keys(doc.paths).map((p) => p.replace(/\{(\w+)\}/g, ':$1'))
    expect(routes.sort()).toEqual(documented.filter((p) => p !== '/' && !p.endsWith('/*')).sort()) // /sta/v1.1/*: SensorThings resource paths
    expect(documented).toContain('/') // the page, served by the static plugin
    expect(routes).toHaveLength(20) // + /api/v1/bulk and /sta (open data), /api/v1/latest and /api/v1/basemap (the residents' page), calibration bias.svg, /api/v1/calibration (latest fits)
    const readings = doc.paths['/api/v1/readings'].get
    expect(readings.parameters.map((p: { name: string }) => p.name)).toEqual(['device', 'neighbourhood', 'quantity', 'from', 'to', 'series', 'window', 'tz', 'include_flags', 'format', 'sep', 'limit', 'cursor'])
    expect(readings.parameters.find((p: { name: string }) => p.name === 'limit')).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100_000, default: 10_000 } })
    expect(readings.parameters.find((p: { name: string }) => p.name === 'quantity')).toMatchObject({ required: true, style: 'form', explode: false, schema: { type: 'array', items: { enum: Object.keys(QUANTITIES) } } })
    expect(Object.keys(readings.responses['200'].content)).toEqual(['application/json', 'text/csv'])
    expect(readings.responses['400'].content['application/problem+json'].schema.properties['invalid-params']).toBeDefined()
    expect(doc.paths['/api/v1/devices/{id}'].get.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })])
    expect(doc.paths['/api/v1/devices/{id}'].get.responses['200'].content['application/json'].schema.properties.location.required).toEqual(['lat', 'lon', 'precisionM'])
    for (const [path, item] of Object.entries(doc.paths as Record<string, { get: { responses: Record<string, unknown> } }>)) {
      expect(Object.keys(item.get.responses), path).toContain('200')
    }
  })

  it('serves the page, uPlot and problem details for unknown routes', async () => {
    const page = await get('/')
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toBe('<!doctype html><title>page</title>')
    const uplot = await get('/vendor/uplot/uPlot.min.css')
    expect(uplot.statusCode).toBe(200)
    expect(uplot.headers['content-type']).toMatch(/^text\/css/)
    for (const url of ['/api/v1/nope', '/missing.js']) {
      const response = await get(url)
      expect(response.statusCode).toBe(404)
      expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8')
      expect(response.json()).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such resource', instance: url })
    }
    const post = await app.inject({ method: 'POST', url: '/api/v1/health' })
    expect(post.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    const bare = await buildApiServer({ config: config(dir), store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: join(dir, 'no-such-folder') })
    const text = await bare.inject({ method: 'GET', url: '/' })
    await bare.close()
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(text.body).toContain('/openapi.json')
  })

  it('runApi listens on the configured port, follows the device registry without a restart and stops cleanly', async () => {
    // the registry store (a SQLite file), filled as an operator does: `senshagen devices import` of the old layout
    const registry = await testRegistry()
    try {
      await importDevices(registry.store, parseRegistryJson(JSON.stringify(REGISTRY), 'REGISTRY'))
      const api = await runApi(isolatedConfig(database, { SENSHAGEN_API_PORT: '0', ...registry.env }), logger, { registryRefreshMs: 200 })
      const status = async (id: string) => (await fetch(`http://127.0.0.1:${api.port}/api/v1/devices/${id}`)).status
      try {
        const response = await fetch(`http://127.0.0.1:${api.port}/api/v1/devices/g-a`)
        expect(((await response.json()) as { id: string }).id).toBe('g-a')
        expect(await status('g-new')).toBe(404)
        // revoked and newly registered devices show within the refresh interval
        await registry.store.revoke('g-a')
        await registry.store.addDevice({ id: 'g-new', neighbourhood: 'wijk', consent: true, location: { lat: 52.5301, lon: 6.0602 } })
        await waitFor('g-a gone and g-new public', async () => (await status('g-a')) === 404 && (await status('g-new')) === 200, 5_000, 100)
        expect(await status('g-b')).toBe(200)
      } finally {
        await api.stop()
      }
      await expect(fetch(`http://127.0.0.1:${api.port}/api/v1/health`)).rejects.toThrow()
    } finally {
      await registry.close()
    }
    // an unusable registry location, e.g. SENSHAGEN_DEVICE_REGISTRY still naming a JSON file of the old layout
    const stale = join(dir, 'devices.json')
    await writeFile(stale, JSON.stringify(REGISTRY))
    await expect(runApi(isolatedConfig(database, { SENSHAGEN_DEVICE_REGISTRY: stale, SENSHAGEN_NEIGHBOURHOODS: NEIGHBOURHOODS_FILE }), logger)).rejects.toThrow(
      `device registry ${stale} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): file is not a database`,
    )
  })
})

/** GET routes as fastify lists them (printRoutes tree), full paths. */
function registeredGetRoutes(app: FastifyInstance): string[] {
  const stack: string[] = []
  const routes: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+) \(([^)]*)\)/.exec(line)
    if (!m) continue
    stack.length = m[1]!.length / 4
    stack.push(m[2]!)
    if (m[3]!.includes('GET')) routes.push(stack.join(''))
  }
  return routes
}
