import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry, type DeviceRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { LiveReadingSchema } from '../../services/api/routes/live.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL, uniqueId, waitFor } from '../helpers/env.ts'

/** GET /api/v1/live (Server-Sent Events) on a listening server, polling the real InfluxDB every 200 ms. */
const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})

interface SseClient {
  text(): string
  events(): Array<{ id: string; event: string; data: unknown }>
  done: Promise<void>
  close(): void
}

/** Opens an event stream and collects what arrives. */
async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController()
  const response = await fetch(url, { signal: controller.signal, headers })
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
  let text = ''
  const decoder = new TextDecoder()
  const reader = response.body!.getReader()
  const done = (async () => {
    try {
      for (;;) {
        const { value, done: finished } = await reader.read()
        if (finished) return
        text += decoder.decode(value, { stream: true })
      }
    } catch {
      // aborted by close()
    }
  })()
  return {
    text: () => text,
    events: () =>
      text
        .split('\n\n')
        .filter((block) => block.startsWith('id: '))
        .map((block) => {
          const [id, event, data] = block.split('\n') as [string, string, string]
          return { id: id.slice('id: '.length), event: event.slice('event: '.length), data: JSON.parse(data.slice('data: '.length)) }
        }),
    done,
    close: () => controller.abort(),
  }
}

