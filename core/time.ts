import { DateTime } from 'luxon'

/**
 * Timestamp parsing that never depends on the machine's time zone.
 *
 * `new Date('2017-10-07T12:29:51')` is read as *local* time by JavaScript (ECMA-262 §21.4.3.2, date-time
 * forms without an offset), so with TZ=Europe/Amsterdam it lands two hours early. Every timestamp here is
 * parsed by hand and the zone is always explicit: either in the string, or given by the caller from the
 * source's documented convention (sensor.community archive: UTC without an offset).
 */
const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/

export type TimeParseResult = { ok: true; ms: number } | { ok: false; rule: 'schema' | 'time_zone'; message: string }

/**
 * Parses an ISO-8601 / RFC 3339 date-time (`2017-10-07T12:29:51Z`, `…+02:00`, 1–9 fraction digits, which are
 * truncated to milliseconds) into epoch milliseconds.
 * A string without a zone is refused (`time_zone`) unless `assumeZone: 'UTC'` says the source's convention is UTC.
 */
export function parseIsoTimestamp(text: string, options?: { assumeZone?: 'UTC' }): TimeParseResult {
  const fast = canonicalUtcMs(text)
  if (fast !== undefined) return { ok: true, ms: fast }
  const m = ISO_PATTERN.exec(text.trim())
  if (!m) return { ok: false, rule: 'schema', message: 'must be an ISO-8601 date-time such as 2024-01-15T10:28:30Z' }
  const [, y, mo, d, h, mi, s, fraction, zone] = m
  if (zone === undefined && options?.assumeZone !== 'UTC') {
    return { ok: false, rule: 'time_zone', message: 'must carry a zone (Z or ±hh:mm)' }
  }
  const ms = Number((fraction ?? '').padEnd(3, '0').slice(0, 3))
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms)
  const check = new Date(utc)
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  ) {
    return { ok: false, rule: 'schema', message: 'is not a valid calendar date-time' }
  }
  return { ok: true, ms: utc - zoneOffsetMs(zone) }
}

/**
 * Epoch ms of the form devices send most, `YYYY-MM-DDTHH:MM:SS[.f…]Z` (1–9 fraction digits), read without a
 * regular expression or a Date; undefined for anything else or any field out of range, which the general parse
 * then reads or refuses with its message. Per message on the ingest's hot path (docs/benchmarks.md, session 19).
 */
function canonicalUtcMs(text: string): number | undefined {
  const n = text.length
  if (n < 20 || n > 30 || text.charCodeAt(n - 1) !== 0x5a /* Z */) return undefined
  if (text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':') return undefined
  const y = digitsAt(text, 0, 4)
  const mo = digitsAt(text, 5, 2)
  const d = digitsAt(text, 8, 2)
  const h = digitsAt(text, 11, 2)
  const mi = digitsAt(text, 14, 2)
  const s = digitsAt(text, 17, 2)
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined
  let ms = 0
  if (n > 20) {
    if (text[19] !== '.' || n === 21) return undefined
    const fraction = digitsAt(text, 20, n - 21)
    if (fraction < 0) return undefined
    ms = Math.floor(fraction / 10 ** Math.max(0, n - 24)) * 10 ** Math.max(0, 24 - n) // first three digits, padded
  }
  return Date.UTC(y, mo - 1, d, h, mi, s, ms)
}

/** The decimal number of `length` ASCII digits of `text` from `start`; −1 when one is not a digit. */
function digitsAt(text: string, start: number, length: number): number {
  let value = 0
  for (let i = start; i < start + length; i++) {
    const digit = text.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

/** Days in month `mo` (1–12) of Gregorian year `y`. */
function daysInMonth(y: number, mo: number): number {
  if (mo === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31
}

function zoneOffsetMs(zone: string | undefined): number {
  if (zone === undefined || zone === 'Z' || zone === 'z') return 0
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000
}

/** ISO-8601 UTC with milliseconds, e.g. `2017-10-07T12:29:51.000Z`. */
export function formatIsoMs(ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * Parses a command-line time: ISO-8601 with zone, a date `YYYY-MM-DD` (midnight UTC), `now`, or a relative
 * `-<n><s|m|h|d>` (e.g. `-1h`) counted back from `now`. Throws an Error naming `what` when it cannot.
 */
export function parseCliTime(text: string, what: string, now = Date.now()): number {
  const trimmed = text.trim()
  if (trimmed === 'now') return now
  const relative = /^-(\d+)(s|m|h|d)$/.exec(trimmed)
  if (relative) {
    const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd']
    return now - Number(relative[1]) * unitMs
  }
  const parsed = /^\d{4}-\d{2}-\d{2}$/.test(trimmed)
    ? parseIsoTimestamp(`${trimmed}T00:00:00Z`)
    : parseIsoTimestamp(trimmed)
  if (!parsed.ok) throw new Error(`${what}: '${text}' ${parsed.message} (or YYYY-MM-DD, now, -6h)`)
  return parsed.ms
}

/**
 * Parses a device-local date-time without an offset (Tasmota `Time`, research §3) in IANA zone `zone`, or
 * with an explicit offset when it has one (Tasmota SetOption52). DST, via luxon: a wall time that does not
 * exist (the spring-forward hour, e.g. 2024-03-31T02:30 in Europe/Amsterdam) is refused (`time_zone`); one
 * that exists twice (the fall-back hour, 2024-10-27T02:30) is read as standard time, its second occurrence
 * (luxon's rule), so a reading of that hour may land one hour late: a device that sends no offset cannot say.
 */
export function parseLocalTimestamp(text: string, zone: string): TimeParseResult {
  const m = ISO_PATTERN.exec(text.trim())
  if (!m) return { ok: false, rule: 'schema', message: 'must be an ISO-8601 date-time such as 2024-03-10T14:05:00' }
  if (m[8] !== undefined) return parseIsoTimestamp(text)
  const [, y, mo, d, h, mi, s, fraction] = m
  const local = DateTime.fromObject(
    { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(s), millisecond: Number((fraction ?? '').padEnd(3, '0').slice(0, 3)) },
    { zone },
  )
  if (!local.isValid) return { ok: false, rule: 'schema', message: `is not a valid date-time in ${zone}: ${local.invalidExplanation ?? local.invalidReason}` }
  if (local.hour !== Number(h) || local.minute !== Number(mi)) {
    return { ok: false, rule: 'time_zone', message: `does not exist in ${zone} (skipped by the daylight-saving change)` }
  }
  return { ok: true, ms: local.toMillis() }
}

/** True when `zone` is an IANA time zone name this runtime knows. */
export function isValidTimeZone(zone: string): boolean {
  return DateTime.local().setZone(zone).isValid
}
