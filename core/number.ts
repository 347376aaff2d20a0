/**
 * The one number parser every decoder uses (device-formats research §0.2 and §8.2: numbers arrive as JSON
 * numbers and as strings, and dead sensors send `nan`, empty strings and unit-suffixed text).
 *
 * Decisions, each with its rejection rule:
 * | input                                   | result                                   |
 * |-----------------------------------------|------------------------------------------|
 * | finite JSON number                      | the number                               |
 * | `"12.3"`, `" -4 "`, `"+1.5"`, `"1e3"`, `".5"` | the number (plain decimal, optional exponent, surrounding blanks ignored) |
 * | `null`, `undefined`, `""`, `"  "`       | `missing` (never `Number("")` = 0)        |
 * | `NaN`, `±Infinity`, `"nan"`, `"-nan"`, `"inf"`, `"Infinity"` (any case) | `not_finite` |
 * | `"12,5"`, `"1.234,5"`, `"1,234.5"`       | `number_format`: a decimal or thousands comma depends on the locale, so it is never guessed |
 * | `"12 µg/m³"`, `"3.384 V"`, `"-59 dBm"`   | `number_with_unit` (decoders that know the unit use parseNumberWithUnit) |
 * | `"0x1F"`, `"twelve"`, `true`, `{}`, `[]` | `schema`                                  |
 */
export type NumberResult = { ok: true; value: number; text?: string } | { ok: false; rule: NumberRule; message: string }
export type NumberRule = 'missing' | 'not_finite' | 'number_format' | 'number_with_unit' | 'schema'

const PLAIN = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i
const COMMA_NUMBER = /^[+-]?[\d.,]*\d,\d[\d.,]*$/
const WITH_UNIT = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\d\s.,+-].*)$/

export function parseNumber(input: unknown): NumberResult {
  if (input === null || input === undefined) return { ok: false, rule: 'missing', message: 'no value reported' }
  if (typeof input === 'number') {
    return Number.isFinite(input) ? { ok: true, value: input } : { ok: false, rule: 'not_finite', message: 'must be a finite number' }
  }
  if (typeof input !== 'string') return { ok: false, rule: 'schema', message: `must be a number, got ${Array.isArray(input) ? 'array' : typeof input}` }
  const text = input.trim()
  if (text === '') return { ok: false, rule: 'missing', message: 'no value reported (empty string)' }
  if (PLAIN.test(text)) {
    const value = Number(text)
    return Number.isFinite(value) ? { ok: true, value, text } : { ok: false, rule: 'not_finite', message: `'${text}' overflows a float` }
  }
  if (NON_FINITE.test(text)) return { ok: false, rule: 'not_finite', message: `'${text}' is not a finite number` }
  if (/^[+-]?0x[0-9a-f]+$/i.test(text)) return { ok: false, rule: 'schema', message: `'${text}' is not a number` }
  if (COMMA_NUMBER.test(text)) return { ok: false, rule: 'number_format', message: `'${text}' uses a comma; decimal commas are locale-dependent and not accepted` }
  if (WITH_UNIT.test(text)) return { ok: false, rule: 'number_with_unit', message: `'${text}' carries a unit in the value` }
  return { ok: false, rule: 'schema', message: `'${text}' is not a number` }
}

/**
 * Splits `"30.11 °C"` into 30.11 and `°C` for decoders whose source puts units into values (TTN payload
 * formatters, old airrohr `signal`). A plain number gives `unit: undefined`; anything else fails as parseNumber.
 */
export function parseNumberWithUnit(input: unknown): (NumberResult & { unit?: string }) {
  if (typeof input === 'string') {
    const m = WITH_UNIT.exec(input.trim())
    if (m) {
      const value = Number(m[1])
      if (Number.isFinite(value)) return { ok: true, value, text: m[1]!, unit: m[2]!.trim() }
    }
  }
  return parseNumber(input)
}
