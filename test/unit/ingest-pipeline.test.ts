import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ReadingSchema, RejectionSchema } from '../../core/reading.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { createPipeline, runPipeline } from '../../services/ingest/pipeline.ts'

const steps = createPipeline({ maxPayloadBytes: 4096, maxFutureMs: 300_000, decoders: createDecoders() })
const RECEIVED = Date.UTC(2026, 10, 29, 18, 0, 5)
const TOPIC = 'senshagen/v1/devices/garden-017/readings'

function ingest(payload: unknown, topic = TOPIC) {
  const bytes = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
  return runPipeline(steps, { topic, payload: bytes, receivedAt: RECEIVED })
}

describe('ingest pipeline on native payload v1', () => {
  it('turns one message into one canonical reading per quantity', () => {
    const ctx = ingest({ v: 1, time: '2026-11-29T18:00:00.000Z', sensor: 'BME280', readings: { air_temperature: 7.4, relative_humidity: 88.1, air_pressure: 1012.6 } })
    expect(ctx.rejections).toEqual([])
    expect(ctx.readings).toEqual([
      { deviceId: 'garden-017', quantity: 'air_temperature', value: 7.4, unit: '°C', observedAt: Date.UTC(2026, 10, 29, 18), receivedAt: RECEIVED, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'BME280', flags: [] },
      { deviceId: 'garden-017', quantity: 'relative_humidity', value: 88.1, unit: '%', observedAt: Date.UTC(2026, 10, 29, 18), receivedAt: RECEIVED, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'BME280', flags: [] },
      { deviceId: 'garden-017', quantity: 'air_pressure', value: 1012.6, unit: 'hPa', observedAt: Date.UTC(2026, 10, 29, 18), receivedAt: RECEIVED, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'BME280', flags: [] },
    ])
  })

  it('stores the good quantities of a message and dead-letters each bad one with path, rule and value', () => {
    const payload = { v: 1, time: 1795975200000, readings: { air_temperature: 512, relative_humidity: 55.5, pm2_5: null, pm10: '12,3', pm1: '4.5', radon: 4, wind_speed: 3 } }
    const ctx = ingest(payload)
    expect(ctx.readings.map((r) => [r.quantity, r.value])).toEqual([['relative_humidity', 55.5], ['pm1', 4.5], ['wind_speed', 3]])
    expect(ctx.rejections.map((r) => [r.path, r.rule, r.message, r.value])).toEqual([
      ['readings.air_temperature', 'range', 'must be between -80 and 70 °C', 512],
      ['readings.pm2_5', 'missing', 'no value reported', null],
      ['readings.pm10', 'number_format', "'12,3' uses a comma; decimal commas are locale-dependent and not accepted", '12,3'],
      ['readings.radon', 'unknown_quantity', "'radon' is not a known quantity", 4],
    ])
    for (const r of ctx.rejections) {
      expect(r).toMatchObject({ deviceId: 'garden-017', topic: TOPIC, receivedAt: RECEIVED, observedAt: 1795975200000, raw: JSON.stringify(payload) })
    }
  })

  it('uses the receipt time when the payload has none, and says so', () => {
    const [reading] = ingest({ v: 1, readings: { pm10: 4 } }).readings
    expect(reading).toMatchObject({ observedAt: RECEIVED, timeSource: 'receipt' })
  })

  it('rejects whole messages that cannot be read, keeping the raw bytes', () => {
    const cases: Array<[unknown, string, string, string]> = [
      ['{"v":1,"readings":{"pm10":nan}}', '$', 'json', 'payload is not JSON'],
      [{ v: 2, readings: {} }, 'v', 'schema', 'Invalid input: expected 1'],
      [{ v: 1, time: '2026-11-29T18:00:00', readings: { pm10: 1 } }, 'time', 'time_zone', 'time must carry a zone (Z or ±hh:mm)'],
      [{ v: 1, device: 'other', readings: { pm10: 1 } }, 'device', 'device_mismatch', "device 'other' differs from topic device 'garden-017'"],
      [{ v: 1 }, 'readings', 'schema', 'Invalid input: expected record, received undefined'],
    ]
    for (const [payload, path, rule, message] of cases) {
      const ctx = ingest(payload)
      expect(ctx.readings, JSON.stringify(payload)).toEqual([])
      expect(ctx.rejections.map((r) => [r.path, r.rule, r.message.slice(0, message.length)]), JSON.stringify(payload)).toEqual([[path, rule, message]])
      expect(ctx.rejections[0]!.raw).toBe(typeof payload === 'string' ? payload : JSON.stringify(payload))
    }
  })

  it('does not take a device id from a topic level that is not a valid device id', () => {
    const ctx = ingest({ v: 1, readings: { pm10: 1 } }, 'senshagen/v1/devices/tuin van Jan/readings')
    expect(ctx.readings).toEqual([])
    expect(ctx.rejections.map((r) => [r.deviceId, r.path, r.rule, r.value])).toEqual([['unknown', 'topic', 'schema', 'tuin van Jan']])
  })

  it('turns the status topic into online/offline device events', () => {
    const online = runPipeline(steps, { topic: 'senshagen/v1/devices/garden-017/status', payload: Buffer.from('online'), receivedAt: RECEIVED, retain: true })
    expect(online.events).toEqual([{ deviceId: 'garden-017', kind: 'online', at: RECEIVED, topic: 'senshagen/v1/devices/garden-017/status', sourceFormat: 'senshagen-v1', detail: '{"retained":true}' }])
    expect(runPipeline(steps, { topic: 'senshagen/v1/devices/garden-017/status', payload: Buffer.from('maybe'), receivedAt: RECEIVED }).rejections.map((r) => [r.path, r.rule])).toEqual([['$', 'schema']])
  })

  it('rejects observed times in the future or before 2000', () => {
    const future = ingest({ v: 1, time: RECEIVED + 300_001, readings: { pm10: 1 } })
    expect(future.rejections.map((r) => r.rule)).toEqual(['time_future'])
    expect(ingest({ v: 1, time: RECEIVED + 300_000, readings: { pm10: 1 } }).readings).toHaveLength(1)
    expect(ingest({ v: 1, time: '1999-12-31T23:59:59Z', readings: { pm10: 1 } }).rejections.map((r) => r.rule)).toEqual(['time_past'])
  })

  it('accepts both range bounds and refuses just outside them', () => {
    expect(ingest({ v: 1, readings: { relative_humidity: 0, wind_from_direction: 360, pm10: 2000 } }).readings).toHaveLength(3)
    expect(ingest({ v: 1, readings: { relative_humidity: 110.01, air_pressure: 101325 } }).rejections.map((r) => r.message)).toEqual([
      'must be between 0 and 110 %',
      'must be between 300 and 1100 hPa',
    ])
  })

  it('refuses oversized payloads and topics no decoder handles', () => {
    const big = runPipeline(steps, { topic: TOPIC, payload: Buffer.alloc(5000, 0x20), receivedAt: RECEIVED })
    expect(big.rejections.map((r) => [r.rule, r.raw.length])).toEqual([['too_large', 4096]])
    expect(ingest({ v: 1, readings: {} }, 'zigbee2mqtt/bridge/state').rejections.map((r) => r.rule)).toEqual(['no_decoder'])
  })

  it('never throws, never yields a non-finite or invalid reading, and gives every rejection a reason (property)', () => {
    const value = fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.string(), fc.boolean(), fc.constant({}))
    const quantity = fc.oneof(fc.constantFrom('air_temperature', 'pm2_5', 'air_pressure', 'relative_humidity'), fc.string())
    const payload = fc.record({
      v: fc.oneof(fc.constant(1), fc.integer()),
      time: fc.option(fc.oneof(fc.integer(), fc.string(), fc.constant('2026-11-29T18:00:00Z')), { nil: undefined }),
      readings: fc.dictionary(quantity, value),
    })
    const text = fc.oneof(payload.map((p) => JSON.stringify(p)), fc.string(), payload.map((p) => JSON.stringify(p).replace(/\d+(\.\d+)?/, 'nan')))
    fc.assert(
      fc.property(text, (body) => {
        const ctx = runPipeline(steps, { topic: TOPIC, payload: Buffer.from(body), receivedAt: RECEIVED })
        for (const reading of ctx.readings) {
          expect(Number.isFinite(reading.value)).toBe(true)
          expect(ReadingSchema.safeParse(reading).success).toBe(true)
        }
        for (const rejection of ctx.rejections) {
          expect(RejectionSchema.safeParse(rejection).success).toBe(true)
          expect(rejection.rule.length > 0 && rejection.message.length > 0).toBe(true)
        }
      }),
      { numRuns: 500 },
    )
  })
})
