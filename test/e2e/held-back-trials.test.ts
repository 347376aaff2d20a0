import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { readingsTopic } from '../../core/topics.ts'
import { runIngest, type RunningIngest } from '../../services/ingest/main.ts'
import { runWriter } from '../../services/writer/main.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { KAFKA_BROKERS, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const BOX = '5a8d1c8ebc2d41001927c3c3'
const OSEM = `osem-${BOX}`
/** A configured openSenseMap sensor (SENSHAGEN_OSEM_SENSORS_FILE): PM2.5 in µg/m³ from an SDS011. */
const PM25_SENSOR = '5a8d1c8ebc2d41001927c3d0'
const MQTT_DEVICE = 'trial-node-1'
/** `{"a":{"a":…1…}}`, `depth` levels: the held-back trial's pathological payload at 5,000. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

/** The production ingest (runIngest) with the embedded broker handing it every publish, as `senshagen up` runs them. */
async function frontDoor(config: Config, registry: TestRegistry, logger: Logger): Promise<{ ingest: RunningIngest; broker: TestBroker; stop(): Promise<void> }> {
  const ingest = await runIngest(config, logger, registry.store, { inBroker: true })
  const broker = await testBroker(registry, logger, { ingest: { filters: ingest.mqttFilters, handle: (message) => ingest.core.handle(message) } })
  return {
    ingest,
    broker,
    async stop() {
      await broker.close()
      await ingest.stop()
    },
  }
}

/**
 * The held-back trials of issue 10 against the production ingest (runIngest, direct mode: HTTP routes, pipeline,
 * writer) on the real InfluxDB, with the embedded broker's in-broker ingest for MQTT: same-time values in one
 * upload, a 5,000-deep JSON body over HTTP and MQTT, and a restart that must not record schema changes again.
 */
