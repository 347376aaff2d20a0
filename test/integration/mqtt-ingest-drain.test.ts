import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createDecoders } from '../../core/decoders/index.ts'
import { drainUnacknowledged } from '../../core/metrics.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { MqttSource } from '../../services/ingest/mqtt-ingest.ts'
import type { IngestSink } from '../../services/ingest/sinks.ts'
import { MOSQUITTO_URL, uniqueId, waitFor } from '../helpers/env.ts'

/**
 * The subscribed ingest's graceful shutdown (MqttSource.stop with a deadline) on the Mosquitto 2.0 of infra/up.sh
 * (:1884, persistent sessions, max_inflight_messages 20): the window drains — every message in it is stored and
 * PUBACKed (in arrival order, mqtt-ack-window.ts) before the DISCONNECT — so the next session of the same client
 * id gets only what was never handed to the ingest. A store slower than the deadline is logged and counted, and
 * Mosquitto redelivers all of it. Each test uses its own topic and client id and removes its session afterwards.
 */
const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })

/** Records the PM10 value of every accepted message; holds every accept until released. */
function heldSink() {
  const values: number[] = []
  const waiting: Array<() => void> = []
  let holding = true
  const sink: IngestSink = {
    accept(batch: WriteBatch) {
      values.push(batch.readings[0]?.value ?? NaN)
      return holding ? new Promise<void>((resolve) => waiting.push(resolve)) : Promise.resolve()
    },
    close: async () => undefined,
  }
  return { sink, values, release: () => ((holding = false), waiting.splice(0).forEach((w) => w())) }
}

const payload = (i: number) => JSON.stringify({ v: 1, time: Date.UTC(2026, 10, 29, 12, 0, i), readings: { pm10: i } })
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const drainTimeouts = async () => (await drainUnacknowledged.get()).values.find((v) => v.labels.stage === 'subscribed_ingest')?.value ?? 0

const clientIds: string[] = []
const clients: MqttClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  for (const clientId of clientIds.splice(0)) await (await mqtt.connectAsync(MOSQUITTO_URL, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 })).endAsync()
})

/** An ingest subscribed to `device`'s topic with a persistent session `clientId`, on `sink`. */
async function subscribed(clientId: string, device: string, sink: IngestSink): Promise<MqttSource> {
  const core = new IngestCore({ maxPayloadBytes: 65_536, maxFutureMs: 300_000, decoders: createDecoders() }, sink, logger)
  const source = new MqttSource({ url: MOSQUITTO_URL, clientId, filters: [readingsTopic(device)], window: 20 }, core, logger)
  await source.start()
  return source
}

/** 30 QoS 1 messages (values 1…30) published to Mosquitto; Mosquitto hands the ingest 20 and holds 10. */
async function thirtyMessages(device: string): Promise<void> {
  const publisher = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 4, reconnectPeriod: 0 })
  clients.push(publisher)
  await Promise.all(range(1, 30).map((i) => publisher.publishAsync(readingsTopic(device), payload(i), { qos: 1 })))
}

/** A held sink's ingest on its own topic and session with a full window (messages 1…20; Mosquitto holds 21…30), and the drain count before. */
async function fullWindow(prefix: string) {
  const device = uniqueId(prefix)
  const clientId = uniqueId(`${prefix}-ingest`)
  clientIds.push(clientId)
  const first = heldSink()
  const source = await subscribed(clientId, device, first.sink)
  await thirtyMessages(device)
  await waitFor('a full window at the sink', () => first.values.length === 20, 5_000, 20)
  return { clientId, device, first, source, before: await drainTimeouts() }
}

describe('subscribed ingest: graceful shutdown', () => {
  it('drains its window before disconnecting: the next session gets only what was never handed to the ingest', async () => {
    const { clientId, device, first, source, before } = await fullWindow('drain')

    const stopping = source.stop(Date.now() + 20_000)
    await new Promise((resolve) => setTimeout(resolve, 200))
    first.release() // the store acknowledges during the drain
    await stopping
    expect(first.values).toEqual(range(1, 20))
    expect(source.stats).toMatchObject({ acknowledged: 20 })
    expect(await drainTimeouts()).toBe(before)

    const second = heldSink()
    second.release()
    const next = await subscribed(clientId, device, second.sink)
    try {
      await waitFor('the rest redelivered', () => second.values.length >= 10, 10_000, 20)
      await new Promise((resolve) => setTimeout(resolve, 500)) // anything more would be a redelivery of 1…20
      expect(second.values).toEqual(range(21, 30))
    } finally {
      await next.stop()
    }
  })

  it('past the deadline: logs at error level and counts what the window still held; the broker redelivers it all', async () => {
    const { clientId, device, first, source, before } = await fullWindow('drain-late')

    await source.stop(Date.now() + 300)
    expect(await drainTimeouts()).toBe(before + 20)
    expect(logLines.find((l) => l.stage === 'subscribed_ingest' && String(l.msg).includes('drain deadline passed'))).toMatchObject({ level: 50, left: 20 })
    first.release()

    const second = heldSink()
    second.release()
    const next = await subscribed(clientId, device, second.sink)
    try {
      await waitFor('all 30 redelivered', () => second.values.length >= 30, 10_000, 20)
      expect(second.values).toEqual(range(1, 30))
    } finally {
      await next.stop()
    }
  })
})
