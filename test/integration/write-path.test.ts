import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { deviceInfos } from '../../services/api/device-info.ts'
import type { Reading, Rejection } from '../../core/reading.ts'
import type { Conflict } from '../../core/store/conflicts.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import type { InfluxReadingStore } from '../../core/store/influx.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

const logger = createLogger('silent')
const T = Date.UTC(2026, 10, 29, 12)
const RECEIVED = T + 1_500

/** 101300 Pa from a BME280, as the senshagen-v1 decoder hands it on: converted to hPa, raw value and unit kept. */
const fromBme280: Reading = {
  deviceId: 'trial-1',
  quantity: 'air_pressure',
  value: 1013,
  unit: 'hPa',
  observedAt: T,
  receivedAt: RECEIVED,
  timeSource: 'device',
  sourceFormat: 'senshagen-v1',
  sensorModel: 'BME280',
  sourceUnit: 'Pa',
  rawValue: 101300,
  flags: [],
}
/** The held-back resend: the same device and time as 1012.0 hPa, no sensor named. */
const resend: Reading = { deviceId: 'trial-1', quantity: 'air_pressure', value: 1012.0, unit: 'hPa', observedAt: T, receivedAt: RECEIVED + 60_000, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [] }

/** The write path (ReadingWriter → InfluxStore) against the real InfluxDB 1.6.7: whole points, conflicts, rejection keys. */
describe('one write path that cannot contradict itself (real InfluxDB)', () => {
  const db = throwawayDatabase('writepath', logger)
  let store: InfluxReadingStore
  let writer: ReadingWriter
  const conflicts: Conflict[] = []

  beforeAll(() => {
    store = db.store
    writer = new ReadingWriter(store, { batchSize: 500, maxInFlight: 2, maxBufferedReadings: 5_000 }, logger)
    writer.on('conflict', (conflict) => conflicts.push(conflict))
  })
  afterAll(() => writer.close())

  /** Every field of the device's points of one quantity, as InfluxDB returns them, keyed by column name. */
  const points = async (deviceId: string, quantity: string) => {
    const [series] = await store.influxql(`SELECT * FROM reading WHERE "device" = '${deviceId}' AND "quantity" = '${quantity}'`)
    return (series?.values ?? []).map((row) => Object.fromEntries(series!.columns.map((column, i) => [column, row[i]])))
  }
  const events = async (deviceId: string) =>
    ((await store.influxql(`SELECT "kind", "detail", "source" FROM device_event WHERE "device" = '${deviceId}'`))[0]?.values ?? []).map(([time, kind, detail, source]) => ({
      time,
      kind,
      detail: JSON.parse(detail as string) as unknown,
      source,
    }))

  it('a conflicting resend leaves no trace of the first write in the point, and a conflict event holds both values', async () => {
    await writer.write({ readings: [fromBme280], rejections: [] })
    expect(await points('trial-1', 'air_pressure')).toEqual([
      { time: T, device: 'trial-1', quantity: 'air_pressure', flags: '', raw_value: 101300, received_ms: RECEIVED, sensor: 'BME280', source: 'senshagen-v1', source_unit: 'Pa', time_source: 'device', unit: 'hPa', value: 1013 },
    ])
    await writer.write({ readings: [resend], rejections: [] })

    expect(await points('trial-1', 'air_pressure')).toEqual([
      { time: T, device: 'trial-1', quantity: 'air_pressure', flags: '', raw_value: 1012, received_ms: RECEIVED + 60_000, sensor: '', source: 'senshagen-v1', source_unit: '', time_source: 'device', unit: 'hPa', value: 1012 },
    ])
    expect(await events('trial-1')).toEqual([
      {
        time: RECEIVED + 60_000,
        kind: 'conflict',
        source: 'senshagen-v1',
        detail: {
          conflicts: [
            {
              quantity: 'air_pressure',
              observed_at: '2026-11-29T12:00:00.000Z',
              unit: 'hPa',
              previous: { value: 1013, raw_value: 101300, source_unit: 'Pa', sensor: 'BME280', source: 'senshagen-v1', received_ms: RECEIVED },
              current: { value: 1012, raw_value: 1012, source_unit: '', sensor: '', source: 'senshagen-v1', received_ms: RECEIVED + 60_000 },
            },
          ],
        },
      },
    ])
    expect(writer.stats.conflicts).toBe(1)
    expect(conflicts.map((c) => [c.previous.value, c.current.value])).toEqual([[1013, 1012]])
    const fields = Object.fromEntries(((await store.influxql('SHOW FIELD KEYS FROM reading'))[0]?.values ?? []) as Array<[string, string]>)
    expect(fields).toMatchObject({ raw_value: 'float', value: 'float', sensor: 'string', source_unit: 'string' })
  })

  it('an identical resend is no conflict: one point, no event', async () => {
    const reading: Reading = { ...fromBme280, deviceId: 'trial-2' }
    await writer.write({ readings: [reading], rejections: [] })
    await writer.write({ readings: [{ ...reading, receivedAt: RECEIVED + 5_000 }], rejections: [] })
    const stored = await points('trial-2', 'air_pressure')
    expect(stored.map((p) => [p.time, p.value, p.raw_value, p.received_ms])).toEqual([[T, 1013, 101300, RECEIVED + 5_000]])
    expect(await events('trial-2')).toEqual([])
    expect(writer.stats.conflicts).toBe(1) // only the first test's
  })

  it('two conflicting quantities of one resent message are one event holding both; other devices are untouched', async () => {
    const temperature: Reading = { ...resend, deviceId: 'trial-3', quantity: 'air_temperature', value: 20.5, unit: '°C' }
    const pressure: Reading = { ...resend, deviceId: 'trial-3' }
    await writer.write({ readings: [temperature, pressure, { ...resend, deviceId: 'trial-4' }], rejections: [] })
    await writer.write({ readings: [{ ...temperature, value: 21, receivedAt: RECEIVED + 120_000 }, { ...pressure, value: 1011.5, receivedAt: RECEIVED + 120_000 }, { ...resend, deviceId: 'trial-4', receivedAt: RECEIVED + 120_000 }], rejections: [] })
    const [event, ...others] = await events('trial-3')
    expect(others).toEqual([])
    const detail = event!.detail as { conflicts: Array<{ quantity: string; previous: { value: number }; current: { value: number } }> }
    expect(detail.conflicts.map((c) => [c.quantity, c.previous.value, c.current.value])).toEqual([
      ['air_temperature', 20.5, 21],
      ['air_pressure', 1012, 1011.5],
    ])
    expect(await events('trial-4')).toEqual([])
  })

  it('readers of sensor still see the last model named when the newest reading names none (API device info)', async () => {
    await writer.write({ readings: [{ ...fromBme280, deviceId: 'trial-5', observedAt: T - 60_000 }, { ...resend, deviceId: 'trial-5' }], rejections: [] })
    expect((await points('trial-5', 'air_pressure')).map((p) => p.sensor)).toEqual(['BME280', ''])
    const location = { lat: 52.53, lon: 6.06, precisionM: 500 }
    const device = { id: 'trial-5', neighbourhood: 'stadshagen', location, positions: [{ validFrom: 0, location }], coarsen: 'grid' as const }
    const [info] = await deviceInfos(store, [device])
    expect(info).toMatchObject({ sensorModels: ['BME280'], quantities: ['air_pressure'], lastSeen: '2026-11-29T12:00:00.000Z' })
  })
})

