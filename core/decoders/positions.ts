import { parseLenientJson } from '../lenient-json.ts'
import type { InboundMessage } from './decoder.ts'

/**
 * Positions out of HTTP bodies before anything can store them: a garden's location is personal data (issue 8,
 * item 5), and a rejection keeps the raw body. The HTTP ingest passes withoutLocations() as the `prepare` step of
 * the openSenseMap routes (JSON `location`, CSV cells 4–6, luftdaten `GPS_*`; core/decoders/opensensemap.ts) and of
 * the airrohr routes (`GPS_lat`/`GPS_lon`/`GPS_height` of a GPS module; core/decoders/airrohr.ts).
 */

type Obj = Record<string, unknown>
const CSV_TYPES = new Set(['text/csv', 'csv'])

/**
 * For the HTTP route's `prepare` step: the same message with every position removed from the body, so no
 * rejection's `raw` (nor `value`) keeps a garden's location:
 * - JSON that parses: keys `location`, `lat`, `lng`, `lon`, `latitude`, `longitude` (any case) dropped at any depth,
 *   third items of JSON-object arrays (`[value, createdAt, location]`), luftdaten `GPS_*` entries; re-serialised
 *   with JSON.stringify;
 * - CSV (`text/csv`): cells after createdAt, lines re-joined; then as for unparseable text;
 * - text that does not parse (a truncated or malformed body): redactPositionText().
 * An unchanged body keeps its bytes (the same message object is returned).
 */
export function withoutLocations(message: InboundMessage): InboundMessage {
  const headers = message.headers ?? {}
  const text = message.payload.toString('utf8').replace(/^\uFEFF/, '')
  const query = new URLSearchParams(headers[':query'] ?? '')
  const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  let redacted: string
  if (CSV_TYPES.has(contentType) && !query.get('hackair') && !query.get('luftdaten')) {
    redacted = redactPositionText(text.split(/(\r?\n)/).map((part, i) => (i % 2 ? part : stripCsvLocation(part))).join(''))
  } else {
    const parsed = parseLenientJson(text)
    if (parsed.ok) {
      const stripped = stripLocations(parsed.value, true)
      redacted = stripped.changed ? JSON.stringify(stripped.value) : text
    } else {
      redacted = redactPositionText(text)
    }
  }
  return redacted === text ? message : { ...message, payload: Buffer.from(redacted, 'utf8') }
}

/** Keys whose values are positions (compared lower-case). */
const LOCATION_KEYS: ReadonlySet<string> = new Set(['location', 'lat', 'lng', 'lon', 'latitude', 'longitude'])

function stripLocations(value: unknown, top: boolean): { value: unknown; changed: boolean } {
  let changed = false
  const visit = (v: unknown, atTop: boolean): unknown => {
    if (Array.isArray(v)) return v.map((item) => visit(item, false))
    if (!isObj(v)) return v
    const out: Obj = {}
    for (const [k, item] of Object.entries(v)) {
      if (LOCATION_KEYS.has(k.toLowerCase())) {
        changed = true
        continue
      }
      if (k === 'sensordatavalues' && Array.isArray(item)) {
        const kept = item.filter((e) => !(isObj(e) && typeof e.value_type === 'string' && /^GPS_/i.test(e.value_type)))
        if (kept.length !== item.length) changed = true
        out[k] = visit(kept, false)
      } else if (atTop && Array.isArray(item) && item.length === 3) {
        changed = true // object format: [value, createdAt, location]
        out[k] = visit(item.slice(0, 2), false)
      } else {
        out[k] = visit(item, false)
      }
    }
    return out
  }
  const result = visit(value, top)
  return { value: result, changed }
}

/**
 * Positions blanked in text that could not be parsed (the raw of a rejection): the value after a `"location"`,
 * `"lat"`, `"lng"`, `"lon"`, `"latitude"` or `"longitude"` key becomes `null` (up to its end, or the end of a
 * truncated text); the `"value"` of a `GPS_*` luftdaten entry becomes `null`; bracketed lists of two or more numbers
 * (`[6.0612, 52.5312]`) and a list cut off after its first number become `[]`; two decimal numbers separated by a
 * comma (`6.0612,52.5312`, a CSV position) become `***`. Everything else is kept byte for byte.
 * `[{"sensor":"a","value":"1","location":[6.0612,52.53` → `[{"sensor":"a","value":"1","location":null`.
 */
export function redactPositionText(text: string): string {
  let out = ''
  let last = 0
  for (const match of text.matchAll(/"(?:location|lat|lng|lon|latitude|longitude)"\s*:/gi)) {
    if (match.index < last) continue
    const valueStart = match.index + match[0].length
    out += text.slice(last, valueStart) + 'null'
    last = endOfJsonValue(text, valueStart)
  }
  out += text.slice(last)
  const NUMBER = '"?-?\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?"?'
  return out
    .replace(/\{[^{}]*"value_type"\s*:\s*"GPS_[^{}]*\}?/gi, (entry) => entry.replace(/("value"\s*:\s*)(?:"(?:[^"\\]|\\.)*"?|[^,}\s]*)/, '$1null'))
    .replace(new RegExp(`\\[\\s*${NUMBER}(?:\\s*,\\s*${NUMBER})+\\s*(?:\\]|$)|\\[\\s*${NUMBER}\\s*$`, 'g'), '[]')
    .replace(/-?\d+\.\d+[ \t]*,[ \t]*-?\d+\.\d+/g, '***')
}

/** Index just after the JSON value starting at `from` (leading blanks skipped), or text.length when it is cut off. */
function endOfJsonValue(text: string, from: number): number {
  let i = from
  while (i < text.length && /\s/.test(text[i]!)) i++
  if (text[i] === '"') return endOfString(text, i)
  if (text[i] !== '[' && text[i] !== '{') {
    while (i < text.length && !',}]\n'.includes(text[i]!)) i++
    return i
  }
  let depth = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === '"') {
      i = endOfString(text, i)
      continue
    }
    if (c === '[' || c === '{') depth++
    else if (c === ']' || c === '}') depth--
    i++
    if (depth === 0) return i
  }
  return text.length
}

/** Index just after the string literal opening at `from`, or text.length when it is not closed. */
function endOfString(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    if (text[i] === '\\') i++
    else if (text[i] === '"') return i + 1
  }
  return text.length
}

function stripCsvLocation(line: string): string {
  const cells = line.split(',')
  let first = 0
  while (first < cells.length && cells[first]!.trim() === '') first++
  return cells.length - first > 3 ? cells.slice(0, first + 3).join(',') : line
}

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
