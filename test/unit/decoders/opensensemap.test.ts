import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Candidate, DecodeResult, DecoderFactory, InboundMessage } from '../../../core/decoders/decoder.ts'
import { createOpenSenseMapDecoder, OPENSENSEMAP_FORMAT, OPENSENSEMAP_TOPIC, withoutLocations, type OpenSenseMapOptions } from '../../../core/decoders/opensensemap.ts'
import { DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { validateCandidates } from '../../../core/validate.ts'

const SETTINGS = { deviceTimeZone: 'Europe/Amsterdam' }
const AT = Date.UTC(2024, 0, 15, 10, 30, 0)
const T = Date.UTC(2024, 0, 15, 10, 28, 30) // createdAt of the fixtures
const DIR = new URL('../../fixtures/devices/opensensemap/', import.meta.url)
const BOX = '5a1b2c3d4e5f60718293a4b0' // invented box id, as the fixtures' sensor ids
const DEVICE = `osem-${BOX}`
const [S1, S2, S3, S4, S5] = ['5a1b2c3d4e5f60718293a4b1', '5a1b2c3d4e5f60718293a4b2', '5a1b2c3d4e5f60718293a4b3', '5a1b2c3d4e5f60718293a4b4', '5a1b2c3d4e5f60718293a4b5']

/**
 * Stands for a deployment's box configuration: the sensors registered for this box on openSenseMap (a senseBox
 * with HDC1080 temperature/humidity, BMP280 pressure and an SDS011), by sensor id. openSenseMap itself looks the
 * ids up in the box document; SensHagen cannot, so the deployment lists them.
 */
const BOX_SENSORS: OpenSenseMapOptions['sensors'] = {
  [S1]: { quantity: 'air_temperature', model: 'HDC1080' },
  [S2]: { quantity: 'relative_humidity', model: 'HDC1080' },
  [S3]: { quantity: 'air_pressure', unit: 'hPa', model: 'BMP280' }, // canonical unit: left off the candidate
  [S4]: { quantity: 'pm2_5', model: 'SDS011' },
  [S5]: { quantity: 'pm10', model: 'SDS011' },
}
const decoder = createOpenSenseMapDecoder({ ...SETTINGS, sensors: BOX_SENSORS })

function post(body: string | object, headers: Record<string, string>, path = `/boxes/${BOX}/data`): InboundMessage {
  return {
    topic: OPENSENSEMAP_TOPIC,
    payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8'),
    receivedAt: AT,
    headers: { ':path': path, ':query': '', ...headers },
  }
}
const JSON_CT = { 'content-type': 'application/json' }
const CSV_CT = { 'content-type': 'text/csv' }

/** The request each fixture stands for: its content type and query, as the HTTP layer passes them. */
function fixtureMessage(file: string): InboundMessage {
  const text = readFileSync(new URL(file, DIR), 'utf8')
  if (file.endsWith('.csv')) return post(text, CSV_CT)
  if (file.includes('luftdaten')) return post(text, { ...JSON_CT, ':query': 'luftdaten=1' })
  if (file.includes('hackair')) return post(text, { ...JSON_CT, ':query': 'hackair=1' })
  return post(text, JSON_CT)
}

const c = (quantity: string, value: unknown, path: string, observedAt: number, sensorModel?: string, unit?: string): Candidate => ({
  deviceId: DEVICE, quantity, value, path, observedAt, timeSource: observedAt === AT ? 'receipt' : 'device', sourceFormat: 'opensensemap',
  ...(unit === undefined ? {} : { unit }),
  ...(sensorModel === undefined ? {} : { sensorModel }),
})
const loc = (sensor: string, type: string) => ({ deviceId: DEVICE, path: `${sensor}.location`, type })
const INTEGRATIONS_RAW = readFileSync(new URL('written_box-integrations-mqtt.json', DIR), 'utf8')

const EXPECTED: Record<string, DecodeResult> = {
  // openSenseMap's MQTT integration CONFIGURATION of a box (how openSenseMap subscribes to a broker), not a
  // measurement. Posted to /boxes/{box}/data as JSON it reads as the object form with one "sensor id"
  // `integrations`, which is no configured sensor: one unknown_quantity rejection, nothing stored.
  'written_box-integrations-mqtt.json': {
    candidates: [],
    rejections: [{
      deviceId: DEVICE, topic: 'http/opensensemap', sourceFormat: 'opensensemap', receivedAt: AT, path: 'integrations', rule: 'unknown_quantity',
      message: `openSenseMap sensor 'integrations' of box '${BOX}' is not configured: add it to the opensensemap sensors option (quantity, unit if not canonical, model)`,
      value: JSON.parse(INTEGRATIONS_RAW).integrations, raw: INTEGRATIONS_RAW,
    }],
  },
  'written_post-boxes-data.csv': {
    candidates: [
      c('air_temperature', '8.42', S1, AT, 'HDC1080'),
      c('relative_humidity', '81.2', S2, T, 'HDC1080'),
      c('pm2_5', '6.1', S4, T, 'SDS011'),
      c('pm10', '11.8', S5, T, 'SDS011'),
    ],
    rejections: [],
    ignored: [loc(S4, 'array'), loc(S5, 'array')], // lng,lat[,height] cells: seen, never used
  },
  'written_post-boxes-data_hackair-format.json': {
    candidates: [
      { deviceId: DEVICE, quantity: 'pm2_5', value: '7.93', path: 'reading.PM2.5_AirPollutantValue', observedAt: AT, timeSource: 'receipt', sourceFormat: 'opensensemap' },
      { deviceId: DEVICE, quantity: 'pm10', value: '32.63', path: 'reading.PM10_AirPollutantValue', observedAt: AT, timeSource: 'receipt', sourceFormat: 'opensensemap' },
    ],
    rejections: [],
    ignored: ['battery', 'tamper', 'error'].map((path) => ({ deviceId: DEVICE, path, type: 'numeric-string' })),
  },
  'written_post-boxes-data_json-array.json': {
    candidates: [
      c('air_temperature', '8.42', S1, T, 'HDC1080'),
      c('relative_humidity', 81.2, S2, T, 'HDC1080'),
      c('air_pressure', '1012.63', S3, AT, 'BMP280'),
      c('pm2_5', '6.1', S4, T, 'SDS011'),
      c('pm10', '11.8', S5, T, 'SDS011'),
    ],
    rejections: [],
    ignored: [loc(S4, 'array'), loc(S5, 'object')],
  },
  'written_post-boxes-data_json-object.json': {
    candidates: [
      c('air_temperature', '8.42', S1, AT, 'HDC1080'),
      c('relative_humidity', '81.2', S2, AT, 'HDC1080'),
      c('air_pressure', '1012.63', S3, T, 'BMP280'),
      c('pm2_5', '6.1', S4, T, 'SDS011'),
    ],
    rejections: [],
    ignored: [loc(S4, 'array')],
  },
  'written_post-boxes-data_luftdaten-format.json': {
    // value types mapped by airrohr's mapValueType: no sensor configuration involved
    candidates: [
      c('pm10', '11.83', 'SDS_P1', AT, 'SDS011'),
      c('pm2_5', '6.07', 'SDS_P2', AT, 'SDS011'),
      c('air_temperature', '8.42', 'BME280_temperature', AT, 'BME280'),
      c('air_pressure', '101263.52', 'BME280_pressure', AT, 'BME280', 'Pa'),
      c('relative_humidity', '81.23', 'BME280_humidity', AT, 'BME280'),
    ],
    rejections: [],
    ignored: [{ deviceId: DEVICE, path: 'signal', type: 'numeric-string' }],
  },
}

describe('openSenseMap decoder: every fixture in test/fixtures/devices/opensensemap/', () => {
  const files = readdirSync(DIR).filter((f) => f !== 'SOURCES.md').sort()

  it('covers all fixture files; format, topic, max age', () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort())
    expect(decoder.format).toBe(OPENSENSEMAP_FORMAT)
    expect(decoder.topicFilters).toEqual(['http/opensensemap'])
    expect(decoder.maxAgeMs).toBe(7 * 24 * 3_600_000)
  })

  it.each(files)('%s', (file) => {
    expect(decoder.decode(fixtureMessage(file))).toEqual(EXPECTED[file])
  })

  it('validates the JSON array and luftdaten fixtures to canonical readings (Pa → hPa exactly)', () => {
    const array = fixtureMessage('written_post-boxes-data_json-array.json')
    const { readings, rejections } = validateCandidates(array, decoder.decode(array).candidates, { maxFutureMs: 60_000, maxAgeMs: decoder.maxAgeMs })
    expect(rejections).toEqual([])
    expect(readings.map((r) => [r.quantity, r.value, r.unit, r.observedAt, r.timeSource, r.sensorModel])).toEqual([
      ['air_temperature', 8.42, '°C', T, 'device', 'HDC1080'],
      ['relative_humidity', 81.2, '%', T, 'device', 'HDC1080'],
      ['air_pressure', 1012.63, 'hPa', AT, 'receipt', 'BMP280'],
      ['pm2_5', 6.1, 'µg/m³', T, 'device', 'SDS011'],
      ['pm10', 11.8, 'µg/m³', T, 'device', 'SDS011'],
    ])
    expect(readings.every((r) => r.deviceId === DEVICE && r.sourceFormat === 'opensensemap' && r.receivedAt === AT)).toBe(true)
    const luft = fixtureMessage('written_post-boxes-data_luftdaten-format.json')
    const pressure = validateCandidates(luft, decoder.decode(luft).candidates, { maxFutureMs: 60_000 }).readings.find((r) => r.quantity === 'air_pressure')
    expect(pressure).toMatchObject({ value: 1012.6352, unit: 'hPa', sourceUnit: 'Pa', rawValue: 101263.52 })
  })
})

