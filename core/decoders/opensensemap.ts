import { parseLenientJson } from '../lenient-json.ts'
import { isQuantity, QUANTITIES } from '../quantities.ts'
import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, type Rejection } from '../reading.ts'
import { valueType } from '../schema-drift.ts'
import { parseIsoTimestamp } from '../time.ts'
import { normaliseUnit, toCanonical } from '../units.ts'
import { mapValueType, pressureUnitByMagnitude } from './airrohr.ts'
import { AUTHENTICATED_DEVICE_HEADER, wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderSettings, type InboundMessage } from './decoder.ts'

export { redactPositionText, withoutLocations } from './positions.ts'

/**
 * openSenseMap upload API, for senseBoxes and other devices configured to post to openSenseMap. Source:
 * sensebox/openSenseMap-API @953c476b (MIT) `packages/api/lib/controllers/measurementsController.js` (apidoc),
 * `packages/models/src/measurement/decoding/{jsonHandler,csvHandler,luftdatenHandler,hackairHandler,validators}.js`,
 * `packages/models/src/utils.js`; fixtures in test/fixtures/devices/opensensemap/.
 *
 * The HTTP ingest hands each POST over as `{ topic: 'http/opensensemap', payload: body bytes, receivedAt, headers }`
 * with lower-case header names plus the pseudo-headers `:path` (request path without query, must END in
 * `/boxes/{boxId}/data` or `/boxes/{boxId}/{sensorId}`; a prefix such as `/opensensemap` is allowed) and `:query`
 * (raw query string, `luftdaten=1`), and `content-type`. Bodies:
 * - POST …/boxes/{box}/data, chosen like openSenseMap: query `hackair` (non-empty) wins over `luftdaten`
 *   (non-empty), else the content type (parameters such as `; charset=utf-8` dropped):
 *   - `application/json` (or `json`), JSON array: `[{"sensor": "<id>", "value": "8.42" | 8.42,
 *     "createdAt"?: "2024-01-15T10:28:30Z", "location"?: [lng, lat, height?] | {lat, lng, height?}}]`
 *     (`sensor_id` is accepted for `sensor`, as openSenseMap does);
 *   - same content type, JSON object: `{"<id>": "8.42", "<id2>": ["81.2"], "<id3>": ["6.1", createdAt],
 *     "<id4>": ["6.1", createdAt, location]}`;
 *   - `text/csv` (or `csv`): one measurement per line `sensorId,value[,createdAt[,lng,lat[,height]]]`, no header,
 *     cells trimmed, empty lines skipped;
 *   - `?luftdaten=1`: an airrohr body `{"sensordatavalues": [{"value_type": "SDS_P1", "value": "11.83"}, …]}`,
 *     value types mapped by airrohr's mapValueType (custom mode: `SDS_P1` is PM10 in µg/m³, `BME280_pressure` in Pa,
 *     `signal`/`samples`… ignored), so no sensor configuration is needed;
 *   - `?hackair=1`: `{"reading": {"PM2.5_AirPollutantValue": "7.93", "PM10_AirPollutantValue": "32.63"},
 *     "battery": "5.99", "tamper": "0", "error": "4"}` (apidoc example): reading keys are matched like
 *     hackairHandler (lower case, first `.` removed, text before `_`): `pm25` → pm2_5, `pm10` → pm10, in µg/m³;
 *     other reading keys `unknown_quantity`; the keys beside `reading` are `ignored` (their meaning is not documented).
 * - POST …/boxes/{box}/{sensorId}: JSON `{"value": "8.42", "createdAt"?: …, "location"?: …}` (any content type:
 *   there is only one body format).
 *
 * Decisions:
 * - Device id: `:device` (decoder.ts AUTHENTICATED_DEVICE_HEADER) when the HTTP ingest set it, i.e. the registry
 *   device whose access token the request carried and whose box id the path names (services/ingest/http-auth.ts);
 *   else `osem-<boxId>`. Sensor ids (24-hex ObjectIds, or cuids on newer servers) say nothing about what is
 *   measured: openSenseMap looks them up among the box's registered sensors, so a deployment configures its boxes'
 *   sensors (`sensors` option: id → quantity, unit when not canonical, model). An unconfigured id is rejected
 *   `unknown_quantity` (path = sensor id), the rest of the body is kept. Bad configuration (a quantity outside the
 *   vocabulary, a unit that cannot be converted) throws when the decoder is created, so an ingest does not start
 *   with it; decoding itself never throws.
 * - Time: `createdAt` when present, else receipt time. openSenseMap accepts only `…Z`; we accept any ISO 8601 /
 *   RFC 3339 date-time with an explicit zone (`Z` or `±hh:mm`, core/time.ts), since the offset says the instant
 *   exactly; a zone-less one is rejected `time_zone`, a malformed one `schema` (path `<sensorId>.createdAt`),
 *   that measurement alone (openSenseMap refuses the whole request). `null` or `""` count as absent. The
 *   luftdaten and hackAIR bodies always use receipt time, as openSenseMap does.
 * - Location fields (JSON `location`, CSV cells 4–6, luftdaten `GPS_*`) are never used or stored: a garden's
 *   position is personal data. Their presence is reported in `ignored` (path `<sensorId>.location`, type only).
 *   Rejections keep the raw body, so the HTTP route passes withoutLocations() (core/decoders/positions.ts) as its
 *   `prepare` step, which also blanks coordinates in bodies that cannot be parsed (truncated or malformed JSON).
 * - Two sensors of one quantity in one request (two configured temperature sensors, or BME280 and SHT3X in a
 *   luftdaten body) would overwrite each other: the later becomes the sub-device `<device>.<model>` (subDevice()).
 * - Values pass through as sent (`"8.42"`, `81.2`); the validate step parses them.
 * - A line or entry of the wrong shape is rejected alone (`schema`, path `line <n>` / `[<i>]` / the sensor id).
 *   More than 2500 measurements in one request is a whole rejection `too_large` (openSenseMap's limit); none is
 *   `skipped`. Unsupported content types (also senseBox bytes `application/sbx-bytes[-ts]`) are whole rejections
 *   `schema`, path `content-type`. The `Authorization` box token is not checked here (the HTTP layer's job).
 */
