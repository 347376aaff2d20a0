import { DateTime } from 'luxon'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { ReadingField, ReadingStore } from '../../core/store/store.ts'
import { TIME_MAX_MS, TIME_MIN_MS } from './params.ts'
import type { AggregateField, FieldStats } from '../../core/store/store.ts'
import {
  CALIBRATION_FIELDS,
  type LabelledUncertainty,
  type QualifiedWindow,
  UNCALIBRATED,
  type Window,
  type WindowQuality,
  meanCalibration,
  nextWindowStart,
  qualifiedWindows,
  reportingIntervals,
  storedCalibration,
  windowCalibration,
  windowQuality,
} from './window-quality.ts'

export { nextWindowStart, type Window } from './window-quality.ts'

/**
 * Paged reading queries for GET /api/v1/readings, over the store's named queries readingRows and
 * aggregateReadings (InfluxQL on measurement `reading`: core/store/influx-queries.ts). Every query names its devices explicitly: callers pass only public (consented, registered)
 * devices, so nothing else can come back.
 *
 * Paging. The store's queries are not chunked (one JSON answer per InfluxQL statement), so a page is one query
 * returning at most about `limit` rows (≤ 100 000), and the next page starts after a cursor (time, quantity,
 * device) — rows are ordered by (time, quantity, device), and a series (device, quantity) has at most one reading
 * per time (the point key) and one aggregate per window. Several devices and quantities: series = devices ×
 * quantities. Exactness:
 * - raw readings: `LIMIT limit + 2·series + 1`; rows at the cursor time up to the cursor key are skipped and,
 *   when the limit was hit, the rows at the last time returned are dropped (they may be cut mid-time), leaving at
 *   least `limit + 1` complete rows.
 * - windows: one query per quantity, `GROUP BY time(w), device … LIMIT limit + 2` applying per device series, so
 *   every series' first windows after the cursor are there and the first `limit` of the merged order are exact.
 *
 * Flags and completeness (services/api/window-quality.ts): raw rows carry their `flags` (`;`-separated in CSV, a
 * list in JSON); windows take unflagged readings unless `includeFlags` says otherwise and carry `expected`,
 * `completeness` and `partial`. Every row carries its `unit`, and `local_time` (ISO-8601 with the zone's
 * offset) when the caller names a zone (`labelZone`).
 *
 * Label and uncertainty (issue 11): every row carries `uncertainty` (expanded, k = 2, in the row's unit, or null)
 * and `label` (core/calibration/uncertainty.ts CalibrationLabel) of its calibrated value: as stored for a reading,
 * window-quality.ts windowCalibration for a window, meanCalibration for a neighbourhood window. Series `raw` says
 * `uncalibrated` with a null uncertainty: a raw value has no assessed uncertainty, and none is invented.
 */

export type Series = 'raw' | 'calibrated' | 'both'

/** Where the next page starts: after (t, q, d) in (time, quantity, device) order. */
export interface Cursor {
  /** Epoch ms UTC (a reading's time, or a window's start). */
  t: number
  /** Device id. */
  d: string
  /** Quantity; absent in cursors made before multi-quantity requests: (t, d) then means every quantity. */
  q?: string
}

export interface ReadingsPageQuery {
  /** Public device ids (none: an empty page, no query). */
  devices: readonly string[]
  /** One quantity, or several (rows then interleave them in (time, quantity, device) order). */
  quantity: Quantity | readonly Quantity[]
  /** Inclusive start and exclusive end, epoch ms UTC. */
  from: number
  to: number
  series: Series
  limit: number
  cursor?: Cursor
  /** window-quality.ts parseIncludeFlags: [] unflagged only, undefined every reading. */
  includeFlags: readonly string[] | undefined
  /** IANA zone of the `local_time` column; absent: no such column. */
  labelZone?: string
  /** Aborting it stops the store's queries (and kills them in InfluxDB 1.x). */
  signal?: AbortSignal
}

