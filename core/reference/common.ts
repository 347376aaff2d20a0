import { QUANTITIES, type Quantity } from '../quantities.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSourceName } from './reference.ts'

/** One hour in ms: the averaging period of every hourly reference mean. */
export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000
/**
 * Longest time window one request may cover: one week. The Luchtmeetnet open API serves at most one week per
 * `/measurements` request (research reference-data.md §1; the RIVM R package `samanapir` splits its requests
 * into weeks for the same reason). KNMI and Samen Meten are asked in the same windows, which keeps responses
 * small and makes every window one cache entry.
 */
export const MAX_WINDOW_MS = 7 * DAY_MS

/**
 * Something in a response or file that could not be turned into an observation. Parsers never throw on bad
 * input; they return these next to what they could read.
 * `where` locates it (`line 37`, `data[12]`, `value[3]`), `message` says what is wrong, `raw` is the offending
 * text when short.
 */
export interface ReferenceProblem {
  where: string
  message: string
  raw?: string
}

/** What a response or file parser returns. */
export interface ReferenceParseResult {
  observations: ReferenceObservation[]
  problems: ReferenceProblem[]
}

/**
 * Quality flags of one reference value: `negative` when it is below 0 for a quantity that cannot physically be
 * negative (QUANTITIES[q].min ≥ 0: concentrations, precipitation, wind speed…). A −3 °C air temperature is
 * weather, not a flag. Luchtmeetnet reports small negative hourly means (e.g. O3 −0.5 µg/m³, the analyser's
 * zero noise); they are kept as published, not clipped, so averages stay unbiased.
 */
export function valueFlags(quantity: Quantity, value: number): string[] {
  return value < 0 && QUANTITIES[quantity].min >= 0 ? ['negative'] : []
}

/**
 * Splits [from, to) into consecutive windows of at most `maxMs` (default one week), starting at `from`.
 * An empty or inverted range gives no window.
 */
export function splitWindows(from: number, to: number, maxMs = MAX_WINDOW_MS): Array<{ from: number; to: number }> {
  const windows: Array<{ from: number; to: number }> = []
  for (let start = from; start < to; start += maxMs) windows.push({ from: start, to: Math.min(to, start + maxMs) })
  return windows
}

/** `YYYY-MM-DDTHH:MM:SS` in UTC without zone suffix (the Luchtmeetnet `start`/`end` parameter form). */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19)
}

/**
 * Keeps the observations of `query` (station, quantity, from ≤ time < to), one per time (the first seen wins),
 * oldest first.
 */
export function selectObservations(observations: Iterable<ReferenceObservation>, query: ReferenceQuery): ReferenceObservation[] {
  const byTime = new Map<number, ReferenceObservation>()
  for (const o of observations) {
    if (o.station !== query.station || o.quantity !== query.quantity) continue
    if (o.time < query.from || o.time >= query.to || byTime.has(o.time)) continue
    byTime.set(o.time, o)
  }
  return [...byTime.values()].sort((a, b) => a.time - b.time)
}

/** Parses a JSON text without throwing: the value, or a problem. */
export function parseJsonText(text: string, where = 'file'): { ok: true; value: unknown } | { ok: false; problem: ReferenceProblem } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (error) {
    return { ok: false, problem: { where, message: `not valid JSON: ${(error as Error).message}`, raw: text.slice(0, 120) } }
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Short JSON text of a value for a problem's `raw` (at most 200 characters). */
export function rawText(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 200 ? `${text.slice(0, 197)}...` : text
}

/** The source a station id belongs to, from its form: `NL…` Luchtmeetnet, digits KNMI, `samenmeten:…` Samen Meten. */
export function sourceOfStation(station: string): ReferenceSourceName | undefined {
  if (/^NL\d{5}$/.test(station)) return 'luchtmeetnet'
  if (/^\d{3}$/.test(station)) return 'knmi'
  if (station.startsWith('samenmeten:')) return 'samenmeten'
  return undefined
}
