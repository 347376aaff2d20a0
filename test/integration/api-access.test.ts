import { type AddressInfo, connect } from 'node:net'
import { gunzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { importDevices, parseRegistryJson } from '../../core/registry/import.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { runApi } from '../../services/api/main.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { testRegistry } from '../helpers/registry.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

/**
 * Researchers' access on the real InfluxDB: CORS, compression, ETag, security headers, unknown parameters,
 * epoch-ms times, the `;` CSV dialect, the rate limit, the OpenAPI licence, and a start while InfluxDB is down.
 */
const logger = createLogger('silent')
const MIN = 60_000
const START = Date.UTC(2024, 0, 15)
const N = 2_000 // 2,000 one-minute readings: a JSON page of ~250 kB
const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})
const REGISTRY = {
  neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
  devices: [{ id: 'g-a', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } }],
}
const apiConfig = (extra: Record<string, number> = {}, influxUrl = INFLUX_URL) => ({
  api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000, ...extra },
  registry: { path: '' },
  influx: { url: influxUrl },
  calibration: { reportsDir: '/nonexistent' },
})

describe('researchers\' access', () => {
  const db = throwawayDatabase('api_access', logger)
  let app: FastifyInstance
  const range = `from=${START}&to=${START + N * MIN}`

  beforeAll(async () => {
    await db.store.write({ readings: Array.from({ length: N }, (_, i) => reading('g-a', 'air_temperature', START + i * MIN, -5 + (i % 200) / 10)), rejections: [] })
    app = await buildApiServer({ config: apiConfig({ rateLimitPerMinute: 10_000 }), store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
  }, 60_000)
  afterAll(async () => {
    await app?.close()
  })

  it('answers from a database nothing was written to yet (first start) with empty rows, not a 500', async () => {
    // InfluxDB 1.x creates the database at the first write; until then a read says "database not found"
    const empty = await openInfluxStore({ url: INFLUX_URL, database: uniqueId('api_never_written') }, logger)
    const fresh = await buildApiServer({ config: apiConfig({ rateLimitPerMinute: 10_000 }), store: empty, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
    try {
      const readings = await fresh.inject(`/api/v1/readings?device=g-a&quantity=air_temperature&${range}`)
      expect(readings.statusCode).toBe(200)
      expect(readings.json().rows).toEqual([])
      const windows = await fresh.inject(`/api/v1/readings?device=g-a&quantity=air_temperature&${range}&window=1h`)
      expect(windows.statusCode).toBe(200)
      expect(windows.json().rows).toEqual([])
    } finally {
      await fresh.close()
    }
  })

  it('accepts epoch milliseconds (as Grafana sends) and gives the same answer as ISO times', async () => {
    const ms = await app.inject(`/api/v1/readings?device=g-a&quantity=air_temperature&${range}&limit=5`)
    const iso = await app.inject(`/api/v1/readings?device=g-a&quantity=air_temperature&from=2024-01-15T00:00:00Z&to=${new Date(START + N * MIN).toISOString()}&limit=5`)
    expect(ms.statusCode).toBe(200)
    expect(ms.json().rows).toEqual(iso.json().rows)
    expect(ms.json().from).toBe('2024-01-15T00:00:00.000Z')
  })

  it('compresses with gzip or br, and the gzip body unpacks to the same JSON', async () => {
    const url = `/api/v1/readings?device=g-a&quantity=air_temperature&${range}`
    const plain = await app.inject(url)
    const gzip = await app.inject({ url, headers: { 'accept-encoding': 'gzip' } })
    const br = await app.inject({ url, headers: { 'accept-encoding': 'br' } })
    expect(gzip.headers['content-encoding']).toBe('gzip')
    expect(br.headers['content-encoding']).toBe('br')
    expect(plain.headers['content-encoding']).toBeUndefined()
    const unpacked = gunzipSync(gzip.rawPayload).toString('utf8')
    expect(unpacked).toBe(plain.body)
    const ratio = plain.rawPayload.length / gzip.rawPayload.length
    console.log(`gzip: ${plain.rawPayload.length} B JSON → ${gzip.rawPayload.length} B (${ratio.toFixed(1)}×), br ${br.rawPayload.length} B`)
    expect(ratio).toBeGreaterThan(5)
  })

  it('sends a weak ETag and answers If-None-Match with 304 and no body', async () => {
    const url = `/api/v1/readings?device=g-a&quantity=air_temperature&${range}&limit=10`
    const first = await app.inject(url)
    const etag = first.headers.etag as string
    expect(etag).toMatch(/^W\/".+"$/)
    const again = await app.inject({ url, headers: { 'if-none-match': etag } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const other = await app.inject({ url: url.replace('limit=10', 'limit=11'), headers: { 'if-none-match': etag } })
    expect(other.statusCode).toBe(200)
  })

  it('allows cross-origin reads (GET), with the paging and licence links exposed', async () => {
    const url = `/api/v1/readings?device=g-a&quantity=air_temperature&${range}&limit=10`
    const get = await app.inject({ url, headers: { origin: 'https://notebook.example' } })
    expect(get.headers['access-control-allow-origin']).toBe('*')
    expect(String(get.headers['access-control-expose-headers'])).toMatch(/Link/)
    const preflight = await app.inject({ method: 'OPTIONS', url, headers: { origin: 'https://notebook.example', 'access-control-request-method': 'GET' } })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD')
  })

  it('puts security headers on every response: data, problems and not-found', async () => {
    for (const url of ['/api/v1/neighbourhoods', '/api/v1/readings?quantity=pm2_5', '/nope', '/openapi.json']) {
      const response = await app.inject(url)
      expect(response.headers['content-security-policy'], url).toMatch(/default-src 'self'/)
      expect(response.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/)
      expect(response.headers['content-security-policy'], url).not.toMatch(/unsafe-inline/)
      expect(response.headers['x-content-type-options'], url).toBe('nosniff')
      expect(response.headers['x-frame-options'], url).toBe('DENY')
      expect(response.headers['referrer-policy'], url).toBe('no-referrer')
    }
  })

  it('answers an unknown parameter with a 400 naming it, on every route', async () => {
    for (const url of ['/api/v1/neighbourhoods?x=1', '/api/v1/devices?neighborhood=wijk', '/api/v1/health?verbose=1', `/api/v1/readings?device=g-a&quantity=air_temperature&form=2024-01-01`]) {
      const response = await app.inject(url)
      expect(response.statusCode, url).toBe(400)
      const name = [...new URL(url, 'http://x').searchParams.keys()].at(-1)
      expect(response.json()['invalid-params'], url).toEqual([{ name, reason: expect.stringMatching(/^unknown parameter; this endpoint takes /) }])
    }
  })

  it('writes the ; dialect with decimal commas for Dutch Excel (sep=; or Accept-Language: nl), negative numbers left as numbers', async () => {
    const url = `/api/v1/readings?device=g-a&quantity=air_temperature&${range}&limit=2&format=csv`
    const semicolon = (await app.inject(`${url}&sep=;`)).body
    expect(semicolon).toBe('time;device;quantity;unit;value;uncertainty;label;flags\n2024-01-15T00:00:00.000Z;g-a;air_temperature;°C;-5;;uncalibrated;\n2024-01-15T00:01:00.000Z;g-a;air_temperature;°C;-4,9;;uncalibrated;\n')
    expect((await app.inject({ url, headers: { 'accept-language': 'nl-NL,nl;q=0.9,en;q=0.8' } })).body).toBe(semicolon)
    expect((await app.inject({ url, headers: { 'accept-language': 'en-GB,nl;q=0.5' } })).body).toMatch(/^time,device,quantity,unit,value,uncertainty,label,flags\n.*,-5,,uncalibrated,\n.*,-4\.9,,uncalibrated,\n$/)
  })

  it('states the data licences in the OpenAPI document, the software licence apart', async () => {
    const doc = (await app.inject('/openapi.json')).json()
    expect(doc.info.license).toEqual({ name: 'Creative Commons Attribution 4.0 International', identifier: 'CC-BY-4.0' })
    expect(doc.info['x-software-license']).toEqual({ name: 'MIT', identifier: 'MIT' })
    expect(doc.info.description).toMatch(/DbCL-1.0/)
    expect(doc.info.description).toMatch(/SensHagen \/ Gemeente Zwolle/)
  })

  it('limits requests per client address: 429 problem with Retry-After', async () => {
    const limited = await buildApiServer({ config: apiConfig({ rateLimitPerMinute: 3 }), store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
    try {
      const statuses: number[] = []
      let last
      for (let i = 0; i < 4; i++) {
        last = await limited.inject('/api/v1/neighbourhoods')
        statuses.push(last.statusCode)
      }
      expect(statuses).toEqual([200, 200, 200, 429])
      expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0)
      expect(last!.headers['content-type']).toBe('application/problem+json; charset=utf-8')
      expect(last!.json()).toMatchObject({ status: 429, detail: expect.stringMatching(/more than 3 requests per minute/) })
    } finally {
      await limited.close()
    }
  })
})

describe('the API while InfluxDB is down', () => {
  const database = uniqueId('api_degraded')

  it('closes a connection that sends nothing, while an event stream kept busy by its heartbeat stays open', async () => {
    // a by-hand trial held 3,000 connections that never sent a byte open for good (fastify's connectionTimeout 0)
    const store = await openInfluxStore({ url: INFLUX_URL, database: uniqueId('api_idle') }, logger)
    const server = await buildApiServer({ config: apiConfig({ idleTimeoutMs: 400, liveHeartbeatMs: 100 }), store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
    await server.listen({ host: '127.0.0.1', port: 0 })
    const port = (server.server.address() as AddressInfo).port
    try {
      const idle = connect(port, '127.0.0.1')
      const idleClosed = new Promise<number>((resolve) => {
        idle.once('close', () => resolve(Date.now()))
        setTimeout(() => resolve(Infinity), 5_000).unref() // still open: fails below instead of timing out
      })
      const openedAt = Date.now()
      const live = await fetch(`http://127.0.0.1:${port}/api/v1/live`)
      expect(live.status).toBe(200)
      expect(await idleClosed - openedAt).toBeLessThan(5_000)
      const reader = live.body!.getReader()
      const streamedFor = Date.now() + 1_500 // well past the idle timeout
      let text = ''
      while (Date.now() < streamedFor) text += new TextDecoder().decode((await reader.read()).value)
      expect(text).toContain(': heartbeat')
      await reader.cancel()
    } finally {
      await server.close()
    }
  })

  it('starts degraded (health says so, data routes 503 problems) and serves data once InfluxDB is back', async () => {
    const direct = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await direct.ensureDatabase()
    const proxy = await startTcpProxy({ host: new URL(INFLUX_URL).hostname, port: Number(new URL(INFLUX_URL).port) })
    proxy.down()
    const registry = await testRegistry()
    try {
      await importDevices(registry.store, parseRegistryJson(JSON.stringify(REGISTRY), 'REGISTRY'))
      const api = await runApi(isolatedConfig(database, { SENSHAGEN_API_PORT: '0', SENSHAGEN_INFLUX_URL: proxy.url, ...registry.env }), logger)
      const get = (path: string) => fetch(`http://127.0.0.1:${api.port}${path}`)
      try {
        expect(await (await get('/api/v1/health')).json()).toEqual({ status: 'degraded', store: 'down' })
        const data = await get('/api/v1/readings?device=g-a&quantity=pm2_5')
        expect(data.status).toBe(503)
        expect(data.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
        expect((await get('/api/v1/neighbourhoods')).status).toBe(200) // the registry still answers
        proxy.up()
        await waitFor('health ok', async () => ((await (await get('/api/v1/health')).json()) as { status: string }).status === 'ok', 15_000, 200)
        await waitFor('data again', async () => (await get('/api/v1/readings?device=g-a&quantity=pm2_5')).status === 200, 15_000, 500)
      } finally {
        await api.stop()
      }
    } finally {
      await registry.close()
      await proxy.close()
      await direct.influxql(`DROP DATABASE "${database}"`)
    }
  }, 60_000)
})
