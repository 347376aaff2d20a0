import { request as httpRequest } from 'node:http'
import { Writable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnavailableError } from '../../core/errors.ts'
import { apiResponsesCut } from '../../core/metrics.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { testApiConfig } from '../helpers/api.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'

/**
 * A streamed bulk CSV (GET /api/v1/bulk/<day>/senshagen.csv reads the store one device at a time) whose store
 * fails after the first device's page: the client must see an incomplete response, not a clean 200 end, and the
 * API logs the cut at error level and counts it. Real InfluxDB, a real listening server and a plain HTTP client.
 */
const DAY = Date.UTC(2024, 0, 15)
const PER_DEVICE = 2_000

const reading = (deviceId: string, i: number): Reading => ({
  deviceId, quantity: 'pm2_5', value: 3 + (i % 17), unit: 'µg/m³', observedAt: DAY + i * 30_000, receivedAt: DAY + i * 30_000, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})

interface Received { status: number; body: Buffer; complete: boolean; aborted: boolean }

/** GET with a plain HTTP client; resolves on close, saying whether the message ended properly. */
function fetchRaw(port: number, path: string, encoding: string): Promise<Received> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ port, host: '127.0.0.1', path, headers: { 'accept-encoding': encoding, connection: 'close' } }, (response) => {
      const chunks: Buffer[] = []
      let aborted = false
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('aborted', () => (aborted = true))
      response.on('error', () => (aborted = true))
      response.on('close', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks), complete: response.complete, aborted }))
    })
    request.on('error', reject)
    request.end()
  })
}

describe('a streamed response cut off by a store failure', () => {
  const database = uniqueId('api_cut')
  let store: InfluxReadingStore
  let app: FastifyInstance
  let port = 0
  let failAfter = Infinity
  let calls = 0
  const logLines: Array<{ level: number; msg: string; route?: string; err?: { message: string } }> = []

  beforeAll(async () => {
    const sink = new Writable({ write: (chunk, _encoding, done) => (logLines.push(JSON.parse(String(chunk))), done()) })
    const logger = pino({ level: 'info' }, sink)
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    await store.write({ readings: ['cut-a', 'cut-b'].flatMap((d) => Array.from({ length: PER_DEVICE }, (_, i) => reading(d, i))), rejections: [] })
    // the real store, failing from the (failAfter + 1)-th page on, a moment later (so the first page has gone out)
    const failing = Object.create(store) as ReadingStore
    failing.readingRows = async (query) => {
      if (calls++ < failAfter) return store.readingRows(query)
      await new Promise((resolve) => setTimeout(resolve, 300))
      throw new UnavailableError('InfluxDB went away (test)')
    }
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'w', name: 'W', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
        devices: ['cut-a', 'cut-b'].map((id) => ({ id, neighbourhood: 'w', consent: true, location: { lat: 52.5312, lon: 6.0571 } })),
      },
      'test',
    )
    app = await buildApiServer({ config: testApiConfig(), store: failing, registry, logger, publicDir: '/nonexistent' })
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
  })

  const cutCount = async () => (await apiResponsesCut.get()).values.find((v) => v.labels.route === '/api/v1/bulk/:period/:file')?.value ?? 0

  it('ends completely while the store answers', async () => {
    failAfter = Infinity
    calls = 0
    const ok = await fetchRaw(port, '/api/v1/bulk/2024-01-15/senshagen.csv', 'identity')
    expect(ok).toMatchObject({ status: 200, complete: true, aborted: false })
    expect(ok.body.toString('utf8').trim().split('\r\n')).toHaveLength(1 + 2 * PER_DEVICE)
  })

  it.each(['identity', 'gzip'])('aborts the connection (Accept-Encoding %s) after the first device, logs it at error level and counts it', async (encoding) => {
    failAfter = 1
    calls = 0
    logLines.length = 0
    const before = await cutCount()
    const cut = await fetchRaw(port, '/api/v1/bulk/2024-01-15/senshagen.csv', encoding)
    expect(cut.status).toBe(200)
    expect(cut.complete).toBe(false)
    expect(cut.aborted).toBe(true)
    if (encoding === 'identity') {
      // the first device's page went out before the cut
      const lines = cut.body.toString('utf8').split('\r\n')
      expect(lines[0]).toMatch(/^time,device,quantity,value,/)
      expect(lines.filter((l) => l.includes(',cut-a,'))).toHaveLength(PER_DEVICE)
      expect(lines.some((l) => l.includes(',cut-b,'))).toBe(false)
    } else {
      expect(() => gunzipSync(cut.body)).toThrow() // a truncated gzip member
    }
    expect(await cutCount()).toBe(before + 1)
    expect(logLines.filter((l) => l.level === 50)).toEqual([
      expect.objectContaining({ msg: expect.stringMatching(/^streamed response cut off by an error/), route: '/api/v1/bulk/:period/:file', err: expect.objectContaining({ message: 'InfluxDB went away (test)' }) }),
    ])
  })
})