describe('openSenseMap decoder: configuration, routes, time, shapes', () => {
  it('as a plain DecoderFactory it has no sensors: each measurement is unknown_quantity, path = sensor id', () => {
    const factory: DecoderFactory = createOpenSenseMapDecoder
    const bare = factory(SETTINGS)
    const r = bare.decode(fixtureMessage('written_post-boxes-data.csv'))
    expect(r.candidates).toEqual([])
    expect(r.rejections.map((x) => [x.path, x.rule, x.value])).toEqual([[S1, 'unknown_quantity', '8.42'], [S2, 'unknown_quantity', '81.2'], [S4, 'unknown_quantity', '6.1'], [S5, 'unknown_quantity', '11.8']])
    expect(r.rejections[0]!.message).toMatch(/not configured: add it to the opensensemap sensors option/)
    // luftdaten and hackAIR bodies name their quantities and still decode
    expect(bare.decode(fixtureMessage('written_post-boxes-data_luftdaten-format.json')).candidates).toHaveLength(5)
  })

  it('refuses a bad sensor configuration when created (not while decoding)', () => {
    expect(() => createOpenSenseMapDecoder({ sensors: { a: { quantity: 'co2' }, b: { quantity: 'air_pressure', unit: '°C' } } })).toThrow(
      "openSenseMap sensors option: sensor 'a': quantity 'co2' is not in the vocabulary; sensor 'b': unit '°C' cannot be converted for air_pressure",
    )
    const pa = createOpenSenseMapDecoder({ sensors: { [S3]: { quantity: 'air_pressure', unit: 'Pa' } } })
    expect(pa.decode(post(`${S3},101263.52`, CSV_CT)).candidates).toEqual([c('air_pressure', '101263.52', S3, AT, undefined, 'Pa')])
  })

  it('accepts createdAt with any explicit zone (openSenseMap: Z only); zone-less or malformed rejects that measurement alone', () => {
    const r = decoder.decode(post([
      { sensor: S1, value: '1', createdAt: '2024-01-15T11:28:30+01:00' },
      { sensor: S2, value: '2', createdAt: '2024-01-15T10:28:30' },
      { sensor: S3, value: '3', createdAt: 'yesterday' },
      { sensor: S4, value: '4', createdAt: 1705314510 },
      { sensor: S5, value: '5', createdAt: '' }, // empty = absent: receipt time
    ], JSON_CT))
    expect(r.candidates).toEqual([c('air_temperature', '1', S1, T, 'HDC1080'), c('pm10', '5', S5, AT, 'SDS011')])
    expect(r.rejections.map((x) => [x.path, x.rule, x.value])).toEqual([
      [`${S2}.createdAt`, 'time_zone', '2024-01-15T10:28:30'],
      [`${S3}.createdAt`, 'schema', 'yesterday'],
      [`${S4}.createdAt`, 'schema', 1705314510],
    ])
  })

  it('POST /boxes/{box}/{sensor}: one measurement, sensor from the path; a prefix before /boxes is allowed', () => {
    const r = decoder.decode(post({ value: 8.42, createdAt: '2024-01-15T10:28:30Z', location: { lat: 52.157, lng: 5.387 } }, JSON_CT, `/opensensemap/boxes/${BOX}/${S1}`))
    expect(r).toEqual({ candidates: [c('air_temperature', 8.42, S1, T, 'HDC1080')], rejections: [], ignored: [loc(S1, 'object')] })
    expect(decoder.decode(post('[1]', {}, `/boxes/${BOX}/${S1}`)).rejections[0]).toMatchObject({ path: '$', rule: 'schema' })
  })

  it('rejects whole requests it cannot place or read', () => {
    const whole = (m: InboundMessage) => decoder.decode(m).rejections.map((x) => [x.deviceId, x.path, x.rule])
    expect(whole(post('x,1', CSV_CT, '/data.php'))).toEqual([['unknown', ':path', 'schema']])
    expect(whole({ topic: OPENSENSEMAP_TOPIC, payload: Buffer.from('x,1'), receivedAt: AT })).toEqual([['unknown', ':path', 'schema']])
    expect(whole(post('x,1', CSV_CT, '/boxes/b%20x/data'))).toEqual([['unknown', ':path', 'schema']])
    expect(whole(post('x,1', {}))).toEqual([[DEVICE, 'content-type', 'schema']])
    expect(decoder.decode(post('x', { 'content-type': 'application/sbx-bytes' })).rejections[0]!.message).toMatch(/senseBox bytes format is not supported/)
    expect(whole(post('{', JSON_CT))).toEqual([[DEVICE, '$', 'json']])
    expect(whole(post('"8.42"', JSON_CT))).toEqual([[DEVICE, '$', 'schema']])
    expect(whole(post({ software_version: 'x' }, { ':query': 'luftdaten=1' }))).toEqual([[DEVICE, 'sensordatavalues', 'schema']])
    expect(whole(post({ battery: '5' }, { ':query': 'hackair=1' }))).toEqual([[DEVICE, 'reading', 'schema']])
    const many = Array.from({ length: 2501 }, () => `${S1},1`).join('\n')
    expect(whole(post(many, CSV_CT))).toEqual([[DEVICE, '$', 'too_large']])
    expect(decoder.decode(post('[]', { 'content-type': 'application/json; charset=utf-8' }))).toEqual({ candidates: [], rejections: [], skipped: 'no measurements in the body' })
  })

  it('rejects single lines and entries of the wrong shape, keeping the rest', () => {
    const csv = decoder.decode(post(`${S1},1\n${S2}\n\n , ,${S4},4\n${S5},5,2024-01-15T10:28:30Z,1,2,3,4\r\n`, CSV_CT))
    expect(csv.candidates).toEqual([c('air_temperature', '1', S1, AT, 'HDC1080'), c('pm2_5', '4', S4, AT, 'SDS011')])
    expect(csv.rejections.map((x) => [x.path, x.rule])).toEqual([['line 2', 'schema'], ['line 5', 'schema']])
    const obj = decoder.decode(post({ [S1]: [], [S2]: ['1', null, null, null], [S3]: ['1012'] }, JSON_CT))
    expect(obj.candidates).toEqual([c('air_pressure', '1012', S3, AT, 'BMP280')])
    expect(obj.rejections.map((x) => [x.path, x.rule])).toEqual([[S1, 'schema'], [S2, 'schema']])
    const arr = decoder.decode(post([7, { value: '1' }, { sensor_id: S1, value: '2' }], JSON_CT))
    expect(arr.candidates).toEqual([c('air_temperature', '2', S1, AT, 'HDC1080')])
    expect(arr.rejections.map((x) => [x.path, x.rule])).toEqual([['[0]', 'schema'], ['[1].sensor', 'schema']])
    const hack = decoder.decode(post({ reading: { 'PM1_AirPollutantValue': '3', constructor: '1' } }, { ':query': 'hackair=1' }))
    expect(hack.rejections.map((x) => [x.path, x.rule])).toEqual([['reading.PM1_AirPollutantValue', 'unknown_quantity'], ['reading.constructor', 'unknown_quantity']])
  })
})