describe('a conflicting resend is the last write, whatever requests overlap (real InfluxDB)', () => {
  const db = throwawayDatabase('writeorder', logger)

  /** The real store, except that a request holding a reading of `value` 1 is sent 300 ms late (a slow or retried request). */
  const slowForOnes = (): InfluxReadingStore => {
    const slow = Object.create(db.store) as InfluxReadingStore
    slow.write = async (batch) => {
      if (batch.readings.some((r) => r.value === 1)) await new Promise((resolve) => setTimeout(resolve, 300))
      await db.store.write(batch)
    }
    return slow
  }
  const stored = async (deviceId: string) => ((await db.store.influxql(`SELECT "value" FROM reading WHERE "device" = '${deviceId}'`))[0]?.values ?? []).map(([, value]) => value)

  it('waits for the write it replaces, when that is still in flight in another request', async () => {
    // batchSize 1: every write is a full request, which the engine sends while another is in flight
    const writer = new ReadingWriter(slowForOnes(), { batchSize: 1, maxInFlight: 2, maxBufferedReadings: 100 }, logger)
    try {
      const first = writer.write({ readings: [{ ...resend, deviceId: 'order-1', value: 1 }], rejections: [] })
      await new Promise((resolve) => setTimeout(resolve, 50)) // the first request is on its way (and late)
      await writer.write({ readings: [{ ...resend, deviceId: 'order-1', value: 2, receivedAt: RECEIVED + 1 }], rejections: [] })
      await first
      expect(await stored('order-1')).toEqual([2])
      expect(writer.stats).toMatchObject({ conflicts: 1, written: 2 })
    } finally {
      await writer.close()
    }
  })

  it('writes a key repeated within one write (a Kafka fetch) in a later request than the value it replaces', async () => {
    const writer = new ReadingWriter(slowForOnes(), { batchSize: 2, maxInFlight: 2, maxBufferedReadings: 100 }, logger)
    try {
      const other = (n: number): Reading => ({ ...resend, deviceId: 'order-other', observedAt: T + n * 1000, value: 1000 + n })
      await writer.write({ readings: [other(1), other(2), { ...resend, deviceId: 'order-2', value: 1 }, other(3), { ...resend, deviceId: 'order-2', value: 2 }, other(4)], rejections: [] })
      expect(await stored('order-2')).toEqual([2])
      expect(await stored('order-other')).toEqual([1001, 1002, 1003, 1004])
      expect(writer.stats).toMatchObject({ conflicts: 1, written: 6 })
    } finally {
      await writer.close()
    }
  })
})

