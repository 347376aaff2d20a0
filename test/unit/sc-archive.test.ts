import { describe, expect, it } from 'vitest'
import { parseArchiveHeader, parseArchiveRow } from '../../core/decoders/sc-archive.ts'
import { parseDataApiJson } from '../../core/decoders/sc-data-api.ts'
import { shiftDecimal, toCanonical } from '../../core/units.ts'

const SDS011 = parseArchiveHeader('sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2')
const BME280 = parseArchiveHeader('sensor_id;sensor_type;location;lat;lon;timestamp;pressure;altitude;pressure_sealevel;temperature;humidity')
const SPS30 = parseArchiveHeader('sensor_id;sensor_type;location;lat;lon;timestamp;P1;P4;P2;P0;N10;N4;N25;N1;N05;TS')

describe('sensor.community archive rows', () => {
  it('maps P1 to PM10 and P2 to PM2.5, device sc-<sensor_id>, UTC time without offset', () => {
    expect(parseArchiveRow(SDS011, '5331;SDS011;2688;57.128;-2.130;2017-10-07T12:29:51;7.97;;;2.40;;', 2)).toEqual({
      ok: true,
      record: { line: 2, deviceId: 'sc-5331', sensorModel: 'SDS011', observedAt: Date.UTC(2017, 9, 7, 12, 29, 51), readings: { pm10: 7.97, pm2_5: 2.4 }, units: {}, location: { lat: 57.128, lon: -2.13 } },
    })
  })

  it("keeps the row's lat/lon as the device's position only when both are decimal degrees in range", () => {
    const at = (lat: string, lon: string) => {
      const row = parseArchiveRow(SDS011, `5331;SDS011;3121;${lat};${lon};2019-01-17T00:00:54;35.70;;;2.30;;`, 2)
      return row.ok ? row.record.location : 'rejected'
    }
    expect(at('57.138', '-2.077')).toEqual({ lat: 57.138, lon: -2.077 })
    expect(at('', '-2.077')).toBeUndefined()
    expect(at('91.5', '-2.077')).toBeUndefined()
    expect(at('57,138', '-2.077')).toBeUndefined()
  })

  it('marks pressure as Pa (the ingest converts it) and leaves altitude and sea-level columns out', () => {
    const row = parseArchiveRow(BME280, '15093;BME280;7647;56.963;-2.211;2018-07-08T00:01:27;102506.41;;;14.60;79.37', 2)
    expect(row).toEqual({
      ok: true,
      record: expect.objectContaining({ readings: { air_pressure: 102506.41, air_temperature: 14.6, relative_humidity: 79.37 }, units: { air_pressure: 'Pa' } }),
    })
  })

  it('passes an unknown non-empty column on under its own name, for the ingest to dead-letter', () => {
    const header = parseArchiveHeader('sensor_id;sensor_type;location;lat;lon;timestamp;P1;P2;co2_ppm')
    const row = parseArchiveRow(header, '7;SCD30;1;0;0;2024-01-15T00:00:00;1.5;1.2;412', 2)
    expect(row.ok && row.record.readings).toEqual({ pm10: 1.5, pm2_5: 1.2, co2_ppm: 412 })
  })

  it('reads the SPS30 column order by name', () => {
    const row = parseArchiveRow(SPS30, '90001;SPS30;70001;52.157;5.387;2024-01-15T00:01:12;9.81;9.22;8.57;7.98;63.41;63.32;63.02;61.87;52.49;0.53', 2)
    expect(row.ok && row.record.readings).toEqual({ pm10: 9.81, pm4: 9.22, pm2_5: 8.57, pm1: 7.98 })
  })

  it('passes empty cells on as null and non-numbers as text, for the ingest to dead-letter', () => {
    expect(parseArchiveRow(SDS011, '22885;SDS011;11610;57.269;-2.188;2019-03-09T23:40:58;;;;;;', 3)).toEqual({
      ok: true,
      record: expect.objectContaining({ readings: { pm10: null, pm2_5: null } }),
    })
    const odd = parseArchiveRow(SDS011, '1;SDS011;1;0;0;2019-03-09T23:40:58;unavailable;;;1,5;;', 4)
    expect(odd.ok && odd.record.readings).toEqual({ pm10: 'unavailable', pm2_5: '1,5' })
  })

  it('rejects a row cut short whole, so a cut-off last cell is never read as a smaller number', () => {
    expect(parseArchiveRow(SDS011, '5331;SDS011;3121;', 126)).toEqual({
      ok: false,
      rejection: { line: 126, rule: 'truncated', message: 'line 126: row has 4 of 12 columns', raw: '5331;SDS011;3121;' },
    })
    expect(parseArchiveRow(SDS011, '5331;SDS011;3121;57.138;-2.077;2019-01-17T05:10:48;12.8', 9)).toMatchObject({ ok: false, rejection: { rule: 'truncated' } })
  })

  it('rejects rows with a bad timestamp or sensor id', () => {
    expect(parseArchiveRow(SDS011, '5331;SDS011;1;0;0;2017-10-07 noon;1;;;1;;', 5)).toMatchObject({ ok: false, rejection: { rule: 'schema' } })
    expect(parseArchiveRow(SDS011, 'x;SDS011;1;0;0;2017-10-07T12:00:00;1;;;1;;', 6)).toMatchObject({ ok: false, rejection: { rule: 'schema' } })
  })

  it('refuses a file that is not an archive file', () => {
    expect(() => parseArchiveHeader('time,value')).toThrow("column 1 must be 'sensor_id'")
  })
})

