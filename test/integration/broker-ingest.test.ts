import type { MqttClient, Packet } from 'mqtt'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createKafkaBus } from '../../core/bus/kafka.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { loadConfig } from '../../core/config.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { readingsTopic, statusTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { KafkaBatchSink } from '../../services/ingest/kafka-sink.ts'
import type { IngestSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { KAFKA_BROKERS, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * The in-broker ingest (services/broker/broker-ingest.ts) on the real aedes broker over TCP with a real SQLite
 * registry: a publish's PUBACK waits for the sink, a failing sink refuses, one client's PUBACKs keep arrival
 * order whatever order the sink finishes in, QoS 0 and wills are ingested, and (against the real Kafka) one
 * device's storm does not hold another device's PUBACK beyond a measured bound.
 */
const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })
const DEVICES = ['bi-a', 'bi-b', 'bi-c', 'bi-storm', 'bi-quiet']
const config = loadConfig({})
const decoders = createDecoders({ deviceTimeZone: 'Europe/Amsterdam' })
const filters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
let registry: TestRegistry

/** A sink whose accepts wait until the test settles them; `mode` decides what accept does by default. */
class GatedSink implements IngestSink {
  readonly held: Array<{ batch: WriteBatch; release: () => void; fail: (error: Error) => void }> = []
  readonly accepted: WriteBatch[] = []
  mode: 'hold' | 'pass' | 'random' = 'hold'
  accept(batch: WriteBatch): Promise<void> {
    this.accepted.push(batch)
    if (this.mode === 'pass') return Promise.resolve()
    if (this.mode === 'random') return new Promise((resolve) => setTimeout(resolve, Math.random() * 40))
    return new Promise((resolve, reject) => this.held.push({ batch, release: resolve, fail: reject }))
  }
  async close() {}
}

async function brokerWith(sink: IngestSink, limits = {}): Promise<TestBroker> {
  const core = new IngestCore({ ...config.ingest, decoders }, sink, logger)
  return testBroker(registry, logger, { limits, ingest: { filters, handle: (message) => core.handle(message) } })
}

const payload = (i: number) => JSON.stringify({ v: 1, time: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), readings: { pm2_5: i % 500 } })
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const settled = async (promise: Promise<unknown>) => Promise.race([promise.then(() => true, () => true), pause(0).then(() => false)])

beforeAll(async () => {
  registry = await testRegistry(DEVICES.map((id) => ({ id, neighbourhood: 'stadshagen', consent: true })))
})
afterAll(async () => {
  await registry?.close()
})

