import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { NativePayloadV1Schema } from '../../core/native-payload.ts'
import { deviceFromReadingsTopic, readingsTopic, statusTopic } from '../../core/topics.ts'
import { backfill, startFleet } from '../../firmware-sim/fleet.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const logger = createLogger('silent')
let registry: TestRegistry
let broker: TestBroker
let url: string
/** The simulator publishes as the importer account, which the broker lets publish for registered devices only. */
let importer: { username: string; password: string }

beforeAll(async () => {
  registry = await testRegistry()
  broker = await testBroker(registry, logger)
  url = broker.url
  importer = registry.service.importer
})

afterAll(async () => {
  await broker?.close()
  await registry?.close()
})

async function register(ids: string[]): Promise<void> {
  for (const id of ids) await registry.store.addDevice({ id, neighbourhood: 'stadshagen', consent: true })
}

/** A fresh subscriber (own client id, the operator account) that records every message on `filters`. */
async function subscriber(filters: string[]) {
  const client = await mqtt.connectAsync(url, { clientId: `it-sim-sub-${randomBytes(4).toString('hex')}`, protocolVersion: 4, ...registry.service.operator })
  const messages: { topic: string; payload: string; retain: boolean }[] = []
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }))
  await client.subscribeAsync(filters, { qos: 1 })
  return { client, messages }
}

async function retainedStatus(deviceIds: string[]): Promise<Record<string, string>> {
  const { client, messages } = await subscriber(deviceIds.map(statusTopic))
  await until(() => messages.length >= deviceIds.length, 2_000)
  await client.endAsync()
  expect(messages.every((m) => m.retain)).toBe(true)
  return Object.fromEntries(messages.map((m) => [m.topic.split('/')[3], m.payload]))
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
}

describe('firmware-sim fleet against the embedded broker', () => {
  it('publishes native payloads from every device on its own topic, with retained online/offline status', async () => {
    const prefix = `it${randomBytes(3).toString('hex')}-`
    const ids = [0, 1, 2].map((i) => `${prefix}00${i}`)
    await register(ids)
    const { client: sub, messages } = await subscriber(ids.map(readingsTopic))
    try {
      const fleet = await startFleet(
        { mqttUrl: url, ...importer, devices: 3, intervalMs: 200, seed: 1_000 + Math.floor(Math.random() * 1e6), qos: 1, deviceIdPrefix: prefix },
        logger,
      )
      expect(await retainedStatus(ids)).toEqual({ [ids[0]!]: 'online', [ids[1]!]: 'online', [ids[2]!]: 'online' })
      await new Promise((r) => setTimeout(r, 1_500))
      await fleet.stop()
      await fleet.done
      await until(() => messages.length >= fleet.stats.published, 1_000)

      const byDevice = new Map<string, number>()
      for (const m of messages) {
        const payload = NativePayloadV1Schema.parse(JSON.parse(m.payload))
        expect(m.topic).toBe(readingsTopic(payload.device!))
        expect(deviceFromReadingsTopic(m.topic)).toBe(payload.device)
        expect(Object.keys(payload.readings).sort()).toEqual(['air_pressure', 'air_temperature', 'pm10', 'pm2_5', 'relative_humidity'])
        byDevice.set(payload.device!, (byDevice.get(payload.device!) ?? 0) + 1)
      }
      expect([...byDevice.keys()].sort()).toEqual(ids)
      // ~1.5 s / 200 ms ≈ 7–8 readings each; allow for timer slack on a busy machine
      for (const count of byDevice.values()) expect(count).toBeGreaterThanOrEqual(4)
      expect(fleet.stats.failed).toBe(0)
      expect(fleet.stats.dropped).toBe(0)
      expect(messages.length).toBe(fleet.stats.published)

      // graceful stop says offline itself (a clean DISCONNECT discards the will [MQTT-3.1.2-10])
      expect(await retainedStatus(ids)).toEqual({ [ids[0]!]: 'offline', [ids[1]!]: 'offline', [ids[2]!]: 'offline' })
      await fleet.stop() // idempotent
    } finally {
      await sub.endAsync()
    }
  })

  it('backfills a past window at fixed steps with a bounded number of publishes in flight', async () => {
    const prefix = `bf${randomBytes(3).toString('hex')}-`
    const ids = [`${prefix}000`, `${prefix}001`]
    await register(ids)
    const { client: sub, messages } = await subscriber(ids.map(readingsTopic))
    try {
      const toMs = Date.UTC(2026, 10, 29, 12)
      const stats = await backfill(
        { mqttUrl: url, ...importer, devices: 2, seed: 7, qos: 1, deviceIdPrefix: prefix, fromMs: toMs - 3_600_000, toMs, stepMs: 300_000, maxInFlight: 4 },
        logger,
      )
      expect(stats).toEqual({ published: 24, failed: 0 })
      await until(() => messages.length >= 24, 2_000)
      const times = messages.filter((m) => m.topic === readingsTopic(ids[1]!)).map((m) => JSON.parse(m.payload).time as string).sort()
      expect(times).toHaveLength(12)
      expect(times[0]).toBe('2026-11-29T11:00:00.000Z')
      expect(times[11]).toBe('2026-11-29T11:55:00.000Z')
    } finally {
      await sub.endAsync()
    }
  })

  it('stops by itself after durationMs', async () => {
    const prefix = `du${randomBytes(3).toString('hex')}-`
    await register([`${prefix}000`])
    const started = Date.now()
    const fleet = await startFleet({ mqttUrl: url, ...importer, devices: 1, intervalMs: 100, seed: 3, qos: 0, deviceIdPrefix: prefix, durationMs: 500 }, logger)
    await fleet.done
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(fleet.stats.published).toBeGreaterThanOrEqual(3)
    expect(await retainedStatus([`${prefix}000`])).toEqual({ [`${prefix}000`]: 'offline' })
  })

  it('is refused by the broker for a device that is not registered', async () => {
    const prefix = `nr${randomBytes(3).toString('hex')}-`
    await expect(
      startFleet({ mqttUrl: url, ...importer, devices: 1, intervalMs: 1_000, seed: 4, qos: 1, deviceIdPrefix: prefix, connectTimeoutMs: 3_000 }, logger),
    ).rejects.toThrow(/cannot connect to mqtt:\/\/127\.0\.0\.1:\d+/)
  })

  it('refuses to start when the broker is unreachable', async () => {
    await expect(
      startFleet({ mqttUrl: 'mqtt://127.0.0.1:1', devices: 2, intervalMs: 1_000, seed: 1, qos: 0, connectTimeoutMs: 2_000 }, logger),
    ).rejects.toThrow(/cannot connect to mqtt:\/\/127\.0\.0\.1:1/)
  })
})