export interface WindowPageQuery extends ReadingsPageQuery {
  window: Window
  /** IANA zone the windows follow (InfluxQL tz()): 1d windows are local days. */
  tz: string
  /** Reporting intervals per quantity when the caller has them (window-quality.ts reportingIntervals). */
  intervals?: ReadonlyMap<Quantity, Map<string, { intervalMs: number }>>
}

/** One output row: the keys are the CSV columns. */
export type Row = Record<string, string | number | boolean | null>

export interface Page {
  columns: string[]
  rows: Row[]
  next?: Cursor
  /** Window pages: the device windows the rows were made from (queryNeighbourhoodWindows reuses them). */
  windows?: Map<Quantity, QualifiedWindow[]>
}

/** Columns of a page, after time, [local_time,] device, quantity, unit. */
export function valueColumns(series: Series, windowed: boolean): string[] {
  const stats = ['mean', 'min', 'max', 'count']
  // every value carries the uncertainty and label of its calibrated value (core/calibration/uncertainty.ts; labelCalibrated, windowCalibration)
  if (!windowed) return [...(series === 'both' ? ['raw', 'calibrated'] : ['value']), 'uncertainty', 'label', 'flags']
  return [...(series === 'both' ? ['raw', 'calibrated'].flatMap((s) => stats.map((stat) => `${s}_${stat}`)) : stats), 'uncertainty', 'label', 'expected', 'completeness', 'partial']
}

/** The leading columns of every row. */
export function keyColumns(labelZone: string | undefined): string[] {
  return ['time', ...(labelZone === undefined ? [] : ['local_time']), 'device', 'quantity', 'unit']
}

/** `time` (epoch ms) in `zone` as ISO-8601 with the zone's offset, e.g. 2018-12-17T00:00:00.000+01:00. */
export function localTime(time: number, zone: string): string {
  return DateTime.fromMillis(time, { zone }).toISO() ?? ''
}

function keyRow(time: number, device: string, quantity: Quantity, labelZone: string | undefined): Row {
  return { time, ...(labelZone === undefined ? {} : { local_time: localTime(time, labelZone) }), device, quantity, unit: QUANTITIES[quantity].unit }
}

/** Byte order of ids, the order of every listing and page. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The order of rows and cursors: time, then quantity, then device. */
function compareKeys(a: { time: number; quantity: string; device: string }, b: { time: number; quantity: string; device: string }): number {
  return a.time - b.time || compareIds(a.quantity, b.quantity) || compareIds(a.device, b.device)
}

const rowKey = (r: Row) => ({ time: r.time as number, quantity: r.quantity as string, device: r.device as string })
const byKey = (a: Row, b: Row) => compareKeys(rowKey(a), rowKey(b))

/** Whether a row comes after the cursor (an old cursor without a quantity: after its time and device). */
function afterCursor(row: Row, cursor: Cursor | undefined): boolean {
  if (cursor === undefined) return true
  const key = rowKey(row)
  if (cursor.q === undefined) return key.time > cursor.t || (key.time === cursor.t && compareIds(key.device, cursor.d) > 0)
  return compareKeys(key, { time: cursor.t, quantity: cursor.q, device: cursor.d }) > 0
}

/** Whether no row of window (time, quantity) can have been on an earlier page: (time, quantity) is after the cursor's. */
function startsAfterCursor(time: number, quantity: string, cursor: Cursor | undefined): boolean {
  if (cursor === undefined) return true
  return time > cursor.t || (time === cursor.t && cursor.q !== undefined && compareIds(quantity, cursor.q) > 0)
}

/** The quantities of a query as a list. */
export function quantitiesOf(q: Pick<ReadingsPageQuery, 'quantity'>): readonly Quantity[] {
  return typeof q.quantity === 'string' ? [q.quantity] : q.quantity
}

