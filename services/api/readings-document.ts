import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import { formatIsoMs } from '../../core/time.ts'
import type { DataLicence } from './licence.ts'
import type { Row, Series } from './readings-query.ts'
import type { Window } from './window-quality.ts'

/**
 * The JSON document of GET /api/v1/readings (services/api/routes/readings.ts ReadingsResponseSchema), built in
 * one place so that `senshagen query --format json` prints the same document for the same parameters (issue 12:
 * every surface agrees). Shapes: `time` ISO-8601 UTC with milliseconds; `flags` a list ([] for none); values in
 * each row's `unit`.
 */
export interface ReadingsDocumentInput {
  /** The `device=` ids as asked (undefined for a neighbourhood request). */
  asked: readonly string[] | undefined
  /** The public devices answered for, in id order. */
  devices: readonly string[]
  /** The data licence of each source (licence.ts licencesOf(devices)); the API also sends it as Link headers. */
  licence: DataLicence[]
  neighbourhood: string | undefined
  quantities: readonly Quantity[]
  series: Series
  window: Window | undefined
  tz: string | undefined
  /** window-quality.ts parseIncludeFlags: undefined = every reading ('all'). */
  includeFlags: readonly string[] | undefined
  /** Epoch ms UTC, inclusive start and exclusive end. */
  from: number
  to: number
  /** Every key of a row, in CSV order (keyColumns + the page's columns). */
  columns: readonly string[]
  rows: readonly Row[]
  aggregate: readonly Row[] | undefined
  /** The encoded cursor of the next page, or null on the last. */
  next: string | null
}

export interface ReadingsDocument {
  device: string | null
  devices: readonly string[]
  neighbourhood: string | null
  quantity: Quantity | null
  quantities: readonly Quantity[]
  unit: string | null
  series: Series
  window: Window | null
  tz: string | null
  include_flags: readonly string[] | 'all'
  licence: DataLicence[]
  from: string
  to: string
  columns: readonly string[]
  rows: Array<Record<string, unknown>>
  aggregate?: Array<Record<string, unknown>>
  next: string | null
}

/** A row as JSON gives it: ISO time, flags as a list. */
export function jsonRow(r: Row): Record<string, unknown> {
  return { ...r, time: formatIsoMs(r.time as number), ...(typeof r.flags === 'string' ? { flags: r.flags === '' ? [] : r.flags.split(';') } : {}) }
}

/** The document for one page (the API) or for every page at once (the CLI, `next` null). */
export function readingsDocument(d: ReadingsDocumentInput): ReadingsDocument {
  const one = d.quantities.length === 1 ? d.quantities[0]! : null
  return {
    device: d.asked?.length === 1 ? d.asked[0]! : null,
    devices: d.devices,
    neighbourhood: d.neighbourhood ?? null,
    quantity: one,
    quantities: d.quantities,
    unit: one === null ? null : QUANTITIES[one].unit,
    series: d.series,
    window: d.window ?? null,
    tz: d.window === undefined && d.tz === undefined ? null : (d.tz ?? 'UTC'),
    include_flags: d.includeFlags ?? 'all',
    licence: d.licence,
    from: formatIsoMs(d.from),
    to: formatIsoMs(d.to),
    columns: d.columns,
    rows: d.rows.map(jsonRow),
    ...(d.aggregate ? { aggregate: d.aggregate.map(jsonRow) } : {}),
    next: d.next,
  }
}
