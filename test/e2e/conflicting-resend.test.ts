import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { directSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const logger = createLogger('silent')
const DEVICE = 'held-back-1'
const TIME = '2026-11-29T18:00:00.000Z'

/**
 * The held-back trial in direct mode, end to end: a device publishes (QoS 1, PUBACK after InfluxDB) the same
 * observed time twice, first 101300 Pa from a BME280, then 1012.0 hPa naming no sensor. The stored point must
 * be the second message's alone, and a conflict event must hold both values.
 */
describe('conflicting resend through the broker, the ingest and the writer (direct mode, real InfluxDB)', () => {
  const database = uniqueId('heldback')
  let registry: TestRegistry
  let store: InfluxReadingStore
  let writer: ReadingWriter
  let broker: TestBroker
  let device: MqttClient

  beforeAll(async () => {
    registry = await testRegistry([{ id: DEVICE, neighbourhood: 'stadshagen', consent: true }])
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    writer = new ReadingWriter(store, { batchSize: 100, maxBufferedReadings: 1_000 }, logger)
    const decoders = createDecoders({ deviceTimeZone: 'Europe/Amsterdam' })
    const core = new IngestCore({ ...loadConfig({}).ingest, decoders }, directSink(writer), logger)
    const filters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
    broker = await testBroker(registry, logger, { ingest: { filters, handle: (message) => core.handle(message) } })
    device = await broker.device(DEVICE)
  })
  afterAll(async () => {
    await device?.endAsync(true)
    await broker?.close()
    await writer?.close()
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
  })

  it('stores only the second write and records a conflict event with both values', async () => {
    const topic = readingsTopic(DEVICE)
    await device.publishAsync(topic, JSON.stringify({ v: 1, time: TIME, sensor: 'BME280', readings: { air_pressure: 101300 }, units: { air_pressure: 'Pa' } }), { qos: 1 })
    await device.publishAsync(topic, JSON.stringify({ v: 1, time: TIME, readings: { air_pressure: 1012.0 } }), { qos: 1 })

    // PUBACK came after InfluxDB acknowledged: no waiting needed
    const [series] = await store.influxql(`SELECT "value", "raw_value", "source_unit", "sensor", "unit" FROM reading WHERE "device" = '${DEVICE}'`)
    expect(series!.values).toEqual([[Date.parse(TIME), 1012, 1012, '', '', 'hPa']])
    const [events] = await store.influxql(`SELECT "kind", "detail" FROM device_event WHERE "device" = '${DEVICE}' AND "kind" = 'conflict'`)
    expect(events!.values.map(([, kind, detail]) => [kind, JSON.parse(detail as string)])).toMatchObject([
      [
        'conflict',
        {
          conflicts: [
            {
              quantity: 'air_pressure',
              observed_at: TIME,
              unit: 'hPa',
              previous: { value: 1013, raw_value: 101300, source_unit: 'Pa', sensor: 'BME280', source: 'senshagen-v1' },
              current: { value: 1012, raw_value: 1012, source_unit: '', sensor: '', source: 'senshagen-v1' },
            },
          ],
        },
      ],
    ])
    expect(writer.stats.conflicts).toBe(1) // (the two schema_change events the messages also caused are not ours to check)
  })
})
