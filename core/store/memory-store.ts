import { DateTime } from 'luxon'
import { RefusedError } from '../errors.ts'
import type { Quantity } from '../quantities.ts'
import { REFERENCE_MEASUREMENT } from '../reference/reference-store.ts'
import type { ReferenceObservation, ReferenceQuery, ReferenceSourceName } from '../reference/reference.ts'
import { byteOrder, splitFlags } from './influx-queries.ts'
import { parseLine, type FieldType, type ParsedLine } from './line-protocol.ts'
import { EVENT_MEASUREMENT, READING_MEASUREMENT, REJECTION_MEASUREMENT, batchToLines } from './schema.ts'
import type * as Store from './store.ts'

/** One stored point: tags, fields (merged over writes) and time in epoch ms. */
interface Point {
  tags: Record<string, string>
  fields: Record<string, number | string | boolean>
  time: number
}

/**
 * A ReadingStore in memory, for tests and trials without InfluxDB. It stores what InfluxDB 1.x would: every
 * write goes through the same line builders (core/store/schema.ts) and is parsed back (core/store/line-protocol.ts),
 * and a point is keyed by measurement, tag set and time, its fields merged over writes (InfluxDB's rule, which
 * is why readings are written whole). A field keeps its first type: a line giving it another is refused like
 * InfluxDB's "partial write: field type conflict" (RefusedError), and so is a line that does not parse; the
 * other lines of the write are kept.
 * The named queries answer as the InfluxQL of core/store/influx-queries.ts does; test/contract/store-contract.ts
 * holds both to the same results. Nothing is persisted; `close` keeps the data.
 */
export class MemoryStore implements Store.ReadingStore {
  readonly generation = 'memory'
  private readonly measurements = new Map<string, Map<string, Point>>()
  private readonly fieldTypes = new Map<string, FieldType>()

  constructor(readonly database = 'memory') {}

  async ensureDatabase(): Promise<void> {}

  async close(): Promise<void> {}

  async write(batch: Store.WriteBatch): Promise<void> {
    await this.writeLines(batchToLines(batch))
  }

  async writeLines(lines: readonly string[]): Promise<void> {
    const refused: string[] = []
    for (const text of lines) {
      let line: ParsedLine
      try {
        line = parseLine(text)
      } catch (error) {
        refused.push(`unable to parse: ${(error as Error).message}`)
        continue
      }
      const conflict = Object.entries(line.fields).find(([key, f]) => (this.fieldTypes.get(`${line.measurement}\0${key}`) ?? f.type) !== f.type)
      if (conflict) {
        refused.push(`field type conflict: input field "${conflict[0]}" on measurement "${line.measurement}" is type ${conflict[1].type}`)
        continue
      }
      for (const [key, f] of Object.entries(line.fields)) this.fieldTypes.set(`${line.measurement}\0${key}`, f.type)
      const time = line.time ?? Date.now()
      const series = this.measurements.get(line.measurement) ?? this.measurements.set(line.measurement, new Map()).get(line.measurement)!
      const key = `${Object.keys(line.tags).sort().map((k) => `${k}=${line.tags[k]}`).join(',')}\0${time}`
      const point = series.get(key) ?? series.set(key, { tags: line.tags, fields: {}, time }).get(key)!
      for (const [field, f] of Object.entries(line.fields)) point.fields[field] = f.value
    }
    if (refused.length > 0) throw new RefusedError(`partial write: ${refused[0]} (${refused.length} line(s) refused)`)
  }

  async queryReadings(query: Store.ReadingQuery): Promise<Store.StoredReading[]> {
    return this.readings({ devices: [query.deviceId], quantities: [query.quantity], from: query.from, to: query.to })
      .filter((p) => p.fields.value !== undefined)
      .map((p) => ({ time: p.time, deviceId: query.deviceId, quantity: query.quantity, value: p.fields.value as number, flags: splitFlags(p.fields.flags) }))
  }

  async recentTimes(query: Store.RecentTimesQuery): Promise<Store.RecentTimes[]> {
    return this.perDeviceQuantity({ devices: query.devices, quantities: query.quantities, to: query.before }, (points, deviceId, quantity) => {
      const times = points.filter((p) => p.fields.value !== undefined).map((p) => p.time)
      return times.length === 0 ? undefined : { deviceId, quantity, times: times.reverse().slice(0, Math.max(1, Math.trunc(query.perSeries))) }
    })
  }

