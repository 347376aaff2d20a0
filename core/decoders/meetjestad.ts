import { parseLenientJson } from '../lenient-json.ts'
import { RULES, UNKNOWN_DEVICE } from '../reading.ts'
import { parseIsoTimestamp } from '../time.ts'
import type { ArchiveRecord, ArchiveRowRejection } from './sc-archive.ts'
import { wholeMessageRejection, type Candidate, type DecodeResult, type DecoderFactory, type InboundMessage } from './decoder.ts'

/**
 * Meet je Stad (Amersfoort citizen sensor network), two formats; fixtures and sources in
 * test/fixtures/devices/meetjestad/ (SOURCES.md). Coordinates appear in both and are never stored: a node's
 * position is its host's garden (personal data).
 *
 * (a) Data-API JSON, a FILE format read by `senshagen replay` like core/decoders/sc-data-api.ts:
 *     `https://meetjestad.net/data/?type=sensors&format=json` → an array of rows
 *     `{"id": 173, "timestamp": "2021-05-04 09:00:04", "firmware_version": 2, "longitude": 5.38953, "latitude": 52.1732,
 *       "temperature": 9.75, "humidity": 107.875, "lux": 35541, "supply": 3.42, "battery": null, "pm2.5": null,
 *       "pm10": null, "extra": null}`; a missing value is `null`. parseMeetJeStadJson gives ArchiveRecords:
 *     - device `mjs-<id>` (id a non-negative integer, number or digit string), sensorModel
 *       `meetjestad-<firmware_version>` (when it is a short [A-Za-z0-9._-] text or integer), else `meetjestad`;
 *     - time: `timestamp` is UTC without a zone (as the site's data); an explicit zone is honoured;
 *     - readings: temperature → air_temperature (°C), humidity → relative_humidity (%), `pm2.5` → pm2_5 and
 *       pm10 → pm10 (µg/m³), all canonical, so `units` is `{}`. A null temperature or humidity is passed on as
 *       null (every node has that sensor: a gap, stored as a `missing` rejection); a null PM value is left out,
 *       because most nodes have no PM sensor and would otherwise produce two `missing` rejections per row.
 *       Humidity above 100 % (107.875 in the fixture) is passed on: stored and flagged `rh_above_100` later.
 *     - not stored: longitude/latitude (personal data; a 60° latitude is not checked either), lux (illuminance,
 *       not in the vocabulary), supply and battery (node voltages, metadata), firmware_version (sensorModel),
 *       `extra` (an array of unnamed values whose meaning depends on the station type, e.g. 3 for green-roof and
 *       5 for soil stations in public client scripts: no quantity can be read from it), `row` (a pandas index in exported tables). Any other key is
 *       passed on under its own name (number, null or text; objects as JSON text) for the ingest to dead-letter
 *       (`unknown_quantity`), as sc-archive does with unknown columns.
 *     - a row that is not an object, has no usable id or an unreadable timestamp is an ArchiveRowRejection
 *       (`line` = 1-based index in the array).
 *
 * (b) Legacy TTN v2 MQTT uplinks as consumed by meetjestad/mjs_ttn_forwarder `mjs_mqtt.py` (topic
 *     `<AppID>/devices/<DevID>/up`; v2 has no `v3/` prefix): `{"app_id", "dev_id", "hardware_serial": "00000000000007F9",
 *     "port": 10, "counter", "is_retry"?, "payload_raw": base64, "payload_fields"?, "metadata": {"time": RFC 3339,
 *     "gateways": [...]}}`. Port 10 payload, 9–11 bytes, read MSB first (Python bitstring `ConstBitStream.read`,
 *     big-endian, two's complement for `int`):
 *     | bits | field       | decoding                                   |
 *     |------|-------------|--------------------------------------------|
 *     | 24   | latitude    | int24 / 32768 (°)   — decoded, not stored   |
 *     | 24   | longitude   | int24 / 32768 (°)   — decoded, not stored   |
 *     | 12   | temperature | int12 / 16 → air_temperature °C            |
 *     | 12   | humidity    | int12 / 16 → relative_humidity %           |
 *     | 8?   | supply      | 1 + uint8 / 100 (V) — metadata, `ignored`  |
 *     | 8?   | battery     | 1 + uint8 / 50 (V)  — metadata, `ignored`  |
 *     Decisions: device `mjs-<int(hardware_serial, 16)>` (decimal, as the forwarder's station id); time
 *     `metadata.time` (network server receipt, `timeSource: 'device'` as in ttn-v3: a class A node has no clock)
 *     when it is a valid RFC 3339 date-time with zone, else receipt time (the forwarder itself always uses its own
 *     receipt time; gateway `time` is often `""`); `payload_fields` (an application payload formatter's output) is
 *     not read, payload_raw is; `port` other than 10 is a whole rejection `schema` (other Meet je Stad ports exist,
 *     for other firmware and message types, and the forwarder ignores them too); a payload_raw that is missing,
 *     not base64 or not 9–11 bytes is a whole rejection `schema` (path `payload_raw`); topic and payload app/device
 *     ids that differ are `device_mismatch`.
 */
