import { randomBytes } from 'node:crypto'
import { isQuantity, type Quantity } from '../quantities.ts'
import { REFERENCE_MEASUREMENT } from '../reference/reference-store.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSourceName } from '../reference/reference.ts'
import { EVENT_MEASUREMENT, READING_MEASUREMENT, REJECTION_MEASUREMENT, deviceAndSubDevices, influxqlString } from './schema.ts'
import type {
  AggregateField,
  AggregateQuery,
  AggregateRow,
  DeviceEventKind,
  EventQuery,
  EventSummary,
  FieldStats,
  LastReading,
  LastReceived,
  LatestEvent,
  ReadingCount,
  ReadingLabels,
  ReadingQuery,
  ReadingRow,
  ReadingRowsQuery,
  ReadingSelection,
  ReadingStore,
  RecentTimes,
  RecentTimesQuery,
  RejectionCount,
  StoredDeviceEvent,
  StoredReading,
  StoredRejection,
} from './store.ts'

/**
 * The store's named queries as InfluxQL over `/query` (which InfluxDB 1.x, 2.x through its v1 compatibility API
 * and 3.x all serve; https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/query/), on the schema of
 * core/store/schema.ts. Each method builds its statements and turns the series back into the shapes of
 * core/store/store.ts; core/store/influx.ts runs them. Errors: those of `influxql`.
 */

/** A series as InfluxQL returns it over /query. */
export interface InfluxSeries {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}

const STATS = ['mean', 'min', 'max', 'count'] as const

/** The calibrated aggregate fields (core/store/store.ts AggregateField): the stored field each summarises, and the points it takes. */
const CALIBRATED_VIEWS = {
  calibrated: { field: 'calibrated', where: [`"calibration_method" != ''`] },
  calibrated_u: { field: 'calibrated_u', where: [`"calibration_method" != ''`, `"calibrated_u" >= 0`] },
  calibrated_indicative: { field: 'calibrated', where: [`"calibration_method" != ''`, `"calibration_label" = 'indicative'`] },
} as const satisfies Partial<Record<AggregateField, { field: string; where: readonly string[] }>>

/**
 * How a caller stops a statement: the signal, and a marker the statement carries (a condition that holds for
 * every reading, `"device" != '#q…'`: device ids never hold `#`, core/reading.ts) so the server's SHOW QUERIES
 * tells this statement apart from equal ones of other callers.
 */
export interface QueryControl {
  signal: AbortSignal
  marker: string
}

function queryControl(signal: AbortSignal | undefined): QueryControl | undefined {
  return signal === undefined ? undefined : { signal, marker: `#q${randomBytes(8).toString('hex')}` }
}

/** `("flags" = '' OR "flags" =~ /^(?:a|b)(?:,(?:a|b))*$/)`: no flags, or only the listed ones (`flags` is comma-separated). */
export function includeFlagsCondition(flags: readonly string[]): string {
  if (flags.length === 0) return `"flags" = ''`
  const one = `(?:${flags.map((f) => f.replace(/[^A-Za-z0-9_]/g, (c) => `\\${c}`)).join('|')})`
  return `("flags" = '' OR "flags" =~ /^${one}(?:,${one})*$/)`
}

/** `"device" =~ /^(?:a|b)$/`: device ids hold only [A-Za-z0-9_.:-] (core/reading.ts), so escaping is easy. */
export function devicesCondition(devices: readonly string[]): string {
  if (devices.length === 1) return `"device" = ${influxqlString(devices[0]!)}`
  const escaped = devices.map((d) => d.replace(/[^A-Za-z0-9_-]/g, (c) => `\\${c}`))
  return `"device" =~ /^(?:${escaped.join('|')})$/`
}

function isoTime(ms: number): string {
  return influxqlString(new Date(ms).toISOString())
}

