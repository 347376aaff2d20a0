import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ReadingSchema, RejectionSchema } from '../../core/reading.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { parseLenientJson, nestsDeeperThan } from '../../core/lenient-json.ts'
import { rejectionToLine } from '../../core/store/schema.ts'
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

  it('keeps a top-level key native v1 does not define as an unknown_field rejection; the readings are still stored', () => {
    const payload = { v: 1, time: 1795975200000, readings: { relative_humidity: 55.5 }, pm2_5: 12, battery: { volt: 3.7 } }
    const ctx = ingest(payload)
    expect(ctx.readings.map((r) => [r.quantity, r.value])).toEqual([['relative_humidity', 55.5]])
    expect(ctx.rejections.map((r) => [r.path, r.rule, r.value, r.observedAt])).toEqual([
      ['pm2_5', 'unknown_field', 12, 1795975200000],
      ['battery', 'unknown_field', { volt: 3.7 }, 1795975200000],
    ])
    expect(ctx.rejections[0]!.message).toBe("'pm2_5' is not a field of native payload v1 (v, device, time, sensor, readings, units); quantities belong in 'readings'")
    for (const r of ctx.rejections) expect(() => rejectionToLine(r)).not.toThrow()
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

describe('ingest pipeline: several values of one device, quantity and time in one message (duplicate_time)', () => {
  const BOX = '5a1b2c3d4e5f60718293a4b0'
  const PM25 = '5a1b2c3d4e5f60718293a4b4'
  const osemSteps = createPipeline({
    maxPayloadBytes: 65_536,
    maxFutureMs: 300_000,
    decoders: createDecoders({ deviceTimeZone: 'Europe/Amsterdam', openSenseMapSensors: { [PM25]: { quantity: 'pm2_5', model: 'SDS011' } } }),
  })
  const osem = (body: unknown) =>
    runPipeline(osemSteps, {
      topic: 'http/opensensemap',
      payload: Buffer.from(JSON.stringify(body)),
      receivedAt: RECEIVED,
      headers: { ':path': `/boxes/${BOX}/data`, ':query': '', ':device': `osem-${BOX}`, 'content-type': 'application/json' },
    })

  it('openSenseMap values without createdAt: the first is stored, the others dead-lettered with their values', () => {
    const ctx = osem([{ sensor: PM25, value: '8.4' }, { sensor: PM25, value: '9.1' }, { sensor: PM25, value: '7.7' }])
    expect(ctx.readings.map((r) => [r.deviceId, r.quantity, r.value, r.observedAt])).toEqual([[`osem-${BOX}`, 'pm2_5', 8.4, RECEIVED]])
    expect(ctx.rejections.map((r) => [r.deviceId, r.path, r.rule, r.value, r.observedAt])).toEqual([
      [`osem-${BOX}`, `${PM25}[1]`, 'duplicate_time', '9.1', RECEIVED],
      [`osem-${BOX}`, `${PM25}[2]`, 'duplicate_time', '7.7', RECEIVED],
    ])
    expect(ctx.rejections[0]!.message).toBe(`osem-${BOX} already has a pm2_5 value at 2026-11-29T18:00:05.000Z in this message (${PM25}); only the first is stored`)
  })

  it('the same in a message of more than 16 values (found by point key instead of by a scan)', () => {
    const later = Array.from({ length: 17 }, (_, i) => ({ sensor: PM25, value: '5', createdAt: `2026-11-29T17:${String(10 + i)}:00Z` }))
    const ctx = osem([{ sensor: PM25, value: '8.4' }, { sensor: PM25, value: '9.1' }, { sensor: PM25, value: '7.7' }, ...later, { sensor: PM25, value: '6', createdAt: '2026-11-29T17:10:00Z' }])
    expect(ctx.readings).toHaveLength(18)
    expect(ctx.rejections.map((r) => [r.path, r.rule, r.value])).toEqual([
      [`${PM25}[1]`, 'duplicate_time', '9.1'],
      [`${PM25}[2]`, 'duplicate_time', '7.7'],
      [`${PM25}[20]`, 'duplicate_time', '6'],
    ])
    expect(ctx.rejections[2]!.message).toBe(`osem-${BOX} already has a pm2_5 value at 2026-11-29T17:10:00.000Z in this message (${PM25}); only the first is stored`)
  })

  it('openSenseMap values with distinct createdAt are all stored', () => {
    const ctx = osem([
      { sensor: PM25, value: '8.4', createdAt: '2026-11-29T17:58:00Z' },
      { sensor: PM25, value: '9.1', createdAt: '2026-11-29T17:59:00Z' },
    ])
    expect(ctx.readings.map((r) => r.value)).toEqual([8.4, 9.1])
    expect(ctx.rejections).toEqual([])
  })

  it('keeps the first valid value: an invalid first value does not make the valid second one a duplicate', () => {
    const ctx = osem([{ sensor: PM25, value: 'broken' }, { sensor: PM25, value: '9.1' }, { sensor: PM25, value: '9.3' }])
    expect(ctx.readings.map((r) => r.value)).toEqual([9.1])
    expect(ctx.rejections.map((r) => [r.path, r.rule])).toEqual([
      [PM25, 'schema'],
      [`${PM25}[2]`, 'duplicate_time'],
    ])
  })

  it('TTN normalized_payload entries without time: the first per quantity is stored, the others dead-lettered', () => {
    const uplink = {
      end_device_ids: { device_id: 'node-9', application_ids: { application_id: 'senshagen' } },
      received_at: '2026-11-29T18:00:00Z',
      uplink_message: { f_port: 1, normalized_payload: [{ air: { temperature: 7.1, relativeHumidity: 80 } }, { air: { temperature: 7.3 } }, { air: { temperature: 7.2, relativeHumidity: 81 } }] },
    }
    const ctx = ingest(uplink, 'v3/senshagen@ttn/devices/node-9/up')
    const at = Date.UTC(2026, 10, 29, 18)
    expect(ctx.readings.map((r) => [r.deviceId, r.quantity, r.value, r.observedAt])).toEqual([
      ['ttn:senshagen:node-9', 'air_temperature', 7.1, at],
      ['ttn:senshagen:node-9', 'relative_humidity', 80, at],
    ])
    expect(ctx.rejections.map((r) => [r.path, r.rule, r.value])).toEqual([
      ['normalized_payload[1].air.temperature', 'duplicate_time', 7.3],
      ['normalized_payload[2].air.temperature', 'duplicate_time', 7.2],
      ['normalized_payload[2].air.relativeHumidity', 'duplicate_time', 81],
    ])
  })

  it('never stores two readings of one device, quantity and time from one message (property over native, openSenseMap and TTN)', () => {
    const value = fc.oneof(fc.double({ min: 0, max: 100, noNaN: true }), fc.constant('x'))
    const bodies = fc.oneof(
      fc.array(fc.record({ sensor: fc.constant(PM25), value: value.map(String), createdAt: fc.option(fc.constantFrom('2026-11-29T17:59:00Z', '2026-11-29T18:00:00Z'), { nil: undefined }) }), { maxLength: 8 }).map((b) => osem(b)),
      fc.array(fc.record({ time: fc.option(fc.constantFrom('2026-11-29T17:59:00Z'), { nil: undefined }), air: fc.record({ temperature: value }) }), { maxLength: 8 }).map((normalized) =>
        ingest({ end_device_ids: { device_id: 'n', application_ids: { application_id: 'a' } }, uplink_message: { f_port: 1, normalized_payload: normalized } }, 'v3/a@ttn/devices/n/up'),
      ),
    )
    fc.assert(
      fc.property(bodies, (ctx) => {
        const keys = ctx.readings.map((r) => `${r.deviceId} ${r.quantity} ${r.observedAt}`)
        expect(new Set(keys).size).toBe(keys.length)
        const paths = ctx.rejections.filter((r) => r.rule === 'duplicate_time').map((r) => r.path)
        expect(new Set(paths).size).toBe(paths.length)
      }),
      { numRuns: 300 },
    )
  })
})

describe('ingest pipeline: pathological payloads (too_deep)', () => {
  const deepSteps = createPipeline({ maxPayloadBytes: 262_144, maxFutureMs: 300_000, decoders: createDecoders() })
  const nested = (depth: number, open = '{"a":', close = '}') => `${open.repeat(depth)}1${close.repeat(depth)}`

  it('dead-letters a 5,000-deep payload on every format\'s topic, raw kept, no value, nothing thrown', () => {
    const topics = [TOPIC, 'tele/shed/SENSOR', 'v3/senshagen@ttn/devices/node-9/up', 'weather-node/sensor/temp/state', 'meetjestad/up', 'http/airrohr', 'http/opensensemap', 'http/weather-station']
    for (const topic of topics) {
      for (const payload of [nested(5000), nested(5000, '[', ']'), `{"v":1,"readings":{"pm10":${nested(5000, '[', ']')}}}`]) {
        const ctx = runPipeline(deepSteps, { topic, payload: Buffer.from(payload), receivedAt: RECEIVED, ...(topic.startsWith('http/') ? { headers: { ':path': '/boxes/b/data', ':device': 'osem-b' } } : {}) })
        expect(ctx.readings, topic).toEqual([])
        // an HTTP push names its authenticated device; an MQTT message's device is not known before decoding
        expect(ctx.rejections.map((r) => [r.deviceId, r.path, r.rule, r.message, 'value' in r]), topic).toEqual([
          [topic.startsWith('http/') ? 'osem-b' : 'unknown', '$', 'too_deep', 'payload nests objects or arrays deeper than 64 levels; raw holds it', false],
        ])
        expect(ctx.rejections[0]!.raw).toBe(payload)
        // what the store does with it (core/store/schema.ts) must not overflow either
        expect(rejectionToLine(ctx.rejections[0]!)).toContain('rule=too_deep')
      }
    }
  })

  it('reads 64 levels and refuses 65; brackets inside strings do not count', () => {
    const at = (depth: number) => ingest(`{"v":1,"readings":{"pm10":4},"x":${nested(depth - 1)}}`)
    // 64 levels are read: the extra key "x" is kept whole as an unknown_field rejection, the reading stored
    expect(at(64).rejections.map((r) => [r.rule, r.path])).toEqual([['unknown_field', 'x']])
    expect(() => rejectionToLine(at(64).rejections[0]!)).not.toThrow()
    expect(at(64).readings).toHaveLength(1)
    expect(at(65).rejections.map((r) => r.rule)).toEqual(['too_deep'])
    expect(nestsDeeperThan(JSON.stringify({ note: `${'[{'.repeat(100)}"\\`, deep: [[[1]]] }), 4)).toBe(false)
    expect(nestsDeeperThan(JSON.stringify({ note: `${'[{'.repeat(100)}"\\`, deep: [[[1]]] }), 3)).toBe(true)
    expect(nestsDeeperThan('"\\"[[[', 2)).toBe(false)
    expect(nestsDeeperThan(Buffer.from('{"é":[[['), 3)).toBe(true)
  })

  it('parseLenientJson refuses what nests too deep, so no caller (redaction, positions) walks it', () => {
    expect(parseLenientJson(nested(5000))).toEqual({ ok: false, message: 'nested deeper than 64 levels', tooDeep: true })
    expect(parseLenientJson(nested(64, '[', ']'))).toMatchObject({ ok: true })
  })

  it('seals rejection values the store could not JSON.stringify (a decoder bug must not lose the message)', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const buggy = { format: 'buggy', topicFilters: ['buggy/#'], decode: (m: { topic: string; receivedAt: number }) => ({ candidates: [], rejections: [{ deviceId: 'd', topic: m.topic, sourceFormat: 'buggy', receivedAt: m.receivedAt, path: 'x', rule: 'schema', message: 'bad x', value: cyclic, raw: '{}' }] }) }
    const ctx = runPipeline(createPipeline({ maxPayloadBytes: 100, maxFutureMs: 0, decoders: [buggy] }), { topic: 'buggy/1', payload: Buffer.from('{}'), receivedAt: RECEIVED })
    expect(ctx.rejections).toHaveLength(1)
    expect('value' in ctx.rejections[0]!).toBe(false)
    expect(ctx.rejections[0]!.message).toMatch(/^bad x \(value not kept: Converting circular structure to JSON.*; raw holds it\)$/s)
    expect(() => rejectionToLine(ctx.rejections[0]!)).not.toThrow()
  })
})

describe('ingest pipeline: many rejected values in one message (too_many_rejections)', () => {
  const bigSteps = createPipeline({ maxPayloadBytes: 262_144, maxFutureMs: 300_000, decoders: createDecoders() })
  const native = (readings: Record<string, unknown>) =>
    runPipeline(bigSteps, { topic: TOPIC, payload: Buffer.from(JSON.stringify({ v: 1, readings })), receivedAt: RECEIVED })

  it('keeps up to 100 rejections one by one, sharing one raw text', () => {
    const ctx = native(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`q${i}`, i])))
    expect(ctx.rejections).toHaveLength(100)
    expect(new Set(ctx.rejections.map((r) => r.rule))).toEqual(new Set(['unknown_quantity']))
    expect(ctx.rejections.every((r) => r.raw === ctx.rejections[0]!.raw)).toBe(true)
  })

  it('turns 15,000 rejected values into one rejection listing each, and still stores the good value beside them', () => {
    const readings: Record<string, unknown> = { pm10: 12 }
    for (let i = 0; i < 15_000; i++) readings[`q${i}`] = i
    readings.pm2_5 = 'x'
    const ctx = native(readings)
    expect(ctx.readings.map((r) => [r.quantity, r.value])).toEqual([['pm10', 12]])
    expect(ctx.rejections).toHaveLength(1)
    const [summary] = ctx.rejections
    expect([summary!.deviceId, summary!.path, summary!.rule, summary!.message]).toEqual([
      'garden-017',
      '$',
      'too_many_rejections',
      '15001 values rejected (unknown_quantity 15000, schema 1), more than 100: value lists each as [path, rule, value]; raw holds the message',
    ])
    const listed = summary!.value as unknown[][]
    expect(listed).toHaveLength(15_001)
    expect(listed[0]).toEqual(['readings.q0', 'unknown_quantity', 0])
    expect(listed[15_000]).toEqual(['readings.pm2_5', 'schema', 'x'])
    expect(summary!.raw).toBe(JSON.stringify({ v: 1, readings }))
    expect(RejectionSchema.safeParse(summary).success).toBe(true)
  })
})