  async readingRows(query: Store.ReadingRowsQuery): Promise<Store.ReadingRow[]> {
    const rows = this.readings(query)
      .filter((p) => query.fields.some((f) => p.fields[f] !== undefined) && (!query.requireOneOf?.length || query.requireOneOf.some((f) => p.fields[f] !== undefined)))
      .map((p) => ({ time: p.time, deviceId: p.tags.device!, quantity: p.tags.quantity as Quantity, fields: Object.fromEntries(query.fields.map((f) => [f, (fieldOf(p, f) as number | string | undefined) ?? null])) }))
    return query.limit === undefined ? rows : rows.slice(0, Math.max(1, Math.trunc(query.limit)))
  }

  async aggregateReadings(query: Store.AggregateQuery): Promise<Store.AggregateRow[]> {
    const groups = new Map<string, { row: Store.AggregateRow; points: Point[] }>()
    for (const p of this.readings(query)) {
      if (!query.fields.some((f) => typeof aggregateFieldOf(p, f) === 'number')) continue
      const time = query.window ? windowStart(p.time, query.window.every, query.window.tz) : 0
      const deviceId = query.perDevice ? p.tags.device! : undefined
      const key = `${deviceId ?? ''}\0${p.tags.quantity}\0${time}`
      const group = groups.get(key) ?? groups.set(key, { row: { time, ...(deviceId === undefined ? {} : { deviceId }), quantity: p.tags.quantity as Quantity, stats: {} }, points: [] }).get(key)!
      group.points.push(p)
    }
    const rows = [...groups.values()].map(({ row, points }) => {
      for (const field of query.fields) row.stats[field] = stats(points.flatMap((p) => (typeof aggregateFieldOf(p, field) === 'number' ? [aggregateFieldOf(p, field) as number] : [])))
      return row
    })
    rows.sort((a, b) => byteOrder(a.deviceId ?? '', b.deviceId ?? '') || byteOrder(a.quantity, b.quantity) || a.time - b.time)
    if (query.limitPerGroup === undefined) return rows
    const limit = Math.max(1, Math.trunc(query.limitPerGroup))
    const taken = new Map<string, number>()
    return rows.filter((r) => {
      const key = `${r.deviceId ?? ''}\0${r.quantity}`
      taken.set(key, (taken.get(key) ?? 0) + 1)
      return taken.get(key)! <= limit
    })
  }

  async countReadings(selection: Store.ReadingSelection): Promise<Store.ReadingCount[]> {
    return this.perDeviceQuantity(selection, (points, deviceId, quantity) => {
      const count = points.filter((p) => p.fields.value !== undefined).length
      return count === 0 ? undefined : { deviceId, quantity, count }
    })
  }

  async lastReadings(selection: Store.ReadingSelection): Promise<Store.LastReading[]> {
    return this.perDeviceQuantity(selection, (points, deviceId, quantity) => {
      const last = points.findLast((p) => p.fields.value !== undefined)
      return last === undefined ? undefined : { deviceId, quantity, time: last.time, value: last.fields.value as number }
    })
  }

  async lastReceived(selection: Store.ReadingSelection): Promise<Store.LastReceived[]> {
    return this.perDeviceQuantity(selection, (points, deviceId, quantity) => {
      const last = points.findLast((p) => typeof p.fields.received_ms === 'number')
      return last === undefined ? undefined : { deviceId, quantity, receivedAt: last.fields.received_ms as number }
    })
  }

  async readingLabels(selection: Store.ReadingSelection): Promise<Store.ReadingLabels[]> {
    return this.perDeviceQuantity(selection, (points, deviceId, quantity) => {
      const sensor = points.findLast((p) => typeof p.fields.sensor === 'string' && p.fields.sensor !== '')?.fields.sensor as string | undefined
      const method = points.findLast((p) => p.fields.calibration_method !== undefined)?.fields.calibration_method
      const labels: Store.ReadingLabels = { deviceId, quantity, ...(sensor === undefined ? {} : { sensor }), ...(typeof method === 'string' && method !== '' ? { calibrationMethod: method } : {}) }
      return labels.sensor === undefined && labels.calibrationMethod === undefined ? undefined : labels
    })
  }