/** Raw readings: columns time (epoch ms until formatted), device, quantity, then valueColumns(series, false). */
export async function queryReadingsPage(store: Pick<ReadingStore, 'readingRows'>, q: ReadingsPageQuery): Promise<Page> {
  const columns = valueColumns(q.series, false)
  if (q.devices.length === 0) return { columns, rows: [] }
  const fields: ReadingField[] = [...seriesFields(q.series), ...(q.series === 'raw' ? [] : (['calibrated_u', 'calibration_label'] as const))]
  const quantities = quantitiesOf(q)
  const lower = q.cursor ? Math.max(q.from, q.cursor.t) : q.from
  const fetch = q.limit + 2 * q.devices.length * quantities.length + 1
  const values = await store.readingRows({
    devices: q.devices,
    quantities,
    from: lower,
    to: q.to,
    fields: [...fields, 'flags'],
    requireOneOf: seriesFields(q.series),
    limit: fetch,
    ...(q.includeFlags === undefined ? {} : { includeFlags: q.includeFlags }),
    ...(q.signal ? { signal: q.signal } : {}),
  })
  let rows: Row[] = values.map((v) => {
    const row = keyRow(v.time, v.deviceId, v.quantity, q.labelZone)
    fields.forEach((field, i) => (row[columns[i]!] = (v.fields[field] as number | null | undefined) ?? null))
    row.flags = typeof v.fields.flags === 'string' ? v.fields.flags.split(',').filter((f) => f !== '').join(';') : ''
    if (q.series !== 'raw') labelCalibrated(row, q.series === 'both' ? 'calibrated' : 'value')
    else Object.assign(row, UNCALIBRATED)
    return row
  })
  rows.sort(byKey)
  rows = rows.filter((r) => afterCursor(r, q.cursor))
  if (values.length === fetch) {
    const last = values[values.length - 1]!.time
    rows = rows.filter((r) => r.time !== last)
  }
  return finishPage(columns, rows, q.limit)
}

/** `uncertainty` and `label` of the row's calibrated value (window-quality.ts storedCalibration). */
function labelCalibrated(row: Row, calibrated: string): void {
  const { uncertainty, label } = storedCalibration({ calibrated: row[calibrated], calibrated_u: row.uncertainty, calibration_label: row.label })
  Object.assign(row, { uncertainty, label })
}

function finishPage(columns: string[], rows: Row[], limit: number): Page {
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  return { columns, rows: page, ...(rows.length > limit && last ? { next: { t: last.time as number, d: last.device as string, q: last.quantity as string } } : {}) }
}

/** The stored fields behind a series: `value` (raw) and/or `calibrated`, in valueColumns' order. */
function seriesFields(series: Series): Array<'value' | 'calibrated'> & ReadingField[] {
  return series === 'raw' ? ['value'] : series === 'calibrated' ? ['calibrated'] : ['value', 'calibrated']
}

/** One window to print: its statistics, quality and (neighbourhood windows) the calibration of its mean. */
type WindowGroup = Pick<QualifiedWindow, 'time' | 'deviceId' | 'stats'> & WindowQuality & { calibration?: LabelledUncertainty }

/** Window rows: mean, min, max, count of each series field (prefixed raw_/calibrated_ for both), uncertainty, label, then expected, completeness, partial. */
function windowRows(groups: WindowGroup[], q: OneQuantityWindows, device: (g: WindowGroup) => string): Row[] {
  return groups.map((g) => {
    const row = keyRow(g.time, device(g), q.quantity, q.labelZone)
    for (const field of seriesFields(q.series)) {
      const prefix = q.series !== 'both' ? '' : field === 'value' ? 'raw_' : 'calibrated_'
      const stats = g.stats[field]
      for (const stat of ['mean', 'min', 'max'] as const) row[`${prefix}${stat}`] = stats?.[stat] ?? null
      row[`${prefix}count`] = stats?.count ?? 0
    }
    const { uncertainty, label } = q.series === 'raw' ? UNCALIBRATED : (g.calibration ?? windowCalibration(g.stats))
    return Object.assign(row, { uncertainty, label, expected: g.expected, completeness: g.completeness, partial: g.partial })
  })
}

