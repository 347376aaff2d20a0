import { z } from 'zod'
import { NativePayloadV1Schema } from '../native-payload.ts'
import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, isDeviceId, type Rejection } from '../reading.ts'
import { parseIsoTimestamp } from '../time.ts'
import { READINGS_FILTER, STATUS_FILTER, TOPIC_ROOT, deviceFromReadingsTopic, memoByTopic } from '../topics.ts'
import { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'

export const NATIVE_V1_FORMAT = 'senshagen-v1'

/**
 * The envelope is checked strictly, the values one by one: `readings` is accepted as a map of anything here
 * so that one wrong value (a string, an object) is rejected alone by the validate step, not with the message.
 */
export const EnvelopeSchema = NativePayloadV1Schema.extend({ readings: z.record(z.string(), z.unknown()) })

export type Envelope = z.output<typeof EnvelopeSchema>

/**
 * The hot path's envelope check: `json` itself when EnvelopeSchema would accept it with the same known fields
 * (JSON.parse output: plain objects), else undefined, and zod judges it and words the rejection. So a valid
 * message costs no zod parse (a copy of the message's tree and a result object), and an invalid one is rejected
 * exactly as before. It only ever says yes where the schema does: every rule below is one of
 * NativePayloadV1Schema's (core/native-payload.ts), and anything unusual (a `__proto__` key, which zod's record
 * copy would treat differently) goes to zod. Unknown top-level keys are allowed here as there (zod strips them; the
 * decoder keeps each as an `unknown_field` rejection).
 */
export function plainEnvelope(json: unknown): Envelope | undefined {
  if (!isPlainRecord(json)) return undefined
  const { v, device, time, sensor, readings, units } = json
  if (v !== 1) return undefined
  if (device !== undefined && !(typeof device === 'string' && isDeviceId(device))) return undefined
  if (time !== undefined && typeof time !== 'string' && !(typeof time === 'number' && Number.isSafeInteger(time) && time >= 0)) return undefined
  if (sensor !== undefined && !(typeof sensor === 'string' && sensor.length >= 1 && sensor.length <= 64)) return undefined
  if (!isPlainRecord(readings)) return undefined
  if (units !== undefined) {
    if (!isPlainRecord(units)) return undefined
    for (const key in units) if (typeof units[key] !== 'string') return undefined
  }
  return json as Envelope
}

/** A plain object (JSON.parse makes no other) without an own `__proto__` key. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  return Object.getPrototypeOf(value) === Object.prototype && !Object.hasOwn(value, '__proto__')
}

/** The top-level keys native payload v1 defines; any other is kept as an `unknown_field` rejection, never dropped. */
const ENVELOPE_KEYS = new Set(Object.keys(NativePayloadV1Schema.shape))

/** Decoder for native payload v1 (core/native-payload.ts) on `senshagen/v1/devices/{device}/readings`. */
export const createNativeV1Decoder: DecoderFactory = () => nativeV1Decoder

const nativeV1Decoder: Decoder = {
  format: NATIVE_V1_FORMAT,
  topicFilters: [READINGS_FILTER, STATUS_FILTER],
  decode(message: InboundMessage): DecodeResult {
    if (message.topic.endsWith('/status')) return decodeStatus(message)
    const { topicLevel, topicDevice } = topicDeviceOf(message.topic)
    if (topicLevel !== undefined && topicDevice === undefined) {
      return rejectWhole(message, topicDevice, 'topic', RULES.schema, 'device level of the topic must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric', topicLevel)
    }

    let json: unknown
    try {
      json = JSON.parse(message.payload.toString('utf8'))
    } catch (error) {
      return rejectWhole(message, topicDevice, '$', RULES.json, `payload is not JSON: ${(error as Error).message}`)
    }
    let payload = plainEnvelope(json)
    if (payload === undefined) {
      const parsed = EnvelopeSchema.safeParse(json)
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!
        const path = issue.path.length ? issue.path.join('.') : '$'
        return rejectWhole(message, topicDevice, path, RULES.schema, issue.message, valueAt(json, issue.path))
      }
      payload = parsed.data
    }
    const deviceId = payload.device ?? topicDevice
    if (deviceId === undefined) return rejectWhole(message, topicDevice, '$', RULES.schema, 'topic is not senshagen/v1/devices/{device}/readings')
    if (topicDevice !== undefined && payload.device !== undefined && payload.device !== topicDevice) {
      return rejectWhole(message, topicDevice, 'device', RULES.deviceMismatch, `device '${payload.device}' differs from topic device '${topicDevice}'`, payload.device)
    }

    let observedAt = message.receivedAt
    let timeSource: Candidate['timeSource'] = 'receipt'
    if (payload.time !== undefined) {
      if (typeof payload.time === 'number') {
        observedAt = payload.time
      } else {
        const time = parseIsoTimestamp(payload.time)
        if (!time.ok) return rejectWhole(message, topicDevice, 'time', time.rule, `time ${time.message}`, payload.time)
        observedAt = time.ms
      }
      timeSource = 'device'
    }

    const candidates: Candidate[] = []
    // the keys of the message itself: zod's record drops an own `__proto__` key (JSON.parse makes one), which
    // then becomes an unknown-quantity rejection instead of vanishing
    const readings = (json as { readings: Record<string, unknown> }).readings
    for (const quantity of Object.keys(readings)) {
      const unit = payload.units !== undefined && Object.hasOwn(payload.units, quantity) ? payload.units[quantity] : undefined
      // an own key (Object.keys), so an own `__proto__` reads as itself, not as the prototype
      const value = readings[quantity]
      candidates.push(
        unit === undefined
          ? { deviceId, quantity, value, path: `readings.${quantity}`, observedAt, timeSource, sensorModel: payload.sensor, sourceFormat: NATIVE_V1_FORMAT }
          : { deviceId, quantity, value, unit, path: `readings.${quantity}`, observedAt, timeSource, sensorModel: payload.sensor, sourceFormat: NATIVE_V1_FORMAT },
      )
    }
    // zod strips keys it does not know: keep each one with its value, so `{"v":1,"readings":{},"pm2_5":12}` loses nothing silently
    const rejections: Rejection[] = []
    for (const key in json as object) {
      if (ENVELOPE_KEYS.has(key)) continue
      rejections.push(
        wholeMessageRejection(message, {
          deviceId,
          sourceFormat: NATIVE_V1_FORMAT,
          path: key,
          rule: RULES.unknownField,
          message: `'${key}' is not a field of native payload v1 (${[...ENVELOPE_KEYS].join(', ')}); quantities belong in 'readings'`,
          value: (json as Record<string, unknown>)[key],
          observedAt,
        }),
      )
    }
    return { candidates, rejections }
  },
}