export const OPENSENSEMAP_FORMAT = 'opensensemap'
export const OPENSENSEMAP_TOPIC = 'http/opensensemap'
/** openSenseMap refuses requests with more measurements than this. */
export const OPENSENSEMAP_MAX_MEASUREMENTS = 2500

/** What one openSenseMap sensor measures: quantity (vocabulary), source unit when not canonical, sensor model. */
export interface OpenSenseMapSensor {
  quantity: string
  unit?: string
  model?: string
}

export interface OpenSenseMapOptions {
  /** Sensor id (as registered on openSenseMap) → what it measures; the deployment's box configuration. */
  sensors?: Record<string, OpenSenseMapSensor>
}

type Obj = Record<string, unknown>
/** One measurement as posted, before lookup: `path` names it in rejections. */
interface Entry {
  sensorId: unknown
  value: unknown
  createdAt?: unknown
  location?: unknown
  path: string
}

const JSON_TYPES = new Set(['application/json', 'json'])
const CSV_TYPES = new Set(['text/csv', 'csv'])
const BYTES_TYPES = new Set(['application/sbx-bytes', 'application/sbx-bytes-ts', 'sbx-bytes', 'sbx-bytes-ts'])
const HACKAIR_READINGS: Readonly<Record<string, string>> = { pm25: 'pm2_5', pm10: 'pm10' }
const ROUTE = /(?:^|\/)boxes\/([^/]+)\/([^/]+)\/?$/