  async queryRejections(filter: { deviceId?: string; since?: number; limit?: number }): Promise<Store.StoredRejection[]> {
    const newest = this.points(REJECTION_MEASUREMENT)
      .filter((p) => (filter.deviceId === undefined || inFamily(p.tags.device!, filter.deviceId)) && (filter.since === undefined || p.time >= filter.since))
      .reverse()
      .slice(0, Math.max(1, Math.trunc(filter.limit ?? 1000)))
    const rows = newest.map((p) => {
      const f = p.fields as Record<string, string>
      return {
        time: p.time,
        deviceId: p.tags.device!,
        rule: p.tags.rule!,
        path: f.path!,
        message: f.message!,
        ...(f.value === undefined ? {} : { value: f.value }),
        topic: f.topic!,
        sourceFormat: f.source!,
        raw: f.raw!,
      }
    })
    return rows.sort((a, b) => a.time - b.time || a.deviceId.localeCompare(b.deviceId) || a.path.localeCompare(b.path))
  }

  async countRejections(filter: { deviceFamily?: string }): Promise<Store.RejectionCount[]> {
    const counts = new Map<string, Store.RejectionCount>()
    for (const p of this.points(REJECTION_MEASUREMENT)) {
      if (p.fields.message === undefined || (filter.deviceFamily !== undefined && !inFamily(p.tags.device!, filter.deviceFamily))) continue
      const key = `${p.tags.device}\0${p.tags.rule}`
      const count = counts.get(key) ?? counts.set(key, { deviceId: p.tags.device!, rule: p.tags.rule!, count: 0 }).get(key)!
      count.count++
    }
    return [...counts.values()].sort((a, b) => byteOrder(a.deviceId, b.deviceId) || byteOrder(a.rule, b.rule))
  }

  async deviceEvents(query: Store.EventQuery): Promise<Store.StoredDeviceEvent[]> {
    return this.events(query)
      .map((p) => ({ deviceId: p.tags.device!, kind: p.tags.kind as Store.DeviceEventKind, at: p.time, detail: String(p.fields.detail), topic: String(p.fields.topic ?? ''), sourceFormat: String(p.fields.source ?? '') }))
      .sort((a, b) => byteOrder(a.deviceId, b.deviceId) || a.at - b.at)
  }

  async eventSummaries(query: Store.EventQuery): Promise<Store.EventSummary[]> {
    const summaries = new Map<string, Store.EventSummary>()
    for (const p of this.events(query)) {
      const key = `${p.tags.device}\0${p.tags.kind}`
      const summary = summaries.get(key)
      if (summary === undefined) summaries.set(key, { deviceId: p.tags.device!, kind: p.tags.kind as Store.DeviceEventKind, count: 1, lastAt: p.time, lastDetail: String(p.fields.detail) })
      else Object.assign(summary, { count: summary.count + 1, lastAt: p.time, lastDetail: String(p.fields.detail) })
    }
    return [...summaries.values()].sort((a, b) => byteOrder(a.deviceId, b.deviceId) || byteOrder(a.kind, b.kind))
  }

  async latestEvents(query: Store.EventQuery): Promise<Store.LatestEvent[]> {
    return (await this.eventSummaries(query)).map(({ count: _count, ...latest }) => latest)
  }

  async referenceObservations(query: ReferenceQuery): Promise<ReferenceObservation[]> {
    return this.points(REFERENCE_MEASUREMENT)
      .filter((p) => p.tags.station === query.station && p.tags.quantity === query.quantity && p.time >= query.from && p.time < query.to && p.fields.value !== undefined)
      .map((p) => ({
        station: query.station,
        source: p.tags.source as ReferenceSourceName,
        quantity: query.quantity,
        value: p.fields.value as number,
        time: p.time,
        periodMs: p.fields.period_ms as number,
        flags: splitFlags(p.fields.flags),
      }))
  }

  /** Points of a measurement, oldest first (ties in tag order, as InfluxDB lists series). */
  private points(measurement: string): Point[] {
    const points = [...(this.measurements.get(measurement)?.values() ?? [])]
    return points.sort((a, b) => a.time - b.time || byteOrder(a.tags.device ?? '', b.tags.device ?? '') || byteOrder(a.tags.quantity ?? '', b.tags.quantity ?? ''))
  }

