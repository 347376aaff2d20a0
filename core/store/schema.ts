import { Point, escape } from '@influxdata/influxdb-client'
import type { DeviceEvent, Reading, Rejection } from '../reading.ts'

/**
 * The InfluxDB schema (README "InfluxDB schema" shows it with example queries).
 *
 * measurement `reading` — one point per (device, quantity, observed time):
 *   tags   device, quantity
 *   fields value (float, canonical unit), unit (string), source (string: decoder), sensor (string, when
 *          known), time_source (string: device|receipt), received_ms (integer: receipt time, epoch ms),
 *          flags (string: comma-separated quality flags, "" when none; core/quality.ts),
 *          raw_value (float) and source_unit (string) when the source sent another unit
 *   time   observed time, ms precision
 * Only device and quantity are tags, so the point key never depends on anything that may change between two
 * deliveries of the same reading: a redelivered reading overwrites itself.
 *
 * measurement `rejection` — one point per rejected message or value:
 *   tags   device (`unknown` when the message named none), rule, seq (index within its message)
 *   fields path, message, value (JSON text), topic, source, raw (original payload text)
 *   time   observed time when known, else receipt time
 *
 * measurement `device_event` — availability, joins and schema changes of a device:
 *   tags   device, kind (online|offline|join|schema_change)
 *   fields detail (JSON text), topic, source
 *   time   when it happened (receipt time)
 */
export const READING_MEASUREMENT = 'reading'
export const REJECTION_MEASUREMENT = 'rejection'
export const EVENT_MEASUREMENT = 'device_event'

/**
 * One reading as a line-protocol line with ms timestamp. `value` is always written as a float field: line
 * protocol numbers without an `i` suffix are floats, so a whole value like 20 cannot create an integer field
 * that would make the next 20.1 a field type conflict.
 *
 * This is the ingest's hot path (one line per reading), so the line is assembled here with the client
 * library's own escapers (`escape.tag`, `escape.quoted`) in the order Point.toLineProtocol would give (tags and
 * fields sorted by key): the output is byte for byte Point's (test/unit/line-protocol.test.ts checks that on
 * generated readings), at about a fifth of the cost of building a Point per reading (docs/benchmarks.md).
 * Throws, as Point.floatField does, for a value that is not a finite number.
 */
export function readingToLine(reading: Reading): string {
  let fields = `flags=${escape.quoted(reading.flags.join(','))}`
  if (reading.rawValue !== undefined) fields += `,raw_value=${floatText('raw_value', reading.rawValue)}`
  fields += `,received_ms=${intText('received_ms', reading.receivedAt)}`
  if (reading.sensorModel !== undefined) fields += `,sensor=${escape.quoted(reading.sensorModel)}`
  fields += `,source=${escape.quoted(reading.sourceFormat)}`
  if (reading.sourceUnit !== undefined) fields += `,source_unit=${escape.quoted(reading.sourceUnit)}`
  fields += `,time_source=${escape.quoted(reading.timeSource)},unit=${escape.quoted(reading.unit)},value=${floatText('value', reading.value)}`
  return `${READING_MEASUREMENT},device=${escape.tag(reading.deviceId)},quantity=${escape.tag(reading.quantity)} ${fields} ${reading.observedAt}`
}

/** A float field's text as Point.floatField writes it (String(n)); throws for NaN and ±Infinity like it does. */
function floatText(field: string, value: number): string {
  if (!Number.isFinite(value)) throw new Error(`invalid float value for field '${field}': ${value}`)
  return String(value)
}

/** An integer field's text as Point.intField writes it (`<floor(n)>i`, within ±2^63); throws otherwise like it does. */
function intText(field: string, value: number): string {
  if (Number.isNaN(value) || value <= -9223372036854776e3 || value >= 9223372036854776e3) throw new Error(`invalid integer value for field '${field}': '${value}'!`)
  return `${Math.floor(value)}i`
}

export function rejectionToLine(rejection: Rejection, seq: number): string {
  const point = new Point(REJECTION_MEASUREMENT)
    .tag('device', rejection.deviceId)
    .tag('rule', rejection.rule)
    .tag('seq', String(seq))
    .stringField('path', rejection.path)
    .stringField('message', rejection.message)
    .stringField('topic', rejection.topic)
    .stringField('source', rejection.sourceFormat)
    .stringField('raw', rejection.raw)
    .intField('received_ms', rejection.receivedAt)
    .timestamp(String(rejection.observedAt ?? rejection.receivedAt))
  if (rejection.value !== undefined) point.stringField('value', JSON.stringify(rejection.value))
  return point.toLineProtocol()!
}

export function eventToLine(event: DeviceEvent): string {
  return new Point(EVENT_MEASUREMENT)
    .tag('device', event.deviceId)
    .tag('kind', event.kind)
    .stringField('detail', event.detail)
    .stringField('topic', event.topic)
    .stringField('source', event.sourceFormat)
    .timestamp(String(event.at))
    .toLineProtocol()!
}

/** Quotes a string literal for InfluxQL (single quotes, backslash escapes). */
export function influxqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/**
 * InfluxQL condition for a device and its sub-devices (`tasmota-shed` and `tasmota-shed.si7021-04`): device ids
 * hold only [A-Za-z0-9_.:-] (core/reading.ts), so escaping the dot is all a regular expression needs.
 */
export function deviceAndSubDevices(deviceId: string): string {
  return `"device" =~ /^${deviceId.replace(/[^A-Za-z0-9_:-]/g, (c) => `\\${c}`)}(\\..+)?$/`
}

/** Quotes an identifier for InfluxQL (double quotes). */
export function influxqlIdentifier(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}