/**
 * The openSenseMap decoder for the configured sensors. As a DecoderFactory (called with DecoderSettings only) it has
 * no sensors configured: every JSON/CSV measurement is then `unknown_quantity`, luftdaten and hackAIR bodies still
 * decode. A deployment wires `(settings) => createOpenSenseMapDecoder({ ...settings, sensors })`.
 * Throws an Error listing every bad sensor entry (quantity not in the vocabulary, unit not convertible).
 */
export function createOpenSenseMapDecoder(options: OpenSenseMapOptions & Partial<DecoderSettings> = {}): Decoder {
  const sensors = new Map<string, OpenSenseMapSensor>()
  const problems: string[] = []
  for (const [id, sensor] of Object.entries(options.sensors ?? {})) {
    const quantity = sensor?.quantity
    if (typeof quantity !== 'string' || !isQuantity(quantity)) problems.push(`sensor '${id}': quantity '${String(quantity)}' is not in the vocabulary`)
    else if (sensor.unit !== undefined && !toCanonical(quantity, 0, sensor.unit).ok) problems.push(`sensor '${id}': unit '${sensor.unit}' cannot be converted for ${quantity}`)
    else sensors.set(id.trim(), sensor)
  }
  if (problems.length) throw new Error(`openSenseMap sensors option: ${problems.join('; ')}`)
  return { format: OPENSENSEMAP_FORMAT, topicFilters: [OPENSENSEMAP_TOPIC], maxAgeMs: 7 * 86_400_000, decode: (message) => decode(message, sensors) }
}

function decode(message: InboundMessage, sensors: ReadonlyMap<string, OpenSenseMapSensor>): DecodeResult {
  const headers = message.headers ?? {}
  const route = ROUTE.exec((headers[':path'] ?? '').split('?')[0]!)
  const fail = (deviceId: string, path: string, rule: string, text: string, value?: unknown): DecodeResult => ({
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: OPENSENSEMAP_FORMAT, path, rule, message: text, value })],
  })
  if (!route) return fail(UNKNOWN_DEVICE, ':path', RULES.schema, 'request path must end in /boxes/{boxId}/data or /boxes/{boxId}/{sensorId}', headers[':path'])
  const authenticated = headers[AUTHENTICATED_DEVICE_HEADER]?.trim() || undefined
  const deviceId = authenticated ?? `osem-${route[1]}`
  if (!DeviceIdSchema.safeParse(deviceId).success) {
    if (authenticated !== undefined) return fail(UNKNOWN_DEVICE, AUTHENTICATED_DEVICE_HEADER, RULES.schema, 'authenticated device id is not a valid device id', authenticated)
    return fail(UNKNOWN_DEVICE, ':path', RULES.schema, "'osem-' + box id must be a device id: 1-64 chars of [A-Za-z0-9_.:-], starting alphanumeric", route[1])
  }
  const text = message.payload.toString('utf8').replace(/^\uFEFF/, '')
  const json = () => {
    const parsed = parseLenientJson(text)
    return parsed.ok ? { ok: true as const, value: parsed.value } : { ok: false as const, result: fail(deviceId, '$', RULES.json, `body is not JSON: ${parsed.message}`) }
  }

  if (route[2] !== 'data') {
    const body = json()
    if (!body.ok) return body.result
    if (!isObj(body.value)) return fail(deviceId, '$', RULES.schema, 'body must be a JSON object {value, createdAt?, location?}')
    return measurements(message, deviceId, sensors, [{ sensorId: route[2], value: body.value.value, createdAt: body.value.createdAt, location: body.value.location, path: route[2]! }])
  }

  const query = new URLSearchParams(headers[':query'] ?? '')
  if (query.get('hackair') || query.get('luftdaten')) {
    const body = json()
    if (!body.ok) return body.result
    if (!isObj(body.value)) return fail(deviceId, '$', RULES.schema, 'body must be a JSON object')
    return query.get('hackair') ? hackair(message, deviceId, body.value) : luftdaten(message, deviceId, body.value)
  }

  const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (CSV_TYPES.has(contentType)) return csv(message, deviceId, sensors, text)
  if (!JSON_TYPES.has(contentType)) {
    const why = BYTES_TYPES.has(contentType) ? 'the senseBox bytes format is not supported here' : 'openSenseMap bodies need content-type application/json or text/csv'
    return fail(deviceId, 'content-type', RULES.schema, `unsupported content-type '${contentType}': ${why}`, headers['content-type'])
  }
  const body = json()
  if (!body.ok) return body.result
  const entries: Array<Entry | Rejection> = []
  if (Array.isArray(body.value)) {
    body.value.forEach((item, i) => {
      if (!isObj(item)) return void entries.push(reject(message, deviceId, `[${i}]`, RULES.schema, 'measurement must be an object {sensor, value, createdAt?, location?}', item))
      entries.push({ sensorId: item.sensor_id ?? item.sensor, value: item.value, createdAt: item.createdAt, location: item.location, path: `[${i}]` })
    })
  } else if (isObj(body.value)) {
    for (const [sensorId, raw] of Object.entries(body.value)) {
      if (!Array.isArray(raw)) entries.push({ sensorId, value: raw, path: sensorId })
      else if (raw.length >= 1 && raw.length <= 3) entries.push({ sensorId, value: raw[0], createdAt: raw[1], location: raw[2], path: sensorId })
      else entries.push(reject(message, deviceId, sensorId, RULES.schema, `array for sensor '${sensorId}' must be [value, createdAt?, location?], got ${raw.length} items`, raw))
    }
  } else {
    return fail(deviceId, '$', RULES.schema, 'body must be a JSON array of measurements or an object sensorId → value')
  }
  return measurements(message, deviceId, sensors, entries)
}