describe('in-broker ingest: PUBACK after the sink acknowledged', () => {
  let broker: TestBroker
  const clients: MqttClient[] = []
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await broker?.close()
  })

  it('holds every device\'s PUBACK and the delivery to subscribers until the sink acknowledges, then sends them', async () => {
    const sink = new GatedSink()
    broker = await brokerWith(sink)
    const observer = await broker.service('operator', { clientId: uniqueId('observer') })
    clients.push(observer)
    const seen: string[] = []
    observer.on('message', (topic) => seen.push(topic))
    await observer.subscribeAsync('senshagen/v1/devices/+/readings', { qos: 1 })
    const devices = await Promise.all(['bi-a', 'bi-b', 'bi-c'].map((id) => broker.device(id)))
    clients.push(...devices)
    const acks = devices.map((d, i) => d.publishAsync(readingsTopic(DEVICES[i]!), payload(i), { qos: 1 }))
    await waitFor('three messages at the sink', () => sink.held.length === 3)
    await pause(300)
    for (const ack of acks) expect(await settled(ack)).toBe(false)
    expect(seen).toEqual([])
    expect(sink.held.map((h) => h.batch.readings[0]?.deviceId).sort()).toEqual(['bi-a', 'bi-b', 'bi-c'])

    sink.held[1]!.release()
    await waitFor('the released device\'s PUBACK', () => settled(acks[1]!))
    expect(await settled(acks[0]!)).toBe(false)
    for (const h of sink.held) h.release()
    await Promise.all(acks)
    await waitFor('delivery to the subscriber', () => seen.length === 3)
    expect(broker.ingest).toMatchObject({ acknowledged: 3, refused: 0, dropped: 0 })
  })

  it('disconnects a client that floods publishes without waiting for PUBACKs, and only that client', async () => {
    const sink = new GatedSink()
    broker = await brokerWith(sink, { maxPendingPerClient: 10, deviceBurst: 1_000 })
    const flooder = await broker.device('bi-storm', { reconnectPeriod: 0 })
    const quiet = await broker.device('bi-quiet')
    clients.push(flooder, quiet)
    const closed = new Promise<void>((resolve) => flooder.once('close', () => resolve()))
    for (let i = 0; i < 30; i++) flooder.publish(readingsTopic('bi-storm'), payload(i), { qos: 1 })
    await closed
    expect(broker.security.refused['pending-limit']).toBeGreaterThanOrEqual(1)
    // the sink saw at most the bound of the flooder's messages; the quiet device is served as before
    expect(sink.accepted.filter((b) => b.readings[0]?.deviceId === 'bi-storm').length).toBeLessThanOrEqual(10)
    sink.mode = 'pass'
    for (const h of sink.held) h.release()
    await quiet.publishAsync(readingsTopic('bi-quiet'), payload(1), { qos: 1 })
    expect(sink.accepted.at(-1)!.readings[0]?.deviceId).toBe('bi-quiet')
  })

  it('refuses a publish the sink cannot store: no PUBACK, the connection closes, and the resent message is stored', async () => {
    const sink = new GatedSink()
    broker = await brokerWith(sink)
    const device = await broker.device('bi-a', { reconnectPeriod: 200, clientId: uniqueId('bi-a'), clean: false })
    clients.push(device)
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()))
    const ack = device.publishAsync(readingsTopic('bi-a'), payload(1), { qos: 1 })
    await waitFor('message at the sink', () => sink.held.length === 1)
    sink.mode = 'pass'
    sink.held[0]!.fail(new Error('sink closing'))
    await closed
    await ack // mqtt.js resends after reconnecting; the second time the sink stores it
    expect(sink.accepted).toHaveLength(2)
    expect(broker.ingest).toMatchObject({ refused: 1, acknowledged: 1 })
  })

  it('sends one client\'s PUBACKs in arrival order while the sink finishes in any order [MQTT-4.6.0-2]', async () => {
    const sink = new GatedSink()
    sink.mode = 'hold'
    broker = await brokerWith(sink)
    const importer = await broker.service('importer', { clientId: uniqueId('importer') })
    clients.push(importer)
    const sent: number[] = []
    const acked: number[] = []
    importer.on('packetsend', (p: Packet) => p.cmd === 'publish' && sent.push(p.messageId!))
    importer.on('packetreceive', (p: Packet) => p.cmd === 'puback' && acked.push(p.messageId!))
    const acks = Array.from({ length: 40 }, (_, i) => importer.publishAsync(readingsTopic(DEVICES[i % 3]!), payload(i), { qos: 1 }))
    await waitFor('40 messages at the sink', () => sink.held.length === 40)
    // the messages reached the sink in arrival order
    expect(sink.held.map((h) => h.batch.readings[0]!.value)).toEqual(Array.from({ length: 40 }, (_, i) => i))
    // the sink acknowledges them in a shuffled order
    const order = sink.held.map((h, i) => ({ h, key: (i * 17) % 40 })).sort((a, b) => a.key - b.key)
    for (const { h } of order) {
      h.release()
      await pause(2)
    }
    await Promise.all(acks)
    expect(acked).toEqual(sent)
    expect(acked).toHaveLength(40)
  })

  it('keeps the connection while the sink stalls for longer than the keepalive: PINGREQs are still answered', async () => {
    const sink = new GatedSink()
    broker = await brokerWith(sink)
    const device = await broker.device('bi-a', { keepalive: 1 })
    clients.push(device)
    let closes = 0
    let pingResponses = 0
    device.on('close', () => closes++)
    device.on('packetreceive', (p: Packet) => void (p.cmd === 'pingresp' && pingResponses++))
    const ack = device.publishAsync(readingsTopic('bi-a'), payload(3), { qos: 1 })
    await waitFor('message at the sink', () => sink.held.length === 1)
    await pause(4_000) // 4 × the keepalive; aedes closes a client silent for 1.5 × [MQTT-3.1.2-24]
    expect(await settled(ack)).toBe(false)
    sink.held[0]!.release()
    await ack
    expect(closes).toBe(0)
    expect(pingResponses).toBeGreaterThanOrEqual(2)
  })

  it('ingests QoS 0 best effort without holding it, and counts and logs a failure', async () => {
    const sink = new GatedSink()
    broker = await brokerWith(sink)
    const observer = await broker.service('operator', { clientId: uniqueId('observer') })
    clients.push(observer)
    const seen: string[] = []
    observer.on('message', (_topic, message) => seen.push(message.toString()))
    await observer.subscribeAsync('senshagen/v1/devices/+/readings', { qos: 0 })
    const device = await broker.device('bi-b')
    clients.push(device)
    await device.publishAsync(readingsTopic('bi-b'), payload(7), { qos: 0 })
    await waitFor('the QoS 0 message delivered while the sink still holds it', () => seen.length === 1 && sink.held.length === 1)
    sink.held[0]!.fail(new Error('sink closing'))
    await waitFor('the failure counted', () => broker.ingest?.dropped === 1)
    expect(broker.ingest?.bestEffort).toBe(1)
    expect(logLines.some((l) => l.level === 50 && String(l.msg).includes('LOST') && l.topic === readingsTopic('bi-b'))).toBe(true)
  })

  it('ingests a device\'s will (offline) and does not ingest an empty retained payload that clears its status', async () => {
    const sink = new GatedSink()
    sink.mode = 'pass'
    broker = await brokerWith(sink)
    const device = await broker.device('bi-c', { will: { topic: statusTopic('bi-c'), payload: Buffer.from('offline'), qos: 1, retain: true } })
    await device.publishAsync(statusTopic('bi-c'), 'online', { qos: 1, retain: true })
    await device.publishAsync(statusTopic('bi-c'), '', { qos: 1, retain: true })
    device.stream.destroy() // no DISCONNECT: the broker sends the will
    await waitFor('the will ingested', () => broker.ingest?.wills === 1)
    const events = sink.accepted.flatMap((b) => b.events ?? [])
    expect(events.map((e) => [e.deviceId, (e as { status?: string }).status ?? e.kind])).toEqual([
      ['bi-c', expect.anything()],
      ['bi-c', expect.anything()],
    ])
    expect(JSON.stringify(events[1])).toContain('offline')
    expect(broker.ingest?.retainedClears).toBe(1)
    expect(sink.accepted).toHaveLength(2)
  })
})

