import { readFileSync, readdirSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Candidate, DecodeResult, InboundMessage } from '../../../core/decoders/decoder.ts'
import { TTN_V3_FORMAT, classify, createTtnV3Decoder } from '../../../core/decoders/ttn-v3.ts'
import { DeviceIdSchema, RejectionSchema } from '../../../core/reading.ts'
import { topicMatches } from '../../../core/topics.ts'
import { validateCandidates } from '../../../core/validate.ts'

const decoder = createTtnV3Decoder({ deviceTimeZone: 'Europe/Amsterdam' })
const RECEIVED = Date.UTC(2024, 0, 15, 10, 30, 5)
const FIXTURE_DIR = new URL('../../fixtures/devices/ttn-v3/', import.meta.url)

const msg = (topic: string, payload: string | Buffer): InboundMessage => ({ topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'), receivedAt: RECEIVED })
const decode = (topic: string, payload: unknown): DecodeResult => decoder.decode(msg(topic, typeof payload === 'string' ? payload : JSON.stringify(payload)))
/** The result without `raw` on rejections (raw is checked separately against the payload). */
const noRaw = (r: DecodeResult) => ({ ...r, rejections: r.rejections.map(({ raw: _raw, ...rest }) => rest) })

const c = (deviceId: string, quantity: string, value: unknown, path: string, observedAt: number, extra: Partial<Candidate> = {}): Candidate => ({
  deviceId, quantity, value, path, observedAt, timeSource: 'device', sourceFormat: TTN_V3_FORMAT, ...extra,
})
const rej = (deviceId: string, topic: string, path: string, rule: string, message: string, observedAt?: number, value?: unknown) => ({
  deviceId, topic, sourceFormat: TTN_V3_FORMAT, receivedAt: RECEIVED, path, rule, message,
  ...(observedAt === undefined ? {} : { observedAt }), ...(value === undefined ? {} : { value }),
})
const ig = (deviceId: string, path: string, type: string) => ({ deviceId, path, type })

const NODE07 = 'ttn:senshagen:senshagen-node-07'
const T07 = Date.UTC(2024, 0, 15, 10, 28, 31, 412) // received_at 2024-01-15T10:28:31.412955231Z, truncated to ms
const ABCD = 'ttn:senshagen:eui-a84041000000abcd'
const TABCD = Date.UTC(2023, 5, 20, 14, 34, 32, 869)
const up = (app: string, device: string) => `v3/${app}@ttn/devices/${device}/up`
const NO_FORMATTER = (port: number) => `uplink on f_port ${port} has no decoded_payload and no normalized_payload (no payload formatter, or it failed); frm_payload is kept in raw`
const WARN = ' (decoded_payload_warnings: sensor not connected)'

/** Expected result per fixture file (the .json file and its copy in mqtt-messages.jsonl decode alike). */
const EXPECTED: Record<string, ReturnType<typeof noRaw>> = {
  'written_uplink_decoded_pm-bme280.json': {
    candidates: [
      c(NODE07, 'pm2_5', 6, 'decoded_payload.pm2_5', T07),
      c(NODE07, 'pm10', 12.3, 'decoded_payload.pm10', T07),
      c(NODE07, 'air_temperature', 8.2, 'decoded_payload.temperature', T07),
      c(NODE07, 'relative_humidity', 81, 'decoded_payload.humidity', T07),
      c(NODE07, 'air_pressure', 1012.6, 'decoded_payload.pressure', T07),
    ],
    rejections: [],
    ignored: [ig(NODE07, 'decoded_payload.battery', 'number')],
  },
  'written_uplink_no-decoded-payload.json': {
    candidates: [],
    // no received_at anywhere: the receipt time
    rejections: [rej('ttn:senshagen:senshagen-node-08', up('senshagen', 'senshagen-node-08'), 'decoded_payload', 'no_decoded_payload', NO_FORMATTER(1), RECEIVED)],
  },
  'written_uplink_decoded-strings-with-units.json': {
    candidates: [c(ABCD, 'soil_moisture', 0, 'decoded_payload.water_SOIL', TABCD, { unit: '%' })],
    rejections: [
      rej(ABCD, up('senshagen', 'eui-a84041000000abcd'), 'decoded_payload.TempC_DS18B20', 'ambiguous', `'TempC_DS18B20' is a probe reading whose placement (air, soil, water) the payload does not say${WARN}`, TABCD, '0.00 °C'),
      rej(ABCD, up('senshagen', 'eui-a84041000000abcd'), 'decoded_payload.temp_SOIL', 'unknown_quantity', `'temp_SOIL' does not name a quantity in the vocabulary (qualified by 'soil')${WARN}`, TABCD, '30.11 °C'),
    ],
    ignored: [ig(ABCD, 'decoded_payload.Bat', 'string')],
  },
  'thingsboard_milesight-em300-th_uplink.json': {
    candidates: [],
    rejections: [rej('ttn:application-tts-name:eui-1000000000000001', up('application-tts-name', 'eui-1000000000000001'), 'decoded_payload', 'no_decoded_payload', NO_FORMATTER(85), Date.UTC(2023, 4, 19, 5, 33, 35, 848))],
  },
  'thingsboard_decentlab-dl-pm_uplink.json': {
    candidates: [],
    rejections: [rej('ttn:test-decentlab:03022', up('test-decentlab', '03022'), 'decoded_payload', 'no_decoded_payload', NO_FORMATTER(1), Date.UTC(2020, 1, 6, 9, 46, 5, 447))],
  },
  join: {
    candidates: [],
    rejections: [],
    events: [{
      deviceId: 'ttn:senshagen:senshagen-node-09', kind: 'join', at: Date.UTC(2024, 0, 15, 10, 30, 0, 0), topic: 'v3/senshagen@ttn/devices/senshagen-node-09/join',
      sourceFormat: TTN_V3_FORMAT, detail: '{"dev_eui":"70B3D57ED0061A2D","join_eui":"0000000000000000","dev_addr":"260B3C4F"}',
    }],
    skipped: 'join',
  },
}

interface FixtureLine { topic: string; payload: string; source_file: string | null }
const LINES: FixtureLine[] = readFileSync(new URL('mqtt-messages.jsonl', FIXTURE_DIR), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as FixtureLine)
const JSON_FILES = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json'))

describe('ttn-v3 decoder on the fixtures', () => {
  it('decodes every line of mqtt-messages.jsonl as written out', () => {
    expect(LINES).toHaveLength(6)
    for (const line of LINES) {
      const result = decoder.decode(msg(line.topic, line.payload))
      expect(noRaw(result), line.source_file ?? 'join').toEqual(EXPECTED[line.source_file ?? 'join'])
      for (const r of result.rejections) expect(r.raw).toBe(line.payload)
    }
  })

  it('decodes every .json file on v3/<app>@ttn/devices/<device>/up', () => {
    expect(JSON_FILES.sort()).toEqual(Object.keys(EXPECTED).filter((k) => k.endsWith('.json')).sort())
    for (const file of JSON_FILES) {
      const text = readFileSync(new URL(file, FIXTURE_DIR), 'utf8')
      const ids = (JSON.parse(text) as { end_device_ids: { device_id: string; application_ids: { application_id: string } } }).end_device_ids
      const result = decoder.decode(msg(up(ids.application_ids.application_id, ids.device_id), text))
      expect(noRaw(result), file).toEqual(EXPECTED[file])
      for (const r of result.rejections) expect(r.raw).toBe(text)
    }
  })

  it('turns the fixture candidates into readings with validateCandidates (core/validate.ts)', () => {
    const line = LINES.find((l) => l.source_file === 'written_uplink_decoded_pm-bme280.json')!
    const m = msg(line.topic, line.payload)
    const { readings, rejections } = validateCandidates(m, decoder.decode(m).candidates, { maxFutureMs: 300_000, maxAgeMs: decoder.maxAgeMs })
    expect(rejections).toEqual([])
    expect(readings.map((r) => [r.quantity, r.value, r.unit, r.observedAt, r.timeSource])).toEqual([
      ['pm2_5', 6, 'µg/m³', T07, 'device'], ['pm10', 12.3, 'µg/m³', T07, 'device'], ['air_temperature', 8.2, '°C', T07, 'device'],
      ['relative_humidity', 81, '%', T07, 'device'], ['air_pressure', 1012.6, 'hPa', T07, 'device'],
    ])
    const soil = LINES.find((l) => l.source_file === 'written_uplink_decoded-strings-with-units.json')!
    const s = { ...msg(soil.topic, soil.payload), receivedAt: TABCD + 1000 }
    expect(validateCandidates(s, decoder.decode(s).candidates, { maxFutureMs: 300_000 }).readings.map((r) => [r.deviceId, r.quantity, r.value, r.unit])).toEqual([[ABCD, 'soil_moisture', 0, '%']])
  })
})

const ID = 'ttn:senshagen:node-1'
const TOPIC = up('senshagen', 'node-1')
const T = Date.UTC(2024, 0, 15, 10, 28, 31, 412)
const uplink = (uplinkMessage: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
  end_device_ids: { device_id: 'node-1', application_ids: { application_id: 'senshagen' }, dev_eui: '70B3D57ED0061A2B' },
  received_at: '2024-01-15T10:28:31.412955231Z',
  ...top,
  uplink_message: { f_port: 1, frm_payload: 'AA==', ...uplinkMessage },
})
const quantities = (r: DecodeResult) => r.candidates.map((x) => [x.path, x.quantity, x.value, x.unit])
const rules = (r: DecodeResult) => r.rejections.map((x) => [x.path, x.rule])

describe('ttn-v3 topics and device ids', () => {
  it('subscribes to uplinks, joins and two-level events, rejects data older than 7 days', () => {
    expect(decoder).toMatchObject({ format: 'ttn-v3', topicFilters: ['v3/+/devices/+/+', 'v3/+/devices/+/+/+'], maxAgeMs: 604_800_000 })
    for (const t of [TOPIC, 'v3/app/devices/d/join', 'v3/app@ttn/devices/d/down/sent', 'v3/app/devices/d/service/data']) {
      expect(decoder.topicFilters.some((f) => topicMatches(f, t)), t).toBe(true)
    }
  })

  it('skips down/*, service/data and location/solved by name without reading the payload', () => {
    for (const event of ['down/queued', 'down/sent', 'down/ack', 'down/nack', 'down/failed', 'service/data', 'location/solved']) {
      expect(decode(`v3/senshagen@ttn/devices/node-1/${event}`, 'not json at all')).toEqual({ candidates: [], rejections: [], skipped: event })
    }
  })

  it('takes the device from the topic when the payload has no end_device_ids; the tenant is dropped, Open Source topics have none', () => {
    const { end_device_ids: _ids, ...bare } = uplink({ decoded_payload: { pm10: 4 } })
    expect(decode('v3/senshagen@ttn/devices/node-1/up', bare).candidates.map((x) => x.deviceId)).toEqual([ID])
    expect(decode('v3/senshagen/devices/node-1/up', bare).candidates.map((x) => x.deviceId)).toEqual([ID])
    expect(decode('v3/senshagen/devices/node-1/up', uplink({ decoded_payload: { pm10: 4 } })).candidates.map((x) => x.deviceId)).toEqual([ID])
  })

  it('rejects an id outside DeviceIdSchema (schema, end_device_ids) and payload ids that contradict the topic', () => {
    const long = 'a'.repeat(60) // longer than TTN allows (36), to exercise our own limit
    const tooLong = decode(`v3/${long}@ttn/devices/${long}/up`, { ...uplink({ decoded_payload: { pm10: 4 } }), end_device_ids: undefined })
    expect(noRaw(tooLong)).toEqual({ candidates: [], rejections: [rej('unknown', `v3/${long}@ttn/devices/${long}/up`, 'end_device_ids', 'schema', `device id 'ttn:${long}:${long}' (ttn:{application}:{device}) must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric`, undefined, `ttn:${long}:${long}`)] })
    expect(rules(decode(up('senshagen', 'node-2'), uplink({ decoded_payload: { pm10: 4 } })))).toEqual([['end_device_ids.device_id', 'device_mismatch']])
    expect(rules(decode(up('other', 'node-1'), uplink({ decoded_payload: { pm10: 4 } })))).toEqual([['end_device_ids.application_ids.application_id', 'device_mismatch']])
    expect(rules(decode('v2/x/devices/y/up', '{}'))).toEqual([['topic', 'schema']])
  })

  it('turns a join into a join event at receipt time when it carries no received_at', () => {
    const r = decode('v3/senshagen/devices/node-1/join', { end_device_ids: { device_id: 'node-1', application_ids: { application_id: 'senshagen' }, dev_addr: '260B3C4F' } })
    expect(r).toEqual({ candidates: [], rejections: [], skipped: 'join', events: [{ deviceId: ID, kind: 'join', at: RECEIVED, topic: 'v3/senshagen/devices/node-1/join', sourceFormat: 'ttn-v3', detail: '{"dev_addr":"260B3C4F"}' }] })
  })
})

describe('ttn-v3 uplinks', () => {
  it('rejects whole messages: bad JSON, not an object, no uplink_message, simulated, bad received_at', () => {
    expect(noRaw(decode(TOPIC, '{"uplink_message":'))).toMatchObject({ candidates: [], rejections: [{ deviceId: ID, path: '$', rule: 'json' }] })
    expect(rules(decode(TOPIC, '[1,2]'))).toEqual([['$', 'schema']])
    expect(rules(decode(TOPIC, { end_device_ids: {} }))).toEqual([['uplink_message', 'schema']])
    const simulated = decode(TOPIC, uplink({ decoded_payload: { pm10: 4 } }, { simulated: true }))
    expect(noRaw(simulated)).toEqual({ candidates: [], rejections: [rej(ID, TOPIC, 'simulated', 'simulated', 'console-simulated uplink (The Things Stack Console "Simulate uplink"): not a measurement, kept as a rejection and not stored', undefined, true)] })
    expect(rules(decode(TOPIC, uplink({ decoded_payload: { pm10: 4 } }, { received_at: '2024-01-15T10:28:31' })))).toEqual([['received_at', 'time_zone']])
    expect(rules(decode(TOPIC, uplink({ decoded_payload: { pm10: 4 } }, { received_at: 1705314511 })))).toEqual([['received_at', 'schema']])
  })

  it('repairs a bare nan and passes it on for validate to reject as not_finite', () => {
    const text = JSON.stringify(uplink({ decoded_payload: { pm10: 0, pm2_5: 1 } })).replace('"pm10":0', '"pm10":nan')
    expect(quantities(decode(TOPIC, text))).toEqual([['decoded_payload.pm10', 'pm10', 'nan', undefined], ['decoded_payload.pm2_5', 'pm2_5', 1, undefined]])
  })

  it('takes the time from received_at, then uplink_message.received_at, then receipt', () => {
    const { received_at: _r, ...noTop } = uplink({ decoded_payload: { pm10: 4 }, received_at: '2024-01-15T10:28:31.206442861+00:00' })
    expect(decode(TOPIC, noTop).candidates[0]).toMatchObject({ observedAt: Date.UTC(2024, 0, 15, 10, 28, 31, 206), timeSource: 'device' })
    const { received_at: _s, ...none } = uplink({ decoded_payload: { pm10: 4 } })
    expect(decode(TOPIC, none).candidates[0]).toMatchObject({ observedAt: RECEIVED, timeSource: 'receipt' })
  })

  it('reports no_decoded_payload with the f_port and warnings, an empty decoded_payload too', () => {
    expect(noRaw(decode(TOPIC, uplink({ f_port: 2, decoded_payload_warnings: ['bad length'] }))).rejections).toEqual([
      rej(ID, TOPIC, 'decoded_payload', 'no_decoded_payload', `${NO_FORMATTER(2)} (decoded_payload_warnings: bad length)`, T),
    ])
    expect(rules(decode(TOPIC, uplink({ decoded_payload: {} })))).toEqual([['decoded_payload', 'no_decoded_payload']])
    expect(rules(decode(TOPIC, uplink({ decoded_payload: 'x' })))).toEqual([['decoded_payload', 'schema']])
  })

  it('uses normalized_payload over decoded_payload, each entry at its own time, unknown normalized keys ignored', () => {
    const r = decode(TOPIC, uplink({
      version_ids: { brand_id: 'milesight-iot', model_id: 'em300-th' },
      decoded_payload: { temperature: 21.3, battery: 90 },
      normalized_payload: [
        { air: { temperature: 21.3, relativeHumidity: 40.5, pressure: 1011.2, location: 'outdoor' }, wind: { speed: 3.2, direction: 250 }, rain: { intensity: 1.2, cumulative: 0.4 } },
        { time: '2024-01-15T10:13:31Z', soil: { moisture: 31, temperature: 8.5 } },
      ],
    }))
    const model = { sensorModel: 'em300-th' }
    const T2 = Date.UTC(2024, 0, 15, 10, 13, 31)
    expect(r).toEqual({
      candidates: [
        c(ID, 'air_temperature', 21.3, 'normalized_payload[0].air.temperature', T, model),
        c(ID, 'relative_humidity', 40.5, 'normalized_payload[0].air.relativeHumidity', T, model),
        c(ID, 'air_pressure', 1011.2, 'normalized_payload[0].air.pressure', T, model),
        c(ID, 'wind_speed', 3.2, 'normalized_payload[0].wind.speed', T, model),
        c(ID, 'wind_from_direction', 250, 'normalized_payload[0].wind.direction', T, model),
        c(ID, 'precipitation', 0.4, 'normalized_payload[0].rain.cumulative', T, model),
        c(ID, 'soil_moisture', 31, 'normalized_payload[1].soil.moisture', T2, model),
      ],
      rejections: [],
      ignored: [
        ig(ID, 'normalized_payload[0].air.location', 'string'), ig(ID, 'normalized_payload[0].rain.intensity', 'number'),
        ig(ID, 'normalized_payload[1].soil.temperature', 'number'), ig(ID, 'decoded_payload.temperature', 'number'), ig(ID, 'decoded_payload.battery', 'number'),
      ],
    })
    expect(rules(decode(TOPIC, uplink({ normalized_payload: [{ time: 'yesterday', air: { temperature: 1 } }, 7] })))).toEqual([['normalized_payload[0].time', 'schema'], ['normalized_payload[1]', 'schema']])
    expect(quantities(decode(TOPIC, uplink({ normalized_payload: [], decoded_payload: { hum: 50 } })))).toEqual([['decoded_payload.hum', 'relative_humidity', 50, undefined]])
  })

  it('maps decoded_payload names by the alias table, case and separators ignored, pm1_0 is not pm10', () => {
    const names: Array<[string, string]> = [
      ['temperature', 'air_temperature'], ['Temp', 'air_temperature'], ['air_temperature', 'air_temperature'], ['airTemp', 'air_temperature'], ['temperature_c', 'air_temperature'], ['TempC_SHT', 'air_temperature'],
      ['humidity', 'relative_humidity'], ['HUM', 'relative_humidity'], ['relative-humidity', 'relative_humidity'], ['rh', 'relative_humidity'], ['Hum_SHT', 'relative_humidity'],
      ['pressure', 'air_pressure'], ['air_pressure', 'air_pressure'], ['baro', 'air_pressure'], ['barometer', 'air_pressure'],
      ['pm1', 'pm1'], ['pm1_0', 'pm1'], ['PM1.0', 'pm1'], ['pm2_5', 'pm2_5'], ['pm25', 'pm2_5'], ['PM2.5', 'pm2_5'], ['pm2p5', 'pm2_5'], ['pm4', 'pm4'], ['pm4_0', 'pm4'], ['pm10', 'pm10'], ['pm10_0', 'pm10'],
      ['no2', 'no2'], ['rain', 'precipitation'], ['rainfall', 'precipitation'], ['precipitation', 'precipitation'], ['wind_speed', 'wind_speed'], ['windSpeed', 'wind_speed'],
      ['wind_direction', 'wind_from_direction'], ['winddir', 'wind_from_direction'], ['water_level', 'water_level'], ['soil_moisture', 'soil_moisture'], ['water_SOIL', 'soil_moisture'],
      ['temperature_1', 'air_temperature'], ['barometric_pressure_3', 'air_pressure'], // Cayenne LPP channels
    ]
    for (const [key, quantity] of names) expect(classify([key]), key).toEqual({ kind: 'quantity', quantity })
    const nested = decode(TOPIC, uplink({ decoded_payload: { air: { temp: 5.5 }, bme280: { humidity: 70 }, wind: { speed: 2 }, soil: { temperature: 9, moisture: 20 } } }))
    expect(quantities(nested)).toEqual([['decoded_payload.air.temp', 'air_temperature', 5.5, undefined], ['decoded_payload.bme280.humidity', 'relative_humidity', 70, undefined], ['decoded_payload.wind.speed', 'wind_speed', 2, undefined], ['decoded_payload.soil.moisture', 'soil_moisture', 20, undefined]])
    expect(nested.rejections.map((x) => [x.path, x.rule, x.message])).toEqual([['decoded_payload.soil.temperature', 'unknown_quantity', "'soil.temperature' does not name a quantity in the vocabulary (qualified by 'soil')"]])
  })

  it('ignores metadata, rejects unknown keys and ambiguous ones, never drops a key silently', () => {
    const r = decode(TOPIC, uplink({ decoded_payload: { battery: 3.6, BatV: 3.1, Bat_status: 2, rssi: -80, fcnt: 9, co2: 412, temp: 8, temperature: 8.1, TempC_DS: 7, pm100: 3, list: [1] } }))
    expect(r.candidates).toEqual([])
    expect(r.ignored?.map((x) => x.path)).toEqual(['decoded_payload.battery', 'decoded_payload.BatV', 'decoded_payload.Bat_status', 'decoded_payload.rssi', 'decoded_payload.fcnt'])
    expect(r.rejections.map((x) => [x.path, x.rule, x.message, x.value])).toEqual([
      ['decoded_payload.co2', 'unknown_quantity', "'co2' does not name a quantity in the vocabulary", 412],
      ['decoded_payload.temp', 'ambiguous', "'decoded_payload.temp' and 'decoded_payload.temperature' all mean air_temperature; none is stored because the payload does not say which to trust", 8],
      ['decoded_payload.temperature', 'ambiguous', "'decoded_payload.temperature' and 'decoded_payload.temp' all mean air_temperature; none is stored because the payload does not say which to trust", 8.1],
      ['decoded_payload.TempC_DS', 'ambiguous', "'TempC_DS' is a probe reading whose placement (air, soil, water) the payload does not say", 7],
      ['decoded_payload.pm100', 'unknown_quantity', "'pm100' does not name a quantity in the vocabulary", 3],
      ['decoded_payload.list', 'unknown_quantity', "'list' does not name a quantity in the vocabulary", [1]],
    ])
    expect(rules(decode(TOPIC, uplink({ decoded_payload: { temperature_1: 4, temperature_2: 5 } })))).toEqual([['decoded_payload.temperature_1', 'ambiguous'], ['decoded_payload.temperature_2', 'ambiguous']])
    expect(rules(decode(TOPIC, uplink({ decoded_payload: { max: { temperature: 4 }, temperature_max: 5, dew_point: 1 } })))).toEqual([['decoded_payload.max.temperature', 'unknown_quantity'], ['decoded_payload.temperature_max', 'unknown_quantity'], ['decoded_payload.dew_point', 'unknown_quantity']])
  })

  it('splits unit strings, reads a bare pressure above 2000 as Pa, passes everything else unchanged for validate', () => {
    const r = decode(TOPIC, uplink({ decoded_payload: { temperature: '30.11 °C', humidity: '55', pressure: 101325, wind_speed: 'calm', rain: null, pm10: '12 ug/m3' } }))
    expect(quantities(r)).toEqual([
      ['decoded_payload.temperature', 'air_temperature', 30.11, '°C'], ['decoded_payload.humidity', 'relative_humidity', '55', undefined],
      ['decoded_payload.pressure', 'air_pressure', 101325, 'Pa'], ['decoded_payload.wind_speed', 'wind_speed', 'calm', undefined],
      ['decoded_payload.rain', 'precipitation', null, undefined], ['decoded_payload.pm10', 'pm10', 12, 'ug/m3'],
    ])
    expect(quantities(decode(TOPIC, uplink({ decoded_payload: { baro: '1013.2 hPa', pressure: '99000' } })))).toEqual([])
    expect(quantities(decode(TOPIC, uplink({ decoded_payload: { baro: '99000' } })))).toEqual([['decoded_payload.baro', 'air_pressure', '99000', 'Pa']])
    const m = msg(TOPIC, JSON.stringify(uplink({ decoded_payload: { pressure: 101325, temperature: '30.11 °C', wind_speed: 'calm' } })))
    const v = validateCandidates({ ...m, receivedAt: T + 1000 }, decoder.decode(m).candidates, { maxFutureMs: 300_000 })
    expect(v.readings.map((x) => [x.quantity, x.value, x.sourceUnit])).toEqual([['air_pressure', 1013.25, 'Pa'], ['air_temperature', 30.11, undefined]])
    expect(v.rejections.map((x) => [x.path, x.rule])).toEqual([['decoded_payload.wind_speed', 'schema']])
  })
})

describe('ttn-v3 on random input', () => {
  const key = fc.oneof(fc.constantFrom('temperature', 'temp', 'pm1_0', 'pm10', 'Bat', 'TempC_DS18B20', 'temp_SOIL', 'air', 'soil', 'time', 'constructor', '__proto__', 'toString'), fc.string({ maxLength: 10 }))
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('3.384 V', '30.11 °C', '101325', 'nan', '1,5'), fc.dictionary(key, fc.jsonValue({ maxDepth: 1 })))
  const payloadObject = fc.dictionary(key, value, { maxKeys: 8 })
  const received = fc.oneof({ weight: 4, arbitrary: fc.constant('2024-01-15T10:28:31.412955231Z') }, fc.constantFrom('2024-01-15T10:28:31', 'garbage', 17, undefined))
  const ids = fc.record({ device_id: fc.oneof(fc.constantFrom('node-1', ''), fc.string({ maxLength: 70 })), application_ids: fc.record({ application_id: fc.oneof(fc.constant('senshagen'), fc.string()) }) }, { requiredKeys: [] })
  const uplinkMessage = fc.record({
    f_port: fc.jsonValue({ maxDepth: 0 }),
    received_at: received,
    decoded_payload: fc.oneof({ weight: 4, arbitrary: payloadObject }, fc.jsonValue({ maxDepth: 1 })),
    decoded_payload_warnings: fc.oneof(fc.array(fc.string(), { maxLength: 2 }), fc.jsonValue({ maxDepth: 1 })),
    normalized_payload: fc.oneof(fc.array(fc.oneof(payloadObject, fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
    version_ids: fc.oneof(fc.record({ model_id: fc.jsonValue({ maxDepth: 0 }) }), fc.jsonValue({ maxDepth: 1 })),
  }, { requiredKeys: [] })
  const uplinkJson = fc.record({
    end_device_ids: fc.oneof({ weight: 4, arbitrary: fc.constant({ device_id: 'node-1', application_ids: { application_id: 'senshagen' } }) }, ids, fc.jsonValue({ maxDepth: 1 })),
    received_at: received,
    simulated: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, fc.constantFrom(true, false, 'true')),
    uplink_message: fc.oneof({ weight: 6, arbitrary: uplinkMessage }, fc.jsonValue({ maxDepth: 1 })),
  }, { requiredKeys: ['uplink_message'] })
  /** A fixture uplink with one nested field replaced by a random value or deleted. */
  const fixtures = LINES.map((l) => JSON.parse(l.payload) as Record<string, unknown>)
  const mutated = fc.tuple(fc.nat(fixtures.length - 1), fc.nat(), fc.option(fc.jsonValue({ maxDepth: 2 }))).map(([i, pick, replacement]) => {
    const doc = structuredClone(fixtures[i]!)
    const slots: Array<[Record<string, unknown>, string]> = []
    const walk = (o: Record<string, unknown>) => Object.entries(o).forEach(([k, v]) => { slots.push([o, k]); if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>) })
    walk(doc)
    const [parent, k] = slots[pick % slots.length]!
    if (replacement === null) delete parent[k]
    else parent[k] = replacement
    return { topic: LINES[i]!.topic, payload: JSON.stringify(doc) }
  })
  const level = fc.oneof(fc.constantFrom('senshagen', 'senshagen@ttn', 'node-1', 'a b', '', '+', 'µ'), fc.string({ maxLength: 40 }))
  const event = fc.constantFrom('up', 'join', 'down/sent', 'service/data', 'up/x', 'other')
  const topic = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(TOPIC, 'v3/senshagen/devices/node-1/up', 'v3/senshagen@ttn/devices/node-1/join') },
    fc.tuple(level, level, event).map(([a, d, e]) => `v3/${a}/devices/${d}/${e}`),
    fc.string(),
  )
  const payload = fc.oneof(
    { weight: 4, arbitrary: uplinkJson.map((o) => JSON.stringify(o)) },
    uplinkJson.map((o) => JSON.stringify(o)).chain((t) => fc.nat(t.length).map((n) => t.slice(0, n))), // truncated
    fc.string(),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  )

  it('never throws; every rejection has a rule and message; every candidate device id is valid', () => {
    const seen = { candidates: 0, rules: new Set<string>() }
    fc.assert(
      fc.property(fc.oneof(fc.record({ topic, payload }), mutated), ({ topic: t, payload: p }) => {
        const result = decoder.decode(msg(t, p))
        seen.candidates += result.candidates.length
        for (const r of result.rejections) seen.rules.add(r.rule)
        for (const r of result.rejections) {
          expect(RejectionSchema.safeParse(r).error).toBeUndefined()
          expect(r.rule.length).toBeGreaterThan(0)
          expect(r.message.length).toBeGreaterThan(0)
        }
        for (const x of result.candidates) {
          expect(DeviceIdSchema.safeParse(x.deviceId).success, x.deviceId).toBe(true)
          expect(x.sourceFormat).toBe('ttn-v3')
        }
        for (const e of result.events ?? []) expect(DeviceIdSchema.safeParse(e.deviceId).success, e.deviceId).toBe(true)
        if (result.candidates.length || result.events?.length) expect(t.startsWith('v3/')).toBe(true)
      }),
      { numRuns: 2000 },
    )
    // the generators reach the interesting paths, not only the JSON and topic checks
    expect(seen.candidates).toBeGreaterThan(50)
    expect([...seen.rules].sort()).toEqual(expect.arrayContaining(['ambiguous', 'json', 'no_decoded_payload', 'schema', 'simulated', 'time_zone', 'unknown_quantity']))
  })
})
