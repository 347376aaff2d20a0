import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { DecodeResult, InboundMessage } from '../../../core/decoders/decoder.ts'
import { createEsphomeDecoder, EsphomeDecoder, esphomeDecoderFactory, objectIdFromName } from '../../../core/decoders/esphome.ts'
import { isQuantity, QUANTITIES } from '../../../core/quantities.ts'
import { DeviceEventSchema, DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { validateCandidates } from '../../../core/validate.ts'

const SETTINGS = { deviceTimeZone: 'Europe/Amsterdam' }
const AT = Date.UTC(2024, 10, 5, 12, 0, 0)
const DEVICE = 'esphome-weather-node'
const NO_DISCOVERY = 'no Home Assistant discovery config seen for this state topic: unit unknown'

interface FixtureLine { topic: string; payload: string; retain: boolean }
const FIXTURE: FixtureLine[] = readFileSync(new URL('../../fixtures/devices/esphome/mqtt-messages.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as FixtureLine)

function msg(topic: string, payload: string, retain: boolean): InboundMessage {
  return { topic, payload: Buffer.from(payload, 'utf8'), receivedAt: AT, retain }
}

const nothing = (skipped: string): DecodeResult => ({ candidates: [], rejections: [], skipped })

const status = (kind: 'online' | 'offline'): DecodeResult => ({
  candidates: [],
  rejections: [],
  events: [{ deviceId: DEVICE, kind, at: AT, topic: 'weather-node/status', sourceFormat: 'esphome', detail: '{"retained":true}' }],
  skipped: 'availability',
})

const reading = (objectId: string, quantity: string, value: string, unit: string): DecodeResult => ({
  candidates: [{ deviceId: DEVICE, quantity, value, unit, path: objectId, observedAt: AT, timeSource: 'receipt', sourceFormat: 'esphome' }],
  rejections: [],
})

const rejected = (objectId: string, rule: string, message: string, value: string): DecodeResult => ({
  candidates: [],
  rejections: [{
    deviceId: DEVICE, sourceFormat: 'esphome', topic: `weather-node/sensor/${objectId}/state`, receivedAt: AT, observedAt: AT,
    path: objectId, rule, message, value, raw: value,
  }],
})

describe('ESPHome decoder: fixture mqtt-messages.jsonl through one instance', () => {
  it('has the 11 fixture lines', () => {
    expect(FIXTURE).toHaveLength(11)
    expect(objectIdFromName('PM <2.5µm Concentration')).toBe('pm__2_5__m_concentration') // µ is two bytes → two '_'
    expect(objectIdFromName('BME280 Temperature')).toBe('bme280_temperature')
  })

  it('as delivered (all retained): availability events, discovery remembered, every retained state skipped as stale', () => {
    const decoder = createEsphomeDecoder(SETTINGS)
    expect(decoder.topicFilters).toEqual(['homeassistant/sensor/+/+/config', '+/sensor/+/state', '+/status'])
    expect(decoder.maxAgeMs).toBe(7 * 24 * 3_600_000)
    const results = FIXTURE.map((line) => decoder.decode(msg(line.topic, line.payload, line.retain)))
    expect(results).toEqual([
      status('online'),
      nothing('discovery'), // bme280_temperature: temperature, °C
      nothing('discovery'), // pm__2_5__m_concentration: pm25, µg/m³
      nothing('stale retained state'), // bme280_temperature 8.4
      nothing('stale retained state'), // bme280_humidity 81.2
      nothing('stale retained state'), // bme280_pressure 1012.6
      nothing('stale retained state'), // pm__2_5__m_concentration 6
      nothing('stale retained state'), // pm__10_0__m_concentration 12
      nothing('stale retained state'), // dht22_temperature nan
      nothing('stale retained state'), // wifi_signal -71
      status('offline'),
    ])

    // The same states published live (retain false) after it: discovery decides unit and quantity.
    // Availability does not gate readings (a late state after 'offline' is still a measurement).
    const live = FIXTURE.filter((line) => line.topic.endsWith('/state')).map((line) => decoder.decode(msg(line.topic, line.payload, false)))
    expect(live).toEqual([
      reading('bme280_temperature', 'air_temperature', '8.4', '°C'),
      rejected('bme280_humidity', 'unit', NO_DISCOVERY, '81.2'), // no discovery config in the fixture
      rejected('bme280_pressure', 'unit', NO_DISCOVERY, '1012.6'),
      reading('pm__2_5__m_concentration', 'pm2_5', '6', 'µg/m³'),
      rejected('pm__10_0__m_concentration', 'unit', NO_DISCOVERY, '12'),
      rejected('dht22_temperature', 'unit', NO_DISCOVERY, 'nan'),
      rejected('wifi_signal', 'unit', NO_DISCOVERY, '-71'),
    ])
  })

  it('with discovery for the rest (long keys): nan passes as a candidate, signal_strength is ignored, no device class is unknown_quantity, an empty config forgets', () => {
    const decoder = createEsphomeDecoder(SETTINGS)
    for (const line of FIXTURE) decoder.decode(msg(line.topic, line.payload, line.retain))
    const config = (objectId: string, body: Record<string, unknown>) =>
      decoder.decode(msg(`homeassistant/sensor/weather-node/${objectId}/config`, JSON.stringify({ ...body, state_topic: `weather-node/sensor/${objectId}/state` }), true))
    expect(config('dht22_temperature', { device_class: 'temperature', unit_of_measurement: '°C', name: 'DHT22 Temperature', device: { identifiers: ['a4cf12d3e5f6'], model: 'nodemcuv2' } })).toEqual(nothing('discovery'))
    expect(config('wifi_signal', { device_class: 'signal_strength', unit_of_measurement: 'dBm', name: 'WiFi Signal' })).toEqual(nothing('discovery'))
    expect(config('bme280_humidity', { name: 'BME280 Humidity', unit_of_measurement: '%' })).toEqual(nothing('discovery'))
    expect(config('bme280_pressure', { device_class: 'pressure', name: 'BME280 Pressure' })).toEqual(nothing('discovery'))

    const state = (objectId: string, payload: string) => decoder.decode(msg(`weather-node/sensor/${objectId}/state`, payload, false))
    expect(state('dht22_temperature', 'nan')).toEqual(reading('dht22_temperature', 'air_temperature', 'nan', '°C'))
    expect(state('wifi_signal', '-71')).toEqual({ candidates: [], rejections: [], ignored: [{ deviceId: DEVICE, path: 'wifi_signal', type: 'signal_strength' }] })
    expect(state('bme280_humidity', '81.2')).toEqual(rejected('bme280_humidity', 'unknown_quantity', "entity 'bme280_humidity' has no device class: quantity unknown", '81.2'))
    expect(state('bme280_pressure', '1012.6')).toEqual(rejected('bme280_pressure', 'unit', "discovery config of 'bme280_pressure' (pressure) has no unit_of_measurement", '1012.6'))
    expect(state('bme280_temperature', '8.5')).toEqual(reading('bme280_temperature', 'air_temperature', '8.5', '°C'))

    expect(decoder.decode(msg('homeassistant/sensor/weather-node/bme280_temperature/config', '', true))).toEqual(nothing('discovery removed'))
    expect(state('bme280_temperature', '8.6')).toEqual(rejected('bme280_temperature', 'unit', NO_DISCOVERY, '8.6'))
    expect(state('bme280_temperature', '')).toEqual(nothing('empty state'))
  })

  it('keeps discovery per instance, and accepts statically configured entities', () => {
    const first = createEsphomeDecoder(SETTINGS)
    first.decode(msg(FIXTURE[1]!.topic, FIXTURE[1]!.payload, true))
    const second = createEsphomeDecoder(SETTINGS)
    expect(second.decode(msg('weather-node/sensor/bme280_temperature/state', '8.4', false)).rejections[0]?.rule).toBe('unit')

    const configured = esphomeDecoderFactory({ entities: { 'weather-node/sensor/bme280_pressure/state': { device_class: 'pressure', unit: 'hPa' } } })(SETTINGS)
    expect(configured.decode(msg('weather-node/sensor/bme280_pressure/state', '1012.6', false))).toEqual(reading('bme280_pressure', 'air_pressure', '1012.6', 'hPa'))
    const manual = new EsphomeDecoder()
    manual.registerEntity('garden/sensor/soil/state', { device_class: 'moisture', unit: '%' })
    expect(manual.decode(msg('garden/sensor/soil/state', '41', false)).candidates).toEqual([
      { deviceId: 'esphome-garden', quantity: 'soil_moisture', value: '41', unit: '%', path: 'soil', observedAt: AT, timeSource: 'receipt', sourceFormat: 'esphome' },
    ])
  })

  it('rejects bad discovery JSON, bad status payloads and unusable topic prefixes', () => {
    const decoder = createEsphomeDecoder(SETTINGS)
    expect(decoder.decode(msg('homeassistant/sensor/weather-node/x/config', '{"stat_t":', true)).rejections[0]).toMatchObject({ deviceId: DEVICE, rule: 'json', path: '$' })
    expect(decoder.decode(msg('homeassistant/sensor/weather-node/x/config', '{"name":"x"}', true)).rejections[0]).toMatchObject({ rule: 'schema', path: 'stat_t' })
    expect(decoder.decode(msg('weather-node/status', 'maybe', true)).rejections[0]).toMatchObject({ rule: 'schema', path: 'status', value: 'maybe' })
    expect(decoder.decode(msg('weather node/status', 'online', true)).rejections[0]).toMatchObject({ deviceId: 'unknown', rule: 'schema', path: 'topic' })
    expect(decoder.decode(msg('a/b/c', '1', false)).rejections[0]).toMatchObject({ rule: 'schema', path: 'topic' })
  })

  it('hands candidates to validateCandidates: each becomes one reading or one rejection, nan never a reading', () => {
    const decoder = createEsphomeDecoder(SETTINGS)
    for (const line of FIXTURE) decoder.decode(msg(line.topic, line.payload, line.retain))
    decoder.decode(msg('homeassistant/sensor/weather-node/dht22_temperature/config', '{"dev_cla":"temperature","unit_of_meas":"°C","stat_t":"weather-node/sensor/dht22_temperature/state"}', true))
    for (const line of FIXTURE.filter((l) => l.topic.endsWith('/state'))) {
      const message = msg(line.topic, line.payload, false)
      const { candidates } = decoder.decode(message)
      const { readings, rejections } = validateCandidates(message, candidates, { maxFutureMs: 60_000 })
      expect(readings.length + rejections.length).toBe(candidates.length)
      for (const r of readings) {
        expect(r.unit).toBe(QUANTITIES[r.quantity].unit)
        expect(Number.isFinite(r.value)).toBe(true)
      }
      if (line.payload === 'nan') expect(readings).toEqual([])
      if (candidates.length > 0 && readings.length > 0) expect(readings[0]!.value).toBe(Number(line.payload))
    }
  })
})

describe('ESPHome decoder: properties', () => {
  const level = fc.oneof(fc.constantFrom('weather-node', 'homeassistant', 'sensor', 'x', '', '+', 'a b', 'µ'), fc.string({ maxLength: 12 }))
  const topic = fc.oneof(
    fc.tuple(level, level).map(([node, id]) => `homeassistant/sensor/${node}/${id}/config`),
    fc.tuple(level, level).map(([prefix, id]) => `${prefix}/sensor/${id}/state`),
    level.map((prefix) => `${prefix}/status`),
    fc.array(level, { maxLength: 6 }).map((parts) => parts.join('/')),
  )
  const payload = fc.oneof(
    fc.constantFrom('', 'online', 'offline', 'nan', '8.4', '-71', '{}', '[]', 'null', '{"stat_t":null}'),
    fc.string(),
    fc.json(),
    fc.record({ dev_cla: fc.string(), unit_of_meas: fc.string(), stat_t: fc.constantFrom('n/sensor/t/state', 'weather-node/sensor/bme280_temperature/state'), '~': fc.string() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  ).map((text) => Buffer.from(text, 'utf8'))
  const message = fc.record({ topic, payload: fc.oneof(payload, fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b))), retain: fc.boolean() })

  it('never throws; rejections, events and candidates are well-formed', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 30 }), (messages) => {
        const decoder = createEsphomeDecoder(SETTINGS)
        for (const m of messages) {
          const result = decoder.decode({ ...m, receivedAt: AT })
          for (const r of result.rejections) {
            expect(r.rule).not.toBe('')
            expect(r.message).not.toBe('')
            expect(RejectionSchema.safeParse(r).success).toBe(true)
          }
          for (const e of result.events ?? []) expect(DeviceEventSchema.safeParse(e).success).toBe(true)
          for (const c of result.candidates) {
            expect(DeviceIdSchema.safeParse(c.deviceId).success).toBe(true)
            expect(isQuantity(c.quantity)).toBe(true)
            expect(m.retain).toBe(false)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})
