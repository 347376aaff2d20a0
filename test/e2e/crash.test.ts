import { afterEach, describe, expect, it } from 'vitest'
import { replayArchiveFiles } from '../../cli/replay.ts'
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
 * `kill -9` of the writer or the ingest in the middle of a replay, then a restart: every reading of every
 * archive fixture is stored exactly once (3735 points, each equal to its file cell).
 * Broker, ingest and writer run as separate `senshagen` processes, as in a deployment.
 */
describe.each([
  { victim: 'writer', mode: 'kafka' },
  { victim: 'ingest', mode: 'kafka' },
  { victim: 'ingest', mode: 'direct' },
] as const)('kill -9 of the $victim mid-replay ($mode mode)', ({ victim, mode }) => {
  it('loses no reading and duplicates none', async () => {
    const id = uniqueId(`crash_${victim}_${mode}`)
    const port = await freePort()
    // the broker process opens the same SQLite registry file; the ingest reads its account from the credentials file
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
    try {
      started.push(await startCli(['broker'], env, 'mqtt broker listening'))
      const processes: Record<string, CliProcess> = {}
      const start = async (service: 'ingest' | 'writer') => {
        processes[service] = await startCli([service], env, `${service} running`)
        started.push(processes[service]!)
      }
      await start('ingest')
      if (mode === 'kafka') await start('writer')

      const replay = replayArchiveFiles(files, { mqttUrl: env.SENSHAGEN_MQTT_URL!, ...registry.service.importer, qos: 1 })
      const before = await waitFor('first stored readings', async () => ((await count()) >= 300 ? count() : 0), 60_000, 20)
      await processes[victim]!.kill9()
      const atKill = await count()
      await new Promise((resolve) => setTimeout(resolve, 500))
      await start(victim)
      await replay

      await waitFor(`${expected.length} readings after restart`, async () => (await count()) === expected.length, 90_000)
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(before).toBeGreaterThanOrEqual(300)
      expect(atKill).toBeLessThan(expected.length) // the kill really happened mid-replay
      expect(await count()).toBe(expected.length)

      const stored = await store.influxql('SELECT "value", "device", "quantity" FROM reading')
      const byKey = new Map(stored[0]!.values.map(([time, value, device, quantity]) => [`${device}|${quantity}|${time}`, value as number]))
      expect(byKey.size).toBe(expected.length)
      const wrong = expected.filter((e) => {
        const value = byKey.get(`${e.device}|${e.quantity}|${e.time}`)
        return value === undefined || !sameAsCell(e.quantity, value, e.cell)
      })
      expect(wrong).toEqual([])
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
