import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { ConfigError } from '../../core/errors.ts'
import { createLogger } from '../../core/logger.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { MemoryStore } from '../../core/store/memory-store.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { testApiConfig } from '../helpers/api.ts'

/**
 * The rate limit behind a reverse proxy (SENSHAGEN_TRUST_PROXY): X-Forwarded-For names the client only when it
 * comes through a trusted proxy. Requests are injected with the socket peer address each case needs (the proxy's
 * or a client's); GET /api/v1/neighbourhoods reads only the registry.
 */
const REGISTRY = { neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }], devices: [] }
const PROXY = '10.0.0.7'

async function api(trustProxy: false | number | string[] | undefined): Promise<FastifyInstance> {
  const config = testApiConfig({ livePollMs: 60_000, rateLimitPerMinute: 3, ...(trustProxy === undefined ? {} : { trustProxy }) }, 'http://127.0.0.1:1')
  return buildApiServer({ config, store: new MemoryStore(), registry: parseRegistry(REGISTRY, 'test'), logger: createLogger('silent'), publicDir: '/nonexistent' })
}

describe('rate limit per client address behind a reverse proxy', () => {
  let app: FastifyInstance | undefined
  afterEach(async () => {
    await app?.close()
    app = undefined
  })
  const statuses = async (requests: Array<{ from: string; forwardedFor?: string }>) => {
    const out: number[] = []
    for (const r of requests) {
      const response = await app!.inject({ url: '/api/v1/neighbourhoods', remoteAddress: r.from, headers: r.forwardedFor === undefined ? {} : { 'x-forwarded-for': r.forwardedFor } })
      out.push(response.statusCode)
    }
    return out
  }

  it('by default ignores X-Forwarded-For: a client cannot spoof it to escape the limit', async () => {
    app = await api(undefined)
    const spoofed = [1, 2, 3, 4, 5].map((i) => ({ from: '192.0.2.10', forwardedFor: `198.51.100.${i}` }))
    expect(await statuses(spoofed)).toEqual([200, 200, 200, 429, 429])
  })

  it('behind a trusted proxy counts each forwarded client apart, and still ignores X-Forwarded-For from others', async () => {
    app = await api([PROXY])
    expect(await statuses([1, 2, 3, 4].map(() => ({ from: PROXY, forwardedFor: '198.51.100.1' })))).toEqual([200, 200, 200, 429])
    // a second client through the same proxy has its own budget
    expect(await statuses([1, 2, 3].map(() => ({ from: PROXY, forwardedFor: '198.51.100.2' })))).toEqual([200, 200, 200])
    // a client reaching the API directly cannot name itself: its own address is counted, whatever it sends
    const direct = [1, 2, 3, 4].map((i) => ({ from: '192.0.2.10', forwardedFor: `198.51.100.${10 + i}` }))
    expect(await statuses(direct)).toEqual([200, 200, 200, 429])
    // nor can it prepend a fake hop in front of the trusted proxy: the proxy reports the real peer last
    expect(await statuses([{ from: PROXY, forwardedFor: '198.51.100.1, 198.51.100.3' }])).toEqual([200])
    expect(await statuses([{ from: PROXY, forwardedFor: '198.51.100.2, 198.51.100.1' }])).toEqual([429])
  })

  it('with a hop count trusts the nearest hop', async () => {
    app = await api(1)
    expect(await statuses([1, 2, 3, 4].map(() => ({ from: PROXY, forwardedFor: '198.51.100.1' })))).toEqual([200, 200, 200, 429])
    expect(await statuses([{ from: PROXY, forwardedFor: '198.51.100.2' }])).toEqual([200])
  })

  it('reads SENSHAGEN_TRUST_PROXY: off, a hop count, addresses and ranges; refuses anything else by name', () => {
    expect(loadConfig({}).api.trustProxy).toBe(false)
    expect(loadConfig({ SENSHAGEN_TRUST_PROXY: 'off' }).api.trustProxy).toBe(false)
    expect(loadConfig({ SENSHAGEN_TRUST_PROXY: '2' }).api.trustProxy).toBe(2)
    expect(loadConfig({ SENSHAGEN_TRUST_PROXY: '10.0.0.7, 172.16.0.0/12,::1,loopback' }).api.trustProxy).toEqual(['10.0.0.7', '172.16.0.0/12', '::1', 'loopback'])
    for (const bad of ['true', '10.0.0.300', '10.0.0.0/33', 'proxy.example']) {
      expect(() => loadConfig({ SENSHAGEN_TRUST_PROXY: bad })).toThrow(ConfigError)
      expect(() => loadConfig({ SENSHAGEN_TRUST_PROXY: bad })).toThrow(/SENSHAGEN_TRUST_PROXY: '.*' is not a hop count, an IP address, a CIDR range/)
    }
  })
})
