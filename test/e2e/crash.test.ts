import { afterEach, describe, expect, it } from 'vitest'
import { replayArchiveFiles } from '../../cli/replay.ts'
import type { ArchiveRecord } from '../../core/decoders/sc-archive.ts'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { ARCHIVE_DEVICES, archiveFiles, expectedFromFile, sameAsCell } from '../helpers/archive-expectations.ts'
import { KAFKA_BROKERS, isolatedEnv, uniqueId, waitFor } from '../helpers/env.ts'
import { freePort, startCli, type CliProcess } from '../helpers/processes.ts'
import { testRegistry } from '../helpers/registry.ts'

const logger = createLogger('warn')
const files = archiveFiles()
const expected = files.flatMap((file) => expectedFromFile(file).values)
const started: CliProcess[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()))
})

/**
 * `kill -9` mid-replay, then a restart: every reading of every archive fixture is stored exactly once (3735
 * points, each equal to its file cell). The processes are those of a deployment: `senshagen broker` (the broker
 * with the ingest in its process and the HTTP ingest) and, in Kafka mode, `senshagen writer`.
 *   - the writer (Kafka mode): Kafka keeps what it did not commit;
 *   - the combined broker + ingest: every reading the replay had been acknowledged (PUBACK) at the kill is
 *     already durable — in InfluxDB at once in direct mode, in Kafka and so soon in InfluxDB in Kafka mode —
 *     before the broker is back; the replay resends what was unacknowledged until it is acknowledged.
 */
describe.each([
  { victim: 'writer', mode: 'kafka' },
  { victim: 'broker', mode: 'kafka' },
  { victim: 'broker', mode: 'direct' },
] as const)('kill -9 of the $victim mid-replay ($mode mode)', ({ victim, mode }) => {
  it('loses no acknowledged reading and duplicates none', async () => {
    const id = uniqueId(`crash_${victim}_${mode}`)
    const port = await freePort()
    // the broker process opens the same SQLite registry file; replay uses the importer account
    const registry = await testRegistry(ARCHIVE_DEVICES)
    const env = isolatedEnv(id, {
      ...registry.env,
      SENSHAGEN_MQTT_PORT: String(port),
      SENSHAGEN_MQTT_WS_PORT: String(await freePort()),
      SENSHAGEN_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      ...(mode === 'kafka' ? { SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS } : {}),
    })
    const store = await openInfluxStore(isolatedEnvInflux(env), logger)
    await store.ensureDatabase()
    const count = async () => Number((await store.influxql('SELECT count("value") FROM reading'))[0]?.values[0]?.[1] ?? 0)
    const storedKeys = async () => {
      const stored = await store.influxql('SELECT "value", "device", "quantity" FROM reading')
      return new Map((stored[0]?.values ?? []).map(([time, value, device, quantity]) => [`${device}|${quantity}|${time}`, value as number]))
    }
    const expectedKeys = new Set(expected.map((e) => `${e.device}|${e.quantity}|${e.time}`))
    const acknowledged = new Set<string>()
    const onAcknowledged = (record: ArchiveRecord) => {
      for (const [quantity, value] of Object.entries(record.readings)) {
        const key = `${record.deviceId}|${quantity}|${record.observedAt}`
        if (typeof value === 'number' && expectedKeys.has(key)) acknowledged.add(key)
      }
    }
    try {
      const processes: Record<string, CliProcess> = {}
      const start = async (service: 'broker' | 'writer') => {
        processes[service] = await startCli([service], env, service === 'broker' ? 'mqtt broker listening' : 'writer running')
        started.push(processes[service]!)
      }
      await start('broker')
      if (mode === 'kafka') await start('writer')

      const replay = replayArchiveFiles(files, { mqttUrl: env.SENSHAGEN_MQTT_URL!, ...registry.service.importer, qos: 1, onAcknowledged })
      const before = await waitFor('first stored readings', async () => ((await count()) >= 300 ? count() : 0), 60_000, 20)
      await processes[victim]!.kill9()
      const ackedAtKill = [...acknowledged]
      const atKill = await count()
      if (victim === 'broker') {
        // acknowledged = durable: direct mode wrote it to InfluxDB before the PUBACK; Kafka mode's writer (still
        // running) stores what Kafka acknowledged. Checked while the broker is still down.
        const lost = async () => {
          const stored = await storedKeys()
          return ackedAtKill.filter((key) => !stored.has(key))
        }
        if (mode === 'direct') expect(await lost()).toEqual([])
        else await waitFor('every reading acknowledged before the kill stored', async () => (await lost()).length === 0, 30_000)
      } else {
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
      await start(victim)
      await replay

      await waitFor(`${expected.length} readings after restart`, async () => (await count()) === expected.length, 90_000)
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(before).toBeGreaterThanOrEqual(300)
      expect(atKill).toBeLessThan(expected.length) // the kill really happened mid-replay
      expect(ackedAtKill.length).toBeGreaterThan(0)
      expect(ackedAtKill.length).toBeLessThan(expected.length)
      expect(acknowledged.size).toBe(expected.length) // the replay retried until everything was acknowledged
      expect(await count()).toBe(expected.length)

      const byKey = await storedKeys()
      expect(byKey.size).toBe(expected.length)
      const wrong = expected.filter((e) => {
        const value = byKey.get(`${e.device}|${e.quantity}|${e.time}`)
        return value === undefined || !sameAsCell(e.quantity, value, e.cell)
      })
      expect(wrong).toEqual([])
      console.log(`kill -9 of the ${victim} (${mode}): ${ackedAtKill.length} readings acknowledged and ${atKill} stored at the kill; after the restart all ${expected.length} stored once`)
    } finally {
      await store.influxql(`DROP DATABASE "${id}"`)
      await Promise.all(started.splice(0).map((p) => p.stop()))
      await registry.close()
    }
  }, 180_000)
})

function isolatedEnvInflux(env: Record<string, string>) {
  return { url: env.SENSHAGEN_INFLUX_URL!, database: env.SENSHAGEN_INFLUX_DATABASE! }
}