describe('GET /api/v1/live', () => {
  const database = uniqueId('api_live')
  let store: InfluxReadingStore
  let app: FastifyInstance
  let base: string
  const hidden = new Set<string>()

  beforeAll(async () => {
    const logger = createLogger('silent')
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const parsed = parseRegistry(
      {
        neighbourhoods: [
          { id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } },
          { id: 'elders', name: 'Elders', municipality: 'Zwolle', center: { lat: 52.5, lon: 6.1 } },
        ],
        devices: [
          { id: 'g-a', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
          { id: 'g-b', neighbourhood: 'elders', consent: true, location: { lat: 52.5, lon: 6.1 } },
        ],
      },
      'test',
    )
    // the API's registry is refreshed from the store while it runs (services/api/registry-snapshot.ts): a device
    // can stop being public between two polls; `hidden` plays that change
    const registry: DeviceRegistry = {
      source: parsed.source,
      neighbourhoods: () => parsed.neighbourhoods(),
      neighbourhood: (id) => parsed.neighbourhood(id),
      publicDevices: (n) => parsed.publicDevices(n).filter((d) => !hidden.has(d.id)),
      publicDevice: (id) => (hidden.has(id) ? undefined : parsed.publicDevice(id)),
    }
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 200, liveHeartbeatMs: 300 }, registry: { path: '' }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store, registry, logger, publicDir: '/nonexistent' })
    await app.listen({ host: '127.0.0.1', port: 0 })
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  })
  afterAll(async () => {
    await app?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
  })

  it('sends each new reading once as event: reading, with heartbeats, and filters by neighbourhood and quantity', async () => {
    const all = await openSse(`${base}/api/v1/live`)
    const wijk = await openSse(`${base}/api/v1/live?neighbourhood=wijk&quantity=pm2_5`)
    await waitFor('connected comments', () => all.text().includes(': connected') && wijk.text().includes(': connected'))
    expect(all.text().startsWith('retry: 200\n')).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 400))
    const now = Date.now()
    await store.write({ readings: [reading('g-a', 'pm2_5', now, 12.5), reading('g-a', 'air_temperature', now, 7.25), reading('g-b', 'pm2_5', now, 3)], rejections: [] })
    await waitFor('three events', () => all.events().length >= 3, 10_000, 50)
    // a reading that reaches InfluxDB after a newer one was sent (out of order, up to a minute late) is still sent
    await store.write({ readings: [reading('g-a', 'pm2_5', now - 300, 11)], rejections: [] })
    await waitFor('the late reading', () => all.events().length >= 4, 10_000, 50)
    await waitFor('heartbeats', () => all.text().includes(': heartbeat\n\n'), 5_000, 50)
    await new Promise((resolve) => setTimeout(resolve, 600)) // three more polls: nothing is sent twice
    const events = all.events()
    expect(events.every((e) => e.event === 'reading')).toBe(true)
    for (const e of events) LiveReadingSchema.parse(e.data)
    expect(events.map((e) => e.data)).toEqual(
      expect.arrayContaining([
        { time: new Date(now).toISOString(), device: 'g-a', quantity: 'pm2_5', value: 12.5, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
        { time: new Date(now).toISOString(), device: 'g-a', quantity: 'air_temperature', value: 7.25, unit: '°C', uncertainty: null, label: 'uncalibrated' },
        { time: new Date(now).toISOString(), device: 'g-b', quantity: 'pm2_5', value: 3, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
        { time: new Date(now - 300).toISOString(), device: 'g-a', quantity: 'pm2_5', value: 11, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
      ]),
    )
    expect(events).toHaveLength(4)
    expect(wijk.events().map((e) => e.data)).toEqual([
      { time: new Date(now).toISOString(), device: 'g-a', quantity: 'pm2_5', value: 12.5, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
      { time: new Date(now - 300).toISOString(), device: 'g-a', quantity: 'pm2_5', value: 11, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
    ])
    all.close()
    wijk.close()
    await Promise.all([all.done, wijk.done])
  })

  it('stops sending a device as soon as it is no longer public (revoked, or consent withdrawn), also on open streams', async () => {
    const all = await openSse(`${base}/api/v1/live?quantity=no2`)
    await waitFor('connected', () => all.text().includes(': connected'))
    await new Promise((resolve) => setTimeout(resolve, 400))
    const now = Date.now()
    await store.write({ readings: [reading('g-a', 'no2', now, 20), reading('g-b', 'no2', now, 30)], rejections: [] })
    await waitFor('both devices', () => all.events().length >= 2, 10_000, 50)
    hidden.add('g-a')
    try {
      await store.write({ readings: [reading('g-a', 'no2', now + 1, 21), reading('g-b', 'no2', now + 1, 31)], rejections: [] })
      await waitFor('g-b again', () => all.events().length >= 3, 10_000, 50)
      await new Promise((resolve) => setTimeout(resolve, 600)) // three more polls
      expect(all.events().map((e) => e.data)).toEqual([
        { time: new Date(now).toISOString(), device: 'g-a', quantity: 'no2', value: 20, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
        { time: new Date(now).toISOString(), device: 'g-b', quantity: 'no2', value: 30, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
        { time: new Date(now + 1).toISOString(), device: 'g-b', quantity: 'no2', value: 31, unit: 'µg/m³', uncertainty: null, label: 'uncalibrated' },
      ])
    } finally {
      hidden.delete('g-a')
      all.close()
      await all.done
    }
  })

  it('answers a bad filter with a problem, and HEAD with headers only, not a stream', async () => {
    const response = await fetch(`${base}/api/v1/live?quantity=pm25`)
    expect(response.status).toBe(400)
    expect(((await response.json()) as { 'invalid-params': Array<{ name: string }> })['invalid-params'][0]?.name).toBe('quantity')
    expect((await fetch(`${base}/api/v1/live?neighbourhood=nowhere`)).status).toBe(404)
    const head = await fetch(`${base}/api/v1/live`, { method: 'HEAD', signal: AbortSignal.timeout(2_000) })
    expect([head.status, head.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8'])
  })

  it('gives every event an id, and a client back with Last-Event-ID gets what it missed once, from the buffer and from the store', async () => {
    const first = await openSse(`${base}/api/v1/live?neighbourhood=wijk`)
    await waitFor('connected', () => first.text().includes(': connected'))
    await new Promise((resolve) => setTimeout(resolve, 400))
    const t = Date.now()
    await store.write({ readings: [reading('g-a', 'soil_moisture', t, 1), reading('g-a', 'soil_moisture', t + 1, 2)], rejections: [] })
    await waitFor('two events', () => first.events().filter((e) => (e.data as { quantity: string }).quantity === 'soil_moisture').length === 2, 10_000, 50)
    const [one, two] = first.events().filter((e) => (e.data as { quantity: string }).quantity === 'soil_moisture')
    expect(one!.id).toMatch(/^[0-9a-z]+\.\d+$/)
    expect(two!.id).not.toBe(one!.id)
    first.close()
    await first.done
    // stored while the client is away
    await store.write({ readings: [reading('g-a', 'soil_moisture', t + 2, 3)], rejections: [] })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const back = await openSse(`${base}/api/v1/live?neighbourhood=wijk`, { 'last-event-id': one!.id })
    await waitFor('the missed events', () => back.events().filter((e) => (e.data as { quantity: string }).quantity === 'soil_moisture').length >= 2, 10_000, 50)
    await new Promise((resolve) => setTimeout(resolve, 600))
    const values = back.events().filter((e) => (e.data as { quantity: string }).quantity === 'soil_moisture').map((e) => (e.data as { value: number }).value)
    expect(values).toEqual([2, 3])
    expect(back.events()[0]!.id).toBe(two!.id)
    back.close()
    const stranger = await openSse(`${base}/api/v1/live`, { 'last-event-id': 'nope.7' })
    await waitFor('the comment', () => stranger.text().includes(': cannot resume from that id; live from now'))
    stranger.close()
  })

  it('survives clients going away, and closing the server ends open streams', async () => {
    for (let i = 0; i < 3; i++) {
      const client = await openSse(`${base}/api/v1/live`)
      client.close()
      await client.done
    }
    expect((await fetch(`${base}/api/v1/health`)).status).toBe(200)
    const open = await openSse(`${base}/api/v1/live`)
    await waitFor('connected', () => open.text().includes(': connected'))
    const started = Date.now()
    await app.close()
    await open.done
    expect(Date.now() - started).toBeLessThan(5_000)
  })

})