/**
 * The device level of a readings topic (undefined for another topic) and that level when it is a valid device id
 * (a level with spaces or non-ASCII is not used as an InfluxDB tag); remembered per topic (core/topics.ts).
 */
const topicDeviceOf = memoByTopic((topic) => {
  const topicLevel = deviceFromReadingsTopic(topic)
  return { topicLevel, topicDevice: topicLevel !== undefined && isDeviceId(topicLevel) ? topicLevel : undefined }
})

/** The whole message as one rejection, under the topic's device when it names a valid one. */
function rejectWhole(message: InboundMessage, topicDevice: string | undefined, path: string, rule: string, text: string, value?: unknown): DecodeResult {
  return {
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId: topicDevice ?? UNKNOWN_DEVICE, sourceFormat: NATIVE_V1_FORMAT, path, rule, message: text, value })],
  }
}

function valueAt(json: unknown, path: PropertyKey[]): unknown {
  let node = json
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<PropertyKey, unknown>)[key]
  }
  return node
}

/** `senshagen/v1/devices/{device}/status`: `online` / `offline` (retained, the device's will) → a device event. */
function decodeStatus(message: InboundMessage): DecodeResult {
  const levels = message.topic.split('/')
  const deviceId = levels.length === 5 && `${levels[0]}/${levels[1]}` === TOPIC_ROOT ? levels[3]! : ''
  const text = message.payload.toString('utf8').trim().toLowerCase()
  const reject = (path: string, why: string): DecodeResult => ({
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId: DeviceIdSchema.safeParse(deviceId).success ? deviceId : UNKNOWN_DEVICE, sourceFormat: NATIVE_V1_FORMAT, path, rule: RULES.schema, message: why })],
  })
  if (!DeviceIdSchema.safeParse(deviceId).success) return reject('topic', 'device level of the topic is not a valid device id')
  if (text === '') return { candidates: [], rejections: [], skipped: 'status cleared' }
  if (text !== 'online' && text !== 'offline') return reject('$', "status must be 'online' or 'offline'")
  const detail = JSON.stringify({ retained: message.retain === true })
  return { candidates: [], rejections: [], events: [{ deviceId, kind: text, at: message.receivedAt, topic: message.topic, sourceFormat: NATIVE_V1_FORMAT, detail }], skipped: 'availability' }
}