describe('held-back trials (real HTTP, embedded broker and InfluxDB)', () => {
  const id = uniqueId('trials')
  const logLines: Array<Record<string, unknown>> = []
  const rawLog: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void (rawLog.push(line), logLines.push(JSON.parse(line) as Record<string, unknown>)) })
  let registry: TestRegistry
  let ingest: RunningIngest
  let broker: TestBroker
  let stop: () => Promise<void>
  let store: InfluxReadingStore
  let sensorsFile: string
  const config = () =>
    isolatedConfig(id, { SENSHAGEN_MAX_AGE_MS: String(20 * 365 * 86_400_000), SENSHAGEN_OSEM_SENSORS_FILE: sensorsFile, ...registry.env })
  const start = async () => void ({ ingest, broker, stop } = await frontDoor(config(), registry, logger))

  beforeAll(async () => {
    registry = await testRegistry([
      { id: OSEM, neighbourhood: 'stadshagen', consent: true },
      { id: MQTT_DEVICE, neighbourhood: 'stadshagen', consent: true },
    ])
    sensorsFile = join(dirname(registry.url), 'osem-sensors.json') // the registry's temporary folder, removed with it
    writeFileSync(sensorsFile, JSON.stringify({ [PM25_SENSOR]: { quantity: 'pm2_5', model: 'SDS011' } }))
    await start()
    store = await openInfluxStore(config().influx, logger)
  }, 60_000)

  afterAll(async () => {
    await stop?.()
    await store?.influxql(`DROP DATABASE "${id}"`)
    await store?.close()
    await registry?.close()
  })

  const push = (path: string, body: string, contentType = 'application/json') =>
    fetch(`http://127.0.0.1:${ingest.httpPort}${path}`, { method: 'POST', headers: { 'content-type': contentType, authorization: registry.secrets.get(OSEM)! }, body })
  const rows = async (statement: string) => (await store.influxql(statement))[0]?.values ?? []

  it('three openSenseMap values without createdAt: answers 1 stored and 2 rejected, stores the first, dead-letters the others with their values', async () => {
    const body = JSON.stringify([{ sensor: PM25_SENSOR, value: '8.4' }, { sensor: PM25_SENSOR, value: '9.1' }, { sensor: PM25_SENSOR, value: '7.7' }])
    const response = await push(`/boxes/${BOX}/data`, body)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ readings: 1, rejections: 2 })
    const stored = await rows(`SELECT "value" FROM reading WHERE device = '${OSEM}' AND quantity = 'pm2_5'`)
    expect(stored.map((r) => r[1])).toEqual([8.4])
    const rejected = await rows(`SELECT "path", "value", "rule" FROM rejection WHERE device = '${OSEM}' AND rule = 'duplicate_time'`)
    expect(rejected.map((r) => [r[3], r[1], r[2]]).sort()).toEqual([
      ['duplicate_time', `${PM25_SENSOR}[1]`, '"9.1"'],
      ['duplicate_time', `${PM25_SENSOR}[2]`, '"7.7"'],
    ])
    expect(rejected.every((r) => r[0] === stored[0]![0])).toBe(true) // at the stored value's time
  })

  it('TTN normalized_payload entries without time: the first per quantity stored, the others dead-lettered', async () => {
    const uplink = {
      end_device_ids: { device_id: 'trial-ttn-1', application_ids: { application_id: id.replace(/_/g, '-') } },
      received_at: '2026-11-30T08:00:00Z',
      uplink_message: { f_port: 1, normalized_payload: [{ air: { temperature: 4.1 } }, { air: { temperature: 4.4 } }] },
    }
    const device = `ttn:${id.replace(/_/g, '-')}:trial-ttn-1`
    // what the TTN MQTT source hands the ingest (services/ingest/mqtt-ingest.ts)
    const ctx = await ingest.core.handle({ topic: `v3/${id.replace(/_/g, '-')}@ttn/devices/trial-ttn-1/up`, payload: Buffer.from(JSON.stringify(uplink)), receivedAt: Date.now(), qos: 1 })
    expect([ctx.readings.length, ctx.rejections.length]).toEqual([1, 1])
    expect((await rows(`SELECT "value" FROM reading WHERE device = '${device}'`)).map((r) => [r[0], r[1]])).toEqual([[Date.UTC(2026, 10, 30, 8), 4.1]])
    expect((await rows(`SELECT "path", "value" FROM rejection WHERE device = '${device}' AND rule = 'duplicate_time'`)).map((r) => [r[1], r[2]])).toEqual([
      ['normalized_payload[1].air.temperature', '4.4'],
    ])
  })

  it('a 5,000-deep JSON body over HTTP is dead-lettered too_deep under its device, answered as a rejection, logged once at warn without the payload', async () => {
    const body = nested(5000)
    const before = rawLog.length
    const response = await push(`/boxes/${BOX}/data`, body)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ readings: 0, rejections: 1 })
    const kept = await rows(`SELECT "path", "raw", "value" FROM rejection WHERE device = '${OSEM}' AND rule = 'too_deep'`)
    expect(kept.map((r) => [r[1], r[2], r[3]])).toEqual([['$', body, null]])
    const lines = logLines.slice(before)
    expect(lines.filter((l) => (l.level as number) >= 40).map((l) => [l.level, l.msg, l.rule, l.bytes])).toEqual([[40, 'message dead-lettered whole', 'too_deep', body.length]])
    expect(rawLog.slice(before).every((line) => line.length < 2_000)).toBe(true)
  })

  it('a 5,000-deep JSON message over MQTT (in-broker ingest) is acknowledged only once its too_deep rejection is stored', async () => {
    const body = `{"v":1,"readings":{"pm10":${nested(5000)}}}`
    const client = await broker.device(MQTT_DEVICE)
    await client.publishAsync(readingsTopic(MQTT_DEVICE), body, { qos: 1 }) // resolves on PUBACK
    await client.endAsync()
    // a PUBACK means stored: no waiting
    const kept = await rows(`SELECT "topic", "raw" FROM rejection WHERE rule = 'too_deep' AND "topic" = '${readingsTopic(MQTT_DEVICE)}'`)
    expect(kept.map((r) => [r[1], r[2]])).toEqual([[readingsTopic(MQTT_DEVICE), body]])
  })

  it('a restarted ingest reads schema drift state back: the same shape records no schema_change, a changed one records one', async () => {
    const payload = (readings: Record<string, number>, i: number) => JSON.stringify({ v: 1, time: new Date(Date.UTC(2026, 10, 30, 9, i)).toISOString(), sensor: 'BME280', readings })
    const publish = async (body: string) => {
      const client = await broker.device(MQTT_DEVICE)
      await client.publishAsync(readingsTopic(MQTT_DEVICE), body, { qos: 1 })
      await client.endAsync()
    }
    const changes = async () => (await rows(`SELECT "detail" FROM device_event WHERE device = '${MQTT_DEVICE}' AND kind = 'schema_change'`)).map((r) => JSON.parse(String(r[1])) as Record<string, unknown>)
    await publish(payload({ air_temperature: 5.1, relative_humidity: 90 }, 0))
    await publish(payload({ air_temperature: 5.2, relative_humidity: 91 }, 1))
    expect(await changes()).toMatchObject([{ first: true, added: ['readings.air_temperature:number', 'readings.relative_humidity:number'] }])

    await stop()
    await start()
    await publish(payload({ air_temperature: 5.3, relative_humidity: 92 }, 2))
    expect((await rows(`SELECT "value" FROM reading WHERE device = '${MQTT_DEVICE}' AND quantity = 'air_temperature'`)).map((r) => r[1])).toEqual([5.1, 5.2, 5.3])
    expect(await changes()).toHaveLength(1)
    expect(logLines.filter((l) => l.msg === 'schema drift state read back from the store').map((l) => l.devices).at(-1)).toBeGreaterThanOrEqual(1)

    await publish(payload({ air_temperature: 5.4, relative_humidity: 93, air_pressure: 1010 }, 3))
    expect(await changes()).toMatchObject([{ first: true }, { first: false, added: ['readings.air_pressure:number'], changed: [] }])
  })
})

