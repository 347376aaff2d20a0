import { z } from 'zod'
import { QUANTITIES, QUANTITY_NAMES, type Quantity } from './quantities.ts'

/**
 * Device identifier: 1–100 characters, letters, digits and `_ . : -`, starting with a letter or digit (100 fits
 * TTN v3 ids, `ttn:{application}:{device}` with up to 36 characters each).
 * It is used as an MQTT topic level, a Kafka key and an InfluxDB tag value, so MQTT wildcards (`+`, `#`),
 * the level separator `/` and whitespace are excluded [MQTT-4.7.1].
 */
export const DeviceIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/, 'device id must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric')

/** DeviceIdSchema's rule as a plain test, for hot paths (a decoder checking each sub-device id): about 50× cheaper than safeParse. */
export function isDeviceId(id: string): boolean {
  return DEVICE_ID.test(id)
}

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/

export const QuantitySchema = z.enum(QUANTITY_NAMES)

/** Epoch milliseconds, UTC, as an integer. */
export const EpochMsSchema = z.number().int().safe()

/** Where the observed time came from: the device's own clock, or our receipt time because it sent none. */
export const TimeSourceSchema = z.enum(['device', 'receipt'])

/**
 * The canonical reading: one value of one quantity from one device at one observed time.
 * Every decoder produces these; the bus carries them as JSON; the store writes them as one point each.
 *
 * - `value` is a finite float in the quantity's canonical unit (`QUANTITIES[quantity].unit`, repeated in `unit`).
 * - `observedAt` / `receivedAt` are epoch milliseconds, UTC.
 * - `sourceFormat` names the decoder that produced it (`senshagen-v1`, `sc-archive`, …).
 */
export const ReadingSchema = z
  .object({
    deviceId: DeviceIdSchema,
    quantity: QuantitySchema,
    value: z.number().finite(),
    unit: z.string(),
    observedAt: EpochMsSchema,
    receivedAt: EpochMsSchema,
    timeSource: TimeSourceSchema,
    sourceFormat: z.string().min(1),
    sensorModel: z.string().min(1).optional(),
    /** Unit the source sent, when it was not the canonical one (`Pa`, `°F`, …). */
    sourceUnit: z.string().optional(),
    /** The value as sent, before unit conversion (only when converted). */
    rawValue: z.number().finite().optional(),
    /** Quality flags (core/quality.ts, FLAGS); empty when nothing is suspicious. */
    flags: z.array(z.string()).default([]),
  })
  .superRefine((reading, ctx) => {
    const expected = QUANTITIES[reading.quantity].unit
    if (reading.unit !== expected) {
      ctx.addIssue({ code: 'custom', path: ['unit'], message: `unit of ${reading.quantity} must be ${expected}` })
    }
  })

export type Reading = z.output<typeof ReadingSchema>

/**
 * Why a message or one value in it was not stored. Machine-readable: `path` is the field path inside the
 * payload (`readings.air_temperature`, `time`, `$` for the whole message), `rule` a stable identifier
 * (see RULES), `value` the offending value as JSON (absent when there was none).
 */
export const RejectionSchema = z.object({
  deviceId: z.string(),
  topic: z.string(),
  sourceFormat: z.string(),
  receivedAt: EpochMsSchema,
  observedAt: EpochMsSchema.optional(),
  path: z.string(),
  rule: z.string(),
  message: z.string(),
  value: z.unknown().optional(),
  /** The original message bytes as UTF-8 text (base64 with a `base64:` prefix when they are not UTF-8). */
  raw: z.string(),
})

export type Rejection = z.infer<typeof RejectionSchema>

/** Device id used on a rejection whose message did not say which device sent it. */
export const UNKNOWN_DEVICE = 'unknown'

/**
 * Stable rule identifiers used in rejections. Consumers (dashboards, `senshagen rejects`) match on these.
 */
