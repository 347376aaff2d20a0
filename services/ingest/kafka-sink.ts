import { EventEmitter } from 'node:events'
import type { BusProducer, BusRecord } from '../../core/bus/bus.ts'
import type { Logger } from '../../core/logger.ts'
import { withRetry } from '../../core/retry.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import type { IngestSink } from './sinks.ts'

export interface KafkaSinkOptions {
  readingsTopic: string
  rejectionsTopic: string
  eventsTopic: string
  /**
   * Longest an accepted message waits for others to join its produce request when none is in flight, ms; 0 sends
   * on the next turn of the event loop. While a request is in flight, what arrives forms the next batch anyway.
   */
  batchMs: number
  /** Most messages (accept calls) in one produce request; a full batch is sent at once. */
  batchMessages: number
  /** Most records (readings + rejections + events) accepted and not yet acknowledged; `accept` waits beyond. */
  maxBufferedRecords: number
  retry?: { initialDelayMs: number; maxDelayMs: number }
}

export interface KafkaSinkStats {
  /** Produce requests that succeeded (one per batch, retries not counted). */
  batches: number
  /** Messages (accept calls) acknowledged. */
  messages: number
  /** Records acknowledged by Kafka. */
  records: number
  retries: number
  /** Times an accept had to wait because maxBufferedRecords were waiting. */
  backpressureWaits: number
}

interface Entry {
  records: Array<{ topic: string; record: BusRecord }>
  resolve: () => void
  reject: (error: unknown) => void
}

/**
 * Kafka mode's group commit: concurrent `accept` calls gather for at most `batchMs` or `batchMessages` messages
 * and go to Kafka as one `sendBatch` (acks = all, core/bus/kafka.ts), readings, rejections (dead-letter topic) and
 * device events to their topics, keyed by device so one device's records stay in order on one partition.
 *
 * One produce request is in flight at a time; what arrives meanwhile forms the next batch. Batches are sent and
 * acknowledged in accept order, so every accept resolves in the order it was called (the broker's PUBACK order
 * rests on this, [MQTT-4.6.0-2]). A failed request is retried with backoff (withRetry, retriable errors) until
 * it succeeds or the sink is closed; nothing is dropped. Memory: at most `maxBufferedRecords` records wait
 * (a single message larger than that is let through alone); further accepts wait for room (backpressure,
 * counted in `stats.backpressureWaits`).
 * Errors: `accept` rejects only when the sink is closed before its batch was acknowledged.
 * Events: `retry` (error, attempt, delayMs), `batch` ({ messages, records, ms }).
 */
export class KafkaBatchSink extends EventEmitter implements IngestSink {
  readonly stats: KafkaSinkStats = { batches: 0, messages: 0, records: 0, retries: 0, backpressureWaits: 0 }
  private queue: Entry[] = []
  /** Records accepted and not yet acknowledged (queued and in flight). */
  private buffered = 0
  private sending = false
  private timer?: NodeJS.Timeout
  private immediate?: NodeJS.Immediate
  private spaceWaiters: Array<() => void> = []
  private readonly abort = new AbortController()

  constructor(
    private readonly producer: BusProducer,
    private readonly options: KafkaSinkOptions,
    private readonly logger: Logger,
  ) {
    super()
  }

  async accept({ readings, rejections, events = [] }: WriteBatch): Promise<void> {
    const { readingsTopic, rejectionsTopic, eventsTopic } = this.options
    const records = [
      ...readings.map((r) => ({ topic: readingsTopic, record: { key: r.deviceId, value: JSON.stringify(r) } })),
      ...rejections.map((r) => ({ topic: rejectionsTopic, record: { key: r.deviceId, value: JSON.stringify(r) } })),
      ...events.map((e) => ({ topic: eventsTopic, record: { key: e.deviceId, value: JSON.stringify(e) } })),
    ]
    // an empty message still queues, so it resolves after the messages accepted before it (ordering)
    while (this.buffered > 0 && this.buffered + records.length > this.options.maxBufferedRecords && !this.abort.signal.aborted) {
      this.stats.backpressureWaits++
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve))
    }
    if (this.abort.signal.aborted) throw new Error('Kafka sink is closed')
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject })
      this.buffered += records.length
      this.schedule()
    })
  }

  get bufferedCount(): number {
    return this.buffered
  }

  /** Stops retrying; messages not yet acknowledged are rejected (so their MQTT PUBACK is never sent). */
  async close(): Promise<void> {
    this.abort.abort(new Error('Kafka sink is closed'))
    clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    for (const entry of this.queue.splice(0)) entry.reject(new Error('Kafka sink closed before the message was acknowledged'))
    for (const wake of this.spaceWaiters.splice(0)) wake()
    await this.producer.disconnect()
  }

  private schedule(): void {
    if (this.sending) return // the running loop takes the new entries after the request in flight
    if (this.queue.length >= this.options.batchMessages) {
      clearTimeout(this.timer)
      this.timer = undefined
      if (this.immediate) clearImmediate(this.immediate)
      this.immediate = undefined
      void this.sendLoop()
    } else if (!this.timer && !this.immediate) {
      const go = () => {
        this.timer = undefined
        this.immediate = undefined
        void this.sendLoop()
      }
      // 0: no linger; what arrives while a request is in flight still forms the next batch
      if (this.options.batchMs === 0) this.immediate = setImmediate(go)
      else this.timer = setTimeout(go, this.options.batchMs)
    }
  }

  private async sendLoop(): Promise<void> {
    if (this.sending) return
    this.sending = true
    try {
      while (this.queue.length > 0 && !this.abort.signal.aborted) {
        const batch = this.queue.splice(0, this.options.batchMessages)
        const size = batch.reduce((n, e) => n + e.records.length, 0)
        const startedAt = Date.now()
        try {
          await this.send(batch)
        } catch (error) {
          // a close ends the retries (or a non-retriable error): the messages stay unacknowledged and their
          // sources resend them
          if (!this.abort.signal.aborted) this.logger.error({ err: error, messages: batch.length, records: size }, 'Kafka refused a batch: its messages are not acknowledged')
          for (const entry of batch) entry.reject(error)
          continue
        } finally {
          this.buffered -= size
          for (const wake of this.spaceWaiters.splice(0)) wake()
        }
        this.stats.batches++
        this.stats.messages += batch.length
        this.stats.records += size
        this.emit('batch', { messages: batch.length, records: size, ms: Date.now() - startedAt })
        for (const entry of batch) entry.resolve()
      }
    } finally {
      this.sending = false
    }
    if (this.queue.length > 0 && !this.abort.signal.aborted) this.schedule()
  }

  private send(batch: Entry[]): Promise<void> {
    const byTopic = new Map<string, BusRecord[]>()
    for (const entry of batch) {
      for (const { topic, record } of entry.records) {
        const records = byTopic.get(topic)
        if (records) records.push(record)
        else byTopic.set(topic, [record])
      }
    }
    const batches = [...byTopic].map(([topic, records]) => ({ topic, records }))
    return withRetry(() => this.producer.send(batches), {
      initialDelayMs: this.options.retry?.initialDelayMs ?? 200,
      maxDelayMs: this.options.retry?.maxDelayMs ?? 10_000,
      maxAttempts: Infinity,
      signal: this.abort.signal,
      onRetry: (error, attempt, delayMs) => {
        this.stats.retries++
        this.emit('retry', error, attempt, delayMs)
        this.logger.warn({ err: error, attempt, delayMs, messages: batch.length }, 'Kafka produce failed, retrying')
      },
    })
  }
}
