import { parseLenientJson } from '../lenient-json.ts'
import { parseNumber } from '../number.ts'
import type { Quantity } from '../quantities.ts'
import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, isDeviceId, rawText, type DeviceEvent, type Rejection } from '../reading.ts'
import { valueType } from '../schema-drift.ts'
import { parseLocalTimestamp } from '../time.ts'
import { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'

/**
 * Tasmota firmware over MQTT (sources: tasmota/docs @9849ab94 MQTT.md, BME280.md, SDS011.md, DS18x20.md,
 * AM2301.md, AHT1x.md, HRG15.md, JSON-Status-Responses.md, Commands.md; arendst/Tasmota #4147,
 * ioBroker.sonoff #65, homebridge-mqttthing #613; fixtures in test/fixtures/devices/tasmota/).
 *
 * Topics (default FullTopic `%prefix%/%topic%/`), `<topic>` being the device's Topic setting:
 * - `tele/<topic>/SENSOR`: every TelePeriod, body
 *   `{"Time":"2019-11-03T19:34:28","BME280":{"Temperature":21.7,"Humidity":66.6,"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}`.
 * - `stat/<topic>/STATUS8`: reply to `Status 8`, the same body wrapped in `{"StatusSNS":{…}}`; unwrapped here.
 * - `tele/<topic>/LWT`: `Online` / `Offline` (retained; `Offline` is the broker-published last will) →
 *   DeviceEvent `online` / `offline` at receipt time, detail `{}` or `{"retain":true}`, `skipped: 'lwt'`.
 *
 * Device id: `tasmota-<topic>` (availability; its sensors are sub-devices, below) with the topic level lowercased; a level that makes no valid DeviceId
 * (core/reading.ts) rejects the whole message (`schema`, path `topic`).
 *
 * Time: `Time` is device-local wall time without an offset (SetOption52 1 appends one, e.g. `+02:00`), read in
 * `settings.deviceTimeZone` with DST via parseLocalTimestamp; a non-existent (spring-forward) or malformed
 * time rejects the whole message (`time_zone` / `schema`, path `Time`). No `Time` → receipt time,
 * timeSource `receipt` — except on a retained message, which is then skipped: its age is unknown and every
 * reconnect would store it again at a new time. A retained SENSOR with `Time` (SensorRetain 1) is decoded
 * normally: it carries its own time, so a redelivery overwrites the same InfluxDB point.
 *
 * Sensor objects: a top-level value that is a JSON object, whose key is not a known non-sensor key
 * (`ESP32`/`ESP8266` hold the chip's die temperature, not air), and whose keys include at least one known
 * measurement field (mapped below, vocabulary-less, a PMS5003 count, or a field of its driver such as RG-15
 * `Active`). Anything else at top level (`Time`, `TempUnit`, `PressureUnit`, `Switch1`, `ENERGY`, …) is not a
 * sensor and is not reported. A message without sensor objects yields `skipped: 'no sensor data'`.
 * Key = driver name, optionally with an index suffix: `DS18B20-1`, `SI7021-02`, `AHT1X-0x38`, `DS18B20_1`
 * (SetOption64 switches `-` to `_`). `sensorModel` is the driver name without the suffix (`RG-15` is a name).
 *
 * Sub-devices: every sensor object is its own device `<base>.<key lowercased>` (`tasmota-shed.bme280`,
 * `tasmota-shed.si7021-04`, `tasmota-garden.aht1x-0x38`), whatever else the message holds. InfluxDB keys a point by
 * device + quantity + time, so two sensors of one quantity in one message must not share a device id; and a
 * physical sensor must keep one id, so its series never mixes with another sensor's. (The earlier rule gave the
 * first unsuffixed sensor `<base>` and a later one of the same quantity a sub-device: a BME280 hopped between
 * `tasmota-X` and `tasmota-X.bme280` as an AM2301 beside it came and went; issue 10.) `<base>` itself keeps the
 * availability events (LWT). Store queries for `<base>` include its sub-devices (core/store/schema.ts
 * deviceAndSubDevices). A sub-device id that is no valid DeviceId (over 100 chars, odd characters) rejects that
 * sensor (`schema`).
 * Fields of a sensor object, each exactly one of:
 * - a candidate: `Temperature` → air_temperature (unit `°F` when TempUnit is F; C or absent → canonical °C),
 *   `Humidity` → relative_humidity (%), `Pressure` → air_pressure (station level, in PressureUnit: hPa
 *   canonical, `mmHg`/`inHg` passed on as unit), `PM1`/`PM2.5`/`PM10` → pm1/pm2_5/pm10 (µg/m³; SDS0X1,
 *   PMS5003), RG-15 `Active` → precipitation (mm since the last report). Values are passed on as sent (a dead
 *   sensor's bare `nan` becomes the string `"nan"` via parseLenientJson and is rejected `not_finite` by the
 *   validate step, the other sensors of the message survive). Units are not converted here (core/units.ts).
 * - `ignored` ({deviceId, path `BME280.DewPoint`, type = core/schema-drift.ts valueType, so a dead
 *   sensor's `"nan"` keeps its key's type}): `DewPoint`, `SeaPressure` (sea-level,
 *   not station pressure, only with Altitude set), `Id`, `Model`, PMS5003 counts `CF*`/`PB*`, RG-15
 *   `Event`/`Total`/`FlowRate`, and measurements outside the vocabulary (`Illuminance`, `CarbonDioxide`, …).
 * - a rejection `unknown_quantity`: any other field, so nothing is dropped silently.
 * Paths are relative to the sensor body (inside `StatusSNS` for STATUS8), so a Status 8 reply and a tele
 * report of one device give the same paths.
 */
export const TASMOTA_FORMAT = 'tasmota'

/** Live devices only: a Tasmota clock more than 7 days behind receipt is broken (no NTP), `time_past`. */
const MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000

const FIELD_QUANTITIES = new Map<string, Quantity>([
  ['Temperature', 'air_temperature'],
  ['Humidity', 'relative_humidity'],
  ['Pressure', 'air_pressure'],
  ['PM1', 'pm1'],
  ['PM2.5', 'pm2_5'],
  ['PM10', 'pm10'],
])

/** Fields only one driver uses, keyed by driver name. */
const DRIVER_FIELDS = new Map<string, { quantities: Map<string, Quantity>; ignored: Set<string> }>([
  ['RG-15', { quantities: new Map([['Active', 'precipitation']]), ignored: new Set(['Event', 'Total', 'FlowRate']) }],
])

/** Known Tasmota measurement fields we do not store: derived, sea-level, or not in core/quantities.ts. */
const VOCABULARY_LESS = new Set(['DewPoint', 'SeaPressure', 'Illuminance', 'CarbonDioxide', 'eCO2', 'TVOC', 'Gas', 'Distance', 'UvLevel', 'UvIndex', 'UvPower'])

/** PMS5003 `CF1`, `CF2.5`, `CF10` (µg/m³ at factory conditions) and `PB0.3` … `PB10` (particle counts per 0.1 L). */
const PARTICLE_COUNT = /^(?:CF|PB)\d+(?:\.\d+)?$/

/** Sensor metadata, not measurements (DS18B20 `Id` = 1-Wire address, MHZ19B `Model`). */
const METADATA = new Set(['Id', 'Model'])

/** Top-level objects that look like sensors but are not air sensors (ESP32 chip temperature). */
const NOT_SENSORS = new Set(['ESP32', 'ESP8266'])

/** Driver names that end like an index suffix themselves. */
const SUFFIX_LIKE_NAMES = new Set(['rg-15'])

/** `-1`, `_02`, `-0x38` at the end of a sensor key. */
const INDEX_SUFFIX = /^(.+?)[-_](\d+|0x[0-9A-Fa-f]+)$/

const TOPIC = /^(?:tele\/([^/]*)\/(SENSOR|LWT)|stat\/([^/]*)\/(STATUS8))$/

export const createTasmotaDecoder: DecoderFactory = (settings) => ({
  format: TASMOTA_FORMAT,
  topicFilters: ['tele/+/SENSOR', 'tele/+/LWT', 'stat/+/STATUS8'],
  maxAgeMs: MAX_AGE_MS,
  decode: (message) => decodeTasmota(message, settings.deviceTimeZone),
})

function decodeTasmota(message: InboundMessage, zone: string): DecodeResult {
  const topic = TOPIC.exec(message.topic)
  const reject = (deviceId: string, path: string, rule: string, text: string, value?: unknown): DecodeResult => ({
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: TASMOTA_FORMAT, path, rule, message: text, value })],
  })
  if (!topic) {
    return reject(UNKNOWN_DEVICE, 'topic', RULES.schema, 'topic must be tele/<topic>/SENSOR, tele/<topic>/LWT or stat/<topic>/STATUS8', message.topic)
  }
  const level = topic[1] ?? topic[3]!
  const kind = topic[2] ?? topic[4]!
  const deviceId = `tasmota-${level.toLowerCase()}`
  if (level === '' || !DeviceIdSchema.safeParse(deviceId).success) {
    return reject(UNKNOWN_DEVICE, 'topic', RULES.schema, `topic level '${level}' gives no valid device id (tasmota-<topic>: 1-100 chars of [A-Za-z0-9_.:-])`, level)
  }
  if (kind === 'LWT') return decodeLwt(message, deviceId, reject)

  const json = parseLenientJson(message.payload.toString('utf8'))
  if (!json.ok) return reject(deviceId, '$', RULES.json, `payload is not JSON: ${json.message}`)
  let body = json.value
  if (kind === 'STATUS8') {
    if (!isObject(body) || !isObject(body.StatusSNS)) return reject(deviceId, 'StatusSNS', RULES.schema, 'STATUS8 reply must be {"StatusSNS":{…}}')
    body = body.StatusSNS
  }
  if (!isObject(body)) return reject(deviceId, '$', RULES.schema, 'SENSOR payload must be a JSON object')

  let observedAt = message.receivedAt
  let timeSource: Candidate['timeSource'] = 'receipt'
  if (body.Time !== undefined) {
    if (typeof body.Time !== 'string') return reject(deviceId, 'Time', RULES.schema, 'Time must be a string such as 2024-03-10T14:05:00', body.Time)
    const time = parseLocalTimestamp(body.Time, zone)
    if (!time.ok) return reject(deviceId, 'Time', time.rule, `Time ${time.message}`, body.Time)
    observedAt = time.ms
    timeSource = 'device'
  } else if (message.retain === true) {
    return { candidates: [], rejections: [], skipped: 'retained without Time' }
  }

  const sensors = Object.entries(body).filter(([key, value]) => isSensor(key, value)) as Array<[string, Record<string, unknown>]>
  if (sensors.length === 0) return { candidates: [], rejections: [], ignored: [], skipped: 'no sensor data' }

  const units = { temperature: temperatureUnit(body.TempUnit), pressure: pressureUnit(body.PressureUnit) }
  const result: Required<Pick<DecodeResult, 'candidates' | 'rejections' | 'ignored'>> = { candidates: [], rejections: [], ignored: [] }
  const fieldRejection = (device: string, path: string, rule: string, text: string, value: unknown): Rejection => ({
    deviceId: device,
    topic: message.topic,
    sourceFormat: TASMOTA_FORMAT,
    receivedAt: message.receivedAt,
    observedAt,
    path,
    rule,
    message: text,
    ...(value === undefined ? {} : { value }),
    raw: rawText(message.payload),
  })

  for (const [key, fields] of sensors) {
    const { model } = splitKey(key)
    const sensorDevice = `${deviceId}.${key.toLowerCase()}`
    // an empty driver name (key `""` or `-1`, found by test/fuzz) would give a reading without a sensor model
    if (model === '' || !isDeviceId(sensorDevice)) {
      result.rejections.push(fieldRejection(deviceId, key, RULES.schema, `sensor key '${key}' gives no sensor model and valid device id '${sensorDevice}'`, undefined))
      continue
    }
    for (const [field, value] of Object.entries(fields)) {
      const path = `${key}.${field}`
      const quantity = quantityOf(model, field)
      if (quantity !== undefined) {
        const unit = quantity === 'air_temperature' ? units.temperature : quantity === 'air_pressure' ? units.pressure : undefined
        result.candidates.push({
          deviceId: sensorDevice,
          quantity,
          value,
          ...(unit === undefined ? {} : { unit }),
          path,
          observedAt,
          timeSource,
          sensorModel: model,
          sourceFormat: TASMOTA_FORMAT,
        })
      } else if (isIgnored(model, field)) {
        result.ignored.push({ deviceId: sensorDevice, path, type: valueType(value) })
      } else {
        const what = isNumeric(value) ? 'numeric field' : `${jsonType(value)} field`
        result.rejections.push(fieldRejection(sensorDevice, path, RULES.unknownQuantity, `${what} '${field}' of ${model} has no quantity in the vocabulary`, value))
      }
    }
  }
  return result
}