/** A window query of one quantity, with that quantity's reporting intervals. */
type OneQuantityWindows = Omit<WindowPageQuery, 'quantity' | 'intervals'> & { quantity: Quantity; intervals?: Map<string, { intervalMs: number }> }

/** The query of each quantity. */
function perQuantity(q: WindowPageQuery): OneQuantityWindows[] {
  return quantitiesOf(q).map((quantity) => {
    const intervals = q.intervals?.get(quantity)
    const { intervals: _all, ...rest } = q
    return { ...rest, quantity, ...(intervals ? { intervals } : {}) }
  })
}

function windowsQuery(q: OneQuantityWindows, from: number, to: number, perDevice: boolean) {
  return {
    devices: q.devices,
    quantity: q.quantity,
    from,
    to,
    window: q.window,
    tz: q.tz,
    fields: [...seriesFields(q.series), ...(q.series === 'raw' ? [] : CALIBRATION_FIELDS)],
    includeFlags: q.includeFlags,
    perDevice,
    ...(q.intervals ? { intervals: q.intervals } : {}),
    ...(q.signal ? { signal: q.signal } : {}),
  }
}

/** Per-device window aggregates (mean, min, max, count, expected, completeness, partial), windows labelled by their start. */
export async function queryWindowPage(store: Pick<ReadingStore, 'aggregateReadings' | 'recentTimes'>, q: WindowPageQuery): Promise<Page> {
  const columns = valueColumns(q.series, true)
  if (q.devices.length === 0) return { columns, rows: [] }
  const lower = q.cursor ? Math.max(q.from, q.cursor.t) : q.from
  let rows: Row[] = []
  const windows = new Map<Quantity, QualifiedWindow[]>()
  for (const one of perQuantity(q)) {
    const groups = await qualifiedWindows(store, { ...windowsQuery(one, q.from, q.to, true), lower, limitPerGroup: q.limit + 2 })
    windows.set(one.quantity, groups)
    rows = rows.concat(windowRows(groups, one, (g) => g.deviceId ?? ''))
  }
  rows.sort(byKey)
  return { ...finishPage(columns, rows.filter((r) => afterCursor(r, q.cursor)), q.limit), windows }
}

/**
 * The neighbourhood aggregate for the windows that start on this page, per quantity, by the rule every surface
 * follows (README "Reading the data"): each device counts once, so `mean` is the mean of the devices' window
 * means (a device that reports every 10 s weighs no more than one that reports every 5 min, as in
 * GET /neighbourhoods/:id/now); `min`/`max` are over every reading, `count` the readings, `expected`/`completeness`
 * against the pooled reporting intervals. `calibrated_mean` is the mean over the devices that have calibrated
 * values in the window; its label and uncertainty are window-quality.ts meanCalibration of theirs. A window's
 * aggregate is sent on the page holding the first device row of that window and quantity (rows are ordered by
 * time, quantity, device), so no window is sent twice across pages. `device` of the rows is `neighbourhood:<id>`;
 * ordered by (time, quantity).
 */
export async function queryNeighbourhoodWindows(
  store: Pick<ReadingStore, 'aggregateReadings' | 'recentTimes'>,
  q: WindowPageQuery,
  neighbourhood: string,
  page: Page,
): Promise<Row[]> {
  const device = `neighbourhood:${neighbourhood}`
  // a single page (no cursor, no next) holds every device window of the range: no second query
  const whole = q.cursor === undefined && page.next === undefined && page.windows !== undefined
  let out: Row[] = []
  for (const one of perQuantity(q)) {
    const times = [...new Set(page.rows.filter((r) => r.quantity === one.quantity && startsAfterCursor(r.time as number, one.quantity, q.cursor)).map((r) => r.time as number))]
    if (times.length === 0) continue
    const lower = Math.max(q.from, Math.min(...times))
    const upper = Math.min(q.to, nextWindowStart(Math.max(...times), q.window, q.tz))
    const intervals = one.intervals ?? (await reportingIntervals(store, q.devices, one.quantity, q.to, q.signal))
    const cached = whole ? page.windows!.get(one.quantity) : undefined
    const groups = cached ?? (await qualifiedWindows(store, { ...windowsQuery({ ...one, intervals }, q.from, q.to, true), lower, upper }))
    out = out.concat(windowRows(neighbourhoodWindows(groups, one, intervals, new Set(times)), one, () => device))
  }
  return out.sort(byKey)
}

