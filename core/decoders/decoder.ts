import { rawText, type DeviceEvent, type Rejection } from '../reading.ts'

/**
 * One message as it arrived: MQTT topic (or `http/<format>` for HTTP pushes), raw bytes, receipt time
 * (epoch ms, UTC), and for HTTP the request headers (lower-case names).
 */
export interface InboundMessage {
  topic: string
  payload: Buffer
  receivedAt: number
  qos?: 0 | 1 | 2
  retain?: boolean
  headers?: Record<string, string | undefined>
}

/**
 * One value a decoder found, not yet validated: `quantity` may be unknown, `value` may be anything (number,
 * numeric string, `"nan"`, null …; the validate step parses it with core/number.ts).
 * `unit` is the unit the source used when it is not the canonical one (converted by core/units.ts).
 * `path` is where it sat in the payload (e.g. `BME280.Temperature`), reported in a rejection.
 */
export interface Candidate {
  deviceId: string
  quantity: string
  value: unknown
  unit?: string
  path: string
  observedAt: number
  timeSource: 'device' | 'receipt'
  sensorModel?: string
  sourceFormat: string
}

export interface DecodeResult {
  candidates: Candidate[]
  /** Problems: whole-message ones (unparseable JSON, bad time, …) and single values the decoder refused. */
  rejections: Rejection[]
  /** Availability, joins and other non-reading facts about devices. */
  events?: DeviceEvent[]
  /**
   * Keys the decoder recognised as metadata, not measurements (airrohr `signal`, TTN `battery`, Tasmota
   * `DewPoint`…), per device: counted and part of the schema-drift fingerprint, never dead-lettered.
   */
  ignored?: Array<{ deviceId: string; path: string; /** ValueType of core/schema-drift.ts (`numeric-string`, …) */ type: string }>
  /** Why a message yielded nothing on purpose (TTN join, retained ESPHome state, …); counted, logged at debug. */
  skipped?: string
}

/** Per-ingest settings decoders may need (from core/config.ts). */
export interface DecoderSettings {
  /** IANA zone for device-local timestamps without an offset (Tasmota `Time`), default Europe/Amsterdam. */
  deviceTimeZone: string
  /** openSenseMap sensor id → what it measures (the deployment's box configuration); none by default. */
  openSenseMapSensors?: Record<string, { quantity: string; unit?: string; model?: string }>
}

/**
 * A source format: turns one inbound message into candidates. Decoders never throw on bad input; they
 * return rejections with a reason. One file per format, listed once in core/decoders/index.ts.
 * A decoder may keep state (ESPHome discovery units): the table holds factories, one instance per ingest.
 */
export interface Decoder {
  /** Stable name stored on every reading (`sourceFormat`). */
  format: string
  /** MQTT topic filters the ingest subscribes to for this format (`http/<format>` for HTTP-only formats). */
  topicFilters: string[]
  /**
   * Set for live device formats: readings older than this before receipt are rejected (`time_past`), a device
   * with a broken clock. The ingest's SENSHAGEN_MAX_AGE_MS replaces the value. Undefined = only the global
   * floor (2000-01-01), for formats that carry history (native payloads from replays).
   */
  maxAgeMs?: number
  decode(message: InboundMessage): DecodeResult
}

export type DecoderFactory = (settings: DecoderSettings) => Decoder

/**
 * A rejection of a whole message (nothing in it could be used), keeping its raw bytes; also used for one part of a
 * message outside the format's values (native v1's `unknown_field`), whose readings are stored beside it.
 */
export function wholeMessageRejection(
  message: InboundMessage,
  reason: { deviceId: string; sourceFormat: string; path: string; rule: string; message: string; value?: unknown; observedAt?: number },
): Rejection {
  const { value, observedAt, ...rest } = reason
  return {
    ...rest,
    topic: message.topic,
    receivedAt: message.receivedAt,
    ...(observedAt === undefined ? {} : { observedAt }),
    ...(value === undefined ? {} : { value }),
    raw: rawText(message.payload),
  }
}

/**
 * Pseudo-header the HTTP ingest sets on every message from an authenticated device: the registry's device id
 * (services/ingest/http-auth.ts). The HTTP decoders (airrohr, openSenseMap, weather stations) store what they
 * decode under it (and its sub-devices `<id>.<model>`), never under an identity the request itself names, so
 * one device's credentials cannot write another device's readings. HTTP/1.1 header names cannot contain `:`
 * (RFC 9110 §5.1 token), so no client can send it; the HTTP layer sets it after copying the request's headers.
 */
export const AUTHENTICATED_DEVICE_HEADER = ':device'

/**
 * True when a parameter or JSON key names a credential: after percent-decoding (the caller's job), every character
 * but `a-z 0-9` is dropped and the rest lower-cased, so `PASSWORD`, `password`, ` PassWord `, `PASSWORD\0`
 * (sent as `PASSWORD%00`), `site_authentication_key` and `x-api-key` all count. The names: WU `PASSWORD`, WOW
 * `siteAuthenticationKey`, Ecowitt `PASSKEY`, and anything containing password, passwd, passkey, secret, token,
 * apikey, authkey or authorization. Such values are never decoded, stored or logged.
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''))
}

const SECRET_NAME = /password|passwd|passkey|secret|token|apikey|authkey|authorization|siteauthenticationkey/
