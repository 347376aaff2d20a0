import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDecoders } from '../../core/decoders/index.ts'
import { createLogger } from '../../core/logger.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { MqttSource, type MqttSourceOptions } from '../../services/ingest/mqtt-ingest.ts'
import type { IngestSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { MOSQUITTO_URL, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { OPENSSL, selfSignedCertificate } from '../helpers/tls.ts'

/**
 * The subscribed ingest (services/ingest/mqtt-ingest.ts: windowed, PUBACKs in arrival order) on real brokers:
 * the embedded aedes broker (no in-flight limit, so the client's window is what bounds) and the Mosquitto 2.0
 * of infra/up.sh on :1884 (anonymous, persistent, max_inflight_messages 20). Every test subscribes to
 * its own device's topic only, with its own client ids, and removes its persistent sessions afterwards.
 */
const logger = createLogger('silent')

/**
 * A sink standing in for Kafka/InfluxDB: records every batch and, while held, acknowledges none; counts how
 * many accepts were waiting at once. `delayMs` acknowledges each after that long instead.
 */
function gatedSink(delayMs = 0) {
  const accepted: WriteBatch[] = []
  let held = false
  let active = 0
  const waiting: Array<() => void> = []
  const sink: IngestSink & { maxActive: number } = {
    maxActive: 0,
    async accept(batch) {
      accepted.push(batch)
      sink.maxActive = Math.max(sink.maxActive, ++active)
      try {
        if (held) await new Promise<void>((resolve) => waiting.push(resolve))
        else if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      } finally {
        active--
      }
    },
    close: async () => undefined,
  }
  return {
    sink,
    accepted,
    /** The reading values handed over, in order (message i carries value i); a rejection would show as NaN. */
    values: () => accepted.map((b) => (b.readings.length === 1 && b.rejections.length === 0 ? b.readings[0]!.value : NaN)),
    hold: () => (held = true),
    release: () => ((held = false), waiting.splice(0).forEach((w) => w())),
  }
}

/** Message i carries one PM10 reading of value i µg/m³ (valid up to 2000). */
const payload = (i: number) => JSON.stringify({ v: 1, time: Date.UTC(2026, 10, 29, 12, 0, i), readings: { pm10: i } })
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** A real IngestCore on `sink` and an MqttSource feeding it. */
function subscribedIngest(options: MqttSourceOptions, sink: IngestSink) {
  const core = new IngestCore({ maxPayloadBytes: 65_536, maxFutureMs: 300_000, decoders: createDecoders() }, sink, logger)
  return { core, source: new MqttSource(options, core, logger) }
}

describe('subscribed ingest on the embedded aedes broker', () => {
  let registry: TestRegistry
  let broker: TestBroker
  const ingestLogin = () => ({ username: registry.service.ingest.username, password: registry.service.ingest.password })
  beforeAll(async () => {
    registry = await testRegistry([{ id: 'window-dev', neighbourhood: 'stadshagen', consent: true }])
    broker = await testBroker(registry, logger, { limits: { deviceRatePerS: 100_000, deviceBurst: 100_000 } })
  })
  afterAll(async () => {
    await broker?.close()
    await registry?.close()
  })

  it('keeps at most the window in flight and stores more messages than the window, each once', async () => {
    const store = gatedSink(15)
    const { core, source } = subscribedIngest({ url: broker.url, clientId: uniqueId('ingest'), ...ingestLogin(), filters: [readingsTopic('window-dev')], window: 5 }, store.sink)
    await source.start()
    const device = await broker.device('window-dev')
    // aedes has no in-flight limit: all 60 reach the client at once, the window holds 55 of them back
    await Promise.all(range(1, 60).map((i) => device.publishAsync(readingsTopic('window-dev'), payload(i), { qos: 1 })))
    await waitFor('60 messages stored and acknowledged', () => source.stats.acknowledged === 60, 10_000, 20)
    expect(store.sink.maxActive).toBe(5)
    expect(source.stats.maxInFlight).toBe(5)
    expect(store.values()).toEqual(range(1, 60))
    expect(core.stats.messages).toBe(60)
    expect(source.stats).toMatchObject({ connections: 1, received: 60, acknowledged: 60 })
    await Promise.all([source.stop(), device.endAsync()])
  })

  it('refuses to start with a share group: aedes has no $share, and our broker refuses the filter (SUBACK 0x80)', async () => {
    const { source } = subscribedIngest({ url: broker.url, clientId: uniqueId('ingest'), ...ingestLogin(), filters: [readingsTopic('window-dev')], shareGroup: 'ingesters' }, gatedSink().sink)
    await expect(source.start()).rejects.toThrow("refused the subscription to '$share/ingesters/senshagen/v1/devices/window-dev/readings' (SUBACK 0x80)")
  })

  it.skipIf(!OPENSSL)('subscribes over mqtts:// (TTN uses TLS) and acknowledges over it (skipped when openssl is missing)', async () => {
    const { certFile, keyFile, ca, remove } = selfSignedCertificate()
    const tlsBroker = await testBroker(registry, logger, { tls: { certFile, keyFile, port: 0, wsPort: 0 } })
    try {
      const store = gatedSink()
      const url = `mqtts://localhost:${tlsBroker.tlsPort}`
      const { source } = subscribedIngest({ url, clientId: uniqueId('ingest'), ...ingestLogin(), filters: [readingsTopic('window-dev')], tls: { ca } }, store.sink)
      await source.start()
      const device = await tlsBroker.device('window-dev')
      await device.publishAsync(readingsTopic('window-dev'), payload(7), { qos: 1 })
      await waitFor('the message acknowledged over TLS', () => source.stats.acknowledged === 1, 5_000, 20)
      expect(store.values()).toEqual([7])
      // without the private CA the certificate is refused, as any TLS client must
      const { source: untrusting } = subscribedIngest({ url, clientId: uniqueId('ingest'), ...ingestLogin(), filters: [readingsTopic('window-dev')] }, gatedSink().sink)
      await expect(untrusting.start()).rejects.toThrow(/self-signed certificate/)
      await Promise.all([source.stop(), device.endAsync()])
    } finally {
      await tlsBroker.close()
      remove()
    }
  })
})

describe('subscribed ingest on Mosquitto 2.0', () => {
  const clientIds: string[] = []
  const clients: MqttClient[] = []
  const sources: MqttSource[] = []
  const session = (prefix: string) => {
    const id = uniqueId(prefix)
    clientIds.push(id)
    return id
  }
  const publisher = async () => {
    const client = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 4, reconnectPeriod: 0 })
    clients.push(client)
    return client
  }
  const start = async (options: MqttSourceOptions, sink: IngestSink) => {
    const ingest = subscribedIngest(options, sink)
    sources.push(ingest.source)
    await ingest.source.start()
    return ingest
  }
  afterEach(async () => {
    for (const source of sources.splice(0)) await source.stop()
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    // remove the persistent sessions from the shared Mosquitto
    for (const clientId of clientIds.splice(0)) await (await mqtt.connectAsync(MOSQUITTO_URL, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 })).endAsync()
  })

  it('keeps its connection while the store stalls three times the keepalive, then acknowledges everything once', async () => {
    const device = uniqueId('stall')
    const store = gatedSink()
    store.hold()
    const { source } = await start({ url: MOSQUITTO_URL, clientId: session('ingest'), filters: [readingsTopic(device)], keepaliveS: 2 }, store.sink)
    const pub = await publisher()
    await Promise.all(range(1, 30).map((i) => pub.publishAsync(readingsTopic(device), payload(i), { qos: 1 })))
    // Mosquitto sends 20 (max_inflight_messages) and waits for their PUBACKs
    await waitFor('a full window at the sink', () => store.accepted.length === 20, 5_000, 20)
    // Mosquitto closes a client silent for 1.5 × keepalive = 3 s; our own check gives up after an unanswered keepalive
    await new Promise((resolve) => setTimeout(resolve, 6_000))
    expect(source.stats.connections).toBe(1)
    expect(store.accepted.length).toBe(20) // no redelivery: the connection never dropped
    store.release()
    await waitFor('all 30 acknowledged', () => source.stats.acknowledged === 30, 10_000, 20)
    expect(store.values()).toEqual(range(1, 30))
    expect(source.stats).toMatchObject({ connections: 1, received: 30, acknowledged: 30, maxInFlight: 20 })
  })

  it('loses nothing when the connection is cut before the acknowledgements: it reconnects and the broker redelivers', async () => {
    const device = uniqueId('cut')
    const clientId = session('ingest')
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(MOSQUITTO_URL).port) })
    try {
      const store = gatedSink()
      store.hold()
      const url = proxy.url.replace('http://', 'mqtt://')
      const { core, source } = await start({ url, clientId, filters: [readingsTopic(device)], reconnect: { initialDelayMs: 100, maxDelayMs: 400 } }, store.sink)
      const pub = await publisher()
      await Promise.all(range(1, 10).map((i) => pub.publishAsync(readingsTopic(device), payload(i), { qos: 1 })))
      await waitFor('ten messages at the sink', () => store.accepted.length === 10, 5_000, 20)
      proxy.down() // the network goes: no PUBACK has been sent
      await new Promise((resolve) => setTimeout(resolve, 500)) // reconnects are refused meanwhile
      proxy.up()
      await waitFor('the ten again after the reconnect', () => store.accepted.length === 20, 10_000, 20)
      store.release()
      await waitFor('the redelivered ten acknowledged', () => source.stats.acknowledged === 10, 5_000, 20)
      // the first copies finished too, but their packet ids belonged to the lost connection: never acknowledged
      expect(store.values()).toEqual([...range(1, 10), ...range(1, 10)])
      expect(core.stats.messages).toBe(20)
      expect(source.stats).toMatchObject({ connections: 2, received: 20, acknowledged: 10 })
      // DISCONNECT goes after the PUBACKs: Mosquitto has read them all before the proxy drops its sockets (a
      // persistent Mosquitto, slower per PUBACK, otherwise lost some with the proxy and redelivered them)
      await source.stop()
    } finally {
      await proxy.close()
    }
    // everything was acknowledged: the same session, back directly, gets nothing old
    const later = gatedSink()
    await start({ url: MOSQUITTO_URL, clientId, filters: [readingsTopic(device)] }, later.sink)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(later.accepted).toEqual([])
  })

  it('splits one $share subscription between two instances, each message handled once; a stopped one keeps its share', async () => {
    const device = uniqueId('share')
    const group = uniqueId('ingesters')
    const [a, b] = [gatedSink(), gatedSink()]
    const options = (clientId: string): MqttSourceOptions => ({ url: MOSQUITTO_URL, clientId, filters: [readingsTopic(device)], shareGroup: group })
    const [idA, idB] = [session('ingest-a'), session('ingest-b')]
    await start(options(idA), a.sink)
    const first = await start(options(idB), b.sink)
    const pub = await publisher()
    await Promise.all(range(1, 100).map((i) => pub.publishAsync(readingsTopic(device), payload(i), { qos: 1 })))
    await waitFor('100 messages between the two', () => a.accepted.length + b.accepted.length === 100, 10_000, 20)
    expect([...a.values(), ...b.values()].sort((x, y) => x - y)).toEqual(range(1, 100))
    // Mosquitto 2.0.11 takes turns (round robin)
    expect(a.accepted.length).toBeGreaterThanOrEqual(40)
    expect(b.accepted.length).toBeGreaterThanOrEqual(40)

    // Instance b stops. Its persistent session stays in the group: Mosquitto still gives it its turn and
    // queues those messages for it instead of handing them to a.
    await first.source.stop()
    await Promise.all(range(101, 120).map((i) => pub.publishAsync(readingsTopic(device), payload(i), { qos: 1 })))
    await new Promise((resolve) => setTimeout(resolve, 500))
    const whileAway = a.values().filter((v) => v > 100).length
    expect(whileAway).toBeGreaterThan(0)
    expect(whileAway).toBeLessThan(20)
    const back = gatedSink()
    await start(options(idB), back.sink)
    await waitFor('b its queued share on return', () => whileAway + back.accepted.length === 20, 5_000, 20)
    expect([...a.values(), ...b.values(), ...back.values()].sort((x, y) => x - y)).toEqual(range(1, 120))
  })
})
