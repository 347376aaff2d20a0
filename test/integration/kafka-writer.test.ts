import { afterEach, describe, expect, it } from 'vitest'
import { createKafkaBus } from '../../core/bus/kafka.ts'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { runWriter, type RunningWriter } from '../../services/writer/index.ts'
import { KAFKA_BROKERS, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'

const logger = createLogger('silent')
const writers: RunningWriter[] = []
afterEach(async () => {
  for (const writer of writers.splice(0)) {
    await writer.store.influxql(`DROP DATABASE "${writer.store.database}"`)
    await writer.stop()
  }
})

function reading(deviceId: string, value: number, second: number): Reading {
  return { deviceId, quantity: 'pm10', value, unit: 'µg/m³', observedAt: Date.UTC(2026, 0, 1) + second * 1000, receivedAt: Date.UTC(2026, 0, 1, 1), timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [] }
}

/** A config of its own (database, topics, group) with its three topics created, and a producer on them. */
async function isolatedKafka(prefix: string) {
  const config = isolatedConfig(uniqueId(prefix), { SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS })
  const kafka = config.kafka!
  const bus = createKafkaBus(kafka, logger)
  await bus.ensureTopics([kafka.readingsTopic, kafka.rejectionsTopic, kafka.eventsTopic], 1)
  return { config, kafka, producer: await bus.producer() }
}

/** The Kafka-mode writer (services/writer/kafka-writer.ts) reading what the readings topic can hold, real Kafka and InfluxDB. */
describe('Kafka writer: readings records', () => {
  it('stores an array record reading by reading, still reads a single-reading record, and rejects only what does not parse', async () => {
    const { config, kafka, producer } = await isolatedKafka('kwriter')
    const invalid = { ...reading('kw-a', 3, 3), value: 'three' }
    await producer.send([
      {
        topic: kafka.readingsTopic,
        records: [
          // one message's readings as the ingest sends them: one record per device, a JSON array
          { key: 'kw-a', value: JSON.stringify([reading('kw-a', 1, 1), reading('kw-a', 2, 2), invalid, reading('kw-a', 4, 4)]) },
          // a record as written before that layout: one reading object
          { key: 'kw-b', value: JSON.stringify(reading('kw-b', 5, 1)) },
          { key: 'kw-c', value: 'not json' },
        ],
      },
    ])
    await producer.disconnect()

    const writerStartedAt = Date.now()
    const writer = await runWriter(config, logger)
    writers.push(writer)
    const stored = await waitFor('4 readings and 2 rejections', async () => {
      const values = (await writer.store.influxql('SELECT "value", "device" FROM reading ORDER BY time ASC'))[0]?.values ?? []
      const rejections = await writer.store.queryRejections({})
      return values.length === 4 && rejections.length === 2 ? { values, rejections } : undefined
    })
    expect(stored.values.map(([, value, device]) => `${device}=${value}`).sort()).toEqual(['kw-a=1', 'kw-a=2', 'kw-a=4', 'kw-b=5'])
    const byPath = Object.fromEntries(stored.rejections.map((r) => [r.path, r]))
    // the third element of the array, field value; the unparseable record as a whole
    expect(byPath['2.value']).toMatchObject({ rule: 'bus_record_invalid', deviceId: 'unknown' })
    expect(byPath['2.value']!.topic).toMatch(new RegExp(`^kafka:${kafka.readingsTopic}/0@\\d+$`))
    expect(byPath.$).toMatchObject({ rule: 'bus_record_invalid', message: 'not JSON', raw: 'not json' })
    // timed by the record's Kafka timestamp (its produce time), not the consumption: a replay overwrites the point
    for (const rejection of stored.rejections) expect(rejection.time).toBeLessThanOrEqual(writerStartedAt)
  })
})

/** Kafka mode: the writer service's ReadingWriter sees every record, so it detects a conflicting resend as direct mode does. */
describe('Kafka writer: conflicting resends', () => {
  it('stores the resent value whole and a conflict event holding both values; an identical resend adds nothing', async () => {
    const { config, kafka, producer } = await isolatedKafka('kconflict')
    const writer = await runWriter(config, logger)
    writers.push(writer)
    const send = (readings: Reading[]) => producer.send([{ topic: kafka.readingsTopic, records: [{ key: 'kc-a', value: JSON.stringify(readings) }] }])
    const point = async () => (await writer.store.influxql(`SELECT "value", "raw_value", "source_unit", "sensor" FROM reading WHERE "device" = 'kc-a'`))[0]?.values ?? []
    const first: Reading = { ...reading('kc-a', 28, 1), sensorModel: 'SDS011' }
    try {
      await send([first])
      await waitFor('the first value', async () => (await point())[0]?.[1] === 28)
      await send([first]) // identical: redelivery
      await send([{ ...reading('kc-a', 31.5, 1), receivedAt: first.receivedAt + 60_000 }])
      await waitFor('the resent value', async () => (await point())[0]?.[1] === 31.5)
    } finally {
      await producer.disconnect()
    }
    expect(await point()).toEqual([[Date.UTC(2026, 0, 1) + 1000, 31.5, 31.5, '', '']])
    const events = (await writer.store.influxql(`SELECT "kind", "detail" FROM device_event WHERE "device" = 'kc-a'`))[0]?.values ?? []
    expect(events.map(([time, kind, detail]) => [time, kind, JSON.parse(detail as string)])).toEqual([
      [
        Date.UTC(2026, 0, 1, 1) + 60_000,
        'conflict',
        {
          conflicts: [
            {
              quantity: 'pm10',
              observed_at: '2026-01-01T00:00:01.000Z',
              unit: 'µg/m³',
              previous: { value: 28, raw_value: 28, source_unit: '', sensor: 'SDS011', source: 'senshagen-v1', received_ms: Date.UTC(2026, 0, 1, 1) },
              current: { value: 31.5, raw_value: 31.5, source_unit: '', sensor: '', source: 'senshagen-v1', received_ms: Date.UTC(2026, 0, 1, 1) + 60_000 },
            },
          ],
        },
      ],
    ])
    expect(writer.writer.stats.conflicts).toBe(1)
  })
})
