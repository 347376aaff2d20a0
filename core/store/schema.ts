import { Point } from '@influxdata/influxdb-client'
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
 * protocol numbers without an `i` suffix are floats, and Point.floatField never adds one, so a whole value
 * like 20 cannot create an integer field that would make the next 20.1 a field type conflict.
 */
export function readingToLine(reading: Reading): string {
  const point = new Point(READING_MEASUREMENT)
    .tag('device', reading.deviceId)
    .tag('quantity', reading.quantity)
    .floatField('value', reading.value)
    .stringField('unit', reading.unit)
    .stringField('source', reading.sourceFormat)
    .stringField('time_source', reading.timeSource)
    .intField('received_ms', reading.receivedAt)
    .stringField('flags', reading.flags.join(','))
    .timestamp(String(reading.observedAt))
  if (reading.sensorModel !== undefined) point.stringField('sensor', reading.sensorModel)
  if (reading.sourceUnit !== undefined) point.stringField('source_unit', reading.sourceUnit)
  if (reading.rawValue !== undefined) point.floatField('raw_value', reading.rawValue)
  return point.toLineProtocol()!
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
