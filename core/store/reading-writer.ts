import { EventEmitter } from 'node:events'
import { isRetriable } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Rejection } from '../reading.ts'
import { OutageLog } from '../retry.ts'
import { GroupCommit, type GroupCommitStats } from './group-commit.ts'
import type { ReadingStore, WriteBatch } from './store.ts'

export interface WriterOptions {
  /** Most points (readings + rejections + events) in one InfluxDB request. */
  batchSize: number
  /** InfluxDB requests in flight at once (≥ 1); see core/store/group-commit.ts "Ordering". Default 1. */
  maxInFlight?: number
  /** Most points held in memory; `write()` waits (backpressure) while it is full. */
  maxBufferedReadings: number
  retry?: { initialDelayMs: number; maxDelayMs: number }
}

/** The engine's request counters (group-commit.ts), and what was stored, refused and lost by kind. */
export interface WriterStats extends Pick<GroupCommitStats, 'requests' | 'retries' | 'backpressureWaits' | 'peakInFlight'> {
  written: number
  rejectionsWritten: number
  /** Readings InfluxDB refused for good (e.g. a field type conflict); each was stored as a rejection instead. */
  refused: number
  /** Readings and rejections that could be stored neither as they were nor as rejections; each logged at error level. */
  lost: number
}

/**
 * Writes readings, rejections and device events to the store and tells each caller when *its* data is
 * acknowledged: the InfluxDB side of direct mode (the broker's PUBACK waits for it) and of the Kafka-mode
 * writer (the offsets wait for it). Built on the group-commit engine (group-commit.ts): writes gather into
 * requests of at most `batchSize` points, `maxInFlight` requests at once; a retriable failure is retried with
 * backoff until it succeeds or the writer is closed, and only then does the caller's promise settle.
 *
 * A write that does not fit a request whole (a Kafka partition's fetched batch) is cut between its readings, so
 * requests are full; its rejections and events stay together in its last part (InfluxStore numbers a message's
 * rejections within one request). It resolves when every part is acknowledged. A request InfluxDB refuses for good is halved until the refused points stand
 * alone; a refused reading is stored as a `store_refused` rejection instead, so nothing disappears silently; a
 * refused rejection or event is logged at error level as LOST and counted.
 *
 * Errors: `write` rejects only when the writer is closed first. Events: `retry` (error, attempt, delayMs),
 * `written` ({ readings, rejections }) per acknowledged request.
 */
export class ReadingWriter extends EventEmitter<{ retry: [error: unknown, attempt: number, delayMs: number]; written: [{ readings: number; rejections: number }] }> {
  private readonly counts = { written: 0, rejectionsWritten: 0, refused: 0, lost: 0 }
  private readonly engine: GroupCommit<WriteBatch>

  constructor(
    private readonly store: ReadingStore,
    private readonly options: WriterOptions,
    private readonly logger: Logger,
  ) {
    super()
    this.engine = new GroupCommit<WriteBatch>({
      send: (parts) => this.send(parts),
      sizeOf,
      maxBatchSize: options.batchSize,
      lingerMs: 0,
      maxInFlight: options.maxInFlight ?? 1,
      maxBuffered: options.maxBufferedReadings,
      retry: options.retry,
      cut,
      split: halve,
      onRefused: (batch, error) => this.asRejections(batch, error),
    })
    const outage = new OutageLog(this.logger, 'InfluxDB write') // one warning per outage, not one per retry
    this.engine.on('retry', (error, attempt, delayMs) => {
      this.emit('retry', error, attempt, delayMs)
      outage.failed({ err: error, attempt, delayMs, retriable: isRetriable(error) }, 'InfluxDB write failed, retrying')
    })
    this.engine.on('batch', () => outage.recovered())
    this.engine.on('lost', (batch, error) => {
      this.counts.lost += batch.readings.length + batch.rejections.length
      this.logger.error({ err: error, entry: { readings: batch.readings, rejections: batch.rejections, events: batch.events } }, 'LOST: could not store entry nor its rejections')
    })
  }

