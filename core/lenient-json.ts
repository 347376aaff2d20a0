/**
 * Lenient pre-parse, strict result (device-formats research §3 and §8.1): firmware such as Tasmota and ESPEasy
 * has written a failed sensor as a bare `nan` inside JSON (`{"DHT11":{"Temperature":nan}}`), which makes
 * JSON.parse refuse the whole message and lose the healthy sensors beside it. Bare `nan`, `-nan`, `NaN`,
 * `inf`, `-inf`, `Infinity` in value position (after `:`, `,` or `[`), outside string literals, become the
 * strings `"nan"`, `"-inf"`, … and the text is parsed strictly. The value then fails the number parser as
 * `not_finite` (core/number.ts), so the dead sensor is dead-lettered with that reason and the others are stored. The original bytes are kept by
 * the caller for the rejection record.
 *
 * Returns the parsed value and whether a repair was needed, or the JSON.parse error message.
 */
export type LenientJsonResult = { ok: true; value: unknown; repaired: boolean } | { ok: false; message: string }

const BARE_NON_FINITE = /^(-?(?:nan|inf(?:inity)?))\b/i

export function parseLenientJson(text: string): LenientJsonResult {
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
