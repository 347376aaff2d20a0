import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AIRROHR_TOPIC, createAirrohrDecoder, pressureUnitByMagnitude } from '../../../core/decoders/airrohr.ts'
import type { Candidate, DecodeResult, InboundMessage } from '../../../core/decoders/decoder.ts'
import { isQuantity, QUANTITIES } from '../../../core/quantities.ts'
import { DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { validateCandidates } from '../../../core/validate.ts'

const SETTINGS = { deviceTimeZone: 'Europe/Amsterdam' }
const AT = Date.UTC(2024, 10, 5, 12, 0, 0)
const DIR = new URL('../../fixtures/devices/airrohr/', import.meta.url)
const decoder = createAirrohrDecoder(SETTINGS)

/**
 * Test-only reader for the `.http` fixtures: request line and headers separated by CRLF, a blank line, then the
 * raw body (no trailing newline). Header names are lower-cased, as the ingest's HTTP endpoint passes them.
 */
function parseHttpFixture(text: string): { method: string; path: string; headers: Record<string, string>; body: string } {
  const split = text.indexOf('\r\n\r\n')
  if (split < 0) throw new Error('no blank line after the headers')
  const [requestLine = '', ...headerLines] = text.slice(0, split).split('\r\n')
  const [method = '', path = ''] = requestLine.split(' ')
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    if (colon < 0) throw new Error(`bad header line '${line}'`)
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { method, path, headers, body: text.slice(split + 4) }
}

function push(body: string | object, headers: Record<string, string> = {}): InboundMessage {
  return { topic: AIRROHR_TOPIC, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8'), receivedAt: AT, headers }
}

function fixtureMessage(file: string): InboundMessage {
  const text = readFileSync(new URL(file, DIR), 'utf8')
  if (file.endsWith('.http')) {
    const request = parseHttpFixture(text)
    expect(request.method).toBe('POST')
    return push(request.body, request.headers)
  }
  // osem-test_*.json: bodies only (openSenseMap's test data); the X-Sensor header is made up: esp8266-1.
  if (file.startsWith('osem-test_')) return push(text, { 'x-sensor': 'esp8266-1' })
  // written_influx-line-protocol.txt is the firmware's InfluxDB write, not an HTTP push to us: no headers,
  // and this decoder does not accept it (a body that is not JSON → 'json').
  return push(text)
}

const c = (deviceId: string, quantity: string, value: unknown, path: string, sensorModel: string | undefined, unit?: string): Candidate => ({
  deviceId, quantity, value, path, observedAt: AT, timeSource: 'receipt', sourceFormat: 'airrohr',
  ...(sensorModel === undefined ? {} : { sensorModel }),
  ...(unit === undefined ? {} : { unit }),
})
// every firmware value is a string of a number (or "nan"): schema-drift ValueType 'numeric-string'
const ign = (deviceId: string, ...paths: string[]) => paths.map((path) => ({ deviceId, path, type: 'numeric-string' }))
const META = ['samples', 'min_micro', 'max_micro', 'interval', 'signal']

const D1 = 'airrohr-esp8266-1'
const D2 = 'airrohr-esp8266-3141592'
const D3 = 'airrohr-esp8266-3141593'
const D32 = 'airrohr-esp32-cf12d3e5f6'
const D4 = 'airrohr-esp8266-3141594'

const EXPECTED: Record<string, DecodeResult> = {
  'osem-test_luftdaten_NRZ-2016-058.json': {
    candidates: [c(D1, 'pm10', '5.38', 'SDS_P1', 'SDS011'), c(D1, 'pm2_5', '4.98', 'SDS_P2', 'SDS011')],
    rejections: [],
    ignored: [...ign(D1, 'samples', 'min_micro', 'max_micro'), { deviceId: D1, path: 'signal', type: 'string' }], // signal '-59 dBm' (old firmware) is metadata
  },
  'osem-test_luftdaten_NRZ-2018-121C.json': {
    candidates: [
      c(D1, 'pm10', '1.87', 'SDS_P1', 'SDS011'),
      c(D1, 'pm2_5', '1.05', 'SDS_P2', 'SDS011'),
      c(D1, 'air_pressure', '100659.00', 'BMP_pressure', 'BMP180', 'Pa'),
      c(D1, 'air_temperature', '26.80', 'BMP_temperature', 'BMP180'),
    ],
    rejections: [],
    ignored: ign(D1, 'samples', 'min_micro', 'max_micro', 'signal'),
  },
  'written_custom-api_esp32_sps30_nan.http': {
    candidates: [
      c(D32, 'pm1', 'nan', 'SPS30_P0', 'SPS30'),
      c(D32, 'pm2_5', 'nan', 'SPS30_P2', 'SPS30'),
      c(D32, 'pm4', 'nan', 'SPS30_P4', 'SPS30'),
      c(D32, 'pm10', 'nan', 'SPS30_P1', 'SPS30'),
      c(D32, 'air_temperature', '6.71', 'SHT3X_temperature', 'SHT3X'),
      c(D32, 'relative_humidity', '88.04', 'SHT3X_humidity', 'SHT3X'),
    ],
    rejections: [],
    ignored: ign(D32, 'SPS30_N05', 'SPS30_N1', 'SPS30_N25', 'SPS30_N4', 'SPS30_N10', 'SPS30_TS', ...META),
  },
  'written_custom-api_sds011_bme280.http': {
    candidates: [
      c(D2, 'pm10', '11.83', 'SDS_P1', 'SDS011'),
      c(D2, 'pm2_5', '6.07', 'SDS_P2', 'SDS011'),
      c(D2, 'air_temperature', '8.42', 'BME280_temperature', 'BME280'),
      c(D2, 'air_pressure', '101263.52', 'BME280_pressure', 'BME280', 'Pa'),
      c(D2, 'relative_humidity', '81.23', 'BME280_humidity', 'BME280'),
    ],
    rejections: [],
    ignored: ign(D2, ...META),
  },
  'written_custom-api_sds011_dht22_bme-missing.http': {
    candidates: [
      c(D3, 'pm10', '14.20', 'SDS_P1', 'SDS011'),
      c(D3, 'pm2_5', '7.90', 'SDS_P2', 'SDS011'),
      c(D3, 'air_temperature', '7.90', 'temperature', 'DHT22'),
      c(D3, 'relative_humidity', '99.90', 'humidity', 'DHT22'),
    ],
    rejections: [],
    ignored: ign(D3, ...META),
  },
  'written_influx-line-protocol.txt': {
    candidates: [],
    rejections: [{
      deviceId: 'unknown', topic: 'http/airrohr', sourceFormat: 'airrohr', receivedAt: AT, path: '$', rule: 'json',
      message: expect.stringMatching(/^body is not JSON: /) as unknown as string,
      raw: 'feinstaub,node=esp8266-3141592 SDS_P1=11.83,SDS_P2=6.07,BME280_temperature=8.42,BME280_pressure=101263.52,BME280_humidity=81.23,samples=5171212,min_micro=27,max_micro=20351,interval=145000,signal=-71\n',
    }],
  },
  'written_sensor-community-push_bme280_pin11.http': {
    candidates: [
      c(D2, 'air_temperature', '8.42', 'temperature', 'BME280'),
      c(D2, 'air_pressure', '101263.52', 'pressure', 'BME280', 'Pa'),
      c(D2, 'relative_humidity', '81.23', 'humidity', 'BME280'),
    ],
    rejections: [],
  },
  'written_sensor-community-push_sds011_pin1.http': {
    candidates: [c(D2, 'pm10', '11.83', 'P1', 'SDS011'), c(D2, 'pm2_5', '6.07', 'P2', 'SDS011')],
    rejections: [],
  },
  'written_tasmota-rule-push_numeric-values.http': {
    candidates: [
      c(D4, 'air_temperature', 8.4, 'temperature', 'BME280'),
      c(D4, 'relative_humidity', 81.2, 'humidity', 'BME280'),
      c(D4, 'air_pressure', 1012.6, 'pressure', 'BME280'), // ≤ 2000: hPa, no unit
    ],
    rejections: [],
  },
}

describe('airrohr decoder: every fixture in test/fixtures/devices/airrohr/', () => {
  const files = readdirSync(DIR).filter((f) => f !== 'SOURCES.md').sort()

  it('covers all fixture files', () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort())
    expect(decoder.topicFilters).toEqual(['http/airrohr'])
    expect(decoder.maxAgeMs).toBe(7 * 24 * 3_600_000)
  })

  it.each(files)('%s', (file) => {
    expect(decoder.decode(fixtureMessage(file))).toEqual(EXPECTED[file])
  })
})

