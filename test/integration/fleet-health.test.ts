import { createServer, type Server } from 'node:http'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { DeviceEvent, Reading } from '../../core/reading.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { readingsTopic, statusTopic } from '../../core/topics.ts'
import { metricsRegistry } from '../../core/metrics.ts'
import { runFleetHealth } from '../../services/health/main.ts'
import { watchPresence } from '../../services/health/presence.ts'
import { FleetHealthTracker, STORED_REPORT } from '../../services/health/tracker.ts'
import { HealthWebhook, type HealthWebhookBody } from '../../services/health/webhook.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { directSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { INFLUX_URL, waitFor } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * Fleet health against the real InfluxDB 1.6.7 (a database of its own) and the embedded aedes broker with its
 * in-process ingest writing there, driven by real mqtt.js clients: connections, wills and Tasmota LWTs become
 * online/offline, stale and stuck are recorded once each, a restarted tracker remembers, and the operator
 * webhook gets every transition without ever holding up the ingest.
 */
const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })
const config = loadConfig({})
const decoders = createDecoders({ deviceTimeZone: 'Europe/Amsterdam' })
const filters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
const SETTINGS = { staleAfterMs: 5_000, stuckAfterMs: 7_200_000, stuckMinReadings: 6, checkMs: 3_600_000 }
const MIN = 60_000

const db = throwawayDatabase('fleet_health', logger)
let registry: TestRegistry
let writer: ReadingWriter
let broker: TestBroker
let tracker: FleetHealthTracker
let unwatch: () => void
const transitions: DeviceEvent[] = []
const clients: MqttClient[] = []

/** Every stored device event of `device`, oldest first: [kind, source]. */
async function events(device: string): Promise<Array<[string, string]>> {
  const series = await db.store.influxql(`SELECT "kind", "source" FROM device_event WHERE "device" = '${device}' ORDER BY time ASC`)
  return (series[0]?.values ?? []).map((v) => [v[1] as string, v[2] as string])
}

const reading = (deviceId: string, quantity: Quantity, at: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt: at, receivedAt: at, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})
const native = (value: number) => JSON.stringify({ v: 1, time: new Date().toISOString(), readings: { air_temperature: value } })
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function newTracker(onTransition?: (event: DeviceEvent) => void): FleetHealthTracker {
  return new FleetHealthTracker({ store: db.store, settings: SETTINGS, logger, onTransition })
}

beforeAll(async () => {
  registry = await testRegistry([
    { id: 'fh-conn', neighbourhood: 'stadshagen', consent: true },
    { id: 'fh-will', neighbourhood: 'stadshagen', consent: true },
    { id: 'fh-stale', neighbourhood: 'stadshagen', consent: true },
    { id: 'fh-busy', neighbourhood: 'stadshagen', consent: true },
    { id: 'tasmota-fhshed', neighbourhood: 'stadshagen', consent: true, format: 'tasmota', nativeId: 'fhshed' },
  ])
  writer = new ReadingWriter(db.store, { batchSize: 1_000, maxInFlight: 1, maxBufferedReadings: 10_000 }, logger)
  const core = new IngestCore({ ...config.ingest, decoders }, directSink(writer), logger)
  broker = await testBroker(registry, logger, { ingest: { filters, handle: (message) => core.handle(message) } })
  tracker = newTracker((event) => transitions.push(event))
  unwatch = watchPresence(broker.aedes, broker.deviceOf, (id, state, at, detail) => tracker.connection(id, state, at, detail), 300)
  await tracker.start()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  unwatch?.()
  await tracker?.close()
  await broker?.close()
  await writer?.close()
  await registry?.close()
})

