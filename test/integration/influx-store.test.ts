import { beforeAll, describe, expect, it } from 'vitest'
import { UnavailableError } from '../../core/errors.ts'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { detectGeneration, openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const logger = createLogger('silent')
const base: Reading = { deviceId: 'garden-001', quantity: 'air_temperature', value: 20, unit: '°C', observedAt: Date.UTC(2026, 10, 29, 12), receivedAt: Date.UTC(2026, 10, 29, 12, 0, 1), timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [] }
const at = (minute: number, value: number): Reading => ({ ...base, value, observedAt: base.observedAt + minute * 60_000 })
const day = { deviceId: base.deviceId, quantity: base.quantity, from: base.observedAt - 1, to: base.observedAt + 86_400_000 }

/** The store against the real InfluxDB that `npm run infra:up` runs (Debian's 1.6.7: v1 API only). */
describe('InfluxDB store (real server)', () => {
  const db = throwawayDatabase('store', logger)
  let store: InfluxReadingStore
  beforeAll(() => {
    store = db.store
  })

  it('detects the server generation from /ping', async () => {
    const version = (await fetch(`${INFLUX_URL}/ping`)).headers.get('x-influxdb-version')!
    expect(await detectGeneration(INFLUX_URL)).toBe(Number(/^v?(\d)/.exec(version)![1]))
  })

  it('keeps a whole value as a float, so a later 20.1 is no field type conflict', async () => {
    await store.write({ readings: [at(0, 20)], rejections: [] })
    await store.write({ readings: [at(1, 20.1), at(2, -3)], rejections: [] })
    expect((await store.queryReadings(day)).map((r) => r.value)).toEqual([20, 20.1, -3])
    const fields = await store.influxql('SHOW FIELD KEYS FROM reading')
    expect(fields[0]!.values).toContainEqual(['value', 'float'])
  })

  it('overwrites instead of duplicating: same device, quantity and time is the same point', async () => {
    await store.write({ readings: [at(10, 5), at(10, 5), { ...at(10, 5), receivedAt: base.receivedAt + 99_999 }], rejections: [] })
    const stored = (await store.queryReadings(day)).filter((r) => r.time === base.observedAt + 600_000)
    expect(stored).toEqual([{ time: base.observedAt + 600_000, deviceId: 'garden-001', quantity: 'air_temperature', value: 5, flags: [] }])
  })

  it('keeps millisecond timestamps', async () => {
    await store.write({ readings: [{ ...at(20, 1), observedAt: at(20, 1).observedAt + 123 }], rejections: [] })
    expect((await store.queryReadings(day)).map((r) => r.time)).toContain(base.observedAt + 20 * 60_000 + 123)
  })

  it('stores rejections with any raw payload text, one point per rejection of a message', async () => {
    const raw = '{"v":1,\n "readings": {"pm10": "12 µg", "x": "\\"quoted\\""}}'
    const rejection = { deviceId: 'garden-001', topic: 'senshagen/v1/devices/garden-001/readings', sourceFormat: 'senshagen-v1', receivedAt: base.receivedAt, observedAt: base.observedAt, path: 'readings.pm10', rule: 'schema', message: 'must be a number, got string', value: '12 µg', raw }
    await store.write({ readings: [], rejections: [rejection, { ...rejection, path: 'readings.x', value: '"quoted"' }] })
    const rows = await store.queryRejections({ deviceId: 'garden-001' })
    expect(rows).toEqual([
      { time: base.observedAt, deviceId: 'garden-001', rule: 'schema', path: 'readings.pm10', message: 'must be a number, got string', value: '"12 µg"', topic: rejection.topic, sourceFormat: 'senshagen-v1', raw },
      { time: base.observedAt, deviceId: 'garden-001', rule: 'schema', path: 'readings.x', message: 'must be a number, got string', value: '"\\"quoted\\""', topic: rejection.topic, sourceFormat: 'senshagen-v1', raw },
    ])
  })
})

/** The real store, watched: points per write request (in the order sent) and how many were in flight at once. */
function watched(store: InfluxReadingStore) {
  const requests: number[] = []
  let inFlight = 0
  let peak = 0
  const proxy: InfluxReadingStore = Object.create(store) as InfluxReadingStore
  proxy.write = async (batch) => {
    peak = Math.max(peak, ++inFlight)
    requests.push(batch.readings.length + batch.rejections.length + (batch.events?.length ?? 0)) // in sending order
    try {
      await store.write(batch)
    } finally {
      inFlight--
    }
  }
  return { store: proxy, requests, peak: () => peak }
}

describe('ReadingWriter on a real InfluxDB: request size and requests in flight', () => {
  it('stores 12,000 points as 5,000-line requests with two in flight, and each write resolves after its own requests', async () => {
    const database = uniqueId('batches')
    const store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const watch = watched(store)
    const writer = new ReadingWriter(watch.store, { batchSize: 5000, maxInFlight: 2, maxBufferedReadings: 20_000 }, logger)
    try {
      // one write as large as a Kafka fetch, 100 devices × 120 seconds; then three writes of 4,000 at once
      const big = Array.from({ length: 12_000 }, (_, i) => ({ ...base, deviceId: `batch-${i % 100}`, value: i, observedAt: base.observedAt + Math.floor(i / 100) * 1000 }))
      await writer.write({ readings: big, rejections: [] })
      expect(watch.requests).toEqual([5000, 5000, 2000])
      expect(watch.peak()).toBe(2)
      const count = await store.influxql('SELECT count("value") FROM reading')
      expect(count[0]!.values[0]![1]).toBe(12_000)

      watch.requests.length = 0
      const later = big.map((r) => ({ ...r, observedAt: r.observedAt + 86_400_000 }))
      await Promise.all([0, 1, 2].map((p) => writer.write({ readings: later.slice(p * 4000, (p + 1) * 4000), rejections: [] })))
      // the three writes' quarter-batch parts fill 5,000-line requests
      expect(watch.requests).toEqual([5000, 5000, 2000])
      const stored = await store.queryReadings({ deviceId: 'batch-7', quantity: base.quantity, from: base.observedAt, to: base.observedAt + 2 * 86_400_000 })
      expect(stored.map((r) => r.value)).toEqual([...Array.from({ length: 120 }, (_, i) => i * 100 + 7), ...Array.from({ length: 120 }, (_, i) => i * 100 + 7)])
      expect(writer.stats).toMatchObject({ written: 24_000, requests: 6, retries: 0, refused: 0, lost: 0, peakInFlight: 2 })
    } finally {
      await writer.close()
      await store.influxql(`DROP DATABASE "${database}"`)
    }
  })
})

describe('ReadingWriter against a real InfluxDB that goes away', () => {
  it('retries while the server is unreachable and acknowledges only after the write landed', async () => {
    const database = uniqueId('outage')
    const target = new URL(INFLUX_URL)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
    const store = await openInfluxStore({ url: proxy.url, database }, logger)
    await store.ensureDatabase()
    const writer = new ReadingWriter(store, { batchSize: 100, maxBufferedReadings: 1000, retry: { initialDelayMs: 20, maxDelayMs: 100 } }, logger)
    try {
      proxy.down()
      let acknowledged = false
      const pending = writer.write({ readings: [at(0, 1), at(1, 2)], rejections: [] }).then(() => (acknowledged = true))
      await new Promise<void>((resolve) => writer.once('retry', (error) => (expect(error).toBeInstanceOf(UnavailableError), resolve())))
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(acknowledged).toBe(false)
      expect(writer.stats.retries).toBeGreaterThanOrEqual(2)
      proxy.up()
      await pending
      expect((await store.queryReadings(day)).map((r) => r.value)).toEqual([1, 2])
      expect(writer.stats).toMatchObject({ written: 2, refused: 0, lost: 0 })
    } finally {
      await writer.close()
      proxy.up()
      await store.influxql(`DROP DATABASE "${database}"`)
      await proxy.close()
    }
  })

  it('stores readings the server refuses as store_refused rejections and still writes the rest of the batch', async () => {
    const database = uniqueId('refused')
    const store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    // Another writer made `value` an integer field in the shard (1.x: one week of data) 30 days back: a
    // float there is a field type conflict, while other shards accept floats.
    const monthAgo = base.observedAt - 30 * 86_400_000
    await fetch(`${INFLUX_URL}/write?db=${database}&precision=ms`, { method: 'POST', body: `reading,device=other,quantity=pm10 value=1i ${monthAgo}` })
    const writer = new ReadingWriter(store, { batchSize: 100, maxBufferedReadings: 1000 }, logger)
    try {
      const conflicting = { ...base, deviceId: 'other', quantity: 'pm10' as const, unit: 'µg/m³', value: 2.5, observedAt: monthAgo + 1000 }
      await Promise.all([writer.write({ readings: [conflicting], rejections: [] }), writer.write({ readings: [at(0, 7)], rejections: [] })])
      expect((await store.queryReadings(day)).map((r) => r.value)).toEqual([7])
      const rejected = await store.queryRejections({ deviceId: 'other' })
      expect(rejected.map((r) => [r.rule, r.path, r.value])).toEqual([['store_refused', 'readings.pm10', '2.5']])
      expect(rejected[0]!.message).toContain('field type conflict')
      expect(writer.stats).toMatchObject({ refused: 1, lost: 0, written: 1 })

      // one large write (a Kafka fetch) with one conflicting reading among 40: only that one becomes a rejection
      const many = Array.from({ length: 40 }, (_, i) => at(100 + i, i))
      await writer.write({ readings: [...many.slice(0, 25), { ...conflicting, observedAt: monthAgo + 2000 }, ...many.slice(25)], rejections: [] })
      expect((await store.queryReadings(day)).map((r) => r.value)).toEqual([7, ...Array.from({ length: 40 }, (_, i) => i)])
      expect((await store.queryRejections({ deviceId: 'other' })).map((r) => r.rule)).toEqual(['store_refused', 'store_refused'])
      expect(writer.stats).toMatchObject({ refused: 2, lost: 0, written: 41 })
    } finally {
      await writer.close()
      await store.influxql(`DROP DATABASE "${database}"`)
    }
  })
})
