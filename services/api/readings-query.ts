import { DateTime } from 'luxon'
import type { Quantity } from '../../core/quantities.ts'
import type { AggregateRow, ReadingField, ReadingStore } from '../../core/store/store.ts'

/**
 * Paged reading queries for GET /api/v1/readings, over the store's named queries readingRows and
 * aggregateReadings (InfluxQL on measurement `reading`: core/store/influx-queries.ts). Every query names its devices explicitly: callers pass only public (consented, registered)
 * devices, so nothing else can come back.
 *
 * Paging. The store's queries are not chunked (one JSON answer per InfluxQL statement), so a page is one query
 * returning at most about `limit` rows (≤ 100 000), and the next page starts after a cursor (time, device) —
 * rows are ordered by (time, device), and a device has at most one reading per time (the point key) and one
 * aggregate per window. Exactness:
 * - raw readings: `LIMIT limit + 2·devices + 1`; rows at the cursor time up to the cursor device are skipped and,
 *   when the limit was hit, the rows at the last time returned are dropped (they may be cut mid-time), leaving at
 *   least `limit + 1` complete rows.
 * - windows: `GROUP BY time(w), device … LIMIT limit + 2` applies per device series, so every device's first
 *   windows after the cursor are there and the first `limit` of the merged order are exact.
 */

export type Series = 'raw' | 'calibrated' | 'both'
export type Window = '10m' | '1h' | '1d'

/** Where the next page starts: after (t, d) in (time, device) order. */
export interface Cursor {
  /** Epoch ms UTC (a reading's time, or a window's start). */
  t: number
  /** Device id. */
  d: string
}

export interface ReadingsPageQuery {
  /** Public device ids (none: an empty page, no query). */
  devices: readonly string[]
  quantity: Quantity
  /** Inclusive start and exclusive end, epoch ms UTC. */
  from: number
  to: number
  series: Series
  limit: number
  cursor?: Cursor
}

export interface WindowPageQuery extends ReadingsPageQuery {
  window: Window
  /** IANA zone the windows follow (InfluxQL tz()): 1d windows are local days. */
  tz: string
}

/** One output row: the keys are the CSV columns. */
export type Row = Record<string, string | number | null>

export interface Page {
  columns: string[]
  rows: Row[]
  next?: Cursor
}

const WINDOW_DURATION = { '10m': { minutes: 10 }, '1h': { hours: 1 }, '1d': { days: 1 } } as const

/** Columns of a page, after time, device, quantity. */
export function valueColumns(series: Series, windowed: boolean): string[] {
  const stats = ['mean', 'min', 'max', 'count']
  // calibrated values carry their uncertainty and label (core/calibration/uncertainty.ts; labelCalibrated)
  if (!windowed) return series === 'both' ? ['raw', 'calibrated', 'uncertainty', 'label'] : series === 'calibrated' ? ['value', 'uncertainty', 'label'] : ['value']
  return series === 'both' ? ['raw', 'calibrated'].flatMap((s) => stats.map((stat) => `${s}_${stat}`)) : stats
}

/** Byte order of ids, the order of every listing and page. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const byTimeDevice = (a: Row, b: Row) => (a.time as number) - (b.time as number) || compareIds(a.device as string, b.device as string)

/** Raw readings: columns time (epoch ms until formatted), device, quantity, then valueColumns(series, false). */
export async function queryReadingsPage(store: Pick<ReadingStore, 'readingRows'>, q: ReadingsPageQuery): Promise<Page> {
  const columns = valueColumns(q.series, false)
  if (q.devices.length === 0) return { columns, rows: [] }
  const fields: ReadingField[] = [...seriesFields(q.series), ...(q.series === 'raw' ? [] : (['calibrated_u', 'calibration_label'] as const))]
  const lower = q.cursor ? Math.max(q.from, q.cursor.t) : q.from
  const fetch = q.limit + 2 * q.devices.length + 1
  const values = await store.readingRows({ devices: q.devices, quantities: [q.quantity], from: lower, to: q.to, fields, limit: fetch })
  let rows: Row[] = values.map((v) => {
    const row: Row = { time: v.time, device: v.deviceId, quantity: q.quantity }
    columns.forEach((column, i) => (row[column] = (v.fields[fields[i]!] as number | null | undefined) ?? null))
    if (q.series !== 'raw') labelCalibrated(row, q.series === 'both' ? 'calibrated' : 'value')
    return row
  })
  rows.sort(byTimeDevice)
  if (q.cursor) rows = rows.filter((r) => !(r.time === q.cursor!.t && compareIds(r.device as string, q.cursor!.d) <= 0))
  if (values.length === fetch) {
    const last = values[values.length - 1]!.time
    rows = rows.filter((r) => r.time !== last)
  }
  return finishPage(columns, rows, q.limit)
}