  get stats(): WriterStats {
    const { requests, retries, backpressureWaits, peakInFlight } = this.engine.stats
    return { ...this.counts, requests, retries, backpressureWaits, peakInFlight }
  }

  /** Resolves once all of `batch` is acknowledged by the store. Rejects only when the writer is closed first. */
  async write(batch: WriteBatch): Promise<void> {
    if (sizeOf(batch) === 0) return
    if (this.engine.closed) throw new Error('writer is closed')
    await this.engine.submit(batch)
  }

  /** Stops retrying; writes not yet acknowledged are rejected (their upstream acks are never sent). */
  async close(): Promise<void> {
    this.engine.close()
  }

  /** Points accepted and not yet acknowledged (queued and in flight; not those still waiting for room). */
  get bufferedCount(): number {
    return this.engine.bufferedCount
  }

  private async send(parts: WriteBatch[]): Promise<void> {
    const batch = parts.length === 1 ? parts[0]! : { readings: parts.flatMap((p) => p.readings), rejections: parts.flatMap((p) => p.rejections), events: parts.flatMap((p) => p.events ?? []) }
    await this.store.write(batch)
    this.counts.written += batch.readings.length
    this.counts.rejectionsWritten += batch.rejections.length
    this.emit('written', { readings: batch.readings.length, rejections: batch.rejections.length })
  }

  /** A lone refused part: its reading as a `store_refused` rejection; undefined for a rejection or event (lost). */
  private asRejections(batch: WriteBatch, error: unknown): WriteBatch | undefined {
    if (batch.readings.length === 0) return undefined
    this.counts.refused += batch.readings.length
    this.logger.error({ err: error, readings: batch.readings.length }, 'InfluxDB refused readings; storing them as rejections')
    const asRejections: Rejection[] = batch.readings.map((r) => ({
      deviceId: r.deviceId,
      topic: '',
      sourceFormat: r.sourceFormat,
      receivedAt: r.receivedAt,
      observedAt: r.observedAt,
      path: `readings.${r.quantity}`,
      rule: 'store_refused',
      message: `InfluxDB refused the reading: ${(error as Error).message}`.slice(0, 1000),
      value: r.value,
      raw: JSON.stringify(r),
    }))
    return { readings: [], rejections: [...batch.rejections, ...asRejections], events: batch.events }
  }
}

function sizeOf(batch: WriteBatch): number {
  return batch.readings.length + batch.rejections.length + (batch.events?.length ?? 0)
}

/** The first `units` readings (all when fewer) and the rest, which keeps the rejections and events. */
function cut(batch: WriteBatch, units: number): [WriteBatch, WriteBatch] | undefined {
  if (batch.readings.length === 0) return undefined
  const n = Math.min(units, batch.readings.length)
  return [{ readings: batch.readings.slice(0, n), rejections: [] }, { readings: batch.readings.slice(n), rejections: batch.rejections, events: batch.events }]
}

/**
 * Halves a refused part: its readings while there are two or more (the rejections and events stay together in
 * the second half), else the points in order (reading, rejections, events); undefined for a single point.
 */
function halve(batch: WriteBatch): [WriteBatch, WriteBatch] | undefined {
  const { readings, rejections } = batch
  if (readings.length > 1) {
    const mid = readings.length >> 1
    return [{ readings: readings.slice(0, mid), rejections: [] }, { readings: readings.slice(mid), rejections, events: batch.events }]
  }
  const size = sizeOf(batch)
  if (size < 2) return undefined
  const mid = size >> 1
  const part = (from: number, to: number): WriteBatch => ({
    readings: readings.slice(from, to),
    rejections: rejections.slice(Math.max(0, from - readings.length), Math.max(0, to - readings.length)),
    events: (batch.events ?? []).slice(Math.max(0, from - readings.length - rejections.length), Math.max(0, to - readings.length - rejections.length)),
  })
  return [part(0, mid), part(mid, size)]
}
