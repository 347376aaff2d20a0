import type { IPubackPacket } from 'mqtt-packet'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDecoders } from '../../core/decoders/index.ts'
import { loadConfig } from '../../core/config.ts'
import { drainUnacknowledged } from '../../core/metrics.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import type { IngestSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { waitFor } from '../helpers/env.ts'
import { rawConnect, type RawClient } from '../helpers/mqtt-raw.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * The embedded broker's graceful shutdown (services/broker/shutdown.ts) on the real aedes broker over TCP, with a
 * sink the test holds and releases: what was read before the drain began is stored and PUBACKed in each
 * client's arrival order, nothing is read or accepted after it, and a store slower than the deadline is logged
 * at error level and counted. The whole process (SIGTERM, real InfluxDB and Kafka) is test/e2e/graceful-shutdown.test.ts.
 */
const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })
const DEVICES = ['drain-a', 'drain-b', 'drain-c']
const PER_DEVICE = 10
const config = loadConfig({})
const decoders = createDecoders({ deviceTimeZone: 'Europe/Amsterdam' })
const filters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
let registry: TestRegistry

/** Holds every accept until the test releases it. */
class HeldSink implements IngestSink {
  readonly held: Array<{ batch: WriteBatch; release: () => void }> = []
  accept(batch: WriteBatch): Promise<void> {
    return new Promise((resolve) => this.held.push({ batch, release: resolve }))
  }
  async close() {}
}

async function brokerWith(sink: IngestSink): Promise<TestBroker> {
  const core = new IngestCore({ ...config.ingest, decoders }, sink, logger)
  return testBroker(registry, logger, { limits: { deviceBurst: 1_000 }, ingest: { filters, handle: (message) => core.handle(message) } })
}

const payload = (seq: number) => JSON.stringify({ v: 1, time: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(), readings: { pm2_5: seq } })
const drainTimeouts = async () => (await drainUnacknowledged.get()).values.find((v) => v.labels.stage === 'embedded_broker')?.value ?? 0

/**
 * Each device connected on a raw socket, with PER_DEVICE QoS 1 publishes (packet ids 1…PER_DEVICE) written at
 * once; resolves once all of them are held at `sink`.
 */
async function publishing(broker: TestBroker, sink: HeldSink): Promise<RawClient[]> {
  const clients = await Promise.all(
    DEVICES.map(async (id) => {
      const { client, connack } = await rawConnect(broker.port, { clientId: id, username: id, password: Buffer.from(registry.secrets.get(id)!) })
      expect(connack.returnCode).toBe(0)
      return client
    }),
  )
  clients.forEach((client, d) => {
    for (let seq = 1; seq <= PER_DEVICE; seq++) client.send({ cmd: 'publish', topic: readingsTopic(DEVICES[d]!), payload: payload(seq), qos: 1, messageId: seq, retain: false, dup: false })
  })
  await waitFor('every publish at the sink', () => sink.held.length === DEVICES.length * PER_DEVICE)
  return clients
}

const pubacks = (client: RawClient) => client.received.filter((p): p is IPubackPacket => p.cmd === 'puback').map((p) => p.messageId)

beforeAll(async () => {
  registry = await testRegistry(DEVICES.map((id) => ({ id, neighbourhood: 'stadshagen', consent: true })))
})
afterAll(async () => {
  await registry?.close()
})

describe('embedded broker: graceful shutdown', () => {
  it('stores and PUBACKs, in each client\'s order, every publish read before the drain; refuses new connections; reads no more publishes', async () => {
    const sink = new HeldSink()
    const broker = await brokerWith(sink)
    const clients = await publishing(broker, sink)
    try {
      const before = await drainTimeouts()
      const errorsBefore = logLines.filter((l) => (l.level as number) >= 50).length

      const closing = broker.close(Date.now() + 20_000)
      // sent after the drain began: not read, so never acknowledged (the device resends it elsewhere)
      for (const [d, client] of clients.entries()) client.send({ cmd: 'publish', topic: readingsTopic(DEVICES[d]!), payload: payload(99), qos: 1, messageId: 99, retain: false, dup: false })
      // a new connection is refused: the listener no longer accepts, or the CONNECT gets no CONNACK
      await expect(rawConnect(broker.port, { clientId: 'drain-a-late', username: 'drain-a', password: Buffer.from(registry.secrets.get('drain-a')!) })).rejects.toThrow()
      expect(clients.map(pubacks)).toEqual([[], [], []])

      // the store acknowledges in the reverse order; the PUBACKs still follow each client's arrival order
      for (const held of [...sink.held].reverse()) held.release()
      await closing
      await Promise.all(clients.map((c) => c.closed)) // the broker ended each connection after its last PUBACK
      const inOrder = Array.from({ length: PER_DEVICE }, (_, i) => i + 1)
      expect(clients.map(pubacks)).toEqual([inOrder, inOrder, inOrder])
      expect(sink.held.length).toBe(DEVICES.length * PER_DEVICE) // message 99 never reached the ingest
      expect(broker.ingest).toMatchObject({ acknowledged: DEVICES.length * PER_DEVICE, refused: 0, dropped: 0 })
      expect(await drainTimeouts()).toBe(before)
      expect(logLines.filter((l) => (l.level as number) >= 50).length).toBe(errorsBefore)
    } finally {
      for (const client of clients) client.end()
      await broker.close()
    }
  })

  it('past the deadline: logs at error level how many publishes were left without PUBACK, counts them and closes', async () => {
    const sink = new HeldSink()
    const broker = await brokerWith(sink)
    const clients = await publishing(broker, sink)
    try {
      // one device's messages are stored before the deadline, the others' never are
      for (const held of sink.held.filter((h) => h.batch.readings[0]?.deviceId === 'drain-b')) held.release()
      await waitFor('drain-b acknowledged', () => pubacks(clients[1]!).length === PER_DEVICE)
      const before = await drainTimeouts()
      await broker.close(Date.now() + 500)

      const left = 2 * PER_DEVICE
      expect(await drainTimeouts()).toBe(before + left)
      const line = logLines.find((l) => l.stage === 'embedded_broker' && typeof l.msg === 'string' && l.msg.includes('drain deadline passed'))
      expect(line).toMatchObject({ level: 50, left })
      expect(clients.map(pubacks).map((ids) => ids.length)).toEqual([0, PER_DEVICE, 0])
      await Promise.all(clients.map((c) => c.closed))
    } finally {
      for (const held of sink.held) held.release()
      for (const client of clients) client.end()
      await broker.close()
    }
  })
})
