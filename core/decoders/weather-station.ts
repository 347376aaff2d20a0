import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, type Rejection } from '../reading.ts'
import { valueType } from '../schema-drift.ts'
import { parseIsoTimestamp } from '../time.ts'
import { AUTHENTICATED_DEVICE_HEADER, isSecretName, wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'

/**
 * Consumer weather-station uploads over HTTP, three dialects of one URL-encoded key=value format:
 * - Met Office WOW automatic upload, GET `/automaticreading` (https://wow.metoffice.gov.uk/support/dataformats):
 *   `siteid`, `siteAuthenticationKey`, `softwaretype`, `dateutc`, WU-style measurement keys. WOW-NL shows this network.
 * - Weather Underground PWS protocol, GET `/weatherstation/updateweatherstation.php`
 *   (http://wiki.wunderground.com/index.php/PWS_-_Upload_Protocol): `ID`, `PASSWORD`, `action=updateraw`, `dateutc`, …
 * - Ecowitt gateway "Customized" upload with protocol Ecowitt, POST `/data/report/`, body
 *   application/x-www-form-urlencoded (field names from a GW1100B report): `PASSKEY`, `stationtype`, `dateutc`, …
 * Fixtures and sources: test/fixtures/devices/wow-wu-ecowitt/ (SOURCES.md).
 *
 * Message from the ingest's HTTP endpoint: `{ topic: 'http/weather-station', payload: <query string (GET) or body
 * (POST) as bytes, secrets already replaced by `***`>, headers: lower-case names plus `:path` (request path without
 * query) and `:device` (decoder.ts AUTHENTICATED_DEVICE_HEADER: the registry device the upload authenticated as,
 * services/ingest/http-auth.ts) }`. Without `:device` (decoder tests, replays) the upload's own identity is used,
 * and for Ecowitt the header `x-senshagen-passkey-sha256` (hex SHA-256 of the original PASSKEY). Payload shape,
 * every value a string:
 * ```
 * ID=ISENSH1&PASSWORD=***&action=updateraw&dateutc=2024-01-15+10%3A28%3A30&tempf=47.2&humidity=81&windspeedmph=6.9…
 * ```
 *
 * Decisions:
 * - Device: the authenticated `:device` when set (the HTTP ingest always sets it; the parameters below were
 *   checked against it there). Otherwise, as follows.
 * - Dialect from `:path` (trailing `/` and case ignored). Without a known path (replays, new routes) it is
 *   inferred from the parameters: `siteid` → WOW, else `ID` → WU, else `PASSKEY` or the passkey header → Ecowitt.
 * - Device: WOW `wow-<siteid>`, WU `wu-<ID lower-cased>` (WU station ids are case-insensitive), Ecowitt
 *   `ecowitt-<first 12 hex of the PASSKEY's SHA-256>` (the PASSKEY itself never reaches us: it is a credential for
 *   ecowitt.net; 48 bits of hash keep devices apart). Missing or not a valid device id → whole rejection `schema`
 *   whose `path` names the missing parameter (`siteid`, `ID`, `PASSKEY`, or the header when it is malformed).
 * - Parameter names are matched trimmed and case-insensitively (WU sends `UV`, Ecowitt `uv`); `path` keeps the
 *   name as sent. A name sent twice with different values: whole rejection `schema` for identity and `dateutc`,
 *   otherwise a `schema` rejection of that name alone (which value is right cannot be told).
 * - Time: `dateutc` is `YYYY-MM-DD HH:MM:SS` in UTC (URL-encoded `+`, `%3A`), parsed with assumeZone 'UTC'
 *   (timeSource 'device'). `now`, empty or absent (the WU protocol lets a station without clock omit it) → receipt
 *   time (timeSource 'receipt'). Anything else rejects the whole message (`schema`, path `dateutc`).
 * - sensorModel: `stationtype` (Ecowitt `GW1100B_V2.3.2`), else `softwaretype` (`EasyWeatherV1.6.6`), as sent.
 * - Values pass through as the strings sent; `unit` is the source unit, converted by the validate step
 *   (core/units.ts). Mapped keys (MEASUREMENTS): tempf °F → air_temperature; humidity % → relative_humidity;
 *   windspeedmph mph → wind_speed (instantaneous); winddir degree → wind_from_direction; baromabsin inHg →
 *   air_pressure (absolute = station level); pm25_ch1 µg/m³ → pm2_5 (Ecowitt PM2.5 channel 1).
 * - `ignored` (IGNORED_KEYS, IGNORED_PATTERNS), `type` from core/schema-drift.ts valueType():
 *   - protocol, identity and credential keys (`ID`, `siteid`, `PASSWORD`, `PASSKEY`, `dateutc`, `stationtype`, …):
 *     used above or secret, never a measurement; no value of them is copied anywhere (any name decoder.ts isSecretName
 *     calls a credential, `PASSWORD%00` or `token` alike, is ignored this way);
 *   - `baromin` (WU/WOW) and `baromrelin` (Ecowitt) are pressures reduced to SEA LEVEL by the station with a
 *     user-set altitude offset; air_pressure is station-level pressure, and the offset is not sent, so they
 *     cannot be converted back;
 *   - rain: `rainin` is WU/WOW "rain inches over the past hour", a rolling 60-minute total re-sent on every upload
 *     (every 16 s – 5 min), and daily/event/hourly/weekly/monthly/yearly/total are running totals reset at local
 *     midnight, week or year. precipitation is the amount in one reading's interval, which one report cannot
 *     give (it needs the previous total and the reset times), so none of them is stored; `rainratein` is a rate;
 *   - derived or out-of-vocabulary values: dew point, wind chill, gusts and averaged wind, solar radiation, UV,
 *     weather/clouds text, visibility, indoor temperature/humidity, soil temperature, soil moisture and leaf
 *     wetness (WU's `%` is not defined as volumetric, soil_moisture is), extra outdoor sensors `temp2f`…,
 *     `pm25_avg_24h_ch1`, batteries (`wh65batt`, `pm25batt1`, any `…batt<n>`), `runtime`, `heap`, `freq`, `model`.
 * - Any other key: rejection `unknown_quantity` with path = the key (never silently dropped), the rest is kept.
 * - Defence in depth: if the payload still holds a secret value, the decoder's own rejections carry the redacted
 *   text as `raw` (rejections of the validate step use the message as given: the HTTP layer must redact).
 */
export const WEATHER_STATION_FORMAT = 'weather-station'
export const WEATHER_STATION_TOPIC = 'http/weather-station'
/** Header the HTTP layer sets for Ecowitt uploads: hex SHA-256 of the original PASSKEY value. */
export const PASSKEY_SHA256_HEADER = 'x-senshagen-passkey-sha256'
const SEVEN_DAYS_MS = 7 * 24 * 3_600_000

type Dialect = 'wow' | 'wu' | 'ecowitt'

/** Request paths (normalised: lower case, no trailing `/`) → dialect. */
export const DIALECT_BY_PATH: Readonly<Record<string, Dialect>> = {
  '/automaticreading': 'wow',
  '/weatherstation/updateweatherstation.php': 'wu',
  '/data/report': 'ecowitt',
}

/** Normalised parameter name → quantity and source unit (unset = canonical unit). */
export const MEASUREMENTS: Readonly<Record<string, { quantity: string; unit?: string }>> = {
  tempf: { quantity: 'air_temperature', unit: '°F' },
  humidity: { quantity: 'relative_humidity' },
  windspeedmph: { quantity: 'wind_speed', unit: 'mph' },
  winddir: { quantity: 'wind_from_direction' },
  baromabsin: { quantity: 'air_pressure', unit: 'inHg' },
  pm25_ch1: { quantity: 'pm2_5' },
}

/** Normalised parameter names that are known and deliberately not stored (reasons in the file docstring). */
export const IGNORED_KEYS: ReadonlySet<string> = new Set([
  // protocol, identity, credentials, station metadata
  'id', 'password', 'siteid', 'siteauthenticationkey', 'passkey', 'mac', 'action', 'dateutc', 'stationtype',
  'softwaretype', 'model', 'freq', 'runtime', 'heap', 'realtime', 'rtfreq',
  // sea-level pressures
  'baromin', 'baromrelin',
  // rolling / cumulative rain totals and the rain rate
  'rainin', 'dailyrainin', 'eventrainin', 'hourlyrainin', 'weeklyrainin', 'monthlyrainin', 'yearlyrainin',
  'totalrainin', 'rainratein',
  // derived or outside the vocabulary
  'dewptf', 'windchillf', 'windgustmph', 'maxdailygust', 'windgustdir', 'windspdmph_avg2m', 'winddir_avg2m',
  'windgustmph_10m', 'windgustdir_10m', 'solarradiation', 'uv', 'weather', 'clouds', 'visibility',
  'tempinf', 'humidityin', 'indoortempf', 'indoorhumidity', 'pm25_avg_24h_ch1',
])

/** Families of ignored names: soil sensors 1–n, extra outdoor temperatures, leaf wetness, batteries. */
const IGNORED_PATTERNS: readonly RegExp[] = [/^soiltemp\d*f$/, /^soilmoisture\d*$/, /^leafwetness\d*$/, /^temp\d+f$/, /^[a-z0-9_]*batt\d*$/]

/** How a parameter name is compared: trimmed, lower case. Used by the decoder and by the redaction alike. */
export function normaliseParameterName(name: string): string {
  return name.trim().toLowerCase()
}

/**
 * Replaces the values of `PASSWORD` (WU), `siteAuthenticationKey` (WOW), `PASSKEY` (Ecowitt) and any other
 * credential name (decoder.ts isSecretName: percent-decoded, any case, punctuation and control characters such as
 * `PASSWORD%00` ignored) by `***`; everything else is left byte for byte.
 * `ID=X&PASSWORD=s3cret&tempf=47.2` → `ID=X&PASSWORD=***&tempf=47.2`. Tokenised like URLSearchParams (pairs split
 * at `&`, name and value at the first `=`), so whatever the decoder reads as a secret is redacted.
 */
export function redactWeatherStationSecrets(params: string): string {
  return params
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return pair
      const rawName = pair.slice(0, eq)
      return isSecretName(decodeName(rawName)) ? `${rawName}=***` : pair
    })
    .join('&')
}