/** `sensorId,value[,createdAt[,lng,lat[,height]]]` per line (csvHandler): 2–6 cells, leading empty cells dropped. */
function csv(message: InboundMessage, deviceId: string, sensors: ReadonlyMap<string, OpenSenseMapSensor>, text: string): DecodeResult {
  const entries: Array<Entry | Rejection> = []
  text.split(/\r?\n/).forEach((line, index) => {
    const cells = line.split(',').map((cell) => cell.trim())
    while (cells[0] === '') cells.shift()
    if (cells.length === 0) return
    const path = `line ${index + 1}`
    if (cells.length < 2 || cells.length > 6) {
      return void entries.push(reject(message, deviceId, path, RULES.schema, `${path} must be sensorId,value[,createdAt[,lng,lat[,height]]], got ${cells.length} cell(s)`))
    }
    entries.push({ sensorId: cells[0], value: cells[1], createdAt: cells[2], location: cells.length > 3 ? cells.slice(3) : undefined, path })
  })
  return measurements(message, deviceId, sensors, entries)
}

/** Looks each sensor up, reads createdAt, and makes candidates; entries that are already rejections pass through. */
function measurements(message: InboundMessage, deviceId: string, sensors: ReadonlyMap<string, OpenSenseMapSensor>, entries: Array<Entry | Rejection>): DecodeResult {
  if (entries.length > OPENSENSEMAP_MAX_MEASUREMENTS) {
    return { candidates: [], rejections: [reject(message, deviceId, '$', RULES.tooLarge, `${entries.length} measurements in one request; openSenseMap accepts at most ${OPENSENSEMAP_MAX_MEASUREMENTS}`)] }
  }
  const result = { candidates: [] as Candidate[], rejections: [] as Rejection[], ignored: [] as NonNullable<DecodeResult['ignored']> }
  const owners = new Map<string, string>() // quantity or sub-device id → the sensor id that has it
  for (const entry of entries) {
    if ('rule' in entry) {
      result.rejections.push(entry)
      continue
    }
    const sensorId = typeof entry.sensorId === 'string' ? entry.sensorId.trim() : typeof entry.sensorId === 'number' ? String(entry.sensorId) : ''
    if (sensorId === '') {
      result.rejections.push(reject(message, deviceId, `${entry.path}.sensor`, RULES.schema, 'measurement has no sensor id', entry.sensorId))
      continue
    }
    const sensor = sensors.get(sensorId)
    if (sensor === undefined) {
      result.rejections.push(reject(message, deviceId, sensorId, RULES.unknownQuantity,
        `openSenseMap sensor '${sensorId}' of box '${boxOf(message) ?? deviceId}' is not configured: add it to the opensensemap sensors option (quantity, unit if not canonical, model)`, entry.value))
      continue
    }
    let observedAt = message.receivedAt
    let timeSource: Candidate['timeSource'] = 'receipt'
    if (entry.createdAt !== undefined && entry.createdAt !== null && entry.createdAt !== '') {
      const time = typeof entry.createdAt === 'string' ? parseIsoTimestamp(entry.createdAt) : undefined
      if (!time?.ok) {
        result.rejections.push(reject(message, deviceId, `${sensorId}.createdAt`, time?.rule ?? RULES.schema, `createdAt ${time?.message ?? 'must be an RFC 3339 string such as 2024-01-15T10:28:30Z'}`, entry.createdAt))
        continue
      }
      observedAt = time.ms
      timeSource = 'device'
    }
    if (entry.location !== undefined && entry.location !== null) result.ignored.push({ deviceId, path: `${sensorId}.location`, type: valueType(entry.location) })
    const quantity = sensor.quantity as keyof typeof QUANTITIES
    const unit = sensor.unit === undefined || normaliseUnit(sensor.unit) === QUANTITIES[quantity].unit ? undefined : sensor.unit
    result.candidates.push({
      deviceId: subDevice(owners, deviceId, quantity, sensorId, sensor.model), quantity, value: entry.value, ...(unit === undefined ? {} : { unit }), path: sensorId, observedAt, timeSource,
      ...(sensor.model === undefined ? {} : { sensorModel: sensor.model }), sourceFormat: OPENSENSEMAP_FORMAT,
    })
  }
  return done(result, entries.length === 0 ? 'no measurements in the body' : undefined)
}

