import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

/**
 * Bounded cost on the real InfluxDB 1.6.7: 320,000 readings of one device every 10 s (37 days from
 * 2024-01-01), on which a 10-minute-window aggregate from 1970 to 2100 takes InfluxDB seconds. The cost limits
 * refuse it before any aggregate runs; with the limits lifted, the query timeout stops it and the InfluxDB
 * query is killed with it.
 */
const logger = createLogger('silent')
const START = Date.UTC(2024, 0, 1)
const POINTS = 320_000
const REGISTRY = {
  neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
  devices: [{ id: 'k-a', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } }],
}
const apiConfig = (extra: Record<string, number>) => ({
  api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000, rateLimitPerMinute: 10_000, ...extra },
  registry: { path: '' },
  influx: { url: INFLUX_URL },
  calibration: { reportsDir: '/nonexistent' },
})
const WHOLE_RANGE = '/api/v1/readings?device=k-a&quantity=pm10&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&window=10m'

describe('bounded query cost', () => {
  const db = throwawayDatabase('api_cost', logger)
  let app: FastifyInstance

  /** Queries InfluxDB is running on this test's database. */
  const running = async () => {
    const [series] = await db.store.influxql('SHOW QUERIES')
    const column = (name: string) => series!.columns.indexOf(name)
    return (series?.values ?? []).filter((v) => v[column('database')] === db.database && v[column('query')] !== 'SHOW QUERIES').map((v) => String(v[column('query')]))
  }

  beforeAll(async () => {
    for (let chunk = 0; chunk < POINTS; chunk += 40_000) {
      const lines = Array.from({ length: 40_000 }, (_, i) => `reading,device=k-a,quantity=pm10 value=${(chunk + i) % 50}.5,flags="" ${START + (chunk + i) * 10_000}`)
      await db.store.writeLines(lines)
    }
    app = await buildApiServer({ config: apiConfig({}), store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
  }, 120_000)
  afterAll(async () => {
    await app?.close()
  })

  it('refuses the 1970–2100 10-minute-window query before running it: 413 naming the limit and the numbers', async () => {
    const started = performance.now()
    const response = await app.inject(WHOLE_RANGE)
    const ms = performance.now() - started
    console.log(`1970–2100 10-minute windows refused in ${ms.toFixed(0)} ms`)
    expect(response.statusCode).toBe(413)
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    // 130 years of 10-minute windows: 47,482 days × 144
    expect(response.json().detail).toBe(
      'query too costly: 1 series × 6837408 windows = 6837408 windows, more than the limit of 1000000 (SENSHAGEN_API_MAX_QUERY_WINDOWS); narrow from/to, use a larger window or fewer devices',
    )
    expect(await running()).toEqual([])
  })

  it('refuses by estimated readings too, and lets a query within both limits run', async () => {
    const strict = await buildApiServer({ config: apiConfig({ maxQueryPoints: 100_000 }), store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
    try {
      // a day window over the whole data: 1 series × ~38 windows, but ~320,000 readings at the 10 s interval
      const refused = await strict.inject('/api/v1/readings?device=k-a&quantity=pm10&from=2024-01-01T00:00:00Z&to=2024-02-08T00:00:00Z&window=1d')
      expect(refused.statusCode).toBe(413)
      expect(refused.json().detail).toMatch(/^query too costly: about 3200\d\d readings to scan \(1 series\), more than the limit of 100000 \(SENSHAGEN_API_MAX_QUERY_POINTS\)/)
      const small = await strict.inject('/api/v1/readings?device=k-a&quantity=pm10&from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&window=1h')
      expect(small.statusCode).toBe(200)
      expect(small.json().rows).toHaveLength(24)
      expect(small.json().rows[0]).toMatchObject({ count: 360, expected: 360, completeness: 1, partial: false })
    } finally {
      await strict.close()
    }
  })

  it('stops a query at the timeout with a 504, and InfluxDB runs it no longer than the request', async () => {
    // the aggregate's own duration sets the timeout: about 0.7 s on a quiet machine, 4 s on a busy one, so a fixed
    // limit would let it finish first on one and stop it before it started on the other
    const serve = (queryTimeoutMs: number) =>
      buildApiServer({ config: apiConfig({ maxQueryWindows: 1e12, maxQueryPoints: 1e12, queryTimeoutMs }), store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
    const probe = await serve(600_000)
    const started = performance.now()
    const whole = await probe.inject(WHOLE_RANGE)
    const took = performance.now() - started
    await probe.close()
    expect(whole.statusCode).toBe(200)
    const timeoutMs = Math.max(100, Math.round(took / 3))
    const lifted = await serve(timeoutMs)
    try {
      let settled = false
      const answer = lifted.inject(WHOLE_RANGE).finally(() => (settled = true))
      // while the request waits, InfluxDB is running the aggregate (so the check after the answer can fail)
      let seen = false
      while (!seen && !settled) {
        seen = (await running()).some((q) => /GROUP BY time\(10m\)/.test(q))
        if (!seen) await new Promise((resolve) => setTimeout(resolve, 10))
      }
      expect(seen, `the aggregate was seen running in InfluxDB before the ${timeoutMs} ms timeout (whole query: ${Math.round(took)} ms)`).toBe(true)
      const response = await answer
      expect(response.statusCode).toBe(504)
      expect(response.json().detail).toMatch(new RegExp(`ran longer than the limit of ${timeoutMs} ms \\(SENSHAGEN_API_QUERY_TIMEOUT_MS\\)`))
      // the kill is sent as the request is aborted; give InfluxDB a moment to unwind
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(await running()).toEqual([])
    } finally {
      await lifted.close()
    }
  }, 90_000)
})
