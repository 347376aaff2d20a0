import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { MqttSource } from '../../services/ingest/mqtt-ingest.ts'
import type { IngestSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { MOSQUITTO_URL, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const logger = createLogger('silent')

/**
 * A sink that records what the ingest hands over and acknowledges only when the test says so: it stands
 * for Kafka/InfluxDB so that these tests can hold an acknowledgement back and observe the MQTT side.
 */
function gatedSink() {
  const accepted: WriteBatch[] = []
  let open = true
  const waiting: Array<() => void> = []
  const sink: IngestSink = {
    async accept(batch) {
      accepted.push(batch)
      if (!open) await new Promise<void>((resolve) => waiting.push(resolve))
    },
    close: async () => undefined,
  }
  return { sink, accepted, hold: () => (open = false), release: () => ((open = true), waiting.splice(0).forEach((w) => w())) }
}

/** The ingest as `runIngest` builds it, on Mosquitto, with the given sink. */
function mosquittoIngest(clientId: string, sink: IngestSink) {
  const core = new IngestCore({ maxPayloadBytes: 65_536, maxFutureMs: 300_000, decoders: createDecoders() }, sink, logger)
  return { core, source: new MqttSource({ url: MOSQUITTO_URL, clientId, filters: ['senshagen/v1/devices/+/readings'] }, core, logger) }
}

const payload = (i: number) => JSON.stringify({ v: 1, time: Date.UTC(2026, 10, 29, 12, i), readings: { air_temperature: 10 + i / 10 } })

describe('embedded aedes broker', () => {
  let registry: TestRegistry
  let broker: TestBroker
  beforeAll(async () => {
    registry = await testRegistry([{ id: 'brokers-dev', neighbourhood: 'stadshagen', consent: true }])
    broker = await testBroker(registry, logger)
  })
  afterAll(async () => {
    await broker?.close()
    await registry?.close()
  })

  it.each([
    ['TCP', () => broker.url],
    ['WebSocket', () => broker.wsUrl],
  ])('carries QoS 0 and QoS 1 publishes of a logged-in device to the ingest account over %s', async (_name, url) => {
    const topic = readingsTopic('brokers-dev')
    const login = (username: string, password: string) => mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0, username, password })
    const subscriber = await login(registry.service.ingest.username, registry.service.ingest.password)
    const publisher = await login('brokers-dev', registry.secrets.get('brokers-dev')!)
    const got: Array<[string, number]> = []
    subscriber.on('message', (_t, message, packet) => got.push([message.toString(), packet.qos]))
    await subscriber.subscribeAsync(topic, { qos: 1 })
    await publisher.publishAsync(topic, 'zero', { qos: 0 })
    await publisher.publishAsync(topic, 'one', { qos: 1 }) // resolves on the broker's PUBACK
    await waitFor('both messages', () => got.length === 2, 5_000, 20)
    expect(got.sort()).toEqual([['one', 1], ['zero', 0]])
    await Promise.all([subscriber.endAsync(), publisher.endAsync()])
  })

  it.each([
    ['TCP', () => broker.url],
    ['WebSocket', () => broker.wsUrl],
  ])('refuses a client without credentials over %s (CONNACK 5)', async (_name, url) => {
    await expect(mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 5 })
  })
})

/**
 * The ingest against any MQTT 3.1.1 broker: here Mosquitto from Debian (infra/up.sh, port 1884). It must
 * not acknowledge a QoS 1 message before its sink did, and it must get messages published while it was away.
 */
describe('ingest on Mosquitto', () => {
  it('acknowledges a QoS 1 message only after the sink acknowledged, and gets it again after a crash', async () => {
    const clientId = uniqueId('ingest')
    const device = uniqueId('dev').replace(/_/g, '-')
    const first = gatedSink()
    first.hold()
    const ingest = mosquittoIngest(clientId, first.sink).source
    await ingest.start()
    const publisher = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 4 })
    await publisher.publishAsync(readingsTopic(device), payload(1), { qos: 1 })
    await waitFor('the message at the sink', () => first.accepted.length === 1, 5_000, 20)
    expect(first.accepted[0]!.readings.map((r) => [r.deviceId, r.quantity, r.value])).toEqual([[device, 'air_temperature', 10.1]])

    // Crash before the sink acknowledged: the connection drops without a PUBACK.
    await ingest.stop()
    // While the ingest is away another message arrives; Mosquitto queues both for the persistent session.
    await publisher.publishAsync(readingsTopic(device), payload(2), { qos: 1 })

    const second = gatedSink()
    const { core: restartedCore, source: restarted } = mosquittoIngest(clientId, second.sink)
    await restarted.start()
    await waitFor('both messages after restart', () => second.accepted.length === 2, 10_000, 20)
    expect(second.accepted.flatMap((b) => b.readings.map((r) => r.value))).toEqual([10.1, 10.2])
    await waitFor('stats', () => restartedCore.stats.messages === 2, 5_000, 20)

    // Acknowledged now: a third start of the same session receives nothing old.
    await restarted.stop()
    const third = gatedSink()
    const again = mosquittoIngest(clientId, third.sink).source
    await again.start()
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(third.accepted).toEqual([])
    await again.stop()
    await publisher.endAsync()
    // remove the persistent session from Mosquitto
    await (await mqtt.connectAsync(MOSQUITTO_URL, { clientId, clean: true, protocolVersion: 4 })).endAsync()
  })
})