/** `uncertainty` null unless assessed (stored −1: not); `label` `uncalibrated` without a calibrated value, `experimental` when none was stored. */
function labelCalibrated(row: Row, calibrated: string): void {
  if (typeof row.uncertainty !== 'number' || row.uncertainty < 0) row.uncertainty = null
  row.label = row[calibrated] === null ? 'uncalibrated' : (row.label ?? 'experimental')
}

function finishPage(columns: string[], rows: Row[], limit: number): Page {
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  return { columns, rows: page, ...(rows.length > limit && last ? { next: { t: last.time as number, d: last.device as string } } : {}) }
}

/** The stored fields behind a series: `value` (raw) and/or `calibrated`, in valueColumns' order. */
function seriesFields(series: Series): Array<'value' | 'calibrated'> & ReadingField[] {
  return series === 'raw' ? ['value'] : series === 'calibrated' ? ['calibrated'] : ['value', 'calibrated']
}

/** Window rows: mean, min, max, count of each series field (prefixed raw_/calibrated_ for both). */
function windowRows(groups: AggregateRow[], series: Series, quantity: Quantity, device: (g: AggregateRow) => string): Row[] {
  return groups.map((g) => {
    const row: Row = { time: g.time, device: device(g), quantity }
    for (const field of seriesFields(series)) {
      const prefix = series !== 'both' ? '' : field === 'value' ? 'raw_' : 'calibrated_'
      const stats = g.stats[field]
      for (const stat of ['mean', 'min', 'max'] as const) row[`${prefix}${stat}`] = stats?.[stat] ?? null
      row[`${prefix}count`] = stats?.count ?? 0
    }
    return row
  })
}

/** Per-device window aggregates (mean, min, max, count), windows labelled by their start. */
export async function queryWindowPage(store: Pick<ReadingStore, 'aggregateReadings'>, q: WindowPageQuery): Promise<Page> {
  const columns = valueColumns(q.series, true)
  if (q.devices.length === 0) return { columns, rows: [] }
  const lower = q.cursor ? Math.max(q.from, q.cursor.t) : q.from
  const groups = await store.aggregateReadings({
    devices: q.devices,
    quantities: [q.quantity],
    from: lower,
    to: q.to,
    fields: seriesFields(q.series),
    window: { every: q.window, tz: q.tz },
    perDevice: true,
    limitPerGroup: q.limit + 2,
  })
  let rows = windowRows(groups, q.series, q.quantity, (g) => g.deviceId ?? '')
  rows.sort(byTimeDevice)
  if (q.cursor) rows = rows.filter((r) => !(r.time === q.cursor!.t && compareIds(r.device as string, q.cursor!.d) <= 0))
  return finishPage(columns, rows, q.limit)
}

/** Start of the window after the one starting at `start` (local calendar days for 1d, so DST days are 23/25 h). */
export function nextWindowStart(start: number, window: Window, tz: string): number {
  return DateTime.fromMillis(start, { zone: tz }).plus(WINDOW_DURATION[window]).toMillis()
}

/**
 * The neighbourhood aggregate for the windows that start on this page: pooled over every reading of the given
 * devices in the window (a device with more readings weighs more), mean/min/max/count. A window's aggregate is
 * sent on the page holding that window's first device row, so no window is sent twice across pages.
 * `device` of the rows is `neighbourhood:<id>`.
 */
export async function queryNeighbourhoodWindows(
  store: Pick<ReadingStore, 'aggregateReadings'>,
  q: WindowPageQuery,
  neighbourhood: string,
  page: Page,
): Promise<Row[]> {
  const times = [...new Set(page.rows.map((r) => r.time as number))].filter((t) => q.cursor === undefined || t > q.cursor.t)
  if (times.length === 0) return []
  const lower = Math.max(q.from, Math.min(...times))
  const upper = Math.min(q.to, nextWindowStart(Math.max(...times), q.window, q.tz))
  const groups = await store.aggregateReadings({
    devices: q.devices,
    quantities: [q.quantity],
    from: lower,
    to: upper,
    fields: seriesFields(q.series),
    window: { every: q.window, tz: q.tz },
    perDevice: false,
  })
  const wanted = new Set(times)
  const device = `neighbourhood:${neighbourhood}`
  return windowRows(groups, q.series, q.quantity, () => device).filter((r) => wanted.has(r.time as number))
}

/** The opaque cursor text: base64url of `{"t":…,"d":…}`. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url')
}

/** Parses a cursor text; undefined when it is not one this API made. */
export function decodeCursor(text: string): Cursor | undefined {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown
    if (typeof value !== 'object' || value === null) return undefined
    const { t, d } = value as { t?: unknown; d?: unknown }
    return typeof t === 'number' && Number.isSafeInteger(t) && typeof d === 'string' && d.length <= 200 ? { t, d } : undefined
  } catch {
    return undefined
  }
}
