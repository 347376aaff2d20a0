import { parseLenientJson } from '../lenient-json.ts'
import { parseNumberWithUnit } from '../number.ts'
import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, type DeviceEvent, type Rejection } from '../reading.ts'
import { parseIsoTimestamp } from '../time.ts'
import { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'
import { valueType } from '../schema-drift.ts'

/**
 * The Things Stack v3 (TTN v3) MQTT integration. Sources: TheThingsIndustries/lorawan-stack-docs (commit
 * a189a525) `integrations/data-formats`, `integrations/other-integrations/mqtt`, `payload-formatters`.
 *
 * Topics `v3/{application id}[@{tenant id}]/devices/{device id}/{event}` (Open Source deployments drop
 * `@{tenant}`), QoS 0. Events: `up` (decoded here), `join` (a DeviceEvent), `down/{queued|sent|ack|nack|failed}`,
 * `service/data`, `location/solved` (and any other: skipped, named in `skipped`).
 *
 * Uplink shape (fields used; everything else, rx_metadata, settings …, is not read):
 * ```
 * { end_device_ids: { device_id, application_ids: { application_id }, dev_eui?, join_eui?, dev_addr? },
 *   received_at?: RFC 3339 UTC, 9 fraction digits, simulated?: true,
 *   uplink_message: { f_port, frm_payload (base64), received_at?, version_ids?: { model_id },
 *     decoded_payload?: {…} (payload formatter output, any keys, numbers or "30.11 °C" strings, nested),
 *     decoded_payload_warnings?: string[],
 *     normalized_payload?: [{ time?, air?: { temperature °C, relativeHumidity %, pressure hPa },
 *       wind?: { speed m/s, direction ° }, rain?: { intensity mm/h, cumulative mm }, soil?: { moisture % }, … }] } }
 * ```
 * Decisions (tested in test/unit/decoders/ttn-v3.test.ts):
 * - Device id `ttn:{application id}:{device id}` from end_device_ids, else from the topic (tenant dropped);
 *   payload and topic disagreeing is `device_mismatch`; an id outside DeviceIdSchema is `schema` (TTS ids may be
 *   36 + 36 chars, which gives 77 > 64).
 * - Time: `received_at`, else `uplink_message.received_at`, else receipt. `timeSource: 'device'` for the first two
 *   although it is the network server's receive time: a LoRaWAN class A device has no clock and sends none, so
 *   this is the closest to the measurement there is (airtime is < 3 s). A normalized entry's `time` wins.
 * - `simulated: true` (Console "Simulate uplink") is rejected whole (`simulated`): dead-lettered, never stored.
 * - normalized_payload, when non-empty, is TTS's standard schema and is used instead of decoded_payload, whose
 *   keys are then reported as `ignored`. Normalized keys outside the vocabulary (rain.intensity, soil.temperature,
 *   air.co2, water.*, …) are `ignored`: the schema is fixed, so they are known, not unknown.
 * - decoded_payload keys are mapped by name (classify below); metadata (battery, rssi, counters) is `ignored`,
 *   every other key is rejected (`unknown_quantity` or `ambiguous`), so nothing is dropped silently.
 * - decoded_payload_warnings are appended to the message of every rejection of the uplink (Rejection has no
 *   detail field); decoders do not log.
 */
export const TTN_V3_FORMAT = 'ttn-v3'

type Obj = Record<string, unknown>
type TimeResult = { ok: true; ms: number; source: Candidate['timeSource'] } | { ok: false; path: string; rule: string; message: string; value: unknown }
export type Meaning = { kind: 'quantity'; quantity: string } | { kind: 'metadata' } | { kind: 'ambiguous' | 'unknown'; why: string }

/** normalized_payload paths (TTS normalized schema) that are SensHagen quantities, in canonical units already. */
const NORMALIZED = new Map<string, string>([
  ['air.temperature', 'air_temperature'],
  ['air.relativeHumidity', 'relative_humidity'],
  ['air.pressure', 'air_pressure'],
  ['wind.speed', 'wind_speed'],
  ['wind.direction', 'wind_from_direction'],
  ['rain.cumulative', 'precipitation'],
  ['soil.moisture', 'soil_moisture'],
])

/**
 * decoded_payload names (lower case, without `_ - . space`) that mean one quantity. Only unambiguous ones:
 * `TempC_SHT`/`Hum_SHT` are the Dragino LHT65 on-board SHT sensor, `water_SOIL` the Dragino LSE01 volumetric water
 * content, `barometric_pressure` and `relative_humidity` Cayenne LPP names. PM names are matched by PM_NAME.
 */
const ALIASES = new Map<string, string>([
  ...['temperature', 'temp', 'airtemperature', 'airtemp', 'temperaturec', 'tempcsht'].map((k) => [k, 'air_temperature'] as const),
  ...['humidity', 'hum', 'relativehumidity', 'rh', 'humsht', 'airhumidity'].map((k) => [k, 'relative_humidity'] as const),
  ...['pressure', 'airpressure', 'baro', 'barometer', 'barometricpressure'].map((k) => [k, 'air_pressure'] as const),
  ...['rain', 'rainfall', 'precipitation'].map((k) => [k, 'precipitation'] as const),
  ...['windspeed'].map((k) => [k, 'wind_speed'] as const),
  ...['winddirection', 'winddir'].map((k) => [k, 'wind_from_direction'] as const),
  ['waterlevel', 'water_level'],
  ...['soilmoisture', 'watersoil'].map((k) => [k, 'soil_moisture'] as const),
  ['no2', 'no2'],
])

/** `pm1`, `pm1_0`, `PM2.5`, `pm2p5`, `pm25` (= PM2.5, there is no PM25), `pm4_0`, `pm10`, `pm10_0`. Not `pm100`. */
const PM_NAME = /^pm[ _.-]?(\d{1,2})(?:[_.p](\d))?$/i
const PM_SIZES = new Map([['1', 'pm1'], ['1.0', 'pm1'], ['2.5', 'pm2_5'], ['25', 'pm2_5'], ['4', 'pm4'], ['4.0', 'pm4'], ['10', 'pm10'], ['10.0', 'pm10']])

/** Whole names (squashed) that are device metadata, not measurements. */
const METADATA = new Set([
  'battery', 'bat', 'batt', 'batv', 'battv', 'vbat', 'voltage', 'volt', 'vdd', 'supplyvoltage', 'rssi', 'snr', 'fcnt',
  'fcount', 'framecounter', 'counter', 'count', 'cnt', 'seq', 'sequence', 'status', 'devicestatus', 'version',
  'firmware', 'fw', 'fwversion', 'hwversion', 'interval', 'uptime', 'port', 'fport', 'workmode', 'mode', 'nodetype',
  'txpower', 'adr', 'sf', 'datarate', 'messagetype', 'msgtype', 'payloadtype', 'packettype', 'bytes', 'length',
  'err', 'error', 'errors', 'resetcause', 'reset', 'alarm',
])
/** Tokens that make any key metadata wherever they appear (`Bat_status`, `battery.level`, `rssi_avg`). */
const METADATA_TOKENS = new Set(['bat', 'batt', 'battery', 'vbat', 'batv', 'rssi', 'snr', 'fcnt'])
/** Probe tokens: a temperature or humidity from such a probe has no known placement (air, soil, water, pipe). */
const PROBES = new Set(['ds18b20', 'ds1820', 'ds18s20', 'ds', 'dallas', 'ntc', 'pt100', 'pt1000', 'thermistor', 'probe', 'ext', 'external', 'onewire', '1wire'])
/** Ancestor tokens that change what a nested `temperature` etc. means: `soil.temperature` is no air temperature. */
const QUALIFIERS = new Set([
  'soil', 'ground', 'water', 'indoor', 'inside', 'internal', 'int', 'cpu', 'mcu', 'chip', 'board', 'device', 'box',
  'enclosure', 'leaf', 'surface', 'road', 'pipe', 'object', 'min', 'max', 'avg', 'mean', 'median', 'std', 'stdev',
  'dew', 'dewpoint', 'feelslike', 'apparent', 'heatindex', 'wetbulb', 'wet', 'rate', 'intensity',
])
const MAX_DEPTH = 8

/** Decoder for The Things Stack v3 MQTT messages. Stateless. */
export const createTtnV3Decoder: DecoderFactory = () => ({
  format: TTN_V3_FORMAT,
  topicFilters: ['v3/+/devices/+/+', 'v3/+/devices/+/+/+'],
  maxAgeMs: 7 * 86_400_000,
  decode,
})

function decode(message: InboundMessage): DecodeResult {
  const topic = parseTopic(message.topic)
  const topicId = topic && DeviceIdSchema.safeParse(`ttn:${topic.app}:${topic.device}`).success ? `ttn:${topic.app}:${topic.device}` : undefined
  const fail = (deviceId: string, path: string, rule: string, text: string, value?: unknown, observedAt?: number): DecodeResult => ({
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: TTN_V3_FORMAT, path, rule, message: text, value, observedAt })],
  })
  if (!topic) return fail(UNKNOWN_DEVICE, 'topic', RULES.schema, 'topic is not v3/{application}[@{tenant}]/devices/{device}/{event}', message.topic)
  if (topic.event !== 'up' && topic.event !== 'join') return { candidates: [], rejections: [], skipped: topic.event }

  const parsed = parseLenientJson(message.payload.toString('utf8'))
  if (!parsed.ok) return fail(topicId ?? UNKNOWN_DEVICE, '$', RULES.json, `payload is not JSON: ${parsed.message}`)
  const doc = parsed.value
  if (!isObj(doc)) return fail(topicId ?? UNKNOWN_DEVICE, '$', RULES.schema, 'payload must be a JSON object (The Things Stack message)')

  const endIds = isObj(doc.end_device_ids) ? doc.end_device_ids : {}
  const appIds = isObj(endIds.application_ids) ? endIds.application_ids : {}
  const payloadApp = text(appIds.application_id)
  const payloadDevice = text(endIds.device_id)
  if (payloadApp !== undefined && payloadApp !== topic.app) {
    return fail(topicId ?? UNKNOWN_DEVICE, 'end_device_ids.application_ids.application_id', RULES.deviceMismatch, `application '${payloadApp}' differs from topic application '${topic.app}'`, payloadApp)
  }
  if (payloadDevice !== undefined && payloadDevice !== topic.device) {
    return fail(topicId ?? UNKNOWN_DEVICE, 'end_device_ids.device_id', RULES.deviceMismatch, `device '${payloadDevice}' differs from topic device '${topic.device}'`, payloadDevice)
  }
  const deviceId = `ttn:${payloadApp ?? topic.app}:${payloadDevice ?? topic.device}`
  if (!DeviceIdSchema.safeParse(deviceId).success) {
    return fail(UNKNOWN_DEVICE, 'end_device_ids', RULES.schema, `device id '${deviceId}' (ttn:{application}:{device}) must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric`, deviceId)
  }

  if (topic.event === 'join') {
    const time = resolveTime(doc, undefined, message.receivedAt)
    const detail = JSON.stringify({ dev_eui: endIds.dev_eui, join_eui: endIds.join_eui, dev_addr: endIds.dev_addr })
    const event: DeviceEvent = { deviceId, kind: 'join', at: time.ok ? time.ms : message.receivedAt, topic: message.topic, sourceFormat: TTN_V3_FORMAT, detail }
    return { candidates: [], rejections: [], events: [event], skipped: 'join' }
  }

  if (doc.simulated === true) {
    return fail(deviceId, 'simulated', RULES.simulated, 'console-simulated uplink (The Things Stack Console "Simulate uplink"): not a measurement, kept as a rejection and not stored', true)
  }
  const up = doc.uplink_message
  if (!isObj(up)) return fail(deviceId, 'uplink_message', RULES.schema, 'uplink_message must be an object', up)
  const time = resolveTime(doc, up, message.receivedAt)
  if (!time.ok) return fail(deviceId, time.path, time.rule, time.message, time.value)

  const warnings = Array.isArray(up.decoded_payload_warnings) ? up.decoded_payload_warnings.filter((w): w is string => typeof w === 'string') : []
  const suffix = warnings.length ? ` (decoded_payload_warnings: ${warnings.join('; ')})` : ''
  const result: Required<Pick<DecodeResult, 'candidates' | 'rejections' | 'ignored'>> = { candidates: [], rejections: [], ignored: [] }
  const reject = (path: string, rule: string, why: string, value?: unknown, observedAt = time.ms): Rejection =>
    wholeMessageRejection(message, { deviceId, sourceFormat: TTN_V3_FORMAT, path, rule, message: why + suffix, value, observedAt })
  const versionIds = isObj(up.version_ids) ? up.version_ids : isObj(endIds.version_ids) ? endIds.version_ids : {}
  const sensorModel = text(versionIds.model_id)
  const candidate = (quantity: string, value: unknown, path: string, observedAt: number, source: Candidate['timeSource'], unit?: string): Candidate => ({
    deviceId, quantity, value, ...(unit === undefined ? {} : { unit }), path, observedAt, timeSource: source,
    ...(sensorModel === undefined ? {} : { sensorModel }), sourceFormat: TTN_V3_FORMAT,
  })
  const done = (): DecodeResult => (result.ignored.length ? result : { candidates: result.candidates, rejections: result.rejections })

  const normalized = up.normalized_payload
  const decoded = up.decoded_payload
  if (normalized !== undefined && normalized !== null && !Array.isArray(normalized)) {
    return { candidates: [], rejections: [reject('normalized_payload', RULES.schema, 'normalized_payload must be an array', normalized)] }
  }
  if (Array.isArray(normalized) && normalized.length > 0) {
    normalized.forEach((entry, i) => {
      const base = `normalized_payload[${i}]`
      if (!isObj(entry)) return void result.rejections.push(reject(base, RULES.schema, 'normalized_payload entry must be an object', entry))
      let at = time.ms
      let source = time.source
      if (entry.time !== undefined && entry.time !== null) {
        const t = typeof entry.time === 'string' ? parseIsoTimestamp(entry.time) : undefined
        if (!t?.ok) return void result.rejections.push(reject(`${base}.time`, t?.rule ?? RULES.schema, `time ${t?.message ?? 'must be an RFC 3339 string'}`, entry.time))
        at = t.ms
        source = 'device'
      }
      for (const [segments, value] of leaves(entry)) {
        const key = segments.join('.')
        if (key === 'time') continue
        const quantity = NORMALIZED.get(key)
        if (quantity !== undefined) result.candidates.push(candidate(quantity, value, `${base}.${key}`, at, source))
        else result.ignored.push({ deviceId, path: `${base}.${key}`, type: valueType(value) })
      }
    })
    if (isObj(decoded)) for (const [segments, value] of leaves(decoded)) result.ignored.push({ deviceId, path: `decoded_payload.${segments.join('.')}`, type: valueType(value) })
    return done()
  }

  if (decoded === undefined || decoded === null) {
    const why = `uplink on f_port ${JSON.stringify(up.f_port)} has no decoded_payload and no normalized_payload (no payload formatter, or it failed); frm_payload is kept in raw`
    return { candidates: [], rejections: [reject('decoded_payload', RULES.noDecodedPayload, why)] }
  }
  if (!isObj(decoded)) return { candidates: [], rejections: [reject('decoded_payload', RULES.schema, 'decoded_payload must be an object', decoded)] }
  const entries = leaves(decoded)
  if (entries.length === 0) return { candidates: [], rejections: [reject('decoded_payload', RULES.noDecodedPayload, 'decoded_payload is empty')] }

  const meanings = entries.map(([segments, value]) => ({ path: `decoded_payload.${segments.join('.')}`, value, meaning: classify(segments) }))
  for (const { path, value, meaning } of meanings) {
    if (meaning.kind === 'metadata') {
      result.ignored.push({ deviceId, path, type: valueType(value) })
    } else if (meaning.kind !== 'quantity') {
      result.rejections.push(reject(path, meaning.kind === 'ambiguous' ? RULES.ambiguous : RULES.unknownQuantity, meaning.why, value))
    } else {
      const same = meanings.filter((m) => m.meaning.kind === 'quantity' && m.meaning.quantity === meaning.quantity && m.path !== path).map((m) => m.path)
      if (same.length) {
        result.rejections.push(reject(path, RULES.ambiguous, `'${path}' and ${same.map((p) => `'${p}'`).join(', ')} all mean ${meaning.quantity}; none is stored because the payload does not say which to trust`, value))
        continue
      }
      const { value: v, unit } = sourceValue(meaning.quantity, value)
      result.candidates.push(candidate(meaning.quantity, v, path, time.ms, time.source, unit))
    }
  }
  return done()
}