describe('openSenseMap: two sensors of one quantity on a box', () => {
  it('keep the first sensor on the box id and move another to <device>.<model> (or .<sensorId>); one sensor posting twice keeps its id', () => {
    const S6 = '5a1b2c3d4e5f60718293a4b6'
    const S7 = '5a1b2c3d4e5f60718293a4b7'
    const twoTemps = createOpenSenseMapDecoder({ sensors: { ...BOX_SENSORS, [S6]: { quantity: 'air_temperature', model: 'DS18B20' }, [S7]: { quantity: 'air_temperature' } } })
    const r = twoTemps.decode(post(`${S1},8.4,2024-01-15T10:28:30Z\n${S6},8.1\n${S1},8.5\n${S7},8.0\n`, CSV_CT))
    expect(r.candidates.map((x) => [x.deviceId, x.path, x.value])).toEqual([[DEVICE, S1, '8.4'], [`${DEVICE}.ds18b20`, S6, '8.1'], [DEVICE, S1, '8.5'], [`${DEVICE}.${S7}`, S7, '8.0']])
    const luft = decoder.decode(post({ sensordatavalues: [{ value_type: 'BME280_temperature', value: '8.42' }, { value_type: 'SHT3X_temperature', value: '8.10' }] }, { ':query': 'luftdaten=1' }))
    expect(luft.candidates.map((x) => [x.deviceId, x.quantity])).toEqual([[DEVICE, 'air_temperature'], [`${DEVICE}.sht3x`, 'air_temperature']])
  })
})

