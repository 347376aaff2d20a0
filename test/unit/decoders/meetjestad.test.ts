import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { InboundMessage } from '../../../core/decoders/decoder.ts'
import { createMeetJeStadTtnV2Decoder, decodePort10, MEETJESTAD_TTN_V2_FORMAT, parseMeetJeStadJson } from '../../../core/decoders/meetjestad.ts'
import { createNativeV1Decoder } from '../../../core/decoders/native-v1.ts'
import type { ArchiveRecord } from '../../../core/decoders/sc-archive.ts'
import { QualityFlagger } from '../../../core/quality.ts'
import { DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { readingsTopic, topicMatches } from '../../../core/topics.ts'
import { validateCandidates } from '../../../core/validate.ts'

const SETTINGS = { deviceTimeZone: 'Europe/Amsterdam' }
const DIR = new URL('../../fixtures/devices/meetjestad/', import.meta.url)
const read = (file: string) => readFileSync(new URL(file, DIR), 'utf8')
const decoder = createMeetJeStadTtnV2Decoder(SETTINGS)

describe('Meet je Stad fixtures', () => {
  it('are exactly the two handled below', () => {
    expect(readdirSync(DIR).filter((f) => f !== 'SOURCES.md').sort()).toEqual(['written_data-api_sensors.json', 'written_ttn-v2-legacy_port10.json'])
  })
})

describe('Meet je Stad data-API JSON (file format for replay)', () => {
  const EXPECTED: ArchiveRecord[] = [
    // humidity 107.875 % is passed on: stored (hard max 110 %) and flagged rh_above_100 by the quality step
    { line: 1, deviceId: 'mjs-173', sensorModel: 'meetjestad-2', observedAt: Date.UTC(2021, 4, 4, 9, 0, 4), readings: { air_temperature: 9.75, relative_humidity: 107.875 }, units: {} },
    { line: 2, deviceId: 'mjs-781', sensorModel: 'meetjestad-4', observedAt: Date.UTC(2021, 4, 4, 9, 0, 7), readings: { air_temperature: 8.9375, relative_humidity: 97.625 }, units: {} },
    // latitude 60.347 (not Amersfoort): coordinates are never used, the readings stand
    { line: 3, deviceId: 'mjs-391', sensorModel: 'meetjestad-2', observedAt: Date.UTC(2021, 4, 4, 9, 30, 6), readings: { air_temperature: 9.625, relative_humidity: 53.4375 }, units: {} },
    { line: 4, deviceId: 'mjs-44', sensorModel: 'meetjestad-1', observedAt: Date.UTC(2021, 4, 4, 9, 0, 36), readings: { air_temperature: 9.5625, relative_humidity: 2.0625 }, units: {} },
  ]

  it('written_data-api_sensors.json: records with UTC times; lux, supply, battery, extra, coordinates and null PM left out', () => {
    expect(parseMeetJeStadJson(read('written_data-api_sensors.json'))).toEqual({ records: EXPECTED, rejections: [] })
  })

  it('replayed as native payloads, the readings validate; 107.875 % is stored and flagged rh_above_100', () => {
    const native = createNativeV1Decoder(SETTINGS)
    const flagger = new QualityFlagger()
    const stored = parseMeetJeStadJson(read('written_data-api_sensors.json')).records.flatMap((record) => {
      // the message `senshagen replay` publishes for a record (cli/replay.ts)
      const payload = { v: 1, device: record.deviceId, time: formatIsoMs(record.observedAt), sensor: record.sensorModel, readings: record.readings }
      const message: InboundMessage = { topic: readingsTopic(record.deviceId), payload: Buffer.from(JSON.stringify(payload)), receivedAt: Date.UTC(2024, 0, 1) }
      const decoded = native.decode(message)
      const { readings, rejections } = validateCandidates(message, decoded.candidates, { maxFutureMs: 60_000 })
      expect([decoded.rejections, rejections]).toEqual([[], []])
      flagger.flag(readings)
      return readings.map((r) => [r.deviceId, r.quantity, r.value, r.unit, formatIsoMs(r.observedAt), r.sensorModel, r.flags])
    })
    expect(stored).toEqual([
      ['mjs-173', 'air_temperature', 9.75, '°C', '2021-05-04T09:00:04.000Z', 'meetjestad-2', []],
      ['mjs-173', 'relative_humidity', 107.875, '%', '2021-05-04T09:00:04.000Z', 'meetjestad-2', ['rh_above_100']],
      ['mjs-781', 'air_temperature', 8.9375, '°C', '2021-05-04T09:00:07.000Z', 'meetjestad-4', []],
      ['mjs-781', 'relative_humidity', 97.625, '%', '2021-05-04T09:00:07.000Z', 'meetjestad-4', []],
      ['mjs-391', 'air_temperature', 9.625, '°C', '2021-05-04T09:30:06.000Z', 'meetjestad-2', []],
      ['mjs-391', 'relative_humidity', 53.4375, '%', '2021-05-04T09:30:06.000Z', 'meetjestad-2', []],
      ['mjs-44', 'air_temperature', 9.5625, '°C', '2021-05-04T09:00:36.000Z', 'meetjestad-1', []],
      ['mjs-44', 'relative_humidity', 2.0625, '%', '2021-05-04T09:00:36.000Z', 'meetjestad-1', []],
    ])
  })

  it('maps pm2.5 (dotted key) and pm10; null temperature/humidity are gaps; unknown keys go on under their own names', () => {
    const text = JSON.stringify([
      { id: '12', timestamp: '2021-05-04 09:00:04', firmware_version: 'v5 beta', temperature: null, humidity: 80, 'pm2.5': 4.5, pm10: '9.1', co2: 412, extra: { x: 1 }, nested: { a: 1 } },
      { id: 13, timestamp: '2021-05-04T11:00:04+02:00', pm10: null },
    ])
    expect(parseMeetJeStadJson(text).records).toEqual([
      { line: 1, deviceId: 'mjs-12', sensorModel: 'meetjestad', observedAt: Date.UTC(2021, 4, 4, 9, 0, 4), readings: { air_temperature: null, relative_humidity: 80, pm2_5: 4.5, pm10: '9.1', co2: 412, nested: '{"a":1}' }, units: {} },
      { line: 2, deviceId: 'mjs-13', sensorModel: 'meetjestad', observedAt: Date.UTC(2021, 4, 4, 9, 0, 4), readings: {}, units: {} },
    ])
  })

  it('rejects rows without a station id or readable timestamp, and text that is not JSON', () => {
    const rows = [{ id: -1, timestamp: '2021-05-04 09:00:04' }, { timestamp: '2021-05-04 09:00:04' }, { id: 5 }, { id: 5, timestamp: '2021-02-30 09:00:00' }, 'x']
    expect(parseMeetJeStadJson(JSON.stringify(rows)).rejections.map((r) => [r.line, r.rule, r.message])).toEqual([
      [1, 'schema', 'entry 1: id -1 is not a station number'],
      [2, 'schema', 'entry 2: id undefined is not a station number'],
      [3, 'schema', 'entry 3: timestamp is missing'],
      [4, 'schema', "entry 4: timestamp '2021-02-30 09:00:00' is not a valid calendar date-time"],
      [5, 'schema', 'entry 5: is not an object'],
    ])
    expect(parseMeetJeStadJson('[{').rejections[0]).toMatchObject({ line: 0, rule: 'schema', raw: '[{' })
  })
})

describe('Meet je Stad TTN v2 uplink decoder (port 10)', () => {
  const TOPIC = 'meet-je-stad/devices/mjs-2041/up'
  const FIXTURE = read('written_ttn-v2-legacy_port10.json')
  const RECEIVED = Date.UTC(2019, 10, 2, 14, 15, 9)
  const uplink = (doc: string | object, topic = TOPIC): InboundMessage => ({ topic, payload: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), receivedAt: RECEIVED })
  const fixtureDoc = () => JSON.parse(FIXTURE) as Record<string, unknown>

  it('format, topic filter (no v3/ prefix), max age', () => {
    expect(decoder.format).toBe(MEETJESTAD_TTN_V2_FORMAT)
    expect(decoder.topicFilters).toEqual(['+/devices/+/up'])
    expect(decoder.maxAgeMs).toBe(7 * 86_400_000)
    expect(topicMatches('+/devices/+/up', TOPIC)).toBe(true)
    expect(topicMatches('+/devices/+/up', 'v3/senshagen/devices/node-1/up')).toBe(false)
  })

  it('decodes payload_raw MSB first as mjs_mqtt.py: lat 52.156, lon 5.389, 8.25 °C, 81.5 %, supply 3.42 V, no battery', () => {
    const data = decodePort10(Buffer.from('GhP4ArHLCEUY8g==', 'base64'))
    expect(data).toEqual({ latitude: 1709048 / 32768, longitude: 176587 / 32768, temperature: 8.25, humidity: 81.5, supply: 3.42 })
    expect(data!.latitude.toFixed(3)).toBe('52.156')
    expect(data!.longitude.toFixed(3)).toBe('5.389')
    // mjs_mqtt.py's own test message (station 50, 11 bytes: no GPS fix, both voltages)
    expect(decodePort10(Buffer.from('AAAAAAAAEZP4580=', 'base64'))).toEqual({ latitude: 0, longitude: 0, temperature: 17.5625, humidity: 63.5, supply: 3.31, battery: 5.1 })
    expect(decodePort10(Buffer.from([0x80, 0, 0, 0, 0, 0, 0xff, 0xf8, 0x00]))).toEqual({ latitude: -256, longitude: 0, temperature: -0.0625, humidity: -128 })
    expect(decodePort10(new Uint8Array(8))).toBeUndefined()
    expect(decodePort10(new Uint8Array(12))).toBeUndefined()
  })

  it('written_ttn-v2-legacy_port10.json: device from hardware_serial, time from metadata.time, coordinates and supply only ignored', () => {
    const at = Date.UTC(2019, 10, 2, 14, 15, 7, 123) // 2019-11-02T14:15:07.123456789Z truncated to ms
    const common = { deviceId: 'mjs-2041', observedAt: at, timeSource: 'device', sensorModel: 'meetjestad', sourceFormat: 'meetjestad-ttn-v2' }
    expect(decoder.decode(uplink(FIXTURE))).toEqual({
      candidates: [
        { ...common, quantity: 'air_temperature', value: 8.25, path: 'payload_raw.temperature' },
        { ...common, quantity: 'relative_humidity', value: 81.5, path: 'payload_raw.humidity' },
      ],
      rejections: [],
      ignored: ['latitude', 'longitude', 'supply'].map((f) => ({ deviceId: 'mjs-2041', path: `payload_raw.${f}`, type: 'number' })),
    })
    const message = uplink(FIXTURE)
    const { readings, rejections } = validateCandidates(message, decoder.decode(message).candidates, { maxFutureMs: 60_000, maxAgeMs: decoder.maxAgeMs })
    expect(rejections).toEqual([])
    expect(readings.map((r) => [r.quantity, r.value, r.unit, r.observedAt, r.receivedAt])).toEqual([['air_temperature', 8.25, '°C', at, RECEIVED], ['relative_humidity', 81.5, '%', at, RECEIVED]])
  })

  it('falls back to receipt time when metadata.time is empty, zone-less or absent', () => {
    for (const time of ['', '2019-11-02T14:15:07', undefined, 42]) {
      const doc = fixtureDoc()
      doc.metadata = { ...(doc.metadata as object), time }
      expect(decoder.decode(uplink(doc)).candidates[0]).toMatchObject({ observedAt: RECEIVED, timeSource: 'receipt' })
    }
  })

  it('rejects the whole uplink for another port, a bad payload_raw, a bad serial or ids differing from the topic', () => {
    const rejection = (change: Record<string, unknown>, topic = TOPIC) => {
      const r = decoder.decode(uplink({ ...fixtureDoc(), ...change }, topic))
      expect(r.candidates).toEqual([])
      return [r.rejections[0]!.deviceId, r.rejections[0]!.path, r.rejections[0]!.rule]
    }
    expect(rejection({ port: 11 })).toEqual(['mjs-2041', 'port', 'schema'])
    expect(decoder.decode(uplink({ ...fixtureDoc(), port: 11 })).rejections[0]!.message).toMatch(/other Meet je Stad ports exist/)
    expect(rejection({ payload_raw: 'AAAAAAAAAAA=' })).toEqual(['mjs-2041', 'payload_raw', 'schema']) // 8 bytes
    expect(rejection({ payload_raw: 'not base64!' })).toEqual(['mjs-2041', 'payload_raw', 'schema'])
    expect(rejection({ payload_raw: undefined })).toEqual(['mjs-2041', 'payload_raw', 'schema'])
    expect(rejection({ hardware_serial: 'zz' })).toEqual(['unknown', 'hardware_serial', 'schema'])
    expect(rejection({ dev_id: 'other' })).toEqual(['mjs-2041', 'dev_id', 'device_mismatch'])
    expect(rejection({ app_id: 'other' })).toEqual(['mjs-2041', 'app_id', 'device_mismatch'])
    expect(rejection({}, 'meet-je-stad/devices/mjs-2041/down')).toEqual(['unknown', 'topic', 'schema'])
    expect(decoder.decode(uplink('{')).rejections[0]).toMatchObject({ path: '$', rule: 'json', raw: '{' })
    expect(decoder.decode(uplink({ ...fixtureDoc(), hardware_serial: 'FFFFFFFFFFFFFFFF' })).candidates[0]!.deviceId).toBe('mjs-18446744073709551615')
  })
})