  /** `reading` points of a selection, oldest first. */
  private readings(s: Store.ReadingSelection): Point[] {
    return this.points(READING_MEASUREMENT).filter(
      (p) =>
        (s.devices === undefined || s.devices.includes(p.tags.device!)) &&
        (s.deviceFamily === undefined || inFamily(p.tags.device!, s.deviceFamily)) &&
        (s.quantities === undefined || (s.quantities as readonly string[]).includes(p.tags.quantity!)) &&
        (!s.unflaggedOnly || p.fields.flags === '') &&
        (s.includeFlags === undefined || splitFlags(p.fields.flags).every((f) => s.includeFlags!.includes(f))) &&
        (s.from === undefined || p.time >= s.from) &&
        (s.to === undefined || p.time < s.to),
    )
  }

  private events(query: Store.EventQuery): Point[] {
    return this.points(EVENT_MEASUREMENT).filter(
      (p) => query.kinds.includes(p.tags.kind as Store.DeviceEventKind) && (query.deviceFamily === undefined || inFamily(p.tags.device!, query.deviceFamily)) && p.fields.detail !== undefined,
    )
  }

  /** One answer per device and quantity of the selection (points oldest first), by device then quantity. */
  private perDeviceQuantity<T>(selection: Store.ReadingSelection, answer: (points: Point[], deviceId: string, quantity: Quantity) => T | undefined): T[] {
    const groups = new Map<string, Point[]>()
    for (const p of this.readings(selection)) {
      const key = `${p.tags.device}\0${p.tags.quantity}`
      ;(groups.get(key) ?? groups.set(key, []).get(key)!).push(p)
    }
    return [...groups.entries()]
      .sort(([a], [b]) => byteOrder(a, b))
      .flatMap(([, points]) => {
        const r = answer(points, points[0]!.tags.device!, points[0]!.tags.quantity as Quantity)
        return r === undefined ? [] : [r]
      })
  }
}

/** A device and its sub-devices `<device>.<sensor>` (deviceAndSubDevices in core/store/schema.ts). */
function inFamily(deviceId: string, family: string): boolean {
  return deviceId === family || (deviceId.startsWith(`${family}.`) && deviceId.length > family.length + 1)
}

function stats(values: number[]): Store.FieldStats {
  if (values.length === 0) return { mean: null, min: null, max: null, count: 0 }
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, min: values.reduce((a, b) => Math.min(a, b)), max: values.reduce((a, b) => Math.max(a, b)), count: values.length }
}

/** The start of the InfluxQL `GROUP BY time(every) tz(tz)` window holding `time`: local 10-minute, hour or day. */
function windowStart(time: number, every: '10m' | '1h' | '1d', tz: string): number {
  const local = DateTime.fromMillis(time, { zone: tz })
  if (every === '1d') return local.startOf('day').toMillis()
  if (every === '1h') return local.startOf('hour').toMillis()
  return local.startOf('minute').set({ minute: Math.floor(local.minute / 10) * 10 }).toMillis()
}

/**
 * A point's field as the store reads it: `calibrated` only where calibration_method is a non-empty string (a
 * cleared point keeps its old number with method "", core/store/schema.ts; influx-queries.ts does the same).
 */
function fieldOf(p: Point, field: string): Point['fields'][string] | undefined {
  const method = p.fields.calibration_method
  return field === 'calibrated' && (typeof method !== 'string' || method === '') ? undefined : p.fields[field]
}

/** An aggregate field (core/store/store.ts AggregateField): a stored one, or a view of the calibrated points. */
function aggregateFieldOf(p: Point, field: Store.AggregateField): Point['fields'][string] | undefined {
  const calibrated = fieldOf(p, 'calibrated') !== undefined
  if (field === 'calibrated_indicative') return calibrated && p.fields.calibration_label === 'indicative' ? p.fields.calibrated : undefined
  if (field === 'calibrated_u') return calibrated && typeof p.fields.calibrated_u === 'number' && p.fields.calibrated_u >= 0 ? p.fields.calibrated_u : undefined
  return fieldOf(p, field)
}
