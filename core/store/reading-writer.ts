import { EventEmitter } from 'node:events'
import { settlesBy } from '../drain.ts'
import { isRetriable } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { countDropped, countRejections, observeBatch, trackBuffer } from '../metrics.ts'
import { pointKey, type Reading, type Rejection } from '../reading.ts'
import { OutageLog } from '../retry.ts'
import { ConflictDetector, conflictEvents, type Conflict } from './conflicts.ts'
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
  /** Distinct (device, quantity, observed time) keys per generation of conflict detection (core/store/conflicts.ts: two are kept); default 25,000. */
  conflictWindow?: number
}

/** The engine's request counters (group-commit.ts), and what was stored, refused and lost by kind. */
export interface WriterStats extends Pick<GroupCommitStats, 'requests' | 'retries' | 'backpressureWaits' | 'peakInFlight'> {
  written: number
  rejectionsWritten: number
  /** Readings InfluxDB refused for good (e.g. a field type conflict); each was stored as a rejection instead. */
  refused: number
  /** Readings and rejections that could be stored neither as they were nor as rejections; each logged at error level. */
  lost: number
  /** Readings that replaced another value of the same device, quantity and time (conflicting resends); each logged at warn level. */
  conflicts: number
}

/**
 * Writes readings, rejections and device events to the store and tells each caller when *its* data is
 * acknowledged: the InfluxDB side of direct mode (the broker's PUBACK waits for it) and of the Kafka-mode
 * writer (the offsets wait for it). Built on the group-commit engine (group-commit.ts): writes gather into
 * requests of at most `batchSize` points, `maxInFlight` requests at once; a retriable failure is retried with
 * backoff until it succeeds or the writer is closed, and only then does the caller's promise settle.
 *
 * A write that does not fit a request whole (a Kafka partition's fetched batch) is cut between its readings, so
 * requests are full; its rejections and events stay together in its last part. It resolves when every part is
 * acknowledged. A request InfluxDB refuses for good is halved until the refused points stand
 * alone; a refused reading is stored as a `store_refused` rejection instead, so nothing disappears silently; a
 * refused rejection or event is logged at error level as LOST and counted.
 *
 * Last write wins: a reading is written whole over whatever its point held (core/store/schema.ts). A reading
 * that replaces another value of the same device, quantity and observed time within the detection window
 * (core/store/conflicts.ts: at least the last `conflictWindow` distinct keys this writer wrote, at most twice as many) is a conflicting resend: it is
 * still written, and a `conflict` device event holding both values goes into the same write (stored before
 * the write resolves), counted in `stats.conflicts`, logged at warn level and emitted as `conflict`. So that
 * the store's last write is the one the event calls current, a write holding a conflict waits for every
 * earlier write to settle first (conflicts are rare; other writes overlap as configured).
 *
 * Errors: `write` rejects only when the writer is closed first. Events: `retry` (error, attempt, delayMs),
 * `written` ({ readings, rejections }) per acknowledged request, `conflict` (Conflict) per conflicting reading
 * when its write is submitted.
 */
export class ReadingWriter extends EventEmitter<{
  retry: [error: unknown, attempt: number, delayMs: number]
  written: [{ readings: number; rejections: number }]
  conflict: [Conflict]
}> {
  private readonly counts = { written: 0, rejectionsWritten: 0, refused: 0, lost: 0, conflicts: 0 }
  private readonly engine: GroupCommit<WriteBatch>
  private readonly conflictDetector: ConflictDetector
  /** Writes submitted and not yet settled: a conflicting resend is written only after them (writeAfter). */
  private readonly unacknowledged = new Set<Promise<void>>()
  private readonly untrack: () => void

  constructor(
    private readonly store: ReadingStore,
    private readonly options: WriterOptions,
    private readonly logger: Logger,
  ) {
    super()
    this.conflictDetector = new ConflictDetector(options.conflictWindow)
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
    this.engine.on('batch', (batch) => {
      outage.recovered()
      observeBatch('influxdb', batch)
    })
    this.untrack = trackBuffer({ engine: 'influxdb_writer', held: () => this.engine.bufferedCount, limit: options.maxBufferedReadings })
    this.engine.on('lost', (batch, error) => {
      this.counts.lost += batch.readings.length + batch.rejections.length
      countDropped('store_lost', batch.readings.length + batch.rejections.length)
      this.logger.error({ err: error, entry: { readings: batch.readings, rejections: batch.rejections, events: batch.events } }, 'LOST: could not store entry nor its rejections')
    })
  }

  get stats(): WriterStats {
    const { requests, retries, backpressureWaits, peakInFlight } = this.engine.stats
    return { ...this.counts, requests, retries, backpressureWaits, peakInFlight }
  }

  /** Resolves once all of `batch` is acknowledged by the store. Rejects only when the writer is closed first. */
  write(batch: WriteBatch): Promise<void> {
    if (sizeOf(batch) === 0) return Promise.resolve()
    if (this.engine.closed) return Promise.reject(new Error('writer is closed'))
    const conflicts = this.conflictDetector.observe(batch.readings)
    const written = conflicts.length === 0 ? this.engine.submit(batch) : this.writeAfter([...this.unacknowledged], this.withConflictEvents(batch, conflicts))
    this.unacknowledged.add(written)
    const forget = () => void this.unacknowledged.delete(written)
    written.then(forget, forget)
    return written
  }

  /**
   * Writes a batch holding a conflicting resend so that the store's last write is the one the conflict event
   * calls current: only after every earlier write (`earlier`, which may hold the value it replaces) settled, and
   * with a reading whose key an earlier reading of the same batch has in a later request than that one (the
   * engine may cut one batch into requests in flight at once, and retry one after another landed).
   */
  private async writeAfter(earlier: Array<Promise<void>>, batch: WriteBatch): Promise<void> {
    await Promise.allSettled(earlier)
    const segments: Reading[][] = [[]]
    let keys = new Set<string>()
    for (const reading of batch.readings) {
      const key = pointKey(reading)
      if (keys.has(key)) {
        segments.push([])
        keys = new Set()
      }
      keys.add(key)
      segments.at(-1)!.push(reading)
    }
    for (const readings of segments.slice(0, -1)) await this.engine.submit({ readings, rejections: [] })
    await this.engine.submit({ ...batch, readings: segments.at(-1)! })
  }

  /** `batch` with a `conflict` device event per device and receipt time among `conflicts`; counts and logs them. */
  private withConflictEvents(batch: WriteBatch, conflicts: Conflict[]): WriteBatch {
    const events = conflictEvents(conflicts)
    this.counts.conflicts += conflicts.length
    for (const conflict of conflicts) this.emit('conflict', conflict)
    for (const event of events) {
      this.logger.warn({ deviceId: event.deviceId, detail: event.detail }, 'conflicting resend: a stored value was replaced by another (last write wins)')
    }
    return { ...batch, events: [...(batch.events ?? []), ...events] }
  }

  /**
   * Graceful shutdown: resolves once every write submitted so far (a conflicting resend's ordered writes
   * included) and any submitted meanwhile is acknowledged by the store, or at `deadline` (epoch ms, core/drain.ts),
   * with the points still unacknowledged then (0 = none). Call `close` afterwards.
   */
  async drain(deadline?: number): Promise<number> {
    await settlesBy(deadline, Promise.allSettled([...this.unacknowledged]))
    return this.engine.drain(deadline)
  }

  /** Stops retrying; writes not yet acknowledged are rejected (their upstream acks are never sent). */
  async close(): Promise<void> {
    this.engine.close()
    this.untrack()
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
    countRejections(asRejections)
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
