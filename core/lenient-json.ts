/**
 * Lenient pre-parse, strict result (device-formats research §3 and §8.1): firmware such as Tasmota and ESPEasy
 * has written a failed sensor as a bare `nan` inside JSON (`{"DHT11":{"Temperature":nan}}`), which makes
 * JSON.parse refuse the whole message and lose the healthy sensors beside it. Bare `nan`, `-nan`, `NaN`,
 * `inf`, `-inf`, `Infinity` in value position (after `:`, `,` or `[`), outside string literals, become the
 * strings `"nan"`, `"-inf"`, … and the text is parsed strictly. The value then fails the number parser as
 * `not_finite` (core/number.ts), so the dead sensor is dead-lettered with that reason and the others are stored. The original bytes are kept by
 * the caller for the rejection record.
 *
 * Returns the parsed value and whether a repair was needed, or the JSON.parse error message. Text nested deeper than
 * MAX_JSON_DEPTH is not parsed (`tooDeep`), so no caller walks a value that could overflow the stack.
 */
export type LenientJsonResult = { ok: true; value: unknown; repaired: boolean } | { ok: false; message: string; tooDeep?: true }

/**
 * The deepest JSON nesting (objects and arrays) any decoder reads: 64. RFC 8259 §9 lets a parser limit nesting depth;
 * 64 is .NET System.Text.Json's default MaxDepth. The deepest real payload we know, a TTN v3 uplink
 * (`uplink_message.normalized_payload[0].air.temperature`, user formatters' `decoded_payload` objects), nests about
 * 6 levels; 64 leaves room for any formatter while keeping every recursive walk (JSON.stringify of a rejection's
 * value, the position and secret redaction, zod) thousands of frames away from a stack overflow. Deeper payloads
 * are dead-lettered whole with rule `too_deep` by the ingest pipeline (services/ingest/pipeline.ts).
 */
export const MAX_JSON_DEPTH = 64

/**
 * Whether `text` (a string, or UTF-8 bytes) nests brackets `[`/`{` deeper than `maxDepth` outside string literals.
 * One iterative pass that stops at the first level too deep; works on any text, JSON or not (a query string or CSV
 * line never nests). UTF-8 multi-byte sequences hold no ASCII byte, so bytes and characters give the same answer.
 */
export function nestsDeeperThan(text: string | Uint8Array, maxDepth = MAX_JSON_DEPTH): boolean {
  const QUOTE = 34, BACKSLASH = 92, OPEN_BRACKET = 91, OPEN_BRACE = 123, CLOSE_BRACKET = 93, CLOSE_BRACE = 125
  if (openingsAtMost(text, maxDepth)) return false // the common case, found by the engine's native indexOf
  // latin1 maps each byte to one character, so bytes scan as the same codes (one monomorphic loop: ~7 ns a byte)
  const chars = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1')
  let depth = 0
  let inString = false
  for (let i = 0; i < chars.length; i++) {
    const c = chars.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return true
    } else if ((c === CLOSE_BRACKET || c === CLOSE_BRACE) && depth > 0) depth--
  }
  return false
}

const BARE_NON_FINITE = /^(-?(?:nan|inf(?:inity)?))\b/i

/** Whether `text` holds at most `limit` opening brackets `[`/`{` (inside strings or not): then it cannot nest deeper. */
function openingsAtMost(text: string | Uint8Array, limit: number): boolean {
  const braces = occurrences(text, '{', 123, limit)
  return braces <= limit && braces + occurrences(text, '[', 91, limit - braces) <= limit
}

/**
 * How often `char` (the byte `byte` in bytes) occurs in `text`, counted up to `limit` + 1. No closure: tsx compiles
 * with esbuild's keepNames, which names every closure as it is created, and this runs once per message.
 */
function occurrences(text: string | Uint8Array, char: string, byte: number, limit: number): number {
  let n = 0
  if (typeof text === 'string') for (let i = text.indexOf(char); i >= 0 && n <= limit; i = text.indexOf(char, i + 1)) n++
  else for (let i = text.indexOf(byte); i >= 0 && n <= limit; i = text.indexOf(byte, i + 1)) n++
  return n
}

export function parseLenientJson(text: string): LenientJsonResult {
  if (nestsDeeperThan(text)) return { ok: false, message: `nested deeper than ${MAX_JSON_DEPTH} levels`, tooDeep: true }
  try {
    return { ok: true, value: JSON.parse(text), repaired: false }
  } catch (error) {
    const repaired = repairNonFinite(text)
    if (repaired === text) return { ok: false, message: (error as Error).message }
    try {
      return { ok: true, value: JSON.parse(repaired), repaired: true }
    } catch (second) {
      return { ok: false, message: (second as Error).message }
    }
  }
}

/** Quotes bare non-finite tokens in value position (`nan` → `"nan"`), leaving string literals untouched. */
export function repairNonFinite(text: string): string {
  let out = ''
  let inString = false
  let expectValue = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (inString) {
      out += ch
      if (ch === '\\') out += text[++i] ?? ''
      else if (ch === '"') inString = false
      continue
    }
    if (ch === '"') {
      inString = true
      expectValue = false
      out += ch
      continue
    }
    if (ch === ':' || ch === '[' || ch === ',') {
      expectValue = true
      out += ch
      continue
    }
    if (expectValue && /\s/.test(ch)) {
      out += ch
      continue
    }
    if (expectValue) {
      const m = BARE_NON_FINITE.exec(text.slice(i))
      if (m) {
        out += JSON.stringify(m[1])
        i += m[1]!.length - 1
        expectValue = false
        continue
      }
    }
    expectValue = false
    out += ch
  }
  return out
}