/**
 * The restart trial in Kafka mode: the ingest keeps the schema-drift state there too and reads it back from InfluxDB
 * (where the writer stores the events) on start. Events reach InfluxDB through Kafka and the writer, so each step
 * waits for what it expects to be stored.
 */
describe('held-back trial: restart without a false schema_change (Kafka mode, real Kafka and InfluxDB)', () => {
  const id = uniqueId('trials_kafka')
  const logger = pino({ level: 'warn' })
  const DEVICE = 'trial-kafka-1'
  let registry: TestRegistry
  let broker: TestBroker
  let stop: () => Promise<void>
  let store: InfluxReadingStore
  let stopWriter: () => Promise<void>
  const config = () => isolatedConfig(id, { SENSHAGEN_MAX_AGE_MS: String(20 * 365 * 86_400_000), SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS, ...registry.env })
  const start = async () => void ({ broker, stop } = await frontDoor(config(), registry, logger))

  beforeAll(async () => {
    registry = await testRegistry([{ id: DEVICE, neighbourhood: 'stadshagen', consent: true }])
    const writer = await runWriter(config(), logger)
    stopWriter = () => writer.stop()
    await start()
    store = await openInfluxStore(config().influx, logger)
  }, 90_000)

  afterAll(async () => {
    await stop?.()
    await stopWriter?.()
    await store?.influxql(`DROP DATABASE "${id}"`)
    await store?.close()
    await registry?.close()
  })

  it('the same shape after a restart records no schema_change; a changed one records one', async () => {
    const rows = async (statement: string) => (await store.influxql(statement))[0]?.values ?? []
    const publish = async (readings: Record<string, number>, minute: number) => {
      const client = await broker.device(DEVICE)
      await client.publishAsync(readingsTopic(DEVICE), JSON.stringify({ v: 1, time: new Date(Date.UTC(2026, 10, 30, 10, minute)).toISOString(), readings }), { qos: 1 })
      await client.endAsync()
    }
    const stored = async (n: number) => waitFor(`${n} readings of ${DEVICE}`, async () => (await rows(`SELECT "value" FROM reading WHERE device = '${DEVICE}' AND quantity = 'pm10'`)).length === n, 30_000)
    const changes = async () => (await rows(`SELECT "detail" FROM device_event WHERE device = '${DEVICE}' AND kind = 'schema_change'`)).map((r) => JSON.parse(String(r[1])) as Record<string, unknown>)

    await publish({ pm10: 11, pm2_5: 6 }, 0)
    await stored(1)
    await waitFor('the first schema_change stored', async () => (await changes()).length === 1, 30_000)

    await stop()
    await start()
    await publish({ pm10: 12, pm2_5: 7 }, 1)
    await publish({ pm10: 13, pm2_5: 8, air_temperature: 3.5 }, 2)
    await stored(3)
    await waitFor('the second schema_change stored', async () => (await changes()).length >= 2, 30_000)
    expect(await changes()).toMatchObject([{ first: true, added: ['readings.pm10:number', 'readings.pm2_5:number'] }, { first: false, added: ['readings.air_temperature:number'] }])
  }, 120_000)
})
