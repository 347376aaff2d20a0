import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EnvelopeSchema, createNativeV1Decoder, plainEnvelope } from '../../../core/decoders/native-v1.ts'

const decoder = createNativeV1Decoder({ deviceTimeZone: 'Europe/Amsterdam' })
const TOPIC = 'senshagen/v1/devices/garden-017/readings'
const RECEIVED = Date.UTC(2026, 11, 1, 18, 0, 5)
const decode = (payload: unknown) => decoder.decode({ topic: TOPIC, payload: Buffer.from(JSON.stringify(payload)), receivedAt: RECEIVED })

// envelopes near the schema's edges: each field valid, wrong-typed, out of range or absent, plus unknown keys
const field = <T>(valid: fc.Arbitrary<T>) => fc.option(fc.oneof(valid, fc.constantFrom<unknown>(null, true, -1, 1.5, '', [], {}, 2 ** 60, '1')), { nil: undefined })
const record = (value: fc.Arbitrary<unknown>) => fc.oneof(fc.dictionary(fc.constantFrom('pm10', 'air_pressure', '__proto__', 'constructor', '0', 'x y'), value, { maxKeys: 4 }), fc.constantFrom<unknown>(null, [], 'readings', 3))
const envelope = fc.record(
  {
    v: fc.constantFrom<unknown>(1, 2, '1', null),
    device: field(fc.constantFrom('garden-017', 'other-1', 'bad id', '-x', 'a'.repeat(101))),
    time: field(fc.oneof(fc.constantFrom('2026-12-01T18:00:00Z', 'yesterday'), fc.integer({ min: 0, max: 4_102_444_800_000 }))),
    sensor: field(fc.string({ minLength: 0, maxLength: 70 })),
    readings: record(fc.oneof(fc.double(), fc.constantFrom<unknown>(null, '12', {}))),
    units: fc.option(record(fc.constantFrom<unknown>('Pa', 'hPa', 3, null)), { nil: undefined }),
    pm2_5: fc.constantFrom<unknown>(12, 'x'),
  },
  { requiredKeys: [] },
)
// JSON.parse gives own `__proto__` keys and drops undefined ones: the decoder only ever sees such objects
const asParsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe('native v1 envelope check (hot path, zod only for what it does not accept)', () => {
  it('accepts only what EnvelopeSchema accepts, with the same known fields, and accepts every plain valid envelope', () => {
    fc.assert(
      fc.property(envelope, (generated) => {
        const json = asParsed(generated)
        const fast = plainEnvelope(json)
        const zod = EnvelopeSchema.safeParse(json)
        if (fast !== undefined) {
          expect(zod.success).toBe(true)
          expect(zod.data).toEqual(Object.fromEntries(Object.entries(fast).filter(([key]) => key in EnvelopeSchema.shape)))
        } else if (zod.success) {
          // what the check leaves to zod although zod accepts it: only the unusual cases it names
          expect(JSON.stringify(json)).toContain('"__proto__"')
        }
      }),
      { numRuns: 3_000 },
    )
  })

  it('decodes a valid message into one candidate per quantity and keeps an unknown key as a rejection', () => {
    const result = decode({ v: 1, device: 'garden-017', time: '2026-12-01T18:00:00.250Z', sensor: 'BME280', readings: { air_pressure: 101_260, air_temperature: 7.4 }, units: { air_pressure: 'Pa' }, pm2_5: 12 })
    const common = { deviceId: 'garden-017', observedAt: Date.UTC(2026, 11, 1, 18, 0, 0, 250), timeSource: 'device', sensorModel: 'BME280', sourceFormat: 'senshagen-v1' }
    expect(result.candidates).toStrictEqual([
      { ...common, quantity: 'air_pressure', value: 101_260, unit: 'Pa', path: 'readings.air_pressure' },
      { ...common, quantity: 'air_temperature', value: 7.4, path: 'readings.air_temperature' },
    ])
    expect(result.rejections.map((r) => [r.path, r.rule, r.value])).toEqual([['pm2_5', 'unknown_field', 12]])
  })

  it('keeps an own __proto__ key of readings as a candidate (validation rejects it), never dropping it silently', () => {
    // JSON.parse makes `__proto__` an own key; zod's record drops it, so the decoder reads the message's own keys
    const json = JSON.parse('{"v":1,"device":"garden-017","readings":{"__proto__":{"pm10":5},"pm2_5":4}}')
    const result = decode(json)
    expect(result.candidates.map((c) => [c.quantity, c.value])).toEqual([['__proto__', { pm10: 5 }], ['pm2_5', 4]])
    expect(result.rejections).toEqual([])
  })

  it('rejects a bad envelope with zod’s message, naming the field', () => {
    const rejection = (payload: unknown) => decode(payload).rejections.map((r) => [r.path, r.rule, r.message, r.value])
    expect(rejection({ v: 1, sensor: '', readings: {} })).toEqual([['sensor', 'schema', 'Too small: expected string to have >=1 characters', '']])
    expect(rejection({ v: 1, time: -5, readings: {} })).toEqual([['time', 'schema', 'Too small: expected number to be >=0', -5]])
    expect(rejection({ v: 2, readings: {} })).toEqual([['v', 'schema', 'Invalid input: expected 1', 2]])
    expect(rejection({ v: 1, readings: [] })).toEqual([['readings', 'schema', 'Invalid input: expected record, received array', []]])
    expect(rejection({ v: 1, readings: {}, units: { pm10: 3 } })).toEqual([['units.pm10', 'schema', 'Invalid input: expected string, received number', 3]])
    expect(rejection({ v: 1, time: 2 ** 60, readings: {} })).toEqual([['time', 'schema', 'Too big: expected int to be <=9007199254740991', 2 ** 60]])
  })
})