export const RULES = {
  json: 'json', // payload is not JSON
  schema: 'schema', // payload does not match the format's schema (field named in `path`)
  unknownQuantity: 'unknown_quantity',
  missing: 'missing', // the device reported the quantity without a value (null / empty cell)
  notFinite: 'not_finite',
  range: 'range', // outside QUANTITIES[q].min…max
  timeZone: 'time_zone', // timestamp without an explicit zone
  timeFuture: 'time_future',
  timePast: 'time_past',
  deviceMismatch: 'device_mismatch', // device in payload differs from device in topic
  truncated: 'truncated', // a file row cut short
  tooLarge: 'too_large',
  noDecoder: 'no_decoder',
  numberFormat: 'number_format', // decimal comma or thousands separator: locale-dependent (core/number.ts)
  numberWithUnit: 'number_with_unit', // "12 µg/m³" where a bare number was expected
  unit: 'unit', // unknown unit, or one that does not fit the quantity (core/units.ts)
  simulated: 'simulated', // TTN console-simulated uplink: not a measurement
  noDecodedPayload: 'no_decoded_payload', // TTN uplink without decoded_payload / normalized_payload
  ambiguous: 'ambiguous', // a key that could mean more than one quantity
  duplicateTime: 'duplicate_time', // a second value of one device and quantity at one observed time in one message
  tooDeep: 'too_deep', // JSON nested deeper than MAX_JSON_DEPTH (core/lenient-json.ts)
  tooManyRejections: 'too_many_rejections', // more rejected values in one message than the pipeline keeps one by one
  unknownField: 'unknown_field', // a top-level key native payload v1 does not define (e.g. a quantity outside `readings`)
} as const

export function canonicalUnit(quantity: Quantity): string {
  return QUANTITIES[quantity].unit
}

/**
 * Encodes message bytes for `Rejection.raw`: UTF-8 text when valid, else `base64:` + base64. The last payload's text
 * is kept, so the many rejections of one message share one string instead of one copy each (a 250 KB message with
 * 20,000 rejected values would otherwise hold 5 GB).
 */
export function rawText(payload: Uint8Array): string {
  if (payload === lastRaw.payload) return lastRaw.text
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  const text = buf.toString('utf8')
  lastRaw = { payload, text: Buffer.from(text, 'utf8').equals(buf) ? text : `base64:${buf.toString('base64')}` }
  return lastRaw.text
}

let lastRaw: { payload?: Uint8Array; text: string } = { text: '' }

/**
 * Something that happened to a device that is not a reading: availability (`online`/`offline`, from
 * Tasmota LWT, ESPHome status, our status topic), a TTN `join`, a `schema_change` (keys, value types or sensor
 * model changed; core/schema-drift.ts), a `conflict` (a resend replaced a stored value; core/store/conflicts.ts), or
 * `ignored` metadata keys; and fleet health's `stale`, `stuck` and `recovered` (core/fleet-health.ts). Stored in measurement `device_event`.
 */
export const DeviceEventSchema = z.object({
  deviceId: z.string(),
  kind: z.enum(['online', 'offline', 'join', 'schema_change', 'conflict', 'stale', 'stuck', 'recovered']),
  at: EpochMsSchema,
  topic: z.string(),
  sourceFormat: z.string(),
  /** JSON text with the details (for schema_change: added, removed, changed keys and models). */
  detail: z.string(),
})

export type DeviceEvent = z.infer<typeof DeviceEventSchema>

/**
 * The key of a reading's point in the store: the measurement `reading` keeps one point per device, quantity and
 * observed time (core/store/schema.ts), so two readings with the same key are one point and the later overwrites
 * the earlier. Device ids and quantities hold no NUL, so the key is unambiguous.
 */
export function pointKey(reading: Pick<Reading, 'deviceId' | 'quantity' | 'observedAt'>): string {
  return `${reading.deviceId}\0${reading.quantity}\0${reading.observedAt}`
}
