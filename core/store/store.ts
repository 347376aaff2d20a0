import type { Quantity } from '../quantities.ts'
import type { DeviceEvent, Reading, Rejection } from '../reading.ts'

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

/** A series as InfluxQL returns it over /query. */
export interface InfluxSeries {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}

/**
 * Where readings and rejections are kept. Writes resolve only once the server acknowledged them, and are
 * idempotent: a reading is one point keyed by (device, quantity, observed time), written whole, so writing it
 * again replaces it (every field, none of the earlier write survives) instead of adding a second one; a
 * rejection is keyed by device, rule and a content digest of its message (core/store/schema.ts), so the same
 * rejection written again is the same point and different ones never share one.
 *
 * Errors: UnavailableError (retriable: server down, 5xx, 429, timeout) or RefusedError (not retriable:
 * 4xx such as a field type conflict or bad credentials), from core/errors.ts.
 */
export interface ReadingStore {
  readonly generation: InfluxGeneration
  readonly database: string
  /** Creates the database (1.x) or bucket plus its InfluxQL mapping (2.x) when missing. */
  ensureDatabase(): Promise<void>
  write(batch: WriteBatch): Promise<void>
  queryReadings(query: ReadingQuery): Promise<StoredReading[]>
  /** The newest `limit` (default 1000) rejections matching the filter (a device includes its sub-devices `<device>.<sensor>`), oldest first. */
  queryRejections(filter: { deviceId?: string; since?: number; limit?: number }): Promise<StoredRejection[]>
  /**
   * Writes ready line-protocol lines (ms precision) and resolves once acknowledged: for the other
   * measurements (reference observations, calibrated fields), whose line builders live with their modules.
   */
  writeLines(lines: readonly string[]): Promise<void>
  /** Runs one InfluxQL statement against the database; returns the first result's series. */
  influxql(statement: string): Promise<InfluxSeries[]>
  close(): Promise<void>
}