export const MEETJESTAD_DATA_API_FORMAT = 'meetjestad-data-api'
export const MEETJESTAD_TTN_V2_FORMAT = 'meetjestad-ttn-v2'
/** The only uplink port decoded (mjs_ttn_forwarder). */
export const MEETJESTAD_PORT = 10

type Obj = Record<string, unknown>

/** Data-API columns that are SensHagen quantities (values already in the canonical units). */
const DATA_API_READINGS: ReadonlyArray<[column: string, quantity: string, nullMeansGap: boolean]> = [
  ['temperature', 'air_temperature', true],
  ['humidity', 'relative_humidity', true],
  ['pm2.5', 'pm2_5', false],
  ['pm10', 'pm10', false],
]
/** Data-API columns that are read elsewhere or deliberately not stored (see the module comment). */
const DATA_API_NOT_STORED = new Set(['id', 'timestamp', 'firmware_version', 'longitude', 'latitude', 'lux', 'supply', 'battery', 'extra', 'row'])

/** Parses a Meet je Stad data-API JSON text into replay records; never throws. */
export function parseMeetJeStadJson(text: string): { records: ArchiveRecord[]; rejections: ArchiveRowRejection[] } {
  let json: unknown
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch (error) {
    return { records: [], rejections: [{ line: 0, rule: 'schema', message: `not JSON: ${(error as Error).message}`, raw: text.slice(0, 1000) }] }
  }
  const rows = Array.isArray(json) ? json : [json]
  const records: ArchiveRecord[] = []
  const rejections: ArchiveRowRejection[] = []
  rows.forEach((row: unknown, index) => {
    const line = index + 1
    const reject = (message: string, rule: ArchiveRowRejection['rule'] = 'schema') =>
      void rejections.push({ line, rule, message: `entry ${line}: ${message}`, raw: safeStringify(row) })
    if (!isObj(row)) return reject('is not an object')
    const id = row.id
    if (!((typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) || (typeof id === 'string' && /^\d{1,15}$/.test(id)))) {
      return reject(`id ${safeStringify(id)} is not a station number`)
    }
    if (typeof row.timestamp !== 'string') return reject('timestamp is missing')
    const time = parseIsoTimestamp(row.timestamp, { assumeZone: 'UTC' })
    if (!time.ok) return reject(`timestamp '${row.timestamp}' ${time.message}`, time.rule === 'time_zone' ? 'time_zone' : 'schema')

    const readings: ArchiveRecord['readings'] = {}
    for (const [column, quantity, nullMeansGap] of DATA_API_READINGS) {
      const value = row[column]
      if (value === undefined || (value === null && !nullMeansGap)) continue
      readings[quantity] = readingValue(value)
    }
    for (const [key, value] of Object.entries(row)) {
      if (DATA_API_NOT_STORED.has(key) || DATA_API_READINGS.some(([column]) => column === key)) continue
      // defineProperty: a key named `__proto__` stays an own key (plain assignment would set the prototype)
      Object.defineProperty(readings, key, { value: readingValue(value), enumerable: true, writable: true, configurable: true })
    }
    const firmware = row.firmware_version
    const model = (typeof firmware === 'number' && Number.isSafeInteger(firmware)) || (typeof firmware === 'string' && /^[A-Za-z0-9._-]{1,32}$/.test(firmware)) ? `meetjestad-${firmware}` : 'meetjestad'
    records.push({ line, deviceId: `mjs-${Number(id)}`, sensorModel: model, observedAt: time.ms, readings, units: {} })
  })
  return { records, rejections }
}

/** A value for ArchiveRecord.readings: numbers and null as they are, text as is, anything else as JSON text. */
function readingValue(value: unknown): number | null | string {
  if (value === null || value === undefined) return null
  if (typeof value === 'number' || typeof value === 'string') return value
  return safeStringify(value)
}

/** Decoder for legacy TTN v2 uplinks of Meet je Stad nodes (port 10). Stateless. */
export const createMeetJeStadTtnV2Decoder: DecoderFactory = () => ({
  format: MEETJESTAD_TTN_V2_FORMAT,
  topicFilters: ['+/devices/+/up'],
  maxAgeMs: 7 * 86_400_000,
  decode: decodeTtnV2,
})

/** Values of one port-10 payload (MSB-first bit stream); supply and battery only when the bytes are there. */
export interface MeetJeStadPort10 {
  latitude: number
  longitude: number
  temperature: number
  humidity: number
  supply?: number
  battery?: number
}