/** The WHERE conditions of a selection; undefined when it selects nothing (an empty device or quantity list). */
function selectionConditions(s: ReadingSelection, control?: QueryControl): string[] | undefined {
  if (s.devices?.length === 0 || s.quantities?.length === 0) return undefined
  const conditions: string[] = []
  if (s.devices !== undefined) conditions.push(devicesCondition(s.devices))
  if (s.deviceFamily !== undefined) conditions.push(deviceAndSubDevices(s.deviceFamily))
  if (s.quantities !== undefined) {
    const each = s.quantities.map((q) => `"quantity" = ${influxqlString(q)}`)
    conditions.push(each.length === 1 ? each[0]! : `(${each.join(' OR ')})`)
  }
  if (s.unflaggedOnly) conditions.push(`"flags" = ''`)
  if (s.includeFlags !== undefined && !s.unflaggedOnly) conditions.push(includeFlagsCondition(s.includeFlags))
  if (control !== undefined) conditions.push(`"device" != ${influxqlString(control.marker)}`)
  if (s.from !== undefined) conditions.push(`time >= ${isoTime(s.from)}`)
  if (s.to !== undefined) conditions.push(`time < ${isoTime(s.to)}`)
  return conditions
}

function where(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`
}

/** The fields to select: `calibration_method` added when `calibrated` is asked without it (readingRows). */
function withMethod(fields: readonly ReadingRowsQuery['fields'][number][]): ReadingRowsQuery['fields'][number][] {
  return fields.includes('calibrated') && !fields.includes('calibration_method') ? [...fields, 'calibration_method'] : [...fields]
}

/** Rows of series grouped by "device" and "quantity", one call per series with a typed quantity. */
function perDeviceQuantity<T>(series: InfluxSeries[], row: (deviceId: string, quantity: Quantity, values: unknown[]) => T | undefined): T[] {
  const rows: T[] = []
  for (const s of series) {
    const quantity = s.tags?.quantity ?? ''
    const deviceId = s.tags?.device
    const values = s.values[0]
    if (deviceId === undefined || !isQuantity(quantity) || values === undefined) continue
    const r = row(deviceId, quantity, values)
    if (r !== undefined) rows.push(r)
  }
  return rows
}

/**
 * The named queries of ReadingStore as InfluxQL: core/store/influx.ts's store extends this and supplies
 * `influxql` (one statement, the first result's series).
 */
export abstract class InfluxQueries implements Omit<ReadingStore, 'generation' | 'database' | 'ensureDatabase' | 'write' | 'writeLines' | 'close'> {
  /** Runs one statement; with `control`, aborting its signal also stops the statement on the server. */
  abstract influxql(statement: string, control?: QueryControl): Promise<InfluxSeries[]>

  async queryReadings(query: ReadingQuery): Promise<StoredReading[]> {
    const statement =
      `SELECT "value", "flags" FROM ${READING_MEASUREMENT} WHERE "device" = ${influxqlString(query.deviceId)}` +
      ` AND "quantity" = ${influxqlString(query.quantity)} AND time >= ${isoTime(query.from)} AND time < ${isoTime(query.to)}` +
      ' ORDER BY time ASC'
    const series = await this.influxql(statement)
    return (series[0]?.values ?? []).map(([time, value, flags]) => ({
      time: time as number,
      deviceId: query.deviceId,
      quantity: query.quantity,
      value: value as number,
      flags: splitFlags(flags),
    }))
  }

  async readingRows(query: ReadingRowsQuery): Promise<ReadingRow[]> {
    const control = queryControl(query.signal)
    const conditions = selectionConditions(query, control)
    if (conditions === undefined || query.fields.length === 0) return []
    // a field condition holds only on points that have the field; every stored value is above -1e21 (InfluxQL has no exponent literals)
    if (query.requireOneOf?.length) conditions.push(`(${query.requireOneOf.map((f) => `"${f}" > -1000000000000000000000.0`).join(' OR ')})`)
    const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(1, Math.trunc(query.limit))}`
    // a cleared point keeps its old `calibrated` with calibration_method "" (core/store/schema.ts): read the
    // method with it; `calibrated` counts only where the method is a non-empty string (as in aggregateReadings)
    const fields = withMethod(query.fields)
    const statement =
      `SELECT ${fields.map((f) => `"${f}"`).join(', ')}, "device", "quantity" FROM ${READING_MEASUREMENT}${where(conditions)} ORDER BY time ASC${limit}`
    const values = (await this.influxql(statement, control))[0]?.values ?? []
    const n = fields.length
    return values.map((v) => {
      const method = v[fields.indexOf('calibration_method') + 1]
      const cleared = typeof method !== 'string' || method === ''
      const value = (f: string, i: number) => (f === 'calibrated' && cleared ? null : ((v[i + 1] as number | string | null | undefined) ?? null))
      return {
        time: v[0] as number,
        deviceId: v[n + 1] as string,
        quantity: v[n + 2] as Quantity,
        fields: Object.fromEntries(query.fields.map((f) => [f, value(f, fields.indexOf(f))])),
      }
    })
  }

  async aggregateReadings(query: AggregateQuery): Promise<AggregateRow[]> {
    const control = queryControl(query.signal)
    const conditions = selectionConditions(query, control)
    if (conditions === undefined || query.fields.length === 0) return []
    // the calibrated views are aggregated without the cleared points (calibration_method "", core/store/schema.ts)
    // and with their own conditions, so each gets its own statement; rows are merged per window, device, quantity
    const plain = query.fields.filter((f) => !(f in CALIBRATED_VIEWS))
    const views = query.fields.filter((f): f is keyof typeof CALIBRATED_VIEWS => f in CALIBRATED_VIEWS)
    // the statements run at once: each is one scan of the same series
    const [base, ...others] = await Promise.all([
      ...(plain.length > 0 ? [this.aggregate(query, plain, conditions, control)] : []),
      ...views.map((view) => this.aggregateView(query, view, conditions, control)),
    ])
    const merged = plain.length > 0 ? views : views.slice(1)
    if (merged.length === 0) return base!
    const key = (r: AggregateRow) => `${r.deviceId ?? ''}\0${r.quantity}\0${r.time}`
    const byKey = new Map(base!.map((r) => [key(r), r]))
    merged.forEach((view, i) => {
      for (const r of base!) r.stats[view] = { mean: null, min: null, max: null, count: 0 }
      for (const r of others[i]!) {
        const row = byKey.get(key(r))
        if (row !== undefined) row.stats[view] = r.stats[view]!
      }
    })
    return base!
  }

  /** One calibrated view (CALIBRATED_VIEWS) as its own statement, its stats under the view's name. */
  private async aggregateView(query: AggregateQuery, view: keyof typeof CALIBRATED_VIEWS, conditions: readonly string[], control: ReturnType<typeof queryControl>): Promise<AggregateRow[]> {
    const { field, where: extra } = CALIBRATED_VIEWS[view]
    const rows = await this.aggregate(query, [field], [...conditions, ...extra], control)
    if (field !== view) for (const r of rows) r.stats = { [view]: r.stats[field]! }
    return rows
  }

  private async aggregate(query: AggregateQuery, fields: AggregateQuery['fields'], conditions: readonly string[], control: ReturnType<typeof queryControl>): Promise<AggregateRow[]> {
    const select = fields.flatMap((field) => STATS.map((stat) => `${stat}("${field}") AS "${field}_${stat}"`)).join(', ')
    const groups = [...(query.window ? [`time(${query.window.every})`] : []), ...(query.perDevice ? ['"device"'] : []), '"quantity"']
    const statement =
      `SELECT ${select} FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY ${groups.join(', ')}` +
      (query.window ? ' fill(none)' : '') +
      (query.limitPerGroup === undefined ? '' : ` LIMIT ${Math.max(1, Math.trunc(query.limitPerGroup))}`) +
      (query.window ? ` tz(${influxqlString(query.window.tz)})` : '')
    const rows: AggregateRow[] = []
    for (const s of await this.influxql(statement, control)) {
      const quantity = s.tags?.quantity ?? ''
      if (!isQuantity(quantity)) continue
      for (const v of s.values) {
        const column = (name: string) => (v[s.columns.indexOf(name)] as number | null | undefined) ?? null
        const stats: AggregateRow['stats'] = {}
        for (const field of fields) {
          const fieldStats: FieldStats = { mean: column(`${field}_mean`), min: column(`${field}_min`), max: column(`${field}_max`), count: column(`${field}_count`) ?? 0 }
          stats[field] = fieldStats
        }
        rows.push({ time: query.window ? (v[0] as number) : 0, ...(query.perDevice ? { deviceId: s.tags?.device ?? '' } : {}), quantity, stats })
      }
    }
    return rows
  }

  async recentTimes(query: RecentTimesQuery): Promise<RecentTimes[]> {
    const control = queryControl(query.signal)
    const conditions = selectionConditions({ devices: query.devices, quantities: query.quantities, to: query.before }, control)
    if (conditions === undefined) return []
    // LIMIT applies per series (device, quantity), and ORDER BY time DESC reads only the newest blocks
    const statement =
      `SELECT "value" FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY "device", "quantity"` +
      ` ORDER BY time DESC LIMIT ${Math.max(1, Math.trunc(query.perSeries))}`
    const rows: RecentTimes[] = []
    for (const s of await this.influxql(statement, control)) {
      const quantity = s.tags?.quantity ?? ''
      if (s.tags?.device === undefined || !isQuantity(quantity)) continue
      rows.push({ deviceId: s.tags.device, quantity, times: s.values.map((v) => v[0] as number) })
    }
    return rows.sort((a, b) => byteOrder(a.deviceId, b.deviceId) || byteOrder(a.quantity, b.quantity))
  }

  async countReadings(selection: ReadingSelection): Promise<ReadingCount[]> {
    const conditions = selectionConditions(selection)
    if (conditions === undefined) return []
    const series = await this.influxql(`SELECT count("value") FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY "device", "quantity"`)
    return perDeviceQuantity(series, (deviceId, quantity, v) => ({ deviceId, quantity, count: v[1] as number }))
  }

  async lastReadings(selection: ReadingSelection): Promise<LastReading[]> {
    const conditions = selectionConditions(selection)
    if (conditions === undefined) return []
    const series = await this.influxql(`SELECT last("value") FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY "device", "quantity"`)
    return perDeviceQuantity(series, (deviceId, quantity, v) => (typeof v[0] === 'number' ? { deviceId, quantity, time: v[0], value: v[1] as number } : undefined))
  }

  async lastReceived(selection: ReadingSelection): Promise<LastReceived[]> {
    const conditions = selectionConditions(selection)
    if (conditions === undefined) return []
    // last() reads one block per series, so this stays cheap on a long history
    const series = await this.influxql(`SELECT last("received_ms") FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY "device", "quantity"`)
    return perDeviceQuantity(series, (deviceId, quantity, v) => (typeof v[1] === 'number' ? { deviceId, quantity, receivedAt: v[1] } : undefined))
  }

  async readingLabels(selection: ReadingSelection): Promise<ReadingLabels[]> {
    const conditions = selectionConditions(selection)
    if (conditions === undefined) return []
    const labels = new Map<string, ReadingLabels>()
    const label = (deviceId: string, quantity: Quantity) => {
      const key = `${deviceId}\0${quantity}`
      return labels.get(key) ?? labels.set(key, { deviceId, quantity }).get(key)!
    }
    // `sensor` is "" on readings whose source named none (core/store/schema.ts): the last model named, not the last reading's
    const sensors = `SELECT last("sensor") FROM ${READING_MEASUREMENT}${where([...conditions, `"sensor" != ''`])} GROUP BY "device", "quantity"`
    perDeviceQuantity(await this.influxql(sensors), (deviceId, quantity, v) => {
      if (typeof v[1] === 'string' && v[1] !== '') label(deviceId, quantity).sensor = v[1]
    })
    const methods = `SELECT last("calibration_method") FROM ${READING_MEASUREMENT}${where(conditions)} GROUP BY "device", "quantity"`
    perDeviceQuantity(await this.influxql(methods), (deviceId, quantity, v) => {
      if (typeof v[1] === 'string' && v[1] !== '') label(deviceId, quantity).calibrationMethod = v[1]
    })
    return [...labels.values()].sort((a, b) => byteOrder(a.deviceId, b.deviceId) || byteOrder(a.quantity, b.quantity))
  }

  async queryRejections(filter: { deviceId?: string; since?: number; limit?: number }): Promise<StoredRejection[]> {
    const conditions = [
      ...(filter.deviceId === undefined ? [] : [deviceAndSubDevices(filter.deviceId)]),
      ...(filter.since === undefined ? [] : [`time >= ${isoTime(filter.since)}`]),
    ]
    const statement =
      `SELECT "path", "message", "value", "topic", "source", "raw", "device", "rule" FROM ${REJECTION_MEASUREMENT}${where(conditions)}` +
      ` ORDER BY time DESC LIMIT ${Math.max(1, Math.trunc(filter.limit ?? 1000))}`
    const series = await this.influxql(statement)
    // the newest `limit`, returned oldest first (ties by device and field path, so the order is stable)
    const rows = (series[0]?.values ?? []).map((row) => {
      const [time, path, message, value, topic, source, raw, device, rule] = row as [number, ...string[]]
      return {
        time,
        deviceId: device!,
        rule: rule!,
        path: path!,
        message: message!,
        ...(value === null || value === undefined ? {} : { value }),
        topic: topic!,
        sourceFormat: source!,
        raw: raw!,
      }
    })
    return rows.sort((a, b) => a.time - b.time || a.deviceId.localeCompare(b.deviceId) || a.path.localeCompare(b.path))
  }

  async countRejections(filter: { deviceFamily?: string }): Promise<RejectionCount[]> {
    const conditions = filter.deviceFamily === undefined ? [] : [deviceAndSubDevices(filter.deviceFamily)]
    const series = await this.influxql(`SELECT count("message") FROM ${REJECTION_MEASUREMENT}${where(conditions)} GROUP BY "device", "rule"`)
    return series.flatMap((s) => (s.tags?.device === undefined || s.tags.rule === undefined ? [] : [{ deviceId: s.tags.device, rule: s.tags.rule, count: s.values[0]?.[1] as number }]))
  }

  async deviceEvents(query: EventQuery): Promise<StoredDeviceEvent[]> {
    if (query.kinds.length === 0) return []
    const statement = `SELECT "detail", "topic", "source", "kind" FROM "${EVENT_MEASUREMENT}"${where(eventConditions(query))} GROUP BY "device"`
    return (await this.influxql(statement)).flatMap((s) =>
      s.tags?.device === undefined
        ? []
        : s.values.map(([at, detail, topic, source, kind]) => ({
            deviceId: s.tags!.device!,
            kind: kind as DeviceEventKind,
            at: at as number,
            detail: String(detail),
            topic: (topic as string | null) ?? '',
            sourceFormat: (source as string | null) ?? '',
          })),
    )
  }

  async eventSummaries(query: EventQuery): Promise<EventSummary[]> {
    if (query.kinds.length === 0) return []
    const counts = new Map<string, number>()
    for (const s of await this.influxql(`SELECT count("detail") FROM ${EVENT_MEASUREMENT}${where(eventConditions(query))} GROUP BY "device", "kind"`)) {
      counts.set(`${s.tags?.device}\0${s.tags?.kind}`, s.values[0]?.[1] as number)
    }
    return (await this.latestEvents(query)).map((latest) => ({ ...latest, count: counts.get(`${latest.deviceId}\0${latest.kind}`) ?? 0 }))
  }

  async latestEvents(query: EventQuery): Promise<LatestEvent[]> {
    if (query.kinds.length === 0) return []
    return (await this.influxql(`SELECT last("detail") FROM ${EVENT_MEASUREMENT}${where(eventConditions(query))} GROUP BY "device", "kind"`)).flatMap((s) => {
      const [lastAt, lastDetail] = s.values[0] ?? []
      if (s.tags?.device === undefined || s.tags.kind === undefined || typeof lastAt !== 'number') return []
      return [{ deviceId: s.tags.device, kind: s.tags.kind as DeviceEventKind, lastAt, lastDetail: String(lastDetail) }]
    })
  }

  async referenceObservations(query: ReferenceQuery): Promise<ReferenceObservation[]> {
    const statement =
      `SELECT "value", "period_ms", "flags", "source" FROM ${REFERENCE_MEASUREMENT}` +
      ` WHERE "station" = ${influxqlString(query.station)} AND "quantity" = ${influxqlString(query.quantity)}` +
      ` AND time >= ${isoTime(query.from)} AND time < ${isoTime(query.to)} ORDER BY time ASC`
    const series = await this.influxql(statement)
    return (series[0]?.values ?? []).map(([time, value, periodMs, flags, source]) => ({
      station: query.station,
      source: source as ReferenceSourceName,
      quantity: query.quantity,
      value: value as number,
      time: time as number,
      periodMs: periodMs as number,
      flags: splitFlags(flags),
    }))
  }
}

function eventConditions(query: EventQuery): string[] {
  const kinds = query.kinds.map((k) => `"kind" = ${influxqlString(k)}`)
  return [kinds.length === 1 ? kinds[0]! : `(${kinds.join(' OR ')})`, ...(query.deviceFamily === undefined ? [] : [deviceAndSubDevices(query.deviceFamily)])]
}

/** A `flags` field's list: comma-separated, "" (or absent) for none. */
export function splitFlags(flags: unknown): string[] {
  return typeof flags === 'string' && flags !== '' ? flags.split(',') : []
}

/** Byte order of ids (the order InfluxDB sorts series keys in). */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
