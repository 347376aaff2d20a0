import { z } from 'zod'
import { badParam } from '../problem.ts'

/**
 * The OGC SensorThings API 1.1 (OGC 18-088) query options this read subset understands (§9.3): `$top`, `$skip`,
 * `$count`, `$orderby`, `$expand` (one level, no nested options), `$select` (top-level properties) and `$filter` on `phenomenonTime` or `resultTime`
 * of Observations with `ge`, `gt`, `le`, `lt`, `eq` joined by `and`. Any other query option is refused with a 400
 * naming it (a strict querystring model), rather than ignored.
 */
export const DEFAULT_TOP = 100
export const MAX_TOP = 10_000
/** Deepest `$skip` honoured: paging reads the skipped rows too, so the cost of a page is bounded by this. */
export const MAX_SKIP = 100_000

const KNOWN_OPTIONS = ['$top', '$skip', '$count', '$orderby', '$filter', '$expand', '$select']

export const StaQuerySchema = z
  .object({
  $top: z.coerce.number().int().min(0).max(MAX_TOP).optional().describe(`page size, 0…${MAX_TOP} (default ${DEFAULT_TOP})`),
  $skip: z.coerce.number().int().min(0).max(MAX_SKIP).optional().describe(`entities to skip, 0…${MAX_SKIP}`),
  $count: z.enum(['true', 'false']).optional().describe('true: the collection carries @iot.count'),
  $orderby: z.string().max(100).optional().describe('Observations: phenomenonTime or resultTime, asc (default) or desc; others: @iot.id'),
  $filter: z.string().max(400).optional().describe('Observations: phenomenonTime ge|gt|le|lt|eq <ISO-8601 time>, joined with and'),
  $expand: z.string().max(200).optional().describe('one level of navigation properties, comma-separated (Things: Locations, Datastreams; Datastreams: Thing, Sensor, ObservedProperty)'),
    $select: z
      .string()
      .max(300)
      .regex(/^\s*[@A-Za-z.]+\s*(,\s*[@A-Za-z.]+\s*)*$/, 'must be property names separated by commas (no nested $select)')
      .optional()
      .describe('properties to keep, comma-separated (id is @iot.id)'),
  })
  .catchall(z.unknown())
  .superRefine((q, ctx) => {
    for (const key of Object.keys(q)) {
      if (!KNOWN_OPTIONS.includes(key)) ctx.addIssue({ code: 'custom', path: [key], message: `is not supported by this read subset (supported: ${KNOWN_OPTIONS.join(', ')})` })
    }
  })
export type StaQuery = z.output<typeof StaQuerySchema>

/** A half-open time range [from, to) in epoch ms UTC, from a `$filter`. */
export interface TimeRange {
  from: number
  to: number
}

/** The widest range: InfluxDB 1.x keeps times between 1677 and 2262; we read 1970 to 2200. */
export const ALL_TIME: TimeRange = { from: 0, to: Date.UTC(2200, 0, 1) }

const COMPARISON = /^\s*(phenomenonTime|resultTime)\s+(ge|gt|le|lt|eq)\s+'?(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))'?\s*$/

/**
 * The time range of a `$filter` (§9.3.3.5): comparisons of phenomenonTime (or resultTime, which this server sets
 * to the phenomenonTime) with ISO-8601 times, joined by `and`; `gt t` starts 1 ms after t, `le t` ends 1 ms after.
 * Errors: a 400 naming `$filter` for anything else (or, or, functions, other properties).
 */
export function parseTimeFilter(filter: string | undefined): TimeRange {
  const range = { ...ALL_TIME }
  if (filter === undefined) return range
  for (const part of filter.split(/\s+and\s+/i)) {
    const match = COMPARISON.exec(part)
    if (!match) throw badParam('$filter', `only comparisons of phenomenonTime with an ISO-8601 time (ge, gt, le, lt, eq) joined by and are supported, not '${part.trim().slice(0, 80)}'`)
    const t = Date.parse(match[3]!)
    if (Number.isNaN(t)) throw badParam('$filter', `'${match[3]}' is not a time`)
    const op = match[2]
    if (op === 'ge' || op === 'eq') range.from = Math.max(range.from, t)
    if (op === 'gt') range.from = Math.max(range.from, t + 1)
    if (op === 'lt') range.to = Math.min(range.to, t)
    if (op === 'le' || op === 'eq') range.to = Math.min(range.to, t + 1)
  }
  return range
}

/** `$orderby` of Observations: direction of phenomenonTime; undefined → ascending. Errors: 400 naming `$orderby`. */
export function parseTimeOrder(orderby: string | undefined): 'asc' | 'desc' {
  if (orderby === undefined) return 'asc'
  const match = /^\s*(phenomenonTime|resultTime)(?:\s+(asc|desc))?\s*$/.exec(orderby)
  if (!match) throw badParam('$orderby', 'Observations can be ordered by phenomenonTime (or resultTime) asc or desc only')
  return match[2] === 'desc' ? 'desc' : 'asc'
}

/** `$orderby` of other collections: only by id (their only order). Errors: 400 naming `$orderby`. */
export function checkIdOrder(orderby: string | undefined): void {
  if (orderby !== undefined && !/^\s*(@iot\.id|id)(\s+asc)?\s*$/.test(orderby)) throw badParam('$orderby', 'this collection is ordered by @iot.id ascending only')
}

/** The `$expand` items, each one of `allowed`. Errors: 400 naming `$expand`. */
export function parseExpand(expand: string | undefined, allowed: readonly string[]): string[] {
  if (expand === undefined) return []
  const items = expand.split(',').map((s) => s.trim())
  for (const item of items) {
    if (!allowed.includes(item)) throw badParam('$expand', `'${item.slice(0, 60)}' cannot be expanded here${allowed.length ? `; one of ${allowed.join(', ')}` : ''} (one level, no nested options)`)
  }
  return items
}

/**
 * `$select` (§9.3.2.2) applied to an entity or to each entity of a collection: only the named properties (`id` is
 * `@iot.id`; a navigation property keeps its link or expansion) stay. Unknown names simply select nothing.
 */
export function applySelect(answer: Record<string, unknown>, select: string | undefined): Record<string, unknown> {
  if (select === undefined) return answer
  const names = new Set(select.split(',').map((s) => s.trim()).map((s) => (s === 'id' ? '@iot.id' : s)))
  const pick = (entity: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(entity).filter(([key]) => names.has(key) || names.has(key.replace(/@iot\.navigationLink$/, ''))))
  if (Array.isArray(answer.value)) return { ...answer, value: (answer.value as Array<Record<string, unknown>>).map(pick) }
  return pick(answer)
}