describe('rejection keys name the message, not the write (real InfluxDB)', () => {
  const db = throwawayDatabase('rejkeys', logger)
  let store: InfluxReadingStore
  let writer: ReadingWriter

  beforeAll(() => {
    store = db.store
    writer = new ReadingWriter(store, { batchSize: 500, maxInFlight: 2, maxBufferedReadings: 5_000 }, logger)
  })
  afterAll(() => writer.close())

  const count = async (deviceId: string) => {
    const [series] = await store.influxql(`SELECT count("raw") FROM rejection WHERE "device" = '${deviceId}'`)
    return series?.values[0]?.[1] ?? 0
  }
  const rejection = (deviceId: string, raw: string, path: string, rule: string, value?: unknown): Rejection => ({
    deviceId,
    topic: `senshagen/v1/devices/${deviceId}/readings`,
    sourceFormat: 'senshagen-v1',
    receivedAt: RECEIVED,
    observedAt: T,
    path,
    rule,
    message: `${path} breaks ${rule}`,
    raw,
    ...(value === undefined ? {} : { value }),
  })

  it('five different rejections of one device at one time are five points', async () => {
    const raw = '{"v":1,"time":"2026-11-29T12:00:00Z","readings":{"pm10":"12,5","pm2_5":-3,"x":1,"air_temperature":"NaN","wind_speed":"3 m/s"}}'
    await writer.write({
      readings: [],
      rejections: [
        rejection('rej-five', raw, 'readings.pm10', 'number_format', '12,5'),
        rejection('rej-five', raw, 'readings.pm2_5', 'range', -3),
        rejection('rej-five', raw, 'readings.x', 'unknown_quantity', 1),
        rejection('rej-five', raw, 'readings.air_temperature', 'not_finite', 'NaN'),
        rejection('rej-five', raw, 'readings.wind_speed', 'number_with_unit', '3 m/s'),
      ],
    })
    expect(await count('rej-five')).toBe(5)
    const stored = await store.queryRejections({ deviceId: 'rej-five' })
    expect(stored.map((r) => r.path).sort()).toEqual(['readings.air_temperature', 'readings.pm10', 'readings.pm2_5', 'readings.wind_speed', 'readings.x'])
  })

  it('five messages of one device at one time, each rejected by the same rule in its own write, are five points', async () => {
    const values = [-300, -200, 2000, 3000, 4000]
    for (const value of values) await writer.write({ readings: [], rejections: [rejection('rej-apart', `{"v":1,"readings":{"pm10":${value}}}`, 'readings.pm10', 'range', value)] })
    expect(await count('rej-apart')).toBe(5)
    expect((await store.queryRejections({ deviceId: 'rej-apart' })).map((r) => Number(r.value)).sort((a, b) => a - b)).toEqual(values)
  })

  it('the same invalid message written twice is one point; a different message at the same time is another', async () => {
    const invalid = rejection('rej-twice', '{"v":1,"readings":', '$', 'json')
    await writer.write({ readings: [], rejections: [invalid] })
    await writer.write({ readings: [], rejections: [{ ...invalid, message: 'a different error text on redelivery' }] })
    expect(await count('rej-twice')).toBe(1)
    await writer.write({ readings: [], rejections: [rejection('rej-twice', '{"v":1,"readings":{', '$', 'json')] })
    expect(await count('rej-twice')).toBe(2)
  })

  it('1,200 distinct invalid messages of one device at one time, written in several requests, are 1,200 points', async () => {
    const messages = Array.from({ length: 1_200 }, (_, i) => rejection('rej-flood', `{"v":1,"n":${i},`, '$', 'json'))
    // as separate writes (direct mode: one per message) and as one large write (a Kafka fetch), 500-line requests
    await Promise.all(messages.slice(0, 600).map((r) => writer.write({ readings: [], rejections: [r] })))
    await writer.write({ readings: [], rejections: messages.slice(600) })
    expect(await count('rej-flood')).toBe(1_200)
    expect(writer.stats.requests).toBeGreaterThanOrEqual(3)
  })
})
