import type { Quantity } from '../quantities.ts'
import type { DeviceEvent, Reading, Rejection } from '../reading.ts'
import type { ReferenceObservation, ReferenceQuery } from '../reference/reference.ts'

/** What one write carries: readings, rejections (the dead-letter store) and device events. */
export interface WriteBatch {
  readings: readonly Reading[]
  rejections: readonly Rejection[]
  events?: readonly DeviceEvent[]
}

/** What the InfluxDB server is: 1.x speaks only the v1 API (/write, /query, /ping); 2.x and 3.x also v2. */
export type InfluxGeneration = 1 | 2 | 3

/** One stored reading as read back: time in epoch ms UTC, value in the quantity's canonical unit. */
export interface StoredReading {
  time: number
  deviceId: string
  quantity: Quantity
  value: number
  /** Quality flags (core/quality.ts); empty when none. */
  flags: string[]
}

/** One stored rejection as read back (see Rejection in core/reading.ts). */
export interface StoredRejection {
  time: number
  deviceId: string
  rule: string
  path: string
  message: string
  value?: string
  topic: string
  sourceFormat: string
  raw: string
}

export interface ReadingQuery {
  deviceId: string
  quantity: Quantity
  /** Inclusive start, epoch ms UTC. */
  from: number
  /** Exclusive end, epoch ms UTC. */
  to: number
}

/** Fields of a `reading` point a caller can ask for (core/store/schema.ts names them). */
export type ReadingField =
  | 'value'
  | 'raw_value'
  | 'unit'
  | 'source_unit'
  | 'sensor'
  | 'source'
  | 'flags'
  | 'calibrated'
  | 'calibration_method'
  | 'calibration_version'
  | 'calibration_flags'
  | 'calibrated_u'
  | 'calibration_label'

/**
 * Which readings: devices (exact ids, or one device with its sub-devices `<device>.<sensor>`), quantities and a
 * time window. Every part is optional; absent ones do not restrict.
 */
export interface ReadingSelection {
  /** Exact device ids; an empty list selects nothing. */
  devices?: readonly string[]
  /** One device and its sub-devices (`tasmota-shed` and `tasmota-shed.si7021-04`). */
  deviceFamily?: string
  quantities?: readonly Quantity[]
  /** Inclusive start, epoch ms UTC. */
  from?: number
  /** Exclusive end, epoch ms UTC. */
  to?: number
  /** Only readings without quality flags (`flags` = ""), the rule of the neighbourhood's hourly figures. */
  unflaggedOnly?: boolean
  /**
   * Only readings without quality flags or whose every flag is one of these (core/quality.ts FLAGS); an empty
   * list is unflaggedOnly. Absent: flags do not restrict.
   */
  includeFlags?: readonly string[]
  /**
   * Aborting it cancels the request and, on InfluxDB 1.x, kills the query on the server (KILL QUERY), so no query
   * outlives its caller. The call then rejects with the signal's reason.
   */
  signal?: AbortSignal
}

/** One reading point's asked-for fields: null when the point has none (e.g. `calibrated` before calibration). */
export interface ReadingRow {
  /** Observed time, epoch ms UTC. */
  time: number
  deviceId: string
  quantity: Quantity
  fields: Partial<Record<ReadingField, number | string | null>>
}

export interface ReadingRowsQuery extends ReadingSelection {
  /** The fields to return; a point where all of them are absent is not returned (InfluxQL's rule). */
  fields: readonly ReadingField[]
  /** Numeric fields (value, raw_value, calibrated) of which a returned point must have one: `fields` then only adds columns (e.g. `flags` to `calibrated`). */
  requireOneOf?: ReadonlyArray<'value' | 'raw_value' | 'calibrated'>
  /** At most this many rows: the oldest ones. */
  limit?: number
}

/** The statistics of one numeric field in one group; `count` is 0 and the others null when it had no value. */
export interface FieldStats {
  mean: number | null
  min: number | null
  max: number | null
  count: number
}