describe('connection: MQTT connects, disconnects, wills and status topics', () => {
  it('records online at the connect and offline after the last connection ended, once each', async () => {
    const first = await broker.device('fh-conn', { clientId: 'fh-conn-1' })
    const second = await broker.device('fh-conn', { clientId: 'fh-conn-2' }) // a second connection: still one device online
    await waitFor('online stored', async () => (await events('fh-conn')).length === 1)
    await first.endAsync()
    await pause(600) // longer than the settle time: the device still has a connection, so no offline
    expect(await events('fh-conn')).toEqual([['online', 'fleet-health']])
    await second.endAsync()
    await waitFor('offline stored', async () => (await events('fh-conn')).length === 2)
    await pause(600)
    expect(await events('fh-conn')).toEqual([['online', 'fleet-health'], ['offline', 'fleet-health']])
    expect(transitions.filter((e) => e.deviceId === 'fh-conn').map((e) => e.kind)).toEqual(['online', 'offline'])
  })

  it('a dropped connection delivers the will and records offline once', async () => {
    const observer = await broker.service('operator')
    clients.push(observer)
    const wills: string[] = []
    observer.on('message', (_topic, payload, packet) => void (packet.retain ? undefined : wills.push(payload.toString())))
    await observer.subscribeAsync(statusTopic('fh-will'), { qos: 1 })
    const device = await broker.device('fh-will', { will: { topic: statusTopic('fh-will'), payload: Buffer.from('offline'), qos: 1, retain: true } })
    device.stream.destroy() // no DISCONNECT: the broker publishes the will [MQTT-3.1.2-8]
    await waitFor('the will delivered', () => wills.includes('offline'), 10_000, 50)
    await waitFor('offline recorded', () => transitions.some((e) => e.deviceId === 'fh-will' && e.kind === 'offline'), 10_000, 50)
    await pause(600)
    expect(transitions.filter((e) => e.deviceId === 'fh-will').map((e) => [e.kind, e.sourceFormat])).toEqual([['online', 'fleet-health'], ['offline', 'fleet-health']])
    // the decoder stores the will as well: one point with the tracker's when both fall on one millisecond (key: device, kind, time)
    const offline = (await events('fh-will')).filter(([kind]) => kind === 'offline')
    expect(offline.length).toBeGreaterThanOrEqual(1)
    expect(offline.length).toBeLessThanOrEqual(2)
  })

  it('a Tasmota LWT `Offline` makes a connected device offline (newest report wins), announced once', async () => {
    const tasmota = await broker.device('tasmota-fhshed', { clientId: 'DVES_FH' })
    clients.push(tasmota)
    await tasmota.publishAsync('tele/fhshed/LWT', 'Online', { qos: 1, retain: true })
    await waitFor('presence online', () => transitions.some((e) => e.deviceId === 'tasmota-fhshed' && e.kind === 'online'))
    await pause(20)
    await tasmota.publishAsync('tele/fhshed/LWT', 'Offline', { qos: 1, retain: true })
    await tracker.check()
    const health = tracker.devices().find((d) => d.deviceId === 'tasmota-fhshed')!
    expect(health.connection).toBe('offline')
    await tracker.check()
    const connection = transitions.filter((e) => e.deviceId === 'tasmota-fhshed' && (e.kind === 'online' || e.kind === 'offline'))
    expect(connection.map((e) => [e.kind, e.sourceFormat])).toEqual([
      ['online', 'fleet-health'],
      ['offline', STORED_REPORT],
    ])
  })
})

describe('stale and stuck: recorded once, recovered when they end', () => {
  it('a device with no reading for staleAfterMs is stale once, and recovered by its next reading', async () => {
    const device = await broker.device('fh-stale')
    clients.push(device)
    await device.publishAsync(readingsTopic('fh-stale'), native(11.5), { qos: 1 })
    await tracker.check()
    expect(tracker.devices().find((d) => d.deviceId === 'fh-stale')).toMatchObject({ stale: false })
    await pause(SETTINGS.staleAfterMs + 200)
    await tracker.check()
    await tracker.check()
    const health = async () => (await events('fh-stale')).filter(([kind, source]) => kind !== 'online' && source === 'fleet-health')
    expect(await health()).toEqual([['stale', 'fleet-health']])
    await device.publishAsync(readingsTopic('fh-stale'), native(11.75), { qos: 1 })
    await tracker.check()
    expect(await health()).toEqual([['stale', 'fleet-health'], ['recovered', 'fleet-health']])
  })

  it('temperature identical for two hours is stuck once, and recovered when it varies', async () => {
    const now = Date.now()
    // every 15 min for 105 min up to now, all 12.5 °C: 8 readings spanning more than an hour; humidity varies
    const flat = Array.from({ length: 8 }, (_, i) => now - 105 * MIN + i * 15 * MIN)
    await db.store.write({ readings: flat.flatMap((at, i) => [reading('fh-frozen', 'air_temperature', at, 12.5), reading('fh-frozen', 'relative_humidity', at, 80 + i)]), rejections: [] })
    await tracker.check()
    await tracker.check()
    const stuck = (await db.store.influxql(`SELECT "detail" FROM device_event WHERE "device" = 'fh-frozen' AND "kind" = 'stuck'`))[0]!.values
    expect(stuck).toHaveLength(1)
    expect(JSON.parse(stuck[0]![1] as string)).toMatchObject({ quantities: ['air_temperature'], stuckAfterMs: 7_200_000, stuck: ['air_temperature'] })
    await db.store.write({ readings: [reading('fh-frozen', 'air_temperature', Date.now(), 12.6)], rejections: [] })
    await tracker.check()
    await tracker.check()
    const details = (await db.store.influxql(`SELECT "kind", "detail" FROM device_event WHERE "device" = 'fh-frozen' ORDER BY time ASC`))[0]!.values
    const stuckOrBack = details.map(([, kind, detail]) => [kind, JSON.parse(detail as string)]).filter(([kind, d]) => kind === 'stuck' || d.from === 'stuck')
    expect(stuckOrBack.map(([kind, d]) => [kind, d.quantities, d.stuck])).toEqual([
      ['stuck', ['air_temperature'], ['air_temperature']],
      ['recovered', ['air_temperature'], []],
    ])
    expect(tracker.devices().find((d) => d.deviceId === 'fh-frozen')).toMatchObject({ stuck: [] })
  })

  it('a restarted tracker reads last seen and the recorded health back, and records nothing again', async () => {
    const before = tracker.devices()
    const count = async () => (await db.store.influxql('SELECT count("detail") FROM device_event'))[0]!.values[0]![1] as number
    const stored = await count()
    const restarted = newTracker()
    await restarted.start()
    await restarted.close()
    expect(await count()).toBe(stored)
    const after = restarted.devices()
    for (const id of ['fh-stale', 'fh-frozen', 'tasmota-fhshed']) {
      const [a, b] = [before.find((d) => d.deviceId === id)!, after.find((d) => d.deviceId === id)!]
      expect(b.lastSeen, id).toBe(a.lastSeen)
      expect(b.connection, id).toBe(a.connection)
      expect(b.stuck, id).toEqual(a.stuck)
    }
    expect(after.find((d) => d.deviceId === 'fh-stale')!.lastSeen).toBeGreaterThan(Date.now() - 60_000)
  })
})