describe('Meet je Stad: properties', () => {
  const validIds = (ids: string[]) => ids.forEach((id) => expect(DeviceIdSchema.safeParse(id).success).toBe(true))

  it('TTN v2 decoder never throws; rejections have rule and message; device ids valid', () => {
    const base = JSON.parse(read('written_ttn-v2-legacy_port10.json')) as Record<string, unknown>
    const doc = fc.record({
      hardware_serial: fc.oneof(fc.constantFrom('00000000000007F9', ''), fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 0 })),
      port: fc.oneof({ weight: 3, arbitrary: fc.constant(10) }, fc.jsonValue({ maxDepth: 0 })),
      payload_raw: fc.oneof(fc.uint8Array({ maxLength: 14 }).map((b) => Buffer.from(b).toString('base64')), fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 0 })),
      metadata: fc.oneof(fc.record({ time: fc.oneof(fc.constantFrom('', '2019-11-02T14:15:07Z'), fc.string(), fc.jsonValue({ maxDepth: 0 })) }), fc.jsonValue({ maxDepth: 1 })),
      app_id: fc.oneof(fc.constant('meet-je-stad'), fc.jsonValue({ maxDepth: 0 })),
      dev_id: fc.oneof(fc.constant('mjs-2041'), fc.jsonValue({ maxDepth: 0 })),
    }, { requiredKeys: [] }).map((change) => JSON.stringify({ ...base, ...change }))
    const payload = fc.oneof({ weight: 4, arbitrary: doc }, fc.string({ maxLength: 50 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)))
    const topic = fc.oneof({ weight: 4, arbitrary: fc.constant('meet-je-stad/devices/mjs-2041/up') }, fc.string({ maxLength: 30 }))
    fc.assert(fc.property(payload, topic, (text, t) => {
      const message: InboundMessage = { topic: t, payload: Buffer.from(text), receivedAt: Date.UTC(2019, 10, 2) }
      const r = decoder.decode(message)
      for (const x of r.rejections) {
        expect(x.rule.length * x.message.length).toBeGreaterThan(0)
        expect(RejectionSchema.safeParse(x).success).toBe(true)
      }
      validIds([...r.candidates, ...r.rejections, ...(r.ignored ?? [])].map((x) => x.deviceId))
      validateCandidates(message, r.candidates, { maxFutureMs: 60_000 })
    }), { numRuns: 400 })
  })

  it('parseMeetJeStadJson never throws; row rejections have rule and message; record device ids valid', () => {
    const row = fc.record({
      id: fc.oneof(fc.nat(), fc.constantFrom('173', '-1', '1e3', '99999999999999999999'), fc.jsonValue({ maxDepth: 0 })),
      timestamp: fc.oneof(fc.constantFrom('2021-05-04 09:00:04', '2021-05-04T09:00:04+02:00', '2021-13-01 00:00:00'), fc.jsonValue({ maxDepth: 0 })),
      firmware_version: fc.jsonValue({ maxDepth: 1 }),
      temperature: fc.jsonValue({ maxDepth: 1 }),
      'pm2.5': fc.jsonValue({ maxDepth: 1 }),
      ['__proto__']: fc.jsonValue({ maxDepth: 1 }),
    }, { requiredKeys: [] })
    const text = fc.oneof({ weight: 4, arbitrary: fc.array(fc.oneof(row, fc.jsonValue({ maxDepth: 1 })), { maxLength: 5 }).map((a) => JSON.stringify(a)) }, fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)))
    fc.assert(fc.property(text, (t) => {
      const { records, rejections } = parseMeetJeStadJson(t)
      for (const r of rejections) {
        expect(['schema', 'time_zone']).toContain(r.rule)
        expect(r.message.length).toBeGreaterThan(0)
      }
      validIds(records.map((r) => r.deviceId))
      for (const r of records) expect(r.sensorModel.length).toBeLessThanOrEqual(64)
    }), { numRuns: 400 })
  })
})