/**
 * What one decoded_payload leaf means, from its key path (segments below decoded_payload), in this order:
 * 1. metadata: the last key is a METADATA name or any key has a METADATA_TOKENS token → `ignored`;
 * 2. a temperature/humidity key with a probe token (`TempC_DS18B20`, `TempC_DS`, `ext.temperature`) → `ambiguous`:
 *    the probe may hang in air, soil or water, and the payload does not say;
 * 3. the whole path squashed (`air.temp` → `airtemp`, `water_SOIL` → `watersoil`) in ALIASES, or the last key is
 *    a PM name → that quantity;
 * 4. the last key alone in ALIASES (`bme280.temperature`; Cayenne LPP channel suffixes `temperature_1` too),
 *    unless an enclosing key is a QUALIFIER (`soil.temperature`, `max.temperature`) → that quantity;
 * 5. anything else → `unknown_quantity` (`temp_SOIL` is soil temperature, `co2` is not in the vocabulary).
 * Two keys meaning one quantity (`temp` and `temperature`, two LPP channels) are both `ambiguous` (caller).
 */
export function classify(segments: string[]): Meaning {
  const last = segments[segments.length - 1]!
  const tokens = segments.map(tokenize)
  const all = tokens.flat()
  if (METADATA.has(squash(last)) || all.some((t) => METADATA_TOKENS.has(t))) return { kind: 'metadata' }
  if (all.some((t) => t.startsWith('temp') || t.startsWith('hum') || t === 'rh') && all.some((t) => PROBES.has(t))) {
    return { kind: 'ambiguous', why: `'${segments.join('.')}' is a probe reading whose placement (air, soil, water) the payload does not say` }
  }
  const direct = ALIASES.get(squash(segments.join(''))) ?? pmName(last)
  if (direct !== undefined) return { kind: 'quantity', quantity: direct }
  const lpp = /^(.*[a-z])[ _.-]\d+$/i.exec(last)?.[1]
  const byLast = ALIASES.get(squash(last)) ?? (lpp === undefined ? undefined : ALIASES.get(squash(lpp)))
  if (byLast !== undefined && !tokens.slice(0, -1).flat().some((t) => QUALIFIERS.has(t))) return { kind: 'quantity', quantity: byLast }
  const qualifier = all.find((t) => QUALIFIERS.has(t))
  return { kind: 'unknown', why: `'${segments.join('.')}' does not name a quantity in the vocabulary${qualifier ? ` (qualified by '${qualifier}')` : ''}` }
}