/** A parameter name percent-decoded exactly as URLSearchParams does it (`+` is a space, bad escapes kept). */
function decodeName(rawName: string): string {
  for (const [name] of new URLSearchParams(`${rawName}=`)) return name
  return rawName
}

/** All values of one normalised name, in order; `key` is the name as first sent. */
interface Parameter {
  key: string
  name: string
  values: string[]
}

/** The parameters of a payload, grouped by normalised name in order of first appearance. */
export function parseParameters(text: string): Parameter[] {
  const byName = new Map<string, Parameter>()
  for (const [key, value] of new URLSearchParams(text)) {
    const name = normaliseParameterName(key)
    const found = byName.get(name)
    if (found) found.values.push(value)
    else byName.set(name, { key, name, values: [value] })
  }
  return [...byName.values()]
}

const distinct = (p: Parameter): boolean => new Set(p.values).size > 1

export const createWeatherStationDecoder: DecoderFactory = () => weatherStationDecoder

const weatherStationDecoder: Decoder = {
  format: WEATHER_STATION_FORMAT,
  topicFilters: [WEATHER_STATION_TOPIC],
  maxAgeMs: SEVEN_DAYS_MS,
  decode(message: InboundMessage): DecodeResult {
    const text = message.payload.toString('utf8').replace(/^\uFEFF/, '').trim()
    const redacted = redactWeatherStationSecrets(text)
    // rejections made here never carry a secret, even if the HTTP layer forgot to redact
    const safe: InboundMessage = redacted === text ? message : { ...message, payload: Buffer.from(redacted, 'utf8') }
    const params = parseParameters(redacted)
    const get = (name: string): Parameter | undefined => params.find((p) => p.name === name)
    const reject = (deviceId: string, path: string, rule: string, why: string, value?: unknown, observedAt?: number): DecodeResult => ({
      candidates: [],
      rejections: [wholeMessageRejection(safe, { deviceId, sourceFormat: WEATHER_STATION_FORMAT, path, rule, message: why, value, observedAt })],
    })

    const identity = authenticatedDevice(message) ?? identifyUpload(message, get)
    if (!identity.ok) return reject(UNKNOWN_DEVICE, identity.path, RULES.schema, identity.message, identity.value)
    const deviceId = identity.deviceId

    let observedAt = message.receivedAt
    let timeSource: Candidate['timeSource'] = 'receipt'
    const dateutc = get('dateutc')
    if (dateutc !== undefined) {
      if (distinct(dateutc)) return reject(deviceId, dateutc.key, RULES.schema, 'dateutc sent more than once with different values', dateutc.values)
      const sent = dateutc.values[0]!.trim()
      if (sent !== '' && sent.toLowerCase() !== 'now') {
        const time = parseIsoTimestamp(sent, { assumeZone: 'UTC' })
        if (!time.ok) return reject(deviceId, dateutc.key, time.rule, `dateutc must be YYYY-MM-DD HH:MM:SS in UTC or 'now': ${time.message}`, sent)
        observedAt = time.ms
        timeSource = 'device'
      }
    }
    const model = [get('stationtype'), get('softwaretype')].map((p) => p?.values[0]?.trim()).find((v) => v !== undefined && v !== '')

    const candidates: Candidate[] = []
    const rejections: Rejection[] = []
    const ignored: NonNullable<DecodeResult['ignored']> = []
    const refuse = (key: string, rule: string, why: string, value: unknown): void => {
      rejections.push(wholeMessageRejection(safe, { deviceId, sourceFormat: WEATHER_STATION_FORMAT, path: key, rule, message: why, value, observedAt }))
    }
    for (const p of params) {
      const value = p.values[0]!
      if (isSecretName(p.key)) {
        ignored.push({ deviceId, path: p.key, type: valueType(value) })
        continue
      }
      if (distinct(p)) {
        refuse(p.key, RULES.schema, `'${p.key}' sent ${p.values.length} times with different values`, p.values)
        continue
      }
      const measurement = Object.hasOwn(MEASUREMENTS, p.name) ? MEASUREMENTS[p.name] : undefined
      if (measurement !== undefined) {
        candidates.push({
          deviceId,
          quantity: measurement.quantity,
          value,
          ...(measurement.unit === undefined ? {} : { unit: measurement.unit }),
          path: p.key,
          observedAt,
          timeSource,
          ...(model === undefined ? {} : { sensorModel: model }),
          sourceFormat: WEATHER_STATION_FORMAT,
        })
      } else if (IGNORED_KEYS.has(p.name) || IGNORED_PATTERNS.some((re) => re.test(p.name))) {
        ignored.push({ deviceId, path: p.key, type: valueType(value) })
      } else {
        refuse(p.key, RULES.unknownQuantity, p.key.trim() === '' ? 'parameter without a name' : `'${p.key}' is not a known WOW / WU / Ecowitt parameter`, value)
      }
    }
    const result: DecodeResult = { candidates, rejections }
    if (ignored.length > 0) result.ignored = ignored
    if (params.length === 0) result.skipped = 'upload without parameters'
    return result
  },
}