/**
 * The numeric reading fields aggregateReadings can summarise. Besides stored fields, two views of the calibrated
 * points (those with a non-empty calibration_method, core/store/schema.ts) that give a window its label and
 * uncertainty (services/api/window-quality.ts windowCalibration):
 * - `calibrated_u`: the stored expanded uncertainty of the calibrated points that have one (calibrated_u ≥ 0;
 *   −1 = not assessed is left out), in the quantity's unit;
 * - `calibrated_indicative`: `calibrated` of the points labelled `indicative` (its count says how many are).
 */
export type AggregateField = 'value' | 'calibrated' | 'received_ms' | 'calibrated_u' | 'calibrated_indicative'

export interface AggregateQuery extends ReadingSelection {
  /** Numeric fields to aggregate: `value` and `calibrated` in the quantity's canonical unit, `received_ms` epoch ms UTC. */
  fields: ReadonlyArray<AggregateField>
  /** Windows of this length, labelled by their start (InfluxQL `GROUP BY time(…)`, `fill(none)`): absent, one group over the whole selection. */
  window?: { every: '10m' | '1h' | '1d'; /** IANA zone the windows follow: 1d windows are local days (InfluxQL tz()). */ tz: string }
  /** One group per device (and quantity), or pooled over the devices (per quantity). */
  perDevice: boolean
  /** At most this many windows per group, the oldest ones. */
  limitPerGroup?: number
}

/** One group's statistics: one per (window, device when perDevice, quantity) that has any value of the asked fields. */
export interface AggregateRow {
  /** Window start, epoch ms UTC; 0 without windows. */
  time: number
  /** Absent when pooled. */
  deviceId?: string
  quantity: Quantity
  stats: Partial<Record<AggregateField, FieldStats>>
}

export interface RecentTimesQuery {
  devices: readonly string[]
  quantities: readonly Quantity[]
  /** Exclusive end, epoch ms UTC: the readings observed before it. */
  before: number
  /** At most this many times per device and quantity (the newest). */
  perSeries: number
  signal?: AbortSignal
}

/** The observed times (epoch ms UTC, newest first) of a device's newest readings of a quantity. */
export interface RecentTimes {
  deviceId: string
  quantity: Quantity
  times: number[]
}

/** Count of readings (points with a `value`) per device and quantity. */
export interface ReadingCount {
  deviceId: string
  quantity: Quantity
  count: number
}

/** When the newest reading of a device and quantity was received (fleet health's last seen, core/fleet-health.ts). */
export interface LastReceived {
  deviceId: string
  quantity: Quantity
  /** `received_ms` of the newest reading by observed time, epoch ms UTC. */
  receivedAt: number
}

/** The newest reading per device and quantity. */
export interface LastReading {
  deviceId: string
  quantity: Quantity
  /** Observed time, epoch ms UTC. */
  time: number
  value: number
}

/** Per device and quantity: the newest sensor model named (sensor ≠ "") and the newest calibration method. */
export interface ReadingLabels {
  deviceId: string
  quantity: Quantity
  sensor?: string
  calibrationMethod?: string
}

/** Rejections stored per device and rule. */
export interface RejectionCount {
  deviceId: string
  rule: string
  count: number
}

export type DeviceEventKind = DeviceEvent['kind']

/** One stored device event as read back (see DeviceEvent in core/reading.ts). */
export interface StoredDeviceEvent {
  deviceId: string
  kind: DeviceEventKind
  /** Epoch ms UTC. */
  at: number
  /** JSON text, per kind (conflict: core/store/conflicts.ts; schema_change: core/schema-drift.ts). */
  detail: string
  topic: string
  sourceFormat: string
}

export interface EventQuery {
  kinds: readonly DeviceEventKind[]
  /** One device and its sub-devices; all devices when absent. */
  deviceFamily?: string
}

/** Per device and kind: the newest event. */
export interface LatestEvent {
  deviceId: string
  kind: DeviceEventKind
  /** The newest event's time (epoch ms UTC) and detail. */
  lastAt: number
  lastDetail: string
}

/** Per device and kind: how many events and the newest one. */
export interface EventSummary extends LatestEvent {
  count: number
}