describe('openSenseMap: withoutLocations (the HTTP route`s prepare step)', () => {
  it.each(readdirSync(DIR).filter((f) => f !== 'SOURCES.md'))('%s: no coordinates left, same candidates', (file) => {
    const message = fixtureMessage(file)
    const prepared = withoutLocations(message)
    const text = prepared.payload.toString('utf8')
    expect(text).not.toMatch(/52\.157|5\.387|"location"/)
    expect(decoder.decode(prepared).candidates).toEqual(decoder.decode(message).candidates)
    if (!/52\.157/.test(message.payload.toString('utf8'))) expect(prepared).toBe(message) // untouched bytes
  })

  it('drops luftdaten GPS values; blanks the coordinates of an unparseable body', () => {
    const gps = post({ sensordatavalues: [{ value_type: 'SDS_P1', value: '1' }, { value_type: 'GPS_lat', value: '52.157' }] }, { ':query': 'luftdaten=1' })
    expect(withoutLocations(gps).payload.toString()).toBe('{"sensordatavalues":[{"value_type":"SDS_P1","value":"1"}]}')
    const broken = post('{"location": [5.387', JSON_CT)
    expect(withoutLocations(broken).payload.toString()).toBe('{"location":null')
    const intact = post('{"nothing": "to hide"', JSON_CT)
    expect(withoutLocations(intact)).toBe(intact)
  })
})