/** Decodes a port-10 payload as mjs_ttn_forwarder does; undefined unless it is 9–11 bytes long. */
export function decodePort10(payload: Uint8Array): MeetJeStadPort10 | undefined {
  if (payload.length < 9 || payload.length > 11) return undefined
  let bitpos = 0
  const read = (bits: number, signed: boolean): number => {
    let value = 0
    for (let i = 0; i < bits; i++, bitpos++) value = value * 2 + ((payload[bitpos >> 3]! >> (7 - (bitpos & 7))) & 1)
    return signed && value >= 2 ** (bits - 1) ? value - 2 ** bits : value
  }
  const data: MeetJeStadPort10 = { latitude: read(24, true) / 32768, longitude: read(24, true) / 32768, temperature: read(12, true) / 16, humidity: read(12, true) / 16 }
  if (payload.length * 8 - bitpos >= 8) data.supply = 1 + read(8, false) / 100
  if (payload.length * 8 - bitpos >= 8) data.battery = 1 + read(8, false) / 50
  return data
}

function decodeTtnV2(message: InboundMessage): DecodeResult {
  const levels = message.topic.split('/')
  const topic = levels.length === 4 && levels[1] === 'devices' && levels[3] === 'up' && levels[0] && levels[2] ? { app: levels[0], device: levels[2] } : undefined
  let deviceId = UNKNOWN_DEVICE
  const fail = (path: string, rule: string, text: string, value?: unknown): DecodeResult => ({
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: MEETJESTAD_TTN_V2_FORMAT, path, rule, message: text, value })],
  })
  if (!topic) return fail('topic', RULES.schema, 'topic is not {AppID}/devices/{DevID}/up (TTN v2)', message.topic)
  const parsed = parseLenientJson(message.payload.toString('utf8'))
  if (!parsed.ok) return fail('$', RULES.json, `payload is not JSON: ${parsed.message}`)
  const doc = parsed.value
  if (!isObj(doc)) return fail('$', RULES.schema, 'payload must be a JSON object (TTN v2 uplink)')

  const serial = doc.hardware_serial
  if (typeof serial !== 'string' || !/^[0-9A-Fa-f]{1,16}$/.test(serial)) return fail('hardware_serial', RULES.schema, 'hardware_serial must be the DevEUI as 1-16 hex digits', serial)
  deviceId = `mjs-${BigInt(`0x${serial}`).toString(10)}`
  if (typeof doc.app_id === 'string' && doc.app_id !== topic.app) return fail('app_id', RULES.deviceMismatch, `app_id '${doc.app_id}' differs from topic application '${topic.app}'`, doc.app_id)
  if (typeof doc.dev_id === 'string' && doc.dev_id !== topic.device) return fail('dev_id', RULES.deviceMismatch, `dev_id '${doc.dev_id}' differs from topic device '${topic.device}'`, doc.dev_id)
  if (doc.port !== MEETJESTAD_PORT) {
    return fail('port', RULES.schema, `port ${safeStringify(doc.port)} is not decoded: only Meet je Stad port ${MEETJESTAD_PORT} (position, temperature, humidity, voltages) is; other Meet je Stad ports exist for other firmware and message types`, doc.port)
  }
  const raw = doc.payload_raw
  if (typeof raw !== 'string' || raw.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) return fail('payload_raw', RULES.schema, 'payload_raw must be base64', raw)
  const data = decodePort10(Buffer.from(raw, 'base64'))
  if (!data) return fail('payload_raw', RULES.schema, `port ${MEETJESTAD_PORT} payload must be 9-11 bytes, got ${Buffer.from(raw, 'base64').length}`, raw)

  const metadata = isObj(doc.metadata) ? doc.metadata : {}
  const time = typeof metadata.time === 'string' ? parseIsoTimestamp(metadata.time) : undefined
  const observedAt = time?.ok ? time.ms : message.receivedAt
  const timeSource: Candidate['timeSource'] = time?.ok ? 'device' : 'receipt'
  const candidate = (quantity: string, value: number, field: string): Candidate => ({
    deviceId, quantity, value, path: `payload_raw.${field}`, observedAt, timeSource, sensorModel: 'meetjestad', sourceFormat: MEETJESTAD_TTN_V2_FORMAT,
  })
  const ignored = (['latitude', 'longitude', 'supply', 'battery'] as const)
    .filter((field) => data[field] !== undefined)
    .map((field) => ({ deviceId, path: `payload_raw.${field}`, type: 'number' }))
  return { candidates: [candidate('air_temperature', data.temperature, 'temperature'), candidate('relative_humidity', data.humidity, 'humidity')], rejections: [], ignored }
}

/**
 * A value as JSON text for a rejection; never throws. JSON.stringify throws on a value nested thousands of levels
 * deep, and so would String() of such an array (it joins recursively): found by test/fuzz, it aborted the replay of
 * the whole file. Such a value keeps a note instead.
 */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch (error) {
    return `(value not kept: ${(error as Error).message})`
  }
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