/**
 * Where readings and rejections are kept. Writes resolve only once the server acknowledged them, and are
 * idempotent: a reading is one point keyed by (device, quantity, observed time), written whole, so writing it
 * again replaces it (every field, none of the earlier write survives) instead of adding a second one; a
 * rejection is keyed by device, rule and a content digest of its message (core/store/schema.ts), so the same
 * rejection written again is the same point and different ones never share one. Fields added later to a
 * reading point by writeLines (calibrated, calibration_method, calibration_version) are kept by a reading write.
 *
 * The queries are named: what each asks and returns is below; the InfluxQL behind them lives in
 * core/store/influx-queries.ts, and core/store/memory-store.ts answers the same in memory. One contract suite
 * (test/contract/store-contract.ts) holds both to the same results. Every list is sorted as documented; ties
 * by device, then quantity (byte order).
 *
 * Errors: UnavailableError (retriable: server down, 5xx, 429, timeout) or RefusedError (not retriable:
 * 4xx such as a field type conflict or bad credentials), from core/errors.ts.
 */
export interface ReadingStore {
  /** The InfluxDB generation behind it; 'memory' for the in-memory store (core/store/memory-store.ts). */
  readonly generation: InfluxGeneration | 'memory'
  readonly database: string
  /** Creates the database (1.x) or bucket plus its InfluxQL mapping (2.x) when missing. */
  ensureDatabase(): Promise<void>
  write(batch: WriteBatch): Promise<void>
  /**
   * Writes ready line-protocol lines (ms precision) and resolves once acknowledged: for the other
   * measurements (reference observations, calibrated fields), whose line builders live with their modules.
   */
  writeLines(lines: readonly string[]): Promise<void>
  /** One device's readings of one quantity with from ≤ time < to, oldest first: value and flags. */
  queryReadings(query: ReadingQuery): Promise<StoredReading[]>
  /** Readings of the selection with the asked fields, oldest first (at most `limit`). */
  readingRows(query: ReadingRowsQuery): Promise<ReadingRow[]>
  /** mean/min/max/count of `value` and/or `calibrated` per group (device when perDevice, quantity), oldest window first. */
  aggregateReadings(query: AggregateQuery): Promise<AggregateRow[]>
  /** Per device and quantity: the observed times of its newest `perSeries` readings before `before`, by device (reporting intervals). */
  recentTimes(query: RecentTimesQuery): Promise<RecentTimes[]>
  /** Readings per device and quantity in the selection (none listed for a pair without readings), by device. */
  countReadings(selection: ReadingSelection): Promise<ReadingCount[]>
  /** The newest reading per device and quantity in the selection, by device. */
  lastReadings(selection: ReadingSelection): Promise<LastReading[]>
  /** Per device and quantity in the selection: the receipt time of its newest reading (by observed time), by device. */
  lastReceived(selection: ReadingSelection): Promise<LastReceived[]>
  /** The newest sensor model and calibration method per device and quantity, over all time, by device. */
  readingLabels(selection: ReadingSelection): Promise<ReadingLabels[]>
  /** The newest `limit` (default 1000) rejections matching the filter (a device includes its sub-devices `<device>.<sensor>`), oldest first. */
  queryRejections(filter: { deviceId?: string; since?: number; limit?: number }): Promise<StoredRejection[]>
  /** Rejections per device (a device filter includes sub-devices) and rule, by device then rule. */
  countRejections(filter: { deviceFamily?: string }): Promise<RejectionCount[]>
  /** Device events of the given kinds, by device, then oldest first. */
  deviceEvents(query: EventQuery): Promise<StoredDeviceEvent[]>
  /** Per device and kind: count and newest event, by device then kind. */
  eventSummaries(query: EventQuery): Promise<EventSummary[]>
  /** Per device and kind: the newest event, by device then kind (eventSummaries without the count, which reads every event). */
  latestEvents(query: EventQuery): Promise<LatestEvent[]>
  /** Reference observations of one station and quantity with from ≤ time < to, oldest first (core/reference/reference-store.ts). */
  referenceObservations(query: ReferenceQuery): Promise<ReferenceObservation[]>
  close(): Promise<void>
}