describe('openSenseMap decoder: properties', () => {
  const sensorId = fc.oneof(fc.constantFrom(S1, S2, S3, S4, S5, '', ' ', 'constructor', '__proto__'), fc.string({ maxLength: 30 }))
  const value = fc.oneof(fc.constantFrom('8.42', 'nan', '', '1,5'), fc.jsonValue({ maxDepth: 1 }))
  const createdAt = fc.oneof(fc.constantFrom(undefined, '2024-01-15T10:28:30Z', '2024-01-15T10:28:30', '2024-02-30T00:00:00Z', ''), fc.jsonValue({ maxDepth: 0 }))
  const entry = fc.record({ sensor: sensorId, value, createdAt, location: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })
  const body = fc.oneof(
    fc.array(fc.oneof(entry, fc.jsonValue({ maxDepth: 1 })), { maxLength: 6 }).map((a) => JSON.stringify(a)),
    fc.dictionary(sensorId, fc.oneof(value, fc.array(fc.oneof(value, createdAt), { maxLength: 4 }))).map((o) => JSON.stringify(o)),
    fc.array(fc.array(fc.oneof(sensorId, fc.constantFrom('1.5', '2024-01-15T10:28:30Z', '')), { maxLength: 8 }).map((cells) => cells.join(',')), { maxLength: 6 }).map((l) => l.join('\n')),
    fc.record({ sensordatavalues: fc.array(fc.record({ value_type: fc.oneof(fc.constantFrom('SDS_P1', 'signal', 'P1', 'GPS_lat', 'pressure'), fc.string()), value }, { requiredKeys: [] })) }).map((o) => JSON.stringify(o)),
    fc.record({ reading: fc.dictionary(fc.oneof(fc.constantFrom('PM2.5_AirPollutantValue', 'PM10_x'), fc.string()), value) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.string({ maxLength: 60 }),
  )
  const path = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(`/boxes/${BOX}/data`, `/boxes/${BOX}/${S1}`) }, fc.string({ maxLength: 40 }).map((s) => `/boxes/${s}/data`), fc.string({ maxLength: 40 }))
  const headers = fc.record({
    ':path': path,
    ':query': fc.constantFrom('', 'luftdaten=1', 'hackair=1', 'luftdaten=', 'hackair=1&luftdaten=1', '%%%'),
    'content-type': fc.constantFrom('application/json', 'text/csv', 'application/json; charset=utf-8', 'text/plain', 'application/sbx-bytes', ''),
  }, { requiredKeys: [] })

  it('never throws; every rejection has rule and message and is a valid Rejection; every device id is valid', () => {
    fc.assert(fc.property(body, headers, fc.boolean(), (text, h, redact) => {
      let message: InboundMessage = { topic: OPENSENSEMAP_TOPIC, payload: Buffer.from(text, 'utf8'), receivedAt: AT, headers: h }
      if (redact) message = withoutLocations(message)
      const r = decoder.decode(message)
      for (const x of r.rejections) {
        expect(x.rule).toMatch(/^[a-z_]+$/)
        expect(x.message.length).toBeGreaterThan(0)
        expect(RejectionSchema.safeParse(x).success).toBe(true)
      }
      for (const id of [...r.candidates, ...r.rejections, ...(r.ignored ?? [])].map((x) => x.deviceId)) expect(DeviceIdSchema.safeParse(id).success).toBe(true)
      validateCandidates(message, r.candidates, { maxFutureMs: 60_000 })
    }), { numRuns: 400 })
  })
})