describe('airrohr decoder: headers, ids, time, units', () => {
  const values = [{ value_type: 'SDS_P1', value: '1.5' }]

  it('takes the device from X-Sensor, Sensor or Node, else from esp8266id; neither is a whole rejection', () => {
    expect(decoder.decode(push({ sensordatavalues: values }, { sensor: 'esp8266-7' })).candidates[0]?.deviceId).toBe('airrohr-esp8266-7')
    expect(decoder.decode(push({ sensordatavalues: values }, { node: 'esp32-abc' })).candidates[0]?.deviceId).toBe('airrohr-esp32-abc')
    expect(decoder.decode(push({ esp8266id: '42', sensordatavalues: values })).candidates[0]?.deviceId).toBe('airrohr-esp8266-42')
    expect(decoder.decode(push({ esp8266id: 42, sensordatavalues: values })).candidates[0]?.deviceId).toBe('airrohr-esp8266-42')
    expect(decoder.decode(push({ sensordatavalues: values }))).toEqual({
      candidates: [],
      rejections: [{
        deviceId: 'unknown', topic: 'http/airrohr', sourceFormat: 'airrohr', receivedAt: AT, path: 'X-Sensor', rule: 'schema',
        message: 'no X-Sensor (or Sensor / Node) header and no usable esp8266id: device unknown', raw: '{"sensordatavalues":[{"value_type":"SDS_P1","value":"1.5"}]}',
      }],
    })
    expect(decoder.decode(push({ sensordatavalues: values }, { 'x-sensor': 'esp 8266/1' })).rejections[0]).toMatchObject({ rule: 'schema', path: 'X-Sensor', value: 'esp 8266/1' })
    expect(decoder.decode(push({ esp8266id: '2', sensordatavalues: values }, { 'x-sensor': 'esp8266-1' })).rejections[0]).toMatchObject({
      deviceId: 'airrohr-esp8266-1', rule: 'device_mismatch', path: 'esp8266id', value: '2',
    })
  })

  it('uses the optional timestamp (zone-less = UTC, as feinstaub-api); a bad one rejects the message', () => {
    const h = { 'x-sensor': 'esp8266-1' }
    expect(decoder.decode(push({ timestamp: '2015-04-05 22:10:10+02:00', sensordatavalues: values }, h)).candidates[0]).toMatchObject({ observedAt: Date.UTC(2015, 3, 5, 20, 10, 10), timeSource: 'device' })
    expect(decoder.decode(push({ timestamp: '2015-04-05 22:10:10', sensordatavalues: values }, h)).candidates[0]).toMatchObject({ observedAt: Date.UTC(2015, 3, 5, 22, 10, 10), timeSource: 'device' })
    const bad = decoder.decode(push({ timestamp: 'yesterday', sensordatavalues: values }, h))
    expect(bad.candidates).toEqual([])
    expect(bad.rejections[0]).toMatchObject({ rule: 'schema', path: 'timestamp', value: 'yesterday' })
    expect(decoder.decode(push({ timestamp: 1428264610, sensordatavalues: values }, h)).rejections[0]).toMatchObject({ rule: 'schema', path: 'timestamp' })
  })

  it('reads an unprefixed pressure as Pa above 2000, else hPa; prefixed pressures are always Pa', () => {
    expect([pressureUnitByMagnitude('101263.52'), pressureUnitByMagnitude(101263.52), pressureUnitByMagnitude(1012.6), pressureUnitByMagnitude('1012.6'), pressureUnitByMagnitude('nan')]).toEqual(['Pa', 'Pa', undefined, undefined, 'Pa'])
    const r = decoder.decode(push({ sensordatavalues: [{ value_type: 'pressure', value: '98000' }, { value_type: 'BMP280_pressure', value: 1012.6 }] }, { 'x-sensor': 'esp8266-1', pin: '3' }))
    expect(r.candidates).toEqual([c(D1, 'air_pressure', '98000', 'pressure', 'BMP280', 'Pa'), c(`${D1}.bmp280`, 'air_pressure', 1012.6, 'BMP280_pressure', 'BMP280', 'Pa')]) // a second pressure sensor: sub-device
  })

  it('rejects unknown value types and bad entries alone, and unprefixed P1/P2 without pin 1 (PPD42NS counts)', () => {
    const r = decoder.decode(push({
      sensordatavalues: [{ value_type: 'SDS_P1', value: '3' }, { value_type: 'CCS811_tvoc', value: '5' }, { value: '1' }, 'x', { value_type: 'P1', value: '7' }, { value_type: 'SCD30_co2_ppm', value: 412 }],
    }, { 'x-sensor': 'esp8266-1' }))
    expect(r.candidates).toEqual([c(D1, 'pm10', '3', 'SDS_P1', 'SDS011')])
    expect(r.rejections.map((x) => [x.path, x.rule, x.value])).toEqual([
      ['CCS811_tvoc', 'unknown_quantity', '5'],
      ['sensordatavalues[2]', 'schema', { value: '1' }],
      ['sensordatavalues[3]', 'schema', 'x'],
      ['P1', 'unknown_quantity', '7'],
    ])
    expect(r.ignored).toEqual([{ deviceId: D1, path: 'SCD30_co2_ppm', type: 'number' }])
  })

  it('rejects bodies without a sensordatavalues array, repairs bare nan, skips an empty list', () => {
    const h = { 'x-sensor': 'esp8266-1' }
    expect(decoder.decode(push({ software_version: 'x' }, h)).rejections[0]).toMatchObject({ deviceId: D1, rule: 'schema', path: 'sensordatavalues' })
    expect(decoder.decode(push('[1,2]', h)).rejections[0]).toMatchObject({ rule: 'schema', path: '$' })
    expect(decoder.decode(push('{"sensordatavalues":[{"value_type":"SDS_P1","value":nan}]}', h)).candidates).toEqual([c(D1, 'pm10', 'nan', 'SDS_P1', 'SDS011')])
    expect(decoder.decode(push({ sensordatavalues: [] }, h))).toEqual({ candidates: [], rejections: [], skipped: 'empty sensordatavalues' })
  })

  it('hands candidates to validateCandidates: numbers pass, each candidate is one reading or one rejection, nan never a reading', () => {
    const tasmota = fixtureMessage('written_tasmota-rule-push_numeric-values.http')
    const t = validateCandidates(tasmota, decoder.decode(tasmota).candidates, { maxFutureMs: 60_000 })
    expect(t.rejections).toEqual([])
    expect(t.readings.map((r) => [r.quantity, r.value, r.unit, r.sensorModel])).toEqual([
      ['air_temperature', 8.4, '°C', 'BME280'],
      ['relative_humidity', 81.2, '%', 'BME280'],
      ['air_pressure', 1012.6, 'hPa', 'BME280'],
    ])
    for (const file of ['written_custom-api_sds011_bme280.http', 'written_custom-api_esp32_sps30_nan.http']) {
      const message = fixtureMessage(file)
      const { candidates } = decoder.decode(message)
      const v = validateCandidates(message, candidates, { maxFutureMs: 60_000 })
      expect(v.readings.length + v.rejections.length).toBe(candidates.length)
      for (const r of v.readings) expect(r.unit).toBe(QUANTITIES[r.quantity].unit)
      expect(v.readings.some((r) => r.quantity.startsWith('pm') && file.includes('nan'))).toBe(false)
    }
  })
})

