import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Candidate, DecodeResult, InboundMessage } from '../../../core/decoders/decoder.ts'
import { TASMOTA_FORMAT, createTasmotaDecoder, splitKey } from '../../../core/decoders/tasmota.ts'
import { DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { validateCandidates } from '../../../core/validate.ts'

const decoder = createTasmotaDecoder({ deviceTimeZone: 'Europe/Amsterdam' })
const RECEIVED = Date.UTC(2024, 5, 1, 12, 0, 0)

function msg(topic: string, payload: string, options: { retain?: boolean; receivedAt?: number } = {}): InboundMessage {
  return { topic, payload: Buffer.from(payload, 'utf8'), receivedAt: options.receivedAt ?? RECEIVED, retain: options.retain ?? false }
}
const decode = (topic: string, payload: unknown, options?: { retain?: boolean; receivedAt?: number }): DecodeResult =>
  decoder.decode(msg(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), options))

/** A candidate with a device time; `unit` only when the source unit is not canonical. */
function c(deviceId: string, quantity: string, value: unknown, path: string, sensorModel: string, observedAt: number, unit?: string): Candidate {
  return { deviceId, quantity, value, ...(unit ? { unit } : {}), path, observedAt, timeSource: 'device', sensorModel, sourceFormat: 'tasmota' }
}
const ig = (deviceId: string, path: string, type: string) => ({ deviceId, path, type })

