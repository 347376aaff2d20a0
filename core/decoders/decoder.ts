import { rawText, type Rejection } from '../reading.ts'

/** One message as it arrived: MQTT topic, raw bytes, receipt time (epoch ms, UTC). */
export interface InboundMessage {
  topic: string
  payload: Buffer
  receivedAt: number
  qos?: 0 | 1 | 2
  retain?: boolean
}

/**
 * One value a decoder found, not yet validated: `quantity` may be unknown, `value` may be anything.
 * `path` is where it sat in the payload (e.g. `readings.pm2_5`), reported in a rejection.
 */
export interface Candidate {
  deviceId: string
  quantity: string
  value: unknown
  path: string
  observedAt: number
  timeSource: 'device' | 'receipt'
  sensorModel?: string
  sourceFormat: string
}

export interface DecodeResult {
  candidates: Candidate[]
  /** Whole-message problems (unparseable JSON, bad time, …): nothing in the message could be used. */
  rejections: Rejection[]
}

/**
 * A source format: turns one inbound message into candidates. Decoders never throw on bad input; they
 * return rejections with a reason. One file per format, listed once in core/decoders/index.ts.
 */
export interface Decoder {
  /** Stable name stored on every reading (`sourceFormat`). */
  format: string
  /** MQTT topic filter the ingest subscribes to for this format. */
  topicFilter: string
  decode(message: InboundMessage): DecodeResult
}

/** A rejection of a whole message (nothing in it could be used), keeping its raw bytes. */
export function wholeMessageRejection(
  message: InboundMessage,
  reason: { deviceId: string; sourceFormat: string; path: string; rule: string; message: string; value?: unknown },
): Rejection {
  const { value, ...rest } = reason
  return {
    ...rest,
    topic: message.topic,
    receivedAt: message.receivedAt,
    ...(value === undefined ? {} : { value }),
    raw: rawText(message.payload),
  }
}
