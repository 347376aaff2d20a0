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

/** A rejection of a whole message (nothing in it could be used), keeping its raw bytes. */
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
