import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { readingsTopic } from '../../core/topics.ts'
import { runIngest } from '../../services/ingest/main.ts'
import { INFLUX_URL, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'
import { ShippedMosquitto } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/processes.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * Mosquitto as the broker, with the configuration the project ships (infra/mosquitto/conf.sh, which infra/up.sh
 * and docker-compose.yml run): the subscribed ingest (`senshagen ingest`, runIngest with SENSHAGEN_MQTT_URL) is
 * away, devices publish at QoS 1 and get their PUBACKs, Mosquitto queues the readings for the ingest's
 * persistent session, and is killed with SIGKILL. After a restart on the same persistence folder the ingest
 * comes back and every acknowledged reading is in InfluxDB once, with its value and time. Then the same with
 * Mosquitto's default queue limit (max_queued_messages 1000): PUBACKs for all, readings lost beyond the limit.
 * Each test runs its own Mosquitto on a free port with its own folder and its own InfluxDB database.
 */
const logger = createLogger('silent')

const DEVICES = 12
const MESSAGES_PER_DEVICE = 100 // 1,200 messages: above Mosquitto's default queue of 1,000
const T0 = Date.UTC(2026, 10, 30, 6, 0, 0)
/** Message i of a device: one PM10 reading of (device index × 1000 + i) / 10 µg/m³ at T0 + i s. */
const valueOf = (device: number, i: number) => (device * 1000 + i) / 10
const deviceId = (device: number) => `crash-dev-${device}`

/** Every device publishes its messages at QoS 1, one after the other; resolves with the count of PUBACKs. */
async function publishAll(url: string): Promise<number> {
  let acknowledged = 0
  await Promise.all(
    Array.from({ length: DEVICES }, async (_, device) => {
      const client = await mqtt.connectAsync(url, { clientId: uniqueId(deviceId(device)), protocolVersion: 4, reconnectPeriod: 0 })
      for (let i = 0; i < MESSAGES_PER_DEVICE; i++) {
        const payload = JSON.stringify({ v: 1, time: T0 + i * 1000, readings: { pm10: valueOf(device, i) } })
        await client.publishAsync(readingsTopic(deviceId(device)), payload, { qos: 1 })
        acknowledged++
      }
      await client.endAsync()
    }),
  )
  return acknowledged
}

/** `SELECT value FROM reading` of the database: [device, time ms, value] rows. */
async function storedReadings(database: string): Promise<Array<[string, number, number]>> {
  const query = new URLSearchParams({ db: database, epoch: 'ms', q: "SELECT value FROM reading WHERE quantity = 'pm10' GROUP BY device" })
  const body = (await (await fetch(`${INFLUX_URL}/query?${query}`)).json()) as {
    results: Array<{ series?: Array<{ tags: { device: string }; values: Array<[number, number]> }> }>
  }
  return (body.results[0]?.series ?? []).flatMap((s) => s.values.map(([time, value]) => [s.tags.device, time, value] as [string, number, number]))
}

async function dropDatabase(database: string): Promise<void> {
  await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }) })
}

describe('Mosquitto with the shipped configuration', () => {
  let registry: TestRegistry
  const dirs: string[] = []
  const databases: string[] = []
  const brokers: ShippedMosquitto[] = []

  beforeAll(async () => {
    registry = await testRegistry()
  })
  afterAll(async () => {
    for (const broker of brokers) await broker.kill9()
    for (const database of databases) await dropDatabase(database)
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    await registry?.close()
  })

  /** A Mosquitto on a free port and folder of its own, and the ingest's config (own database and client id) for it. */
  const setUp = async (env: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'senshagen-mosquitto-crash-'))
    dirs.push(dir)
    const broker = new ShippedMosquitto(await freePort(), dir, env)
    brokers.push(broker)
    const id = uniqueId('mosquitto_crash')
    databases.push(id)
    const url = `mqtt://127.0.0.1:${broker.port}`
    const config = isolatedConfig(id, { ...registry.env, SENSHAGEN_MQTT_URL: url })
    return { broker, url, config, database: id }
  }

  it('keeps every acknowledged QoS 1 message queued for the stopped ingest across a kill -9: each stored once', async () => {
    const { broker, url, config, database } = await setUp()
    await broker.start()
    // the ingest subscribes once (its persistent session), then is away while the devices publish
    const first = await runIngest(config, logger, registry.store)
    await first.stop()
    expect(await publishAll(url)).toBe(DEVICES * MESSAGES_PER_DEVICE)

    await broker.kill9()
    await broker.start()
    const ingest = await runIngest(config, logger, registry.store)
    try {
      let rows: Array<[string, number, number]> = []
      await waitFor('1,200 readings in InfluxDB', async () => {
        rows = await storedReadings(database)
        return rows.length >= DEVICES * MESSAGES_PER_DEVICE
      }, 60_000, 250).catch(() => undefined)
      const expected = Array.from({ length: DEVICES }, (_, device) =>
        Array.from({ length: MESSAGES_PER_DEVICE }, (_, i) => [deviceId(device), T0 + i * 1000, valueOf(device, i)]),
      ).flat()
      const byKey = (a: [string, number, number], b: [string, number, number]) => a[0].localeCompare(b[0]) || a[1] - b[1]
      expect(rows.sort(byKey)).toEqual((expected as Array<[string, number, number]>).sort(byKey))
      expect(ingest.core.stats.messages).toBeGreaterThanOrEqual(DEVICES * MESSAGES_PER_DEVICE)
    } finally {
      await ingest.stop()
    }
    expect(broker.log).not.toMatch(/dropped/i)
  }, 180_000)

  it('with Mosquitto\'s default max_queued_messages (1000) acknowledges all 1,200 and drops some for the ingest', async () => {
    const { broker, url, config, database } = await setUp({ SENSHAGEN_MOSQUITTO_MAX_QUEUED: '1000' })
    await broker.start()
    const first = await runIngest(config, logger, registry.store)
    await first.stop()
    expect(await publishAll(url)).toBe(DEVICES * MESSAGES_PER_DEVICE)

    const ingest = await runIngest(config, logger, registry.store)
    try {
      // the queue (1,000) plus what counts as in flight for the offline session arrives; nothing more will
      await waitFor('the queue delivered', async () => (await storedReadings(database)).length >= 1000, 60_000, 250)
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      const stored = (await storedReadings(database)).length
      expect(stored).toBeGreaterThanOrEqual(1000)
      expect(stored).toBeLessThan(DEVICES * MESSAGES_PER_DEVICE)
    } finally {
      await ingest.stop()
    }
    expect(broker.log).toMatch(/Outgoing messages are being dropped/)
  }, 180_000)
})