/** The neighbourhood's windows at the wanted times: each device once (meanOfMeans), with the calibration of the mean. */
function neighbourhoodWindows(groups: readonly QualifiedWindow[], q: OneQuantityWindows, intervals: Map<string, { intervalMs: number }>, wanted: ReadonlySet<number>): WindowGroup[] {
  const byTime = new Map<number, QualifiedWindow[]>()
  for (const g of groups) byTime.get(g.time)?.push(g) ?? byTime.set(g.time, [g])
  const pooled = q.devices.flatMap((d) => (intervals.has(d) ? [intervals.get(d)!.intervalMs] : []))
  const fields = seriesFields(q.series)
  return [...byTime]
    .filter(([time]) => wanted.has(time))
    .sort(([a], [b]) => a - b)
    .map(([time, devices]): WindowGroup => {
      const stats = Object.fromEntries(fields.map((f) => [f, meanOfMeans(devices.map((d) => d.stats[f]))])) as Partial<Record<AggregateField, FieldStats>>
      const count = stats.value?.count ?? stats[fields[0]!]?.count ?? 0
      const calibration = meanCalibration(devices.filter((d) => (d.stats.calibrated?.count ?? 0) > 0).map((d) => windowCalibration(d.stats)))
      // completeness against the requested range: a window the page cuts for paging is not `partial`
      return { time, stats, calibration, ...windowQuality(time, q.window, q.tz, q, count, pooled) }
    })
}

/**
 * Each device once (README "Reading the data", rule 2): the mean of the device means, min of mins, max of maxes
 * (a part without min/max: its mean), the readings counted and the devices averaged; parts without a value
 * (count 0 or mean null) left out. The one implementation of the rule: neighbourhood windows here and
 * GET /neighbourhoods/:id/now (routes/neighbourhoods.ts nowValue) both call it. Values in the parts' unit.
 */
export function meanOfMeans(parts: ReadonlyArray<FieldStats | undefined>): FieldStats & { devices: number } {
  const some = parts.filter((p): p is FieldStats => p !== undefined && p.count > 0 && p.mean !== null)
  if (some.length === 0) return { mean: null, min: null, max: null, count: 0, devices: 0 }
  return {
    mean: some.reduce((sum, p) => sum + p.mean!, 0) / some.length,
    min: Math.min(...some.map((p) => p.min ?? p.mean!)),
    max: Math.max(...some.map((p) => p.max ?? p.mean!)),
    count: some.reduce((sum, p) => sum + p.count, 0),
    devices: some.length,
  }
}

/** The opaque cursor text: base64url of `{"t":…,"d":…,"q":…}`. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url')
}

/** Parses a cursor text; undefined when it is not one this API made (a time outside what InfluxDB stores is not). */
export function decodeCursor(text: string): Cursor | undefined {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown
    if (typeof value !== 'object' || value === null) return undefined
    const { t, d, q } = value as { t?: unknown; d?: unknown; q?: unknown }
    const storable = typeof t === 'number' && Number.isSafeInteger(t) && t >= TIME_MIN_MS && t <= TIME_MAX_MS
    if (!storable || typeof d !== 'string' || d.length > 200) return undefined
    if (q === undefined) return { t, d }
    return typeof q === 'string' && q.length <= 64 ? { t, d, q } : undefined
  } catch {
    return undefined
  }
}
