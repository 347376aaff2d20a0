import { QUANTITIES, type Quantity } from './quantities.ts'

/**
 * Unit normalisation at the decoder (issue: "normalise to the canonical units, keeping the source unit").
 * Every unit a source may send, its spellings, and the conversion into the quantity's canonical unit.
 *
 * Conversions are exact definitions, not measurements:
 * - Pa → hPa ÷ 100; kPa → hPa × 10; mbar = hPa (SI).
 * - inHg → hPa × 33.8638866667 (1 inHg = 3386.38866667 Pa, conventional, 0 °C mercury; NIST SP 811 B.8).
 * - mmHg → hPa × 1.33322387415 (1 mmHg = 133.322387415 Pa; NIST SP 811 B.8).
 * - °F → °C (F − 32) × 5/9; K → °C − 273.15.
 * - in → mm × 25.4; cm → mm × 10 (precipitation); mph → m/s × 0.44704; km/h → m/s ÷ 3.6; kn → m/s × 1852/3600.
 * - ppb NO2 → µg/m³ × 1.9125 at 20 °C, 1013.25 hPa (molar mass 46.0055 g/mol / molar volume 24.055 L;
 *   EU Directive 2008/50/EC reference conditions for gases).
 * Power-of-ten factors are applied by moving the decimal point of the value's shortest decimal form, so
 * 102490.52 Pa is exactly 1024.9052 hPa (binary division gives 1024.9052000000001).
 */
interface Conversion {
  /** multiply by 10^exponent, exactly */
  exponent?: number
  /** any other linear conversion: value * factor + offset */
  factor?: number
  offset?: number
}

const SPELLINGS: Record<string, string> = {
  '°c': '°C', c: '°C', degc: '°C', celsius: '°C', '℃': '°C',
  '°f': '°F', f: '°F', degf: '°F', fahrenheit: '°F', '℉': '°F',
  k: 'K', kelvin: 'K',
  '%': '%', '%rh': '%', rh: '%', percent: '%',
  hpa: 'hPa', mbar: 'hPa', mb: 'hPa', pa: 'Pa', kpa: 'kPa', inhg: 'inHg', mmhg: 'mmHg',
  'µg/m³': 'µg/m³', 'μg/m³': 'µg/m³', 'ug/m3': 'µg/m³', 'µg/m3': 'µg/m³', 'μg/m3': 'µg/m³', 'ug/m³': 'µg/m³',
  ppb: 'ppb',
  mm: 'mm', in: 'in', inch: 'in', cm: 'cm',
  'm/s': 'm/s', mps: 'm/s', 'km/h': 'km/h', kmh: 'km/h', kph: 'km/h', mph: 'mph', kn: 'kn', kt: 'kn', knots: 'kn',
  '°': 'degree', deg: 'degree', degree: 'degree', degrees: 'degree',
  'w/m²': 'W/m²', 'w/m2': 'W/m²',
}

const TO_CANONICAL: Partial<Record<Quantity, Record<string, Conversion>>> = {
  air_temperature: { '°C': {}, '°F': { factor: 5 / 9, offset: (-32 * 5) / 9 }, K: { factor: 1, offset: -273.15 } },
  relative_humidity: { '%': {} },
  air_pressure: { hPa: {}, Pa: { exponent: -2 }, kPa: { exponent: 1 }, inHg: { factor: 33.8638866667 }, mmHg: { factor: 1.33322387415 } },
  pm1: { 'µg/m³': {} },
  pm2_5: { 'µg/m³': {} },
  pm4: { 'µg/m³': {} },
  pm10: { 'µg/m³': {} },
  no2: { 'µg/m³': {}, ppb: { factor: 1.9125 } },
  precipitation: { mm: {}, in: { factor: 25.4 }, cm: { exponent: 1 } },
  wind_speed: { 'm/s': {}, 'km/h': { factor: 1 / 3.6 }, mph: { factor: 0.44704 }, kn: { factor: 1852 / 3600 } },
  wind_from_direction: { degree: {} },
  water_level: { cm: {}, mm: { exponent: -1 } },
  soil_moisture: { '%': {} },
  global_radiation: { 'W/m²': {} },
}

/** The canonical spelling of a unit (`ug/m3` → `µg/m³`, `mbar` → `hPa`), or undefined when unknown. */
export function normaliseUnit(unit: string): string | undefined {
  const key = unit.trim().toLowerCase()
  return SPELLINGS[key] ?? SPELLINGS[key.replace(/\s+/g, '')]
}

export type ConversionResult = { ok: true; value: number } | { ok: false; rule: 'unit'; message: string }

/**
 * Converts `value` in `unit` (any spelling) into the canonical unit of `quantity`.
 * Fails with rule `unit` when the unit is unknown or does not fit the quantity (e.g. hPa for air_temperature).
 */
export function toCanonical(quantity: Quantity, value: number, unit: string | undefined): ConversionResult {
  const canonical = QUANTITIES[quantity].unit
  if (unit === undefined) return { ok: true, value }
  const spelled = normaliseUnit(unit)
  const conversion = spelled === undefined ? undefined : TO_CANONICAL[quantity]?.[spelled]
  if (!conversion) return { ok: false, rule: 'unit', message: `unit '${unit}' cannot be converted to ${canonical} for ${quantity}` }
  if (conversion.exponent !== undefined) return { ok: true, value: Number(shiftDecimal(decimalText(value), conversion.exponent)) }
  return { ok: true, value: roundFloat(value * (conversion.factor ?? 1) + (conversion.offset ?? 0)) }
}

/** Rounds away binary noise of a linear conversion (12 significant digits, far below any sensor's resolution). */
function roundFloat(value: number): number {
  return Number(value.toPrecision(12))
}

/** The shortest decimal text of a number, without exponent (1e-7 → "0.0000001"). */
function decimalText(value: number): string {
  const text = String(value)
  if (!/e/i.test(text)) return text
  return value.toFixed(20).replace(/\.?0+$/, '')
}

/**
 * Multiplies a plain decimal string by 10^exponent by moving the decimal point: `shiftDecimal('102490.52', -2)`
 * is exactly `'1024.9052'`.
 */
export function shiftDecimal(text: string, exponent: number): string {
  if (exponent === 0) return text
  const negative = text.startsWith('-')
  const [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.')
  let digits = whole + fraction
  let point = whole.length + exponent
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits
    point = 1
  } else if (point > digits.length) {
    digits = digits.padEnd(point, '0')
  }
  const shifted = `${digits.slice(0, point)}.${digits.slice(point)}`.replace(/\.$/, '')
  return (negative ? '-' : '') + shifted
}