describe('sensor.community data-API JSON', () => {
  it('reads entries as archive records: UTC timestamps with a space, string values, pressure in Pa', () => {
    const text = JSON.stringify([
      { id: 1, timestamp: '2024-01-15 10:28:30', sensor: { id: 90002, pin: '1', sensor_type: { name: 'SDS011' } }, sensordatavalues: [{ value_type: 'P1', value: '12.47' }, { value_type: 'P2', value: '8.93' }] },
      { id: 2, timestamp: '2024-01-15 10:28:31', sensor: { id: 90003, sensor_type: { name: 'BME280' } }, sensordatavalues: [{ value_type: 'pressure', value: '101263.52' }, { value_type: 'samples', value: '1' }] },
      { id: 3, timestamp: '2024-01-15T10:28:31+01:00', sensor: {}, sensordatavalues: [] },
    ])
    expect(parseDataApiJson(text)).toEqual({
      records: [
        { line: 1, deviceId: 'sc-90002', sensorModel: 'SDS011', observedAt: Date.UTC(2024, 0, 15, 10, 28, 30), readings: { pm10: 12.47, pm2_5: 8.93 }, units: {} },
        { line: 2, deviceId: 'sc-90003', sensorModel: 'BME280', observedAt: Date.UTC(2024, 0, 15, 10, 28, 31), readings: { air_pressure: 101263.52 }, units: { air_pressure: 'Pa' } },
      ],
      rejections: [{ line: 3, rule: 'schema', message: 'entry 3: sensor.id is missing', raw: JSON.stringify({ id: 3, timestamp: '2024-01-15T10:28:31+01:00', sensor: {}, sensordatavalues: [] }) }],
    })
  })
})

describe('shiftDecimal and exact unit conversion', () => {
  it('moves the decimal point without binary rounding', () => {
    // why this function exists: 74 of the 574 pressures in 2018-07-08_bme280_sensor_15093.csv come out wrong
    expect(102490.52 / 100).toBe(1024.9052000000001)
    expect(shiftDecimal('102490.52', -2)).toBe('1024.9052')
    expect(shiftDecimal('102506.41', -2)).toBe('1025.0641')
    expect(shiftDecimal('98143.91', -2)).toBe('981.4391')
    expect(shiftDecimal('5', -2)).toBe('0.05')
    expect(shiftDecimal('-12.5', -3)).toBe('-0.0125')
    expect(shiftDecimal('1.5', 2)).toBe('150')
    expect(shiftDecimal('7.97', 0)).toBe('7.97')
    expect(toCanonical('air_pressure', 102490.52, 'Pa')).toEqual({ ok: true, value: 1024.9052 })
    expect(toCanonical('air_temperature', 78.8, '°F')).toEqual({ ok: true, value: 26 })
    expect(toCanonical('air_pressure', 29.92, 'inHg')).toEqual({ ok: true, value: 1013.20748907 }) // 29.92 × 33.8638866667
    expect(toCanonical('air_temperature', 1012, 'hPa')).toEqual({ ok: false, rule: 'unit', message: "unit 'hPa' cannot be converted to °C for air_temperature" })
  })
})
