import { createHash } from 'node:crypto'
import { Point, escape } from '@influxdata/influxdb-client'
import type { DeviceEvent, Reading, Rejection } from '../reading.ts'

/**
 * The InfluxDB schema (README "InfluxDB schema" shows it with example queries).
 *
 * measurement `reading` — one point per (device, quantity, observed time), always written whole:
 *   tags   device, quantity
 *   fields value (float, canonical unit), unit (string), source (string: decoder), sensor (string, "" when not
 *          known), time_source (string: device|receipt), received_ms (integer: receipt time, epoch ms),
 *          flags (string: comma-separated quality flags, "" when none; core/quality.ts),
 *          raw_value (float: the value as sent; equals value when no conversion happened),
 *          source_unit (string: the unit the source sent when it was converted, "" when it was not)
 *   time   observed time, ms precision
 * Only device and quantity are tags, so the point key never depends on anything that may change between two
 * deliveries of the same reading: a redelivered reading overwrites itself. InfluxDB 1.x merges the fields of
 * two writes of one series and time and has no null, so every one of these fields is written every time (the
 * "" and raw_value = value above stand for "absent"): no field of an earlier write of the point survives a
 * later one, and each field keeps one type. Last write wins; a different value for a key written before is
 * recorded as a `conflict` device event (core/store/conflicts.ts). The calibration worker adds `calibrated`,
 * `calibration_method`, `calibration_version`, `calibration_flags` (comma-separated: CrowdQC+ qc_m1…qc_m5,
 * PM `humid`; "" none), `calibrated_u` (float: expanded uncertainty, k = 2, of the calibrated value in its unit;
 * −1 = not assessed, as there is no null) and `calibration_label` (string: indicative|experimental|uncalibrated;
 * core/calibration/uncertainty.ts) to the same point later (services/calibration); a reading write does not
 * touch them, so after a conflicting resend they describe the old value until that period is calibrated again.
 * A point that gets no value in a later run is cleared: calibration_method "" (and calibrated_u −1,
 * calibration_label "uncalibrated"); its old `calibrated` number stays (1.x cannot drop a field), so the store
 * reads `calibrated` only where calibration_method is a non-empty string (core/store/influx-queries.ts).
 *
 * measurement `rejection` — one point per rejected message or value:
 *   tags   device (`unknown` when the message named none), rule, digest (rejectionDigest: hex content hash of
 *          the message's topic and raw payload and the rejection's path, rule and value)
 *   fields path, message, value (JSON text), topic, source, raw (original payload text), received_ms
 *   time   observed time when known, else receipt time: the first receipt of the same rejection within
 *          FIRST_RECEIPT_WINDOW_MS (core/store/first-receipt.ts), so a redelivery keeps the first one's time
 * The key names the message, not the write: the same rejection delivered again overwrites itself (a Kafka
 * record consumed again carries its receipt time; a device's resend after a restart is given the first
 * receipt's time), two different ones never share a point, whatever request they arrive in.
 *
 * measurement `device_event` — availability, joins, schema changes and fleet health of a device:
 *   tags   device, kind (online|offline|join|schema_change|conflict|stale|stuck|recovered), and for `conflict`
 *          only digest (conflictDigest: hex content hash of the detail)
 *   fields detail (JSON text), topic, source
 *   time   when it happened (receipt time)
 * Two conflicting resends of one device received in the same millisecond but written in different requests are
 * two conflicts: the digest keeps both (found by the fault matrix, where the second overwrote the first), and the
 * same conflict event written again still overwrites itself.
 */
export const READING_MEASUREMENT = 'reading'
export const REJECTION_MEASUREMENT = 'rejection'
export const EVENT_MEASUREMENT = 'device_event'

/**
 * One reading as a line-protocol line with ms timestamp. `value` is always written as a float field: line
 * protocol numbers without an `i` suffix are floats, so a whole value like 20 cannot create an integer field
 * that would make the next 20.1 a field type conflict.
 *
 * Every field is written, absent ones as "" (sensor, source_unit) or as value (raw_value), so the line
 * replaces the whole point (see the schema above).
 *
 * This is the ingest's hot path (one line per reading), so the line is assembled here in the order
 * Point.toLineProtocol would give (tags and fields sorted by key), as one template of few parts: a tag or string
 * that holds nothing to escape (the usual case: device ids and quantities never do, core/reading.ts) is used as
 * it is, anything else goes through the client library's own escapers (`escape.tag`, `escape.quoted`). The output
 * is byte for byte Point's (test/unit/line-protocol.test.ts checks that on generated readings), at about a fifth
 * of the cost of building a Point per reading (docs/benchmarks.md).
 * Throws, as Point.floatField does, for a value that is not a finite number.
 */