describe('in-broker ingest with the real Kafka: one device\'s storm', () => {
  it('does not hold another device\'s PUBACK beyond a bound', async () => {
    const id = uniqueId('bi_storm')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    const topics = { readingsTopic: `${id}.readings`, rejectionsTopic: `${id}.rejections`, eventsTopic: `${id}.events` }
    await bus.ensureTopics(Object.values(topics), 3)
    const sink = new KafkaBatchSink(await bus.producer(), { ...topics, batchMs: 5, batchMessages: 500, maxBufferedRecords: 20_000 }, logger)
    // a generous rate limit, so the storm really reaches the sink (with the default 5/s it mostly waits in the limiter)
    const broker = await brokerWith(sink, { deviceRatePerS: 100_000, deviceBurst: 100_000 })
    const storm = await broker.device('bi-storm')
    const quiet = await broker.device('bi-quiet')
    try {
      const latency = async () => {
        const t0 = performance.now()
        await quiet.publishAsync(readingsTopic('bi-quiet'), payload(Math.floor(Math.random() * 1e6)), { qos: 1 })
        return performance.now() - t0
      }
      const calm: number[] = []
      for (let i = 0; i < 10; i++) calm.push(await latency())
      let stormAcked = 0
      const stormAcks = Array.from({ length: 5000 }, (_, i) => storm.publishAsync(readingsTopic('bi-storm'), payload(i), { qos: 1 }).then(() => void stormAcked++))
      const during: number[] = []
      while (stormAcked < 5000) {
        const ms = await latency()
        if (stormAcked < 5000) during.push(ms) // a probe acknowledged while the storm still had messages waiting
        await pause(5)
      }
      const stormStart = performance.now()
      await Promise.all(stormAcks)
      const stormMs = performance.now() - stormStart
      const max = Math.max(...during)
      console.log(`storm of 5000 QoS 1 messages; quiet device PUBACK calm max ${Math.max(...calm).toFixed(0)} ms, during the storm (${during.length} probes) p50 ${during.sort((a, b) => a - b)[Math.floor(during.length / 2)]!.toFixed(0)} ms max ${max.toFixed(0)} ms; storm drained ${stormMs.toFixed(0)} ms after the probes`)
      expect(during.length).toBeGreaterThanOrEqual(3)
      expect(max).toBeLessThan(1_000)
      expect(sink.stats.batches).toBeLessThan(sink.stats.messages / 5)
    } finally {
      await storm.endAsync(true)
      await quiet.endAsync(true)
      await broker.close()
      await sink.close()
    }
  }, 60_000)
})