function decodeLwt(message: InboundMessage, deviceId: string, reject: (deviceId: string, path: string, rule: string, text: string, value?: unknown) => DecodeResult): DecodeResult {
  const text = message.payload.toString('utf8').trim()
  // An empty retained payload is how a retained LWT is cleared on the broker: nothing happened to the device.
  if (text === '') return { candidates: [], rejections: [], skipped: 'lwt' }
  const kind = text.toLowerCase() === 'online' ? 'online' : text.toLowerCase() === 'offline' ? 'offline' : undefined
  if (kind === undefined) return reject(deviceId, '$', RULES.schema, 'LWT payload must be Online or Offline', text)
  const event: DeviceEvent = {
    deviceId,
    kind,
    at: message.receivedAt,
    topic: message.topic,
    sourceFormat: TASMOTA_FORMAT,
    detail: message.retain === true ? '{"retain":true}' : '{}',
  }
  return { candidates: [], rejections: [], events: [event], skipped: 'lwt' }
}

/** Driver name and whether the key carried an index suffix (`SI7021-02` → SI7021, true). */
export function splitKey(key: string): { model: string; indexed: boolean } {
  if (SUFFIX_LIKE_NAMES.has(key.toLowerCase())) return { model: key, indexed: false }
  const m = INDEX_SUFFIX.exec(key)
  return m ? { model: m[1]!, indexed: true } : { model: key, indexed: false }
}

