import { EventEmitter } from 'node:events'
import { isRetriable } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { Rejection } from '../../core/reading.ts'
import { withRetry } from '../../core/retry.ts'
import type { ReadingStore, WriteBatch } from '../../core/store/store.ts'

export interface WriterOptions {
  /** Most points sent in one InfluxDB request. */
  batchSize: number
  /** Most readings + rejections held in memory; `write()` waits (backpressure) while it is full. */
  maxBufferedReadings: number
  retry?: { initialDelayMs: number; maxDelayMs: number }
}

export interface WriterStats {
  written: number
  rejectionsWritten: number
  requests: number
  retries: number
  /** Times a producer had to wait because the buffer was full. */
  backpressureWaits: number
  /** Readings InfluxDB refused for good (e.g. a field type conflict); each was stored as a rejection instead. */
  refused: number
  /** Entries that could be stored neither as readings nor as rejections; each logged at error level. */
  lost: number
}

interface Entry extends WriteBatch {
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * Writes readings and rejections to the store and tells each caller when *its* data is acknowledged.
 *
 * Group commit: a write is sent on the next tick; while a request is in flight, new entries gather and go
 * together in the next one (at most `batchSize` points each), so light load has no added latency and heavy
 * load gets large batches. Retriable failures are retried with backoff until they succeed or the writer is
 * closed; the caller's promise settles only then, so MQTT PUBACKs and Kafka offsets wait for InfluxDB.
 * A batch the server refuses for good is split entry by entry, and a refused entry's readings are stored as
 * `store_refused` rejections so nothing disappears silently.
 *
 * Events: `retry` (error, attempt, delayMs), `written` ({ readings, rejections }).
 */
export class ReadingWriter extends EventEmitter {
  readonly stats: WriterStats = { written: 0, rejectionsWritten: 0, requests: 0, retries: 0, backpressureWaits: 0, refused: 0, lost: 0 }
  private queue: Entry[] = []
  private buffered = 0
  private flushing = false
  private scheduled = false
  private spaceWaiters: Array<() => void> = []
  private readonly abort = new AbortController()

  constructor(
    private readonly store: ReadingStore,
    private readonly options: WriterOptions,
    private readonly logger: Logger,
  ) {
    super()
  }

  /** Resolves once all of `batch` is acknowledged by the store. Rejects only when the writer is closed first. */
  async write(batch: WriteBatch): Promise<void> {
    const size = sizeOf(batch)
    if (size === 0) return
    while (this.buffered > 0 && this.buffered + size > this.options.maxBufferedReadings) {
      this.stats.backpressureWaits++
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve))
    }
    if (this.abort.signal.aborted) throw new Error('writer is closed')
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...batch, resolve, reject })
      this.buffered += size
      this.schedule()
    })
  }

  /** Stops retrying; entries still waiting are rejected (their upstream acks are never sent). */
  async close(): Promise<void> {
    this.abort.abort(new Error('writer is closed'))
    for (const entry of this.queue.splice(0)) entry.reject(new Error('writer closed before the write was acknowledged'))
    for (const wake of this.spaceWaiters.splice(0)) wake()
  }

  get bufferedCount(): number {
    return this.buffered
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.flushLoop()
    })
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.queue.length > 0 && !this.abort.signal.aborted) {
        const batch = this.takeBatch()
        await this.writeEntries(batch)
        const size = batch.reduce((n, e) => n + sizeOf(e), 0)
        this.buffered -= size
        for (const wake of this.spaceWaiters.splice(0)) wake()
      }
    } finally {
      this.flushing = false
    }
  }

  /** Whole entries up to `batchSize` points (an entry larger than that goes alone). */
  private takeBatch(): Entry[] {
    const batch: Entry[] = []
    let points = 0
    while (this.queue.length > 0) {
      const next = this.queue[0]!
      const size = sizeOf(next)
      if (batch.length > 0 && points + size > this.options.batchSize) break
      batch.push(this.queue.shift()!)
      points += size
    }
    return batch
  }

  private async writeEntries(batch: Entry[]): Promise<void> {
    const readings = batch.flatMap((e) => e.readings)
    const rejections = batch.flatMap((e) => e.rejections)
    const events = batch.flatMap((e) => e.events ?? [])
    try {
      await this.storeWithRetry({ readings, rejections, events })
      this.stats.written += readings.length
      this.stats.rejectionsWritten += rejections.length
      this.emit('written', { readings: readings.length, rejections: rejections.length })
      for (const entry of batch) entry.resolve()
    } catch (error) {
      if (this.abort.signal.aborted) {
        for (const entry of batch) entry.reject(error)
      } else if (batch.length > 1) {
        for (const entry of batch) await this.writeEntries([entry])
      } else {
        await this.storeRefused(batch[0]!, error)
      }
    }
  }

  private async storeRefused(entry: Entry, error: unknown): Promise<void> {
    this.stats.refused += entry.readings.length
    this.logger.error({ err: error, readings: entry.readings.length }, 'InfluxDB refused readings; storing them as rejections')
    const asRejections: Rejection[] = entry.readings.map((r) => ({
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
    try {
      await this.storeWithRetry({ readings: [], rejections: [...entry.rejections, ...asRejections], events: entry.events })
      entry.resolve()
    } catch (second) {
      this.stats.lost += entry.readings.length + entry.rejections.length
      this.logger.error({ err: second, entry: { readings: entry.readings, rejections: entry.rejections } }, 'LOST: could not store entry nor its rejections')
      entry.resolve()
    }
  }

  private storeWithRetry(batch: WriteBatch): Promise<void> {
    return withRetry(
      () => {
        this.stats.requests++
        return this.store.write(batch)
      },
      {
        initialDelayMs: this.options.retry?.initialDelayMs ?? 200,
        maxDelayMs: this.options.retry?.maxDelayMs ?? 10_000,
        maxAttempts: Infinity,
        signal: this.abort.signal,
        onRetry: (error, attempt, delayMs) => {
          this.stats.retries++
          this.emit('retry', error, attempt, delayMs)
          this.logger.warn({ err: error, attempt, delayMs, retriable: isRetriable(error) }, 'InfluxDB write failed, retrying')
        },
      },
    )
  }
}

function sizeOf(batch: WriteBatch): number {
  return batch.readings.length + batch.rejections.length + (batch.events?.length ?? 0)
}
