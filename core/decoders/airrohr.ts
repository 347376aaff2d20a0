import { parseLenientJson } from '../lenient-json.ts'
import { parseNumber } from '../number.ts'
import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, type Rejection } from '../reading.ts'
import { parseIsoTimestamp } from '../time.ts'
import { AUTHENTICATED_DEVICE_HEADER, wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'
import { valueType as jsonValueType } from '../schema-drift.ts'

/**
 * airrohr / sensor.community firmware HTTP pushes (opendata-stuttgart/sensors-software @e43cf8fd
 * `airrohr-firmware.ino`, `ext_def.h`; server side opendata-stuttgart/feinstaub-api `sensors/authentication.py`,
 * `serializers.py`, `settings/base.py`; fixtures in test/fixtures/devices/airrohr/).
 *
 * The ingest's HTTP endpoint hands each POST over as `{ topic: 'http/airrohr', payload: body, headers
 * (lower-case names), receivedAt }`. Body (JSON; every value a STRING from the firmware, numbers from some
 * third-party clients such as Tasmota rules):
 * ```
 * {"esp8266id": "3141592", "software_version": "NRZ-2024-135", "timestamp"?: "2015-04-05 22:10:10+02:00",
 *  "sensordatavalues": [{"value_type": "SDS_P1", "value": "11.83"}, …]}
 * ```
 * Two flavours:
 * - "Send to own API" (custom): all sensors in one body, value types prefixed by sensor (`SDS_P1`,
 *   `BME280_pressure`), `esp8266id` in the body, header `X-Sensor`.
 * - sensor.community push: one body per sensor, prefix stripped (`P1`, `pressure`), header `X-PIN` names the
 *   sensor slot (PIN_MODELS).
 * Headers: device `X-Sensor` (`esp8266-<chipid>` / `esp32-<hexid>`), or `Sensor`, or `Node`; pin `X-PIN` or `Pin`.
 *
 * Decisions:
 * - Device id: `:device` (decoder.ts AUTHENTICATED_DEVICE_HEADER) when the HTTP ingest set it, i.e. the registry
 *   device whose basic-auth credentials the push carried and whose chip id the X-Sensor header named
 *   (services/ingest/http-auth.ts); the X-Sensor / `esp8266id` check below still applies. Without it:
 * - Device id `airrohr-<X-Sensor>` (`airrohr-esp8266-3141592`); without a header `airrohr-esp8266-<esp8266id>`
 *   (an ESP32 without header would get the `esp8266-` prefix: the body does not say which chip it is);
 *   neither → whole rejection `schema`, path `X-Sensor`. Header and `esp8266id` naming different chips →
 *   whole rejection `device_mismatch`.
 * - Time: receipt time, unless the body has the optional `timestamp` the server accepts; then it is parsed
 *   with a zone, and a zone-less one is read as UTC because feinstaub-api runs Django with TIME_ZONE 'UTC',
 *   USE_TZ True (naive datetimes are UTC there). A bad timestamp rejects the whole message.
 * - Values pass through as sent (`'11.83'`, `'nan'`, `8.4`): the validate step parses them.
 * - Units: PM µg/m³, temperature °C, humidity % (canonical, `unit` unset). Prefixed pressures
 *   (`BME280_`/`BMP280_`/`BMP_pressure`) are Pa. Unprefixed `pressure` (push) is Pa from the firmware, but
 *   third-party clients send hPa: a value > 2000 is Pa (`unit: 'Pa'`), ≤ 2000 is hPa (unit unset), one
 *   that is no number is left as Pa (research §8.4; real pressures are 300–1100 hPa = 30 000–110 000 Pa).
 * - P1 is PM10 and P2 is PM2.5 (P0 = PM1, P4 = PM4). Unprefixed P0–P4 are mass only with pin 1: the obsolete
 *   PPD42NS (pin 5, also unprefixed in custom mode) sends particle *counts* under the same names, so
 *   elsewhere they are rejected `unknown_quantity`.
 * - Metadata (`samples`, `min_micro`, `max_micro`, `interval`, `signal`), particle counts (`*_N*`), SPS30 `TS`,
 *   CO2, noise (`DNMS_*`) and GPS (`GPS_*`) are `ignored` (`type` = JSON type of the value). Anything else is
 *   rejected `unknown_quantity` alone; the rest of the message is kept.
 * - sensorModel from the prefix (SENSOR_PREFIXES); for unprefixed types from the pin, which is shared by
 *   several sensors (1: SDS011/PMS/HPM/SPS30/NPM; 3: BMP180/BMP280; 7: DHT22/SHT1x/HTU21D/SHT3X): the
 *   firmware's default sensor for that pin is used (PIN_MODELS), a best-effort label. Unprefixed
 *   `temperature`/`humidity` without pin are the DHT22's.
 */
export const AIRROHR_FORMAT = 'airrohr'
export const AIRROHR_TOPIC = 'http/airrohr'
const SEVEN_DAYS_MS = 7 * 24 * 3_600_000

/** Value-type prefix → sensor model. */
export const SENSOR_PREFIXES: Readonly<Record<string, string>> = {
  SDS: 'SDS011',
  SPS30: 'SPS30',
  PMS: 'PMS',
  HPM: 'HPM',
  NPM: 'NPM',
  BME280: 'BME280',
  BMP280: 'BMP280',
  BMP: 'BMP180',
  SHT3X: 'SHT3X',
  HTU21D: 'HTU21D',
  DS18B20: 'DS18B20',
  SCD30: 'SCD30',
  DNMS: 'DNMS',
  GPS: 'GPS',
}

/** sensor.community push pin → the firmware's default sensor for that pin (pins are shared, see above). */
export const PIN_MODELS: Readonly<Record<string, string>> = {
  '1': 'SDS011',
  '3': 'BMP280',
  '7': 'DHT22',
  '9': 'GPS',
  '11': 'BME280',
  '13': 'DS18B20',
  '15': 'DNMS',
  '17': 'SCD30',
}

/** Particulate fields (after the prefix): P1 is PM10, P2 is PM2.5. */
const PM_FIELDS: Readonly<Record<string, string>> = { P0: 'pm1', P1: 'pm10', P2: 'pm2_5', P4: 'pm4' }
const CLIMATE_FIELDS: Readonly<Record<string, string>> = { temperature: 'air_temperature', humidity: 'relative_humidity', pressure: 'air_pressure' }
const PM_PREFIXES = new Set(['SDS', 'SPS30', 'PMS', 'HPM', 'NPM'])
const PA_PREFIXES = new Set(['BME280', 'BMP280', 'BMP'])
const IGNORED_PREFIXES = new Set(['DNMS', 'GPS'])
const NODE_METADATA = new Set(['samples', 'min_micro', 'max_micro', 'interval', 'signal'])
/** Particle counts (`N05`, `N1`, …), SPS30 typical size, CO2: measured, but not in the vocabulary. */
const IGNORED_FIELD = /^(?:N\d+|TS|co2_ppm)$/

type Mapping =
  | { kind: 'reading'; quantity: string; sensorModel?: string; pa?: 'always' | 'heuristic' }
  | { kind: 'ignored' }
  | { kind: 'unknown'; message: string }

/** What one value_type means, given the pin header (undefined in custom mode). */
export function mapValueType(valueType: string, pin: string | undefined): Mapping {
  if (NODE_METADATA.has(valueType)) return { kind: 'ignored' }
  const cut = valueType.indexOf('_')
  const prefix = cut > 0 ? valueType.slice(0, cut) : undefined
  const model = prefix === undefined ? undefined : SENSOR_PREFIXES[prefix]
  if (prefix !== undefined && model !== undefined) {
    const field = valueType.slice(cut + 1)
    if (IGNORED_PREFIXES.has(prefix) || IGNORED_FIELD.test(field)) return { kind: 'ignored' }
    const quantity = PM_PREFIXES.has(prefix) ? PM_FIELDS[field] : CLIMATE_FIELDS[field]
    if (quantity === undefined) return { kind: 'unknown', message: `'${valueType}' is not a known airrohr value type` }
    return { kind: 'reading', quantity, sensorModel: model, ...(quantity === 'air_pressure' && PA_PREFIXES.has(prefix) ? { pa: 'always' as const } : {}) }
  }
  // unprefixed: sensor.community push (prefix stripped), DHT22 in custom mode, third-party clients
  const pinModel = pin === undefined ? undefined : PIN_MODELS[pin]
  if (pin === '15' || pin === '9') return { kind: 'ignored' }
  if (IGNORED_FIELD.test(valueType)) return { kind: 'ignored' }
  const pm = PM_FIELDS[valueType]
  if (pm !== undefined) {
    if (pin !== '1') {
      return { kind: 'unknown', message: `unprefixed '${valueType}' is a PM mass only with X-PIN 1 (PPD42NS sends particle counts under this name)` }
    }
    return { kind: 'reading', quantity: pm, sensorModel: 'SDS011' }
  }
  const climate = CLIMATE_FIELDS[valueType]
  if (climate === undefined) return { kind: 'unknown', message: `'${valueType}' is not a known airrohr value type` }
  const sensorModel = pinModel ?? (pin === undefined && valueType !== 'pressure' ? 'DHT22' : undefined)
  return { kind: 'reading', quantity: climate, ...(sensorModel === undefined ? {} : { sensorModel }), ...(climate === 'air_pressure' ? { pa: 'heuristic' as const } : {}) }
}

/** Pa or hPa for an unprefixed pressure (research §8.4): above 2000 it can only be Pa. */
export function pressureUnitByMagnitude(value: unknown): 'Pa' | undefined {
  const parsed = parseNumber(value)
  if (!parsed.ok) return 'Pa'
  return parsed.value > 2000 ? 'Pa' : undefined
}

export const createAirrohrDecoder: DecoderFactory = () => airrohrDecoder

const airrohrDecoder: Decoder = {
  format: AIRROHR_FORMAT,
  topicFilters: [AIRROHR_TOPIC],
  maxAgeMs: SEVEN_DAYS_MS,
  decode(message: InboundMessage): DecodeResult {
    const headerDevice = header(message, 'x-sensor', 'sensor', 'node')
    const pin = header(message, 'x-pin', 'pin')
    const authenticated = header(message, AUTHENTICATED_DEVICE_HEADER)
    const ownId = authenticated ?? (headerDevice === undefined ? undefined : `airrohr-${headerDevice}`)
    const knownId = ownId !== undefined && DeviceIdSchema.safeParse(ownId).success ? ownId : undefined
    const reject = (deviceId: string, path: string, rule: string, text: string, value?: unknown): DecodeResult => ({
      candidates: [],
      rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: AIRROHR_FORMAT, path, rule, message: text, value })],
    })
    if (authenticated !== undefined && knownId === undefined) {
      return reject(UNKNOWN_DEVICE, AUTHENTICATED_DEVICE_HEADER, RULES.schema, 'authenticated device id is not a valid device id', authenticated)
    }
    if (headerDevice !== undefined && knownId === undefined) {
      return reject(UNKNOWN_DEVICE, 'X-Sensor', RULES.schema, "'airrohr-' + X-Sensor must be a device id: 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric", headerDevice)
    }

    const parsed = parseLenientJson(message.payload.toString('utf8').replace(/^\uFEFF/, ''))
    if (!parsed.ok) return reject(knownId ?? UNKNOWN_DEVICE, '$', RULES.json, `body is not JSON: ${parsed.message}`)
    const body = asRecord(parsed.value)
    if (body === undefined) return reject(knownId ?? UNKNOWN_DEVICE, '$', RULES.schema, 'body must be a JSON object')

    const chipId = typeof body.esp8266id === 'number' && Number.isSafeInteger(body.esp8266id) ? String(body.esp8266id) : typeof body.esp8266id === 'string' ? body.esp8266id.trim() : undefined
    if (headerDevice !== undefined && knownId !== undefined && chipId !== undefined && chipId !== '') {
      const headerChip = headerDevice!.slice(headerDevice!.indexOf('-') + 1)
      if (headerChip.toLowerCase() !== chipId.toLowerCase()) {
        return reject(knownId, 'esp8266id', RULES.deviceMismatch, `esp8266id '${chipId}' differs from X-Sensor '${headerDevice}'`, body.esp8266id)
      }
    }
    let deviceId = knownId
    if (deviceId === undefined && chipId !== undefined && chipId !== '') {
      const fallback = `airrohr-esp8266-${chipId}`
      if (DeviceIdSchema.safeParse(fallback).success) deviceId = fallback
    }
    if (deviceId === undefined) {
      return reject(UNKNOWN_DEVICE, 'X-Sensor', RULES.schema, 'no X-Sensor (or Sensor / Node) header and no usable esp8266id: device unknown', body.esp8266id)
    }

    const values = body.sensordatavalues
    if (!Array.isArray(values)) return reject(deviceId, 'sensordatavalues', RULES.schema, 'sensordatavalues must be an array', values)

    let observedAt = message.receivedAt
    let timeSource: Candidate['timeSource'] = 'receipt'
    if (body.timestamp !== undefined && body.timestamp !== null) {
      if (typeof body.timestamp !== 'string') return reject(deviceId, 'timestamp', RULES.schema, 'timestamp must be a string such as 2015-04-05 22:10:10+02:00', body.timestamp)
      const time = parseIsoTimestamp(body.timestamp, { assumeZone: 'UTC' })
      if (!time.ok) return reject(deviceId, 'timestamp', time.rule, `timestamp ${time.message}`, body.timestamp)
      observedAt = time.ms
      timeSource = 'device'
    }

    const candidates: Candidate[] = []
    const rejections: Rejection[] = []
    const ignored: NonNullable<DecodeResult['ignored']> = []
    values.forEach((entry, index) => {
      const item = asRecord(entry)
      const valueType = item?.value_type
      if (item === undefined || typeof valueType !== 'string' || valueType === '') {
        rejections.push(wholeMessageRejection(message, {
          deviceId, sourceFormat: AIRROHR_FORMAT, path: `sensordatavalues[${index}]`, rule: RULES.schema,
          message: 'entry must be an object with a non-empty string value_type', value: entry, observedAt,
        }))
        return
      }
      const value = item.value
      const mapping = mapValueType(valueType, pin)
      if (mapping.kind === 'ignored') {
        ignored.push({ deviceId, path: valueType, type: jsonValueType(value) })
      } else if (mapping.kind === 'unknown') {
        rejections.push(wholeMessageRejection(message, {
          deviceId, sourceFormat: AIRROHR_FORMAT, path: valueType, rule: RULES.unknownQuantity, message: mapping.message, value, observedAt,
        }))
      } else {
        const unit = mapping.pa === 'always' ? 'Pa' : mapping.pa === 'heuristic' ? pressureUnitByMagnitude(value) : undefined
        // Two sensors of one quantity on a node (BME280 and SHT3X temperature) would be one InfluxDB point:
        // the first keeps the node's id, a later one becomes the sub-device `<node>.<model>` (as Tasmota does).
        const taken = candidates.some((c) => c.quantity === mapping.quantity && c.deviceId === deviceId)
        const sub = `${deviceId}.${(mapping.sensorModel ?? valueType).toLowerCase()}`
        candidates.push({
          deviceId: taken && DeviceIdSchema.safeParse(sub).success ? sub : deviceId,
          quantity: mapping.quantity,
          value,
          ...(unit === undefined ? {} : { unit }),
          path: valueType,
          observedAt,
          timeSource,
          ...(mapping.sensorModel === undefined ? {} : { sensorModel: mapping.sensorModel }),
          sourceFormat: AIRROHR_FORMAT,
        })
      }
    })
    const result: DecodeResult = { candidates, rejections }
    if (ignored.length > 0) result.ignored = ignored
    if (values.length === 0) result.skipped = 'empty sensordatavalues'
    return result
  },
}

/** First present header among `names` (lower-case), looked up case-insensitively, trimmed; '' counts as absent. */
function header(message: InboundMessage, ...names: string[]): string | undefined {
  const headers = message.headers
  if (!headers) return undefined
  for (const name of names) {
    let value = headers[name]
    if (value === undefined) {
      for (const [key, v] of Object.entries(headers)) if (key.toLowerCase() === name && v !== undefined) value = v
    }
    if (typeof value === 'string' && value.trim() !== '') return value.trim()
  }
  return undefined
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