function quantityOf(model: string, field: string): Quantity | undefined {
  return DRIVER_FIELDS.get(model.toUpperCase())?.quantities.get(field) ?? FIELD_QUANTITIES.get(field)
}

function isIgnored(model: string, field: string): boolean {
  return (
    VOCABULARY_LESS.has(field) || METADATA.has(field) || PARTICLE_COUNT.test(field) || (DRIVER_FIELDS.get(model.toUpperCase())?.ignored.has(field) ?? false)
  )
}

function isSensor(key: string, value: unknown): boolean {
  if (!isObject(value) || NOT_SENSORS.has(key)) return false
  const { model } = splitKey(key)
  return Object.keys(value).some((field) => quantityOf(model, field) !== undefined || (isIgnored(model, field) && !METADATA.has(field)))
}

/** `F` → `°F`; `C` or absent → undefined (canonical); anything else passed on for the validate step to refuse. */
function temperatureUnit(tempUnit: unknown): string | undefined {
  if (tempUnit === undefined || tempUnit === 'C') return undefined
  if (tempUnit === 'F') return '°F'
  return typeof tempUnit === 'string' ? tempUnit : JSON.stringify(tempUnit)
}

/** `hPa` or absent → undefined (canonical); `mmHg`, `inHg` (or anything else) passed on as the source unit. */
function pressureUnit(pressureUnit: unknown): string | undefined {
  if (pressureUnit === undefined || pressureUnit === 'hPa') return undefined
  return typeof pressureUnit === 'string' ? pressureUnit : JSON.stringify(pressureUnit)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function isNumeric(value: unknown): boolean {
  if (typeof value === 'number') return true
  const parsed = parseNumber(value)
  return parsed.ok || parsed.rule === 'not_finite'
}

function jsonType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
}