/** The registry device the HTTP layer authenticated (AUTHENTICATED_DEVICE_HEADER), if it set one. */
function authenticatedDevice(message: InboundMessage): Identity | undefined {
  const id = header(message, AUTHENTICATED_DEVICE_HEADER)
  if (id === undefined) return undefined
  if (!DeviceIdSchema.safeParse(id).success) return { ok: false, path: AUTHENTICATED_DEVICE_HEADER, message: 'authenticated device id is not a valid device id', value: id }
  return { ok: true, deviceId: id }
}

/** The device an upload names itself (no authenticated device): dialect from the path or the parameters, then its identity. */
function identifyUpload(message: InboundMessage, get: (name: string) => Parameter | undefined): Identity {
  const path = header(message, ':path')
  const dialect = dialectOf(path, get, header(message, PASSKEY_SHA256_HEADER) !== undefined)
  if (dialect === undefined) {
    return {
      ok: false, path: '$',
      message: `cannot tell the upload protocol: path ${path === undefined ? '(none)' : `'${path}'`} is not /automaticreading, /weatherstation/updateweatherstation.php or /data/report/, and there is no siteid (WOW), ID (WU) or PASSKEY (Ecowitt) parameter: device unknown`,
    }
  }
  return identify(dialect, get, header(message, PASSKEY_SHA256_HEADER))
}