/** `?luftdaten=1`: airrohr value types (custom mode, no pin), receipt time. */
function luftdaten(message: InboundMessage, deviceId: string, body: Obj): DecodeResult {
  const values = body.sensordatavalues
  if (!Array.isArray(values)) return { candidates: [], rejections: [reject(message, deviceId, 'sensordatavalues', RULES.schema, 'luftdaten body needs a sensordatavalues array', values)] }
  const result = { candidates: [] as Candidate[], rejections: [] as Rejection[], ignored: [] as NonNullable<DecodeResult['ignored']> }
  values.forEach((item, i) => {
    const valueTypeName = isObj(item) ? item.value_type : undefined
    if (!isObj(item) || typeof valueTypeName !== 'string' || valueTypeName === '') {
      return void result.rejections.push(reject(message, deviceId, `sensordatavalues[${i}]`, RULES.schema, 'entry must be an object with a non-empty string value_type', item))
    }
    const mapping = mapValueType(valueTypeName, undefined)
    if (mapping.kind === 'ignored') result.ignored.push({ deviceId, path: valueTypeName, type: valueType(item.value) })
    else if (mapping.kind === 'unknown') result.rejections.push(reject(message, deviceId, valueTypeName, RULES.unknownQuantity, mapping.message, item.value))
    else {
      const unit = mapping.pa === 'always' ? 'Pa' : mapping.pa === 'heuristic' ? pressureUnitByMagnitude(item.value) : undefined
      // as the airrohr decoder: a second sensor of one quantity becomes the sub-device `<device>.<model>`
      const taken = result.candidates.some((c) => c.quantity === mapping.quantity && c.deviceId === deviceId)
      const sub = `${deviceId}.${(mapping.sensorModel ?? valueTypeName).toLowerCase()}`
      result.candidates.push({
        deviceId: taken && DeviceIdSchema.safeParse(sub).success ? sub : deviceId, quantity: mapping.quantity, value: item.value, ...(unit === undefined ? {} : { unit }), path: valueTypeName,
        observedAt: message.receivedAt, timeSource: 'receipt', ...(mapping.sensorModel === undefined ? {} : { sensorModel: mapping.sensorModel }), sourceFormat: OPENSENSEMAP_FORMAT,
      })
    }
  })
  return done(result, values.length === 0 ? 'empty sensordatavalues' : undefined)
}