describe('operator webhook', () => {
  let server: Server
  let status = 200
  const received: HealthWebhookBody[] = []
  let url = ''
  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
      request.on('end', () => {
        if (status === 200) received.push(JSON.parse(body) as HealthWebhookBody)
        response.writeHead(status).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('POSTs each transition as JSON', async () => {
    const webhook = new HealthWebhook({ url }, logger)
    webhook.notify({ deviceId: 'fh-stale', kind: 'stale', at: Date.UTC(2026, 11, 1, 12), topic: '', sourceFormat: 'fleet-health', detail: '{"lastSeen":"2026-12-01T11:30:00.000Z","stale":true,"stuck":[]}' })
    webhook.notify({ deviceId: 'fh-conn', kind: 'offline', at: Date.UTC(2026, 11, 1, 12, 1), topic: '', sourceFormat: 'fleet-health', detail: '{"via":"mqtt","clientId":"c1"}' })
    await webhook.idle()
    expect(received).toEqual([
      { device: 'fh-stale', kind: 'stale', at: '2026-12-01T12:00:00.000Z', detail: { lastSeen: '2026-12-01T11:30:00.000Z', stale: true, stuck: [] }, source: 'fleet-health' },
      { device: 'fh-conn', kind: 'offline', at: '2026-12-01T12:01:00.000Z', detail: { via: 'mqtt', clientId: 'c1' }, source: 'fleet-health' },
    ])
    expect(webhook.stats).toEqual({ sent: 2, failed: 0, dropped: 0 })
  })

  it('a failing webhook is retried, logged at warn and counted, and holds up neither the tracker nor the ingest', async () => {
    status = 503
    const failures: Array<Record<string, string>> = []
    const webhook = new HealthWebhook({ url, retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 3 }, failures: { inc: (labels) => void failures.push(labels as Record<string, string>) } }, logger)
    const failing = newTracker((event) => webhook.notify(event))
    const stop = watchPresence(broker.aedes, broker.deviceOf, (id, state, at, detail) => failing.connection(id, state, at, detail), 300)
    try {
      await failing.start()
      const device = await broker.device('fh-busy')
      for (let i = 0; i < 5; i++) await device.publishAsync(readingsTopic('fh-busy'), native(10 + i), { qos: 1 }) // every PUBACK came
      await device.endAsync()
      const givenUp = () => logLines.filter((l) => l.level === 40 && l.msg === 'health webhook failed: transition not delivered (it is in the store)' && l.device === 'fh-busy').map((l) => l.kind)
      await waitFor('online and offline given up', () => givenUp().length === 2, 10_000, 50)
      await webhook.idle()
      const stored = (await db.store.influxql(`SELECT count("value") FROM reading WHERE "device" = 'fh-busy'`))[0]!.values[0]![1]
      expect(stored).toBe(5)
      expect(failures.filter((f) => f.reason === 'failed').length).toBe(webhook.stats.failed)
      expect(givenUp()).toEqual(['online', 'offline'])
      expect(received.filter((body) => body.device === 'fh-busy')).toEqual([])
    } finally {
      stop()
      await failing.close()
      await webhook.close()
    }
  })

  it('drops what its full queue cannot hold, at error level and counted', async () => {
    status = 200
    const failures: Array<Record<string, string>> = []
    const webhook = new HealthWebhook({ url, maxQueued: 1, failures: { inc: (labels) => void failures.push(labels as Record<string, string>) } }, logger)
    const stale = (deviceId: string): DeviceEvent => ({ deviceId, kind: 'stale', at: Date.UTC(2026, 11, 1), topic: '', sourceFormat: 'fleet-health', detail: '{}' })
    webhook.notify(stale('fh-q1')) // being sent
    webhook.notify(stale('fh-q2')) // queued
    webhook.notify(stale('fh-q3')) // no room
    await webhook.idle()
    expect(received.filter((b) => b.device.startsWith('fh-q')).map((b) => b.device)).toEqual(['fh-q1', 'fh-q2'])
    expect(webhook.stats).toEqual({ sent: 2, failed: 0, dropped: 1 })
    expect(failures).toEqual([{ reason: 'queue_full' }])
    expect(logLines.filter((l) => l.level === 50 && l.device === 'fh-q3').map((l) => l.msg)).toEqual(['LOST: health webhook queue full, transition not sent'])
  })

  it('runFleetHealth (as `senshagen up` starts it) follows the broker, reports senshagen_devices and POSTs to SENSHAGEN_HEALTH_WEBHOOK_URL', async () => {
    status = 200
    const running = runFleetHealth(
      loadConfig({ SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: db.database, SENSHAGEN_HEALTH_WEBHOOK_URL: url, SENSHAGEN_STALE_AFTER_MS: '3000' }),
      logger,
      broker,
      registry.store,
    )
    try {
      await running.ready
      const gauge = async () => Object.fromEntries((await metricsRegistry.getSingleMetric('senshagen_devices')!.get()).values.map((v) => [v.labels.state, v.value]))
      const before = await gauge()
      const device = await broker.device('fh-busy', { clientId: 'fh-busy-wired' })
      await waitFor('online POSTed', () => received.some((b) => b.device === 'fh-busy' && b.kind === 'online'), 10_000, 50)
      expect((await gauge()).online).toBe(before.online! + 1)
      await device.endAsync()
      await waitFor('offline POSTed', () => received.some((b) => b.device === 'fh-busy' && b.kind === 'offline'), 10_000, 50)
      const after = await gauge()
      expect([after.online, after.offline, after.never_connected, after.registered]).toEqual([before.online, before.offline, before.never_connected, 5])
      // each registered device in exactly one connection state: offline counts only devices reported offline
      expect(after.online! + after.offline! + after.never_connected!).toBe(after.registered)
    } finally {
      await running.stop()
    }
  })

  it('senshagen_devices counts a device online as soon as its stored status says so, as `devices status` does, not a check later', async () => {
    // the demo's simulator: no device connection, an `online` status published through the importer account
    await registry.store.addDevice({ id: 'fh-relayed', neighbourhood: 'stadshagen', consent: true })
    const running = runFleetHealth(loadConfig({ SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: db.database, SENSHAGEN_HEALTH_CHECK_MS: '3600000' }), logger, broker, registry.store)
    try {
      await running.ready
      const gauge = async () => Object.fromEntries((await metricsRegistry.getSingleMetric('senshagen_devices')!.get()).values.map((v) => [v.labels.state, v.value]))
      const before = await gauge()
      const importer = await broker.service('importer')
      clients.push(importer)
      await importer.publishAsync(statusTopic('fh-relayed'), 'online', { qos: 1, retain: true })
      // what `senshagen devices status` reads: the newest online/offline event in the store
      await waitFor('online stored', async () => (await events('fh-relayed')).some(([kind]) => kind === 'online'), 10_000, 50)
      const after = await gauge()
      expect([after.online, after.never_connected, after.registered]).toEqual([before.online! + 1, before.never_connected! - 1, before.registered])
    } finally {
      await running.stop()
    }
  })

  it('runFleetHealth does not hold up the broker while InfluxDB is away: it retries in the background and stops cleanly', async () => {
    const running = runFleetHealth(loadConfig({ SENSHAGEN_INFLUX_URL: 'http://127.0.0.1:1', SENSHAGEN_INFLUX_DATABASE: db.database }), logger, broker, registry.store)
    let settled = false
    running.ready.then(() => (settled = true), () => (settled = true))
    await waitFor('the first failure logged', () => logLines.some((l) => l.level === 40 && String(l.msg).startsWith('fleet health cannot start yet (fleet-health start (InfluxDB): retrying')), 10_000, 50)
    expect(settled).toBe(false)
    // the broker still takes a device's reading meanwhile
    const device = await broker.device('fh-busy', { clientId: 'fh-busy-no-influx' })
    await device.publishAsync(readingsTopic('fh-busy'), native(21), { qos: 1 })
    await device.endAsync()
    await running.stop()
    await expect(running.ready).rejects.toBeDefined()
  })
})