export function readingToLine(reading: Reading): string {
  const value = floatText('value', reading.value)
  const raw = reading.rawValue === undefined ? value : floatText('raw_value', reading.rawValue)
  const flags = reading.flags.length === 0 ? '' : reading.flags.length === 1 ? reading.flags[0]! : reading.flags.join(',')
  return `${READING_MEASUREMENT},device=${tagText(reading.deviceId)},quantity=${tagText(reading.quantity)} flags="${quotedText(flags)}",raw_value=${raw},received_ms=${intText('received_ms', reading.receivedAt)},sensor="${quotedText(reading.sensorModel ?? '')}",source="${quotedText(reading.sourceFormat)}",source_unit="${quotedText(reading.sourceUnit ?? '')}",time_source="${quotedText(reading.timeSource)}",unit="${quotedText(reading.unit)}",value=${value} ${reading.observedAt}`
}

/** Characters line protocol escapes in a tag key or value (escape.tag): comma, equals sign, space, \n, \r, \t. */
const TAG_SPECIAL = /[,= \n\r\t]/
/** Characters it escapes inside a double-quoted string field (escape.quoted): double quote and backslash. */
const QUOTED_SPECIAL = /["\\]/

/** A tag value as escape.tag writes it, without its copy when nothing needs escaping. */
function tagText(text: string): string {
  return TAG_SPECIAL.test(text) ? escape.tag(text) : text
}

/** A string field's content between its quotes, as escape.quoted writes it (without the quotes). */
function quotedText(text: string): string {
  return QUOTED_SPECIAL.test(text) ? escape.quoted(text).slice(1, -1) : text
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

/**
 * The rejection's key tag: the first 16 hex digits (64 bits) of the SHA-1 of its message's topic and raw payload
 * and its own path, rule and value (`valueJson`, its JSON text, as the `value` field stores it), NUL-separated.
 * Two rejections share it only when they say the same thing about the same message bytes; the message text is
 * left out, as it may carry a changing error text. Takes a Rejection or a StoredRejection read back (whose
 * `value` is that JSON text already).
 */
export function rejectionDigest(rejection: Pick<Rejection, 'topic' | 'raw' | 'path' | 'rule'>, valueJson: string | undefined): string {
  return createHash('sha1').update(`${rejection.topic}\0${rejection.raw}\0${rejection.path}\0${rejection.rule}\0${valueJson ?? ''}`).digest('hex').slice(0, 16)
}

/** The JSON text a rejection's `value` is stored as (field `value`), undefined when it has none. */
export function rejectionValueJson(rejection: Rejection): string | undefined {
  return rejection.value === undefined ? undefined : JSON.stringify(rejection.value)
}

/** One rejection as a line-protocol line with ms timestamp, keyed by device, rule and rejectionDigest. */
export function rejectionToLine(rejection: Rejection): string {
  const valueJson = rejectionValueJson(rejection)
  const point = new Point(REJECTION_MEASUREMENT)
    .tag('device', rejection.deviceId)
    .tag('rule', rejection.rule)
    .tag('digest', rejectionDigest(rejection, valueJson))
    .stringField('path', rejection.path)
    .stringField('message', rejection.message)
    .stringField('topic', rejection.topic)
    .stringField('source', rejection.sourceFormat)
    .stringField('raw', rejection.raw)
    .intField('received_ms', rejection.receivedAt)
    .timestamp(String(rejection.observedAt ?? rejection.receivedAt))
  if (valueJson !== undefined) point.stringField('value', valueJson)
  return point.toLineProtocol()!
}

/** A write's lines: its readings, then its rejections, then its device events (ms timestamps). Throws as the line builders do. */
export function batchToLines(batch: { readings: readonly Reading[]; rejections: readonly Rejection[]; events?: readonly DeviceEvent[] }): string[] {
  const lines = batch.readings.map(readingToLine)
  for (const rejection of batch.rejections) lines.push(rejectionToLine(rejection))
  for (const event of batch.events ?? []) lines.push(eventToLine(event))
  return lines
}

/** Hex content hash (16 chars of SHA-1) of a conflict event's detail: its tag `digest`, so conflicts never share a point. */
export function conflictDigest(event: DeviceEvent): string {
  return createHash('sha1').update(event.detail).digest('hex').slice(0, 16)
}

export function eventToLine(event: DeviceEvent): string {
  const point = new Point(EVENT_MEASUREMENT).tag('device', event.deviceId).tag('kind', event.kind)
  if (event.kind === 'conflict') point.tag('digest', conflictDigest(event))
  return point
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