interface FixtureLine { topic: string; payload: string; retain: boolean; source: string }
const FIXTURES: FixtureLine[] = readFileSync(new URL('../../fixtures/devices/tasmota/mqtt-messages.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as FixtureLine)

const D = 'tasmota-tasmota_5f1fd6'
const T1 = Date.UTC(2024, 2, 10, 13, 5) // 2024-03-10T14:05:00 Amsterdam, CET +01:00
const T2 = Date.UTC(2024, 2, 10, 13, 10)
const T3 = Date.UTC(2019, 10, 3, 18, 34, 28)
const T4 = Date.UTC(2021, 0, 2, 8, 9, 44)
const T5 = Date.UTC(2023, 2, 5, 16, 58, 13)
const T6 = Date.UTC(2019, 11, 31, 23, 0, 0) // 2020-01-01T00:00:00 local
const T7 = Date.UTC(2021, 7, 25, 15, 15, 45) // CEST +02:00
const T8 = Date.UTC(2018, 9, 23, 21, 47, 58)
const T9 = Date.UTC(2018, 9, 31, 10, 57, 31) // CET again (DST ended 2018-10-28)
const T10 = Date.UTC(2018, 1, 7, 19, 16, 19)

/** Expected result of every fixture line, in file order. */
const EXPECTED: DecodeResult[] = [
  { candidates: [], rejections: [], events: [{ deviceId: D, kind: 'online', at: RECEIVED, topic: 'tele/tasmota_5F1FD6/LWT', sourceFormat: 'tasmota', detail: '{"retain":true}' }], skipped: 'lwt' },
  {
    candidates: [
      c(`${D}.bme280`, 'air_temperature', 8.4, 'BME280.Temperature', 'BME280', T1),
      c(`${D}.bme280`, 'relative_humidity', 81.2, 'BME280.Humidity', 'BME280', T1),
      c(`${D}.bme280`, 'air_pressure', 1012.6, 'BME280.Pressure', 'BME280', T1),
      c(`${D}.sds0x1`, 'pm2_5', 6.1, 'SDS0X1.PM2.5', 'SDS0X1', T1),
      c(`${D}.sds0x1`, 'pm10', 11.8, 'SDS0X1.PM10', 'SDS0X1', T1),
    ],
    rejections: [],
    ignored: [ig(`${D}.bme280`, 'BME280.DewPoint', 'number')],
  },
  {
    candidates: [
      c(`${D}.bme280`, 'air_temperature', 8.6, 'BME280.Temperature', 'BME280', T2),
      c(`${D}.bme280`, 'relative_humidity', 80.7, 'BME280.Humidity', 'BME280', T2),
      c(`${D}.bme280`, 'air_pressure', 1012.4, 'BME280.Pressure', 'BME280', T2),
    ],
    rejections: [],
    ignored: [ig(`${D}.bme280`, 'BME280.DewPoint', 'number'), ig(`${D}.bme280`, 'BME280.SeaPressure', 'number')],
  },
  {
    candidates: [
      c(`${D}.bme280`, 'air_temperature', 21.7, 'BME280.Temperature', 'BME280', T3),
      c(`${D}.bme280`, 'relative_humidity', 66.6, 'BME280.Humidity', 'BME280', T3),
      c(`${D}.bme280`, 'air_pressure', 988.6, 'BME280.Pressure', 'BME280', T3),
    ],
    rejections: [],
    ignored: [],
  },
  {
    candidates: [
      c(`${D}.ds18b20-1`, 'air_temperature', 13.3, 'DS18B20-1.Temperature', 'DS18B20', T4),
      c(`${D}.ds18b20-2`, 'air_temperature', 1.2, 'DS18B20-2.Temperature', 'DS18B20', T4),
      c(`${D}.ds18b20-3`, 'air_temperature', 22.5, 'DS18B20-3.Temperature', 'DS18B20', T4),
    ],
    rejections: [],
    ignored: [ig(`${D}.ds18b20-1`, 'DS18B20-1.Id', 'string'), ig(`${D}.ds18b20-2`, 'DS18B20-2.Id', 'string'), ig(`${D}.ds18b20-3`, 'DS18B20-3.Id', 'string')],
  },
  { candidates: [c(`${D}.ds18b20`, 'air_temperature', 20, 'DS18B20.Temperature', 'DS18B20', T5)], rejections: [], ignored: [ig(`${D}.ds18b20`, 'DS18B20.Id', 'numeric-string')] },
  {
    candidates: [
      c('tasmota-garden.aht1x-0x38', 'air_temperature', 24.7, 'AHT1X-0x38.Temperature', 'AHT1X', T6),
      c('tasmota-garden.aht1x-0x38', 'relative_humidity', 61.9, 'AHT1X-0x38.Humidity', 'AHT1X', T6),
    ],
    rejections: [],
    ignored: [ig('tasmota-garden.aht1x-0x38', 'AHT1X-0x38.DewPoint', 'number')],
  },
  {
    candidates: [c('tasmota-garden.rg-15', 'precipitation', 0.01, 'RG-15.Active', 'RG-15', T7)],
    rejections: [],
    ignored: [ig('tasmota-garden.rg-15', 'RG-15.Event', 'number'), ig('tasmota-garden.rg-15', 'RG-15.Total', 'number'), ig('tasmota-garden.rg-15', 'RG-15.FlowRate', 'number')],
  },
  {
    candidates: [c('tasmota-shed.dht11', 'air_temperature', 'nan', 'DHT11.Temperature', 'DHT11', T8), c('tasmota-shed.dht11', 'relative_humidity', 'nan', 'DHT11.Humidity', 'DHT11', T8)],
    rejections: [],
    ignored: [],
  },
  {
    candidates: [
      c('tasmota-shed.si7021-00', 'air_temperature', 17.1, 'SI7021-00.Temperature', 'SI7021', T9),
      c('tasmota-shed.si7021-00', 'relative_humidity', 70, 'SI7021-00.Humidity', 'SI7021', T9),
      c('tasmota-shed.si7021-02', 'air_temperature', 'nan', 'SI7021-02.Temperature', 'SI7021', T9),
      c('tasmota-shed.si7021-02', 'relative_humidity', 'nan', 'SI7021-02.Humidity', 'SI7021', T9),
      c('tasmota-shed.si7021-04', 'air_temperature', 10, 'SI7021-04.Temperature', 'SI7021', T9),
      c('tasmota-shed.si7021-04', 'relative_humidity', 59.7, 'SI7021-04.Humidity', 'SI7021', T9),
    ],
    rejections: [],
    ignored: [],
  },
  {
    candidates: [
      c('tasmota-attic.dht11', 'air_temperature', 78.8, 'DHT11.Temperature', 'DHT11', T10, '°F'),
      c('tasmota-attic.dht11', 'relative_humidity', 27, 'DHT11.Humidity', 'DHT11', T10),
      c('tasmota-attic.sht3x', 'air_temperature', 74.8, 'SHT3X.Temperature', 'SHT3X', T10, '°F'),
      c('tasmota-attic.sht3x', 'relative_humidity', 18.9, 'SHT3X.Humidity', 'SHT3X', T10),
    ],
    rejections: [],
    ignored: [],
  },
  { candidates: [], rejections: [], ignored: [], skipped: 'no sensor data' },
  { candidates: [], rejections: [], events: [{ deviceId: D, kind: 'offline', at: RECEIVED, topic: 'tele/tasmota_5F1FD6/LWT', sourceFormat: 'tasmota', detail: '{"retain":true}' }], skipped: 'lwt' },
]

describe('tasmota decoder: fixture messages', () => {
  it('has an expectation for every fixture line', () => {
    expect(FIXTURES).toHaveLength(EXPECTED.length)
  })

  it.each(FIXTURES.map((line, i) => [i + 1, line] as const))('line %i decodes as written out', (n, line) => {
    expect(decoder.decode(msg(line.topic, line.payload, { retain: line.retain }))).toEqual(EXPECTED[n - 1])
  })

  it('declares its format, topics and age limit', () => {
    expect(decoder.format).toBe(TASMOTA_FORMAT)
    expect(decoder.topicFilters).toEqual(['tele/+/SENSOR', 'tele/+/LWT', 'stat/+/STATUS8'])
    expect(decoder.maxAgeMs).toBe(7 * 86_400_000)
  })
})

describe('tasmota decoder: time', () => {
  const bme = (time: string, extra: Record<string, unknown> = {}) => ({ Time: time, BME280: { Temperature: 24.1 }, TempUnit: 'C', ...extra })

  it('reads a July time as CEST (+02:00)', () => {
    expect(decode('tele/roof/SENSOR', bme('2024-07-15T14:05:00')).candidates).toEqual([c('tasmota-roof.bme280', 'air_temperature', 24.1, 'BME280.Temperature', 'BME280', Date.UTC(2024, 6, 15, 12, 5))])
  })

  it('rejects a wall time inside the spring-forward gap, whole message, with the raw bytes', () => {
    const payload = JSON.stringify(bme('2024-03-31T02:30:00'))
    expect(decode('tele/roof/SENSOR', payload)).toEqual({
      candidates: [],
      rejections: [
        {
          deviceId: 'tasmota-roof',
          topic: 'tele/roof/SENSOR',
          sourceFormat: 'tasmota',
          receivedAt: RECEIVED,
          path: 'Time',
          rule: 'time_zone',
          message: 'Time does not exist in Europe/Amsterdam (skipped by the daylight-saving change)',
          value: '2024-03-31T02:30:00',
          raw: payload,
        },
      ],
    })
  })

  it('reads the fall-back hour as standard time (second occurrence)', () => {
    expect(decode('tele/roof/SENSOR', bme('2024-10-27T02:30:00')).candidates[0]?.observedAt).toBe(Date.UTC(2024, 9, 27, 1, 30))
  })

  it('honours an explicit offset (SetOption52) and the configured zone', () => {
    expect(decode('tele/roof/SENSOR', bme('2024-07-15T14:05:00+03:00')).candidates[0]?.observedAt).toBe(Date.UTC(2024, 6, 15, 11, 5))
    const utc = createTasmotaDecoder({ deviceTimeZone: 'UTC' })
    expect(utc.decode(msg('tele/roof/SENSOR', JSON.stringify(bme('2024-07-15T14:05:00')))).candidates[0]?.observedAt).toBe(Date.UTC(2024, 6, 15, 14, 5))
    const ny = createTasmotaDecoder({ deviceTimeZone: 'America/New_York' })
    expect(ny.decode(msg('tele/roof/SENSOR', JSON.stringify(bme('2024-01-15T09:00:00')))).candidates[0]?.observedAt).toBe(Date.UTC(2024, 0, 15, 14, 0))
  })

  it('rejects malformed and non-string times with rule schema', () => {
    for (const time of ['yesterday', '2024-02-30T10:00:00', 1710079500]) {
      const result = decode('tele/roof/SENSOR', { Time: time, BME280: { Temperature: 1 } })
      expect(result.candidates).toEqual([])
      expect(result.rejections).toMatchObject([{ deviceId: 'tasmota-roof', path: 'Time', rule: 'schema', value: time }])
    }
  })

  it('uses the receipt time when there is no Time, but skips such a message when retained', () => {
    const payload = { BME280: { Temperature: 5.5 } }
    expect(decode('tele/roof/SENSOR', payload).candidates).toEqual([
      { deviceId: 'tasmota-roof.bme280', quantity: 'air_temperature', value: 5.5, path: 'BME280.Temperature', observedAt: RECEIVED, timeSource: 'receipt', sensorModel: 'BME280', sourceFormat: 'tasmota' },
    ])
    expect(decode('tele/roof/SENSOR', payload, { retain: true })).toEqual({ candidates: [], rejections: [], skipped: 'retained without Time' })
  })

  it('decodes a retained SENSOR with Time normally (SensorRetain 1): a redelivery gives the same point', () => {
    const payload = JSON.stringify(bme('2024-07-15T14:05:00'))
    const first = decoder.decode(msg('tele/roof/SENSOR', payload, { retain: true }))
    const again = decoder.decode(msg('tele/roof/SENSOR', payload, { retain: true, receivedAt: RECEIVED + 3_600_000 }))
    expect(first.candidates).toHaveLength(1)
    expect(again.candidates).toEqual(first.candidates)
  })
})

describe('tasmota decoder: units', () => {
  it('passes TempUnit F and PressureUnit mmHg / inHg on as source units, never converting', () => {
    const result = decode('tele/porch/SENSOR', { Time: '2024-07-15T14:05:00', BME280: { Temperature: 75.2, Humidity: 40, Pressure: 760.1 }, PressureUnit: 'mmHg', TempUnit: 'F' })
    const t = Date.UTC(2024, 6, 15, 12, 5)
    expect(result.candidates).toEqual([
      c('tasmota-porch.bme280', 'air_temperature', 75.2, 'BME280.Temperature', 'BME280', t, '°F'),
      c('tasmota-porch.bme280', 'relative_humidity', 40, 'BME280.Humidity', 'BME280', t),
      c('tasmota-porch.bme280', 'air_pressure', 760.1, 'BME280.Pressure', 'BME280', t, 'mmHg'),
    ])
    const inHg = decode('tele/porch/SENSOR', { Time: '2024-07-15T14:05:00', BMP280: { Pressure: 29.92 }, PressureUnit: 'inHg' })
    expect(inHg.candidates).toEqual([c('tasmota-porch.bmp280', 'air_pressure', 29.92, 'BMP280.Pressure', 'BMP280', t, 'inHg')])
  })
})

describe('tasmota decoder: sensors and fields', () => {
  const T = Date.UTC(2024, 6, 15, 12, 5)
  const at = (sensors: Record<string, unknown>) => decode('tele/lab/SENSOR', { Time: '2024-07-15T14:05:00', ...sensors, TempUnit: 'C' })

  it('maps PMS5003 PM1/PM2.5/PM10 and ignores its CF and PB counts', () => {
    const result = at({ PMS5003: { CF1: 3, 'CF2.5': 5, CF10: 6, PM1: 3, 'PM2.5': 5, PM10: 6, 'PB0.3': 720, 'PB0.5': 204, PB1: 32, 'PB2.5': 4, PB5: 0, PB10: 0 } })
    expect(result.candidates).toEqual([
      c('tasmota-lab.pms5003', 'pm1', 3, 'PMS5003.PM1', 'PMS5003', T),
      c('tasmota-lab.pms5003', 'pm2_5', 5, 'PMS5003.PM2.5', 'PMS5003', T),
      c('tasmota-lab.pms5003', 'pm10', 6, 'PMS5003.PM10', 'PMS5003', T),
    ])
    expect(result.ignored?.map((i) => i.path)).toEqual(['CF1', 'CF2.5', 'CF10', 'PB0.3', 'PB0.5', 'PB1', 'PB2.5', 'PB5', 'PB10'].map((f) => `PMS5003.${f}`))
    expect(result.rejections).toEqual([])
  })

  it('rejects an unknown field of a sensor as unknown_quantity and ignores vocabulary-less ones', () => {
    const result = at({ BME680: { Temperature: 21, Gas: 120.5, Frobnication: 7 }, BH1750: { Illuminance: 312 } })
    expect(result.candidates).toEqual([c('tasmota-lab.bme680', 'air_temperature', 21, 'BME680.Temperature', 'BME680', T)])
    expect(result.ignored).toEqual([ig('tasmota-lab.bme680', 'BME680.Gas', 'number'), ig('tasmota-lab.bh1750', 'BH1750.Illuminance', 'number')])
    expect(result.rejections).toEqual([
      {
        deviceId: 'tasmota-lab.bme680',
        topic: 'tele/lab/SENSOR',
        sourceFormat: 'tasmota',
        receivedAt: RECEIVED,
        observedAt: T,
        path: 'BME680.Frobnication',
        rule: 'unknown_quantity',
        message: "numeric field 'Frobnication' of BME680 has no quantity in the vocabulary",
        value: 7,
        raw: expect.stringContaining('"Frobnication":7'),
      },
    ])
  })

  it('does not take ESP32 chip temperature, ENERGY, switches or units for sensors', () => {
    const result = at({ ENERGY: { Total: 0.365, Power: 0, Voltage: 231 }, ESP32: { Temperature: 55.3 }, Switch1: 'ON', COUNTER: { C1: 4 } })
    expect(result).toEqual({ candidates: [], rejections: [], ignored: [], skipped: 'no sensor data' })
  })

  it('gives each sensor object its own device, indexed or not, also with SetOption64 underscores', () => {
    const result = at({ DS18B20: { Temperature: 1 }, DS18B20_1: { Temperature: 2 }, 'SHT3X-0x45': { Temperature: 3 }, 'BME280-77': { Temperature: 4 } })
    expect(result.candidates.map((x) => [x.deviceId, x.sensorModel])).toEqual([
      ['tasmota-lab.ds18b20', 'DS18B20'],
      ['tasmota-lab.ds18b20_1', 'DS18B20'],
      ['tasmota-lab.sht3x-0x45', 'SHT3X'],
      ['tasmota-lab.bme280-77', 'BME280'],
    ])
  })

  it('gives two sensors of one quantity two devices, so neither overwrites the other', () => {
    const result = at({ BME280: { Temperature: 1, Pressure: 1000 }, SDS0X1: { 'PM2.5': 2, PM10: 3 }, BMP280: { Pressure: 1001 }, SI7021: { Humidity: 50 } })
    expect(result.candidates.map((x) => `${x.deviceId} ${x.quantity}`)).toEqual([
      'tasmota-lab.bme280 air_temperature',
      'tasmota-lab.bme280 air_pressure',
      'tasmota-lab.sds0x1 pm2_5',
      'tasmota-lab.sds0x1 pm10',
      'tasmota-lab.bmp280 air_pressure',
      'tasmota-lab.si7021 relative_humidity',
    ])
  })

  it('keeps a BME280 on one device id whether or not an AM2301 reports beside it (issue 10)', () => {
    const bmeFields = { Temperature: 21.3, Humidity: 48, Pressure: 1011.2 }
    const amFields = { Temperature: 19.8, Humidity: 55.1 }
    const alone = at({ BME280: bmeFields })
    const after = at({ AM2301: amFields, BME280: bmeFields })
    const before = at({ BME280: bmeFields, AM2301: amFields })
    const bmeDevices = (r: DecodeResult) => [...new Set(r.candidates.filter((x) => x.sensorModel === 'BME280').map((x) => x.deviceId))]
    expect(bmeDevices(alone)).toEqual(['tasmota-lab.bme280'])
    expect(bmeDevices(after)).toEqual(['tasmota-lab.bme280'])
    expect(bmeDevices(before)).toEqual(['tasmota-lab.bme280'])
    // and no device's temperature series mixes the two sensors
    for (const r of [after, before]) {
      expect(r.candidates.filter((x) => x.quantity === 'air_temperature').map((x) => [x.deviceId, x.value]).sort()).toEqual([
        ['tasmota-lab.am2301', 19.8],
        ['tasmota-lab.bme280', 21.3],
      ])
    }
  })

  it('rejects only the sensor whose sub-device id would be invalid', () => {
    const long = `DS18B20-${'9'.repeat(100)}`
    const result = at({ [long]: { Temperature: 1 }, 'DS18B20-2': { Temperature: 2 } })
    expect(result.candidates.map((x) => x.deviceId)).toEqual(['tasmota-lab.ds18b20-2'])
    expect(result.rejections).toMatchObject([{ deviceId: 'tasmota-lab', path: long, rule: 'schema' }])
  })

  it('splits driver name and index suffix', () => {
    expect(splitKey('SI7021-02')).toEqual({ model: 'SI7021', indexed: true })
    expect(splitKey('AHT1X-0x38')).toEqual({ model: 'AHT1X', indexed: true })
    expect(splitKey('DS18B20_1')).toEqual({ model: 'DS18B20', indexed: true })
    expect(splitKey('RG-15')).toEqual({ model: 'RG-15', indexed: false })
    expect(splitKey('SDS0X1')).toEqual({ model: 'SDS0X1', indexed: false })
  })
})

describe('tasmota decoder: bad messages and LWT', () => {
  it('rejects a payload that is not JSON even after the nan repair', () => {
    const result = decode('tele/lab/SENSOR', '{"Time":"2024-07-15T14:05:00","BME280":{"Temperature":21.')
    expect(result.candidates).toEqual([])
    expect(result.rejections).toMatchObject([{ deviceId: 'tasmota-lab', path: '$', rule: 'json', raw: '{"Time":"2024-07-15T14:05:00","BME280":{"Temperature":21.' }])
  })

  it('rejects a non-object body and a STATUS8 reply without StatusSNS', () => {
    expect(decode('tele/lab/SENSOR', '[1,2]').rejections).toMatchObject([{ path: '$', rule: 'schema' }])
    expect(decode('stat/lab/STATUS8', { Status: { Topic: 'lab' } }).rejections).toMatchObject([{ path: 'StatusSNS', rule: 'schema' }])
  })

  it('rejects topic levels that give no valid device id', () => {
    for (const topic of ['tele/my sensor/SENSOR', 'tele//SENSOR', `tele/${'x'.repeat(93)}/SENSOR`, 'tele/k\u00fcche/LWT', 'stat/lab/SENSOR']) {
      const result = decode(topic, { Time: '2024-07-15T14:05:00', BME280: { Temperature: 1 } })
      expect(result.candidates, topic).toEqual([])
      expect(result.rejections, topic).toMatchObject([{ deviceId: 'unknown', path: 'topic', rule: 'schema' }])
    }
    // tasmota-<85 x>.bme280 is 100 characters, the longest device id; one more and the sensor is refused
    expect(decode(`tele/${'x'.repeat(85)}/SENSOR`, { BME280: { Temperature: 1 } }).candidates).toHaveLength(1)
    expect(decode(`tele/${'x'.repeat(86)}/SENSOR`, { BME280: { Temperature: 1 } }).rejections).toMatchObject([{ deviceId: `tasmota-${'x'.repeat(86)}`, path: 'BME280', rule: 'schema' }])
  })

  it('turns a live (not retained) LWT into an event with detail {}, and refuses other LWT payloads', () => {
    expect(decode('tele/Lab/LWT', 'Offline').events).toEqual([{ deviceId: 'tasmota-lab', kind: 'offline', at: RECEIVED, topic: 'tele/Lab/LWT', sourceFormat: 'tasmota', detail: '{}' }])
    expect(decode('tele/lab/LWT', 'Rebooting')).toMatchObject({ candidates: [], rejections: [{ path: '$', rule: 'schema', value: 'Rebooting' }] })
    expect(decode('tele/lab/LWT', '', { retain: true })).toEqual({ candidates: [], rejections: [], skipped: 'lwt' })
  })
})

describe('tasmota decoder: properties', () => {
  const SENSOR_PAYLOADS = FIXTURES.filter((f) => f.topic.endsWith('/SENSOR') || f.topic.endsWith('/STATUS8')).map((f) => f.payload)
  const fieldName = fc.oneof(fc.constantFrom('Temperature', 'Humidity', 'Pressure', 'PM2.5', 'PM10', 'DewPoint', 'Id', 'Active', 'constructor', '__proto__'), fc.string())
  const sensorKey = fc.oneof(fc.constantFrom('BME280', 'DS18B20-1', 'SI7021_02', 'AHT1X-0x38', 'RG-15', 'ESP32', 'Time', 'TempUnit'), fc.string({ maxLength: 70 }))
  const sensorBody = fc.dictionary(sensorKey, fc.oneof(fc.dictionary(fieldName, fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 2 })))
  const payload = fc.oneof(
    fc.string(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.tuple(sensorBody, fc.constantFrom('2024-07-15T14:05:00', '2024-03-31T02:30:00', 'garbage', undefined), fc.constantFrom('C', 'F', 'K', undefined)).map(([body, Time, TempUnit]) =>
      JSON.stringify({ Time, ...body, TempUnit }),
    ),
    // mutations of real payloads: cut, insert a character, replace a value by a bare token
    fc.tuple(fc.constantFrom(...SENSOR_PAYLOADS), fc.nat(), fc.nat(), fc.constantFrom('nan', '-inf', '"x"', 'null', '{', '}', ',', '1e999', '')).map(([p, a, b, token]) => {
      const i = a % (p.length + 1)
      const j = i + (b % 8)
      return p.slice(0, i) + token + p.slice(j)
    }),
  )
  const topic = fc.tuple(fc.constantFrom('tele', 'stat', 'x'), fc.oneof(fc.constantFrom('shed', 'tasmota_5F1FD6'), fc.string()), fc.constantFrom('SENSOR', 'LWT', 'STATUS8'))

  it('never throws, explains every rejection, and emits only valid device ids', () => {
    fc.assert(
      fc.property(topic, payload, fc.boolean(), ([prefix, level, suffix], text, retain) => {
        const message = msg(`${prefix}/${level}/${suffix}`, text, { retain })
        const result = decoder.decode(message)
        for (const r of result.rejections) {
          expect(r.rule).not.toBe('')
          expect(r.message).not.toBe('')
          expect(RejectionSchema.safeParse(r).success).toBe(true)
        }
        for (const cand of result.candidates) expect(DeviceIdSchema.safeParse(cand.deviceId).success, cand.deviceId).toBe(true)
        for (const i of result.ignored ?? []) expect(DeviceIdSchema.safeParse(i.deviceId).success, i.deviceId).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('tasmota decoder + validate step', () => {
  it('rejects the dead SI7021 as not finite and stores the two healthy ones', () => {
    const line = FIXTURES[9]!
    const message = msg(line.topic, line.payload, { receivedAt: T9 + 1_000 })
    const { candidates } = decoder.decode(message)
    const { readings, rejections } = validateCandidates(message, candidates, { maxFutureMs: 300_000 })
    expect(readings.map((r) => [r.deviceId, r.quantity, r.value, r.sensorModel, r.observedAt])).toEqual([
      ['tasmota-shed.si7021-00', 'air_temperature', 17.1, 'SI7021', T9],
      ['tasmota-shed.si7021-00', 'relative_humidity', 70, 'SI7021', T9],
      ['tasmota-shed.si7021-04', 'air_temperature', 10, 'SI7021', T9],
      ['tasmota-shed.si7021-04', 'relative_humidity', 59.7, 'SI7021', T9],
    ])
    expect(rejections.map((r) => [r.deviceId, r.path, r.rule, r.value])).toEqual([
      ['tasmota-shed.si7021-02', 'SI7021-02.Temperature', 'not_finite', 'nan'],
      ['tasmota-shed.si7021-02', 'SI7021-02.Humidity', 'not_finite', 'nan'],
    ])
  })

  it('converts the STATUS8 Fahrenheit values to °C downstream, keeping both sensors apart', () => {
    const line = FIXTURES[10]!
    const message = msg(line.topic, line.payload, { receivedAt: T10 + 1_000 })
    const { readings, rejections } = validateCandidates(message, decoder.decode(message).candidates, { maxFutureMs: 300_000, maxAgeMs: decoder.maxAgeMs })
    expect(rejections).toEqual([])
    expect(readings.map((r) => [r.deviceId, r.quantity, r.value, r.unit])).toEqual([
      ['tasmota-attic.dht11', 'air_temperature', 26, '°C'],
      ['tasmota-attic.dht11', 'relative_humidity', 27, '%'],
      ['tasmota-attic.sht3x', 'air_temperature', 23.7777777778, '°C'],
      ['tasmota-attic.sht3x', 'relative_humidity', 18.9, '%'],
    ])
  })
})