describe('airrohr decoder: properties', () => {
  const valueType = fc.oneof(
    fc.constantFrom('SDS_P1', 'SDS_P2', 'P1', 'P2', 'P0', 'temperature', 'pressure', 'humidity', 'BME280_pressure', 'SPS30_N05', 'GPS_lat', 'signal', '_', 'BMP_', 'SDS_', ''),
    fc.string({ maxLength: 16 }),
  )
  const entry = fc.oneof(fc.record({ value_type: valueType, value: fc.oneof(fc.jsonValue(), fc.constantFrom('nan', '-59 dBm', '101263.52')) }, { requiredKeys: [] }), fc.jsonValue())
  const body = fc.oneof(
    fc.record({
      esp8266id: fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.jsonValue()),
      timestamp: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('2015-04-05 22:10:10+02:00'), fc.jsonValue()),
      sensordatavalues: fc.oneof(fc.array(entry, { maxLength: 8 }), fc.jsonValue()),
    }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.string(),
    fc.json(),
  ).map((text) => Buffer.from(text, 'utf8'))
  const headers = fc.dictionary(fc.constantFrom('x-sensor', 'sensor', 'node', 'x-pin', 'pin', 'X-Sensor', 'content-type'), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('esp8266-1', '1', '11', '7')))

  it('never throws; rejections, candidates and ignored keys are well-formed', () => {
    fc.assert(
      fc.property(fc.oneof(body, fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b))), headers, (payload, hdrs) => {
        const result = decoder.decode({ topic: AIRROHR_TOPIC, payload, receivedAt: AT, headers: hdrs })
        for (const r of result.rejections) {
          expect(r.rule).not.toBe('')
          expect(r.message).not.toBe('')
          expect(RejectionSchema.safeParse(r).success).toBe(true)
        }
        for (const c of [...result.candidates, ...(result.ignored ?? [])]) expect(DeviceIdSchema.safeParse(c.deviceId).success).toBe(true)
        for (const c of result.candidates) expect(isQuantity(c.quantity)).toBe(true)
      }),
      { numRuns: 500 },
    )
  })
})

describe('airrohr node with two sensors of one quantity', () => {
  it('keeps the first on the node id and moves the second to the sub-device <node>.<model>, so neither overwrites the other', () => {
    const decoder = createAirrohrDecoder({ deviceTimeZone: 'Europe/Amsterdam' })
    const body = { esp8266id: '3141592', sensordatavalues: [{ value_type: 'BME280_temperature', value: '8.42' }, { value_type: 'SHT3X_temperature', value: '8.10' }, { value_type: 'SHT3X_humidity', value: '80.00' }] }
    const result = decoder.decode({ topic: 'http/airrohr', payload: Buffer.from(JSON.stringify(body)), receivedAt: Date.UTC(2026, 10, 29), headers: { 'x-sensor': 'esp8266-3141592' } })
    expect(result.candidates.map((c) => [c.deviceId, c.quantity, c.value])).toEqual([
      ['airrohr-esp8266-3141592', 'air_temperature', '8.42'],
      ['airrohr-esp8266-3141592.sht3x', 'air_temperature', '8.10'],
      ['airrohr-esp8266-3141592', 'relative_humidity', '80.00'],
    ])
  })
})