/** Splits `"30.11 °C"` into number and unit; a bare pressure above 2000 is in Pa (research §8.4); else unchanged. */
function sourceValue(quantity: string, value: unknown): { value: unknown; unit?: string } {
  const parsed = parseNumberWithUnit(value)
  if (parsed.ok && parsed.unit !== undefined) return { value: parsed.value, unit: parsed.unit }
  if (quantity === 'air_pressure' && parsed.ok && parsed.value > 2000) return { value, unit: 'Pa' }
  return { value }
}

function pmName(key: string): string | undefined {
  const m = PM_NAME.exec(key)
  return m ? PM_SIZES.get(m[2] === undefined ? m[1]! : `${m[1]}.${m[2]}`) : undefined
}

/** `v3/{app}[@{tenant}]/devices/{device}/{event…}` → app (tenant dropped), device, event (`up`, `down/sent`). */
function parseTopic(topic: string): { app: string; device: string; event: string } | undefined {
  const levels = topic.split('/')
  if (levels.length < 5 || levels[0] !== 'v3' || levels[2] !== 'devices') return undefined
  const app = levels[1]!.split('@')[0]!
  const device = levels[3]!
  return app && device ? { app, device, event: levels.slice(4).join('/') } : undefined
}

/** `received_at`, else `uplink_message.received_at` (RFC 3339, truncated to ms), else the receipt time. */
function resolveTime(doc: Obj, up: Obj | undefined, receivedAt: number): TimeResult {
  const sources: Array<[string, unknown]> = [['received_at', doc.received_at], ['uplink_message.received_at', up?.received_at]]
  for (const [path, value] of sources) {
    if (value === undefined || value === null) continue
    if (typeof value !== 'string') return { ok: false, path, rule: RULES.schema, message: `${path} must be an RFC 3339 string`, value }
    const t = parseIsoTimestamp(value)
    if (!t.ok) return { ok: false, path, rule: t.rule, message: `${path} ${t.message}`, value }
    return { ok: true, ms: t.ms, source: 'device' }
  }
  return { ok: true, ms: receivedAt, source: 'receipt' }
}

/** Leaves of nested objects as [key path, value]; arrays and objects deeper than MAX_DEPTH are leaves. */
function leaves(obj: Obj, prefix: string[] = []): Array<[string[], unknown]> {
  return Object.entries(obj).flatMap(([key, value]): Array<[string[], unknown]> =>
    isObj(value) && prefix.length < MAX_DEPTH ? leaves(value, [...prefix, key]) : [[[...prefix, key], value]],
  )
}

/** `TempC_DS18B20` → temp, c, ds18b20; `airTemp` → air, temp. */
function tokenize(key: string): string[] {
  return key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase().split(/[\s_.-]+/).filter(Boolean)
}

function squash(key: string): string {
  return key.toLowerCase().replace(/[\s_.-]+/g, '')
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