/** `?hackair=1`: PM readings under `reading`, receipt time; the other top-level keys are ignored. */
function hackair(message: InboundMessage, deviceId: string, body: Obj): DecodeResult {
  if (!isObj(body.reading)) return { candidates: [], rejections: [reject(message, deviceId, 'reading', RULES.schema, 'hackAIR body needs a reading object', body.reading)] }
  const result = { candidates: [] as Candidate[], rejections: [] as Rejection[], ignored: [] as NonNullable<DecodeResult['ignored']> }
  for (const [key, value] of Object.entries(body.reading)) {
    const token = key.toLowerCase().replace('.', '').split('_')[0]!
    const quantity = Object.hasOwn(HACKAIR_READINGS, token) ? HACKAIR_READINGS[token] : undefined
    const path = `reading.${key}`
    if (quantity === undefined) {
      result.rejections.push(reject(message, deviceId, path, RULES.unknownQuantity, `hackAIR reading '${key}' is not PM2.5 or PM10`, value))
    } else {
      result.candidates.push({ deviceId, quantity, value, path, observedAt: message.receivedAt, timeSource: 'receipt', sourceFormat: OPENSENSEMAP_FORMAT })
    }
  }
  for (const [key, value] of Object.entries(body)) if (key !== 'reading') result.ignored.push({ deviceId, path: key, type: valueType(value) })
  return done(result, Object.keys(body.reading).length === 0 ? 'empty hackAIR reading' : undefined)
}

/** The box id named by the request path, if it has one. */
function boxOf(message: InboundMessage): string | undefined {
  return ROUTE.exec((message.headers?.[':path'] ?? '').split('?')[0]!)?.[1]
}

/**
 * Two configured sensors of one quantity on a box would be one InfluxDB point (same device, quantity, time): the
 * first sensor id in the message keeps the box's device id, another becomes the sub-device `<device>.<model>`
 * (lower case; `<device>.<sensorId>` without a model, or when that model's sub-device is another sensor's), as
 * airrohr and Tasmota do. The same sensor posting several times keeps its id.
 */
function subDevice(owners: Map<string, string>, deviceId: string, quantity: string, sensorId: string, model: string | undefined): string {
  const first = owners.get(quantity)
  if (first === undefined || first === sensorId) {
    owners.set(quantity, sensorId)
    return deviceId
  }
  for (const label of [model, sensorId]) {
    const sub = label === undefined ? undefined : `${deviceId}.${label.toLowerCase()}`
    if (sub === undefined || !DeviceIdSchema.safeParse(sub).success || (owners.has(sub) && owners.get(sub) !== sensorId)) continue
    owners.set(sub, sensorId)
    return sub
  }
  return deviceId
}

function reject(message: InboundMessage, deviceId: string, path: string, rule: string, text: string, value?: unknown): Rejection {
  return wholeMessageRejection(message, { deviceId, sourceFormat: OPENSENSEMAP_FORMAT, path, rule, message: text, value })
}

function done(result: { candidates: Candidate[]; rejections: Rejection[]; ignored: NonNullable<DecodeResult['ignored']> }, skipped: string | undefined): DecodeResult {
  const out: DecodeResult = { candidates: result.candidates, rejections: result.rejections }
  if (result.ignored.length) out.ignored = result.ignored
  if (skipped !== undefined) out.skipped = skipped
  return out
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