function dialectOf(path: string | undefined, get: (name: string) => Parameter | undefined, hasPasskeyHeader: boolean): Dialect | undefined {
  const normalised = path?.toLowerCase().replace(/\/+$/, '')
  const byPath = normalised !== undefined && Object.hasOwn(DIALECT_BY_PATH, normalised) ? DIALECT_BY_PATH[normalised] : undefined
  if (byPath !== undefined) return byPath
  if (get('siteid') !== undefined) return 'wow'
  if (get('id') !== undefined) return 'wu'
  if (get('passkey') !== undefined || hasPasskeyHeader) return 'ecowitt'
  return undefined
}

type Identity = { ok: true; deviceId: string } | { ok: false; path: string; message: string; value?: unknown }

/** The device id of an upload, or why there is none (the rejection's path names the missing parameter). */
function identify(dialect: Dialect, get: (name: string) => Parameter | undefined, passkeyHash: string | undefined): Identity {
  if (dialect === 'ecowitt') {
    if (passkeyHash === undefined) {
      return { ok: false, path: 'PASSKEY', message: `Ecowitt upload without PASSKEY (its SHA-256 comes in header ${PASSKEY_SHA256_HEADER}): device unknown` }
    }
    if (!/^[0-9a-fA-F]{64}$/.test(passkeyHash)) {
      return { ok: false, path: PASSKEY_SHA256_HEADER, message: `${PASSKEY_SHA256_HEADER} must be 64 hex digits (SHA-256 of PASSKEY)`, value: passkeyHash }
    }
    return { ok: true, deviceId: `ecowitt-${passkeyHash.slice(0, 12).toLowerCase()}` }
  }
  const [name, label, prefix] = dialect === 'wow' ? ['siteid', 'siteid', 'wow-'] : ['id', 'ID', 'wu-']
  const p = get(name)
  const sent = p?.values[0]?.trim() ?? ''
  if (p === undefined || sent === '') {
    return { ok: false, path: p?.key ?? label, message: `${dialect === 'wow' ? 'WOW' : 'WU'} upload without ${label}: device unknown` }
  }
  if (distinct(p)) return { ok: false, path: p.key, message: `${label} sent more than once with different values`, value: p.values }
  const deviceId = prefix + (dialect === 'wu' ? sent.toLowerCase() : sent)
  if (!DeviceIdSchema.safeParse(deviceId).success) {
    return { ok: false, path: p.key, message: `'${prefix}' + ${label} must be a device id: 1-64 chars of [A-Za-z0-9_.:-], starting alphanumeric`, value: sent }
  }
  return { ok: true, deviceId }
}

/** A header by lower-case name, trimmed; '' counts as absent. */
function header(message: InboundMessage, name: string): string | undefined {
  const headers = message.headers
  if (!headers) return undefined
  let value = headers[name]
  if (value === undefined) for (const [key, v] of Object.entries(headers)) if (key.toLowerCase() === name && v !== undefined) value = v
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}
