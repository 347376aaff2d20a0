import { EventEmitter } from 'node:events'
import type { BusProducer, BusRecord } from '../../core/bus/bus.ts'
import { isRetriable } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { observeBatch, trackBuffer } from '../../core/metrics.ts'
import type { Reading } from '../../core/reading.ts'
import { OutageLog } from '../../core/retry.ts'
import { GroupCommit } from '../../core/store/group-commit.ts'
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
  /**
   * Records of the messages acknowledged, counted per message: one per device with readings in it, one per
   * rejection and event (a batch merges one device's into one Kafka record; `maxBufferedRecords` counts these).
   */
  records: number
  retries: number
  /** Times an accept had to wait because maxBufferedRecords were waiting. */
  backpressureWaits: number
}

/**
 * One accepted message as queued: its readings as the objects the pipeline made (the ingest holds them until the
 * PUBACK anyway), serialized only when their batch is sent; its rejections and events already as records.
 */
interface Message {
  readings: readonly Reading[]
  /** Distinct devices among `readings`: the records they become. */
  devices: number
  /** Rejections (dead-letter topic) and device events, serialized at accept. */
  records: Array<{ topic: string; record: BusRecord }>
}

/**
 * Kafka mode's group commit on the shared engine (core/store/group-commit.ts): concurrent `accept` calls gather
 * for at most `batchMs` or `batchMessages` messages and go to Kafka as one `sendBatch` (acks = all,
 * core/bus/kafka.ts), readings, rejections (dead-letter topic) and device events to their topics, keyed by device
 * so one device's records stay in order on one partition.
 *
 * Records: the readings a batch holds of one device go as one record keyed by the device, its value a JSON
 * array of the readings in accept order (under load a 500-message batch of 100 devices is 100 records, not
 * 500: kafkajs' per-record work, encoding, partitioning and buffer copies, was the largest part of the broker
 * process's CPU in Kafka mode); each rejection and each event is a record of its own. A device's records
 * still land on one partition in accept order, and a partition's request carries the same bytes as with one
 * record per message, so Kafka's size limit (message.max.bytes, per record batch) is met as before. The
 * writer (services/writer/kafka-writer.ts) also reads a single reading object, as records written before
 * this layout hold.
 *
 * One produce request is in flight at a time (the engine's `maxInFlight` 1, on purpose: several concurrent
 * sendBatch calls could reorder a partition's records when one is retried; see group-commit.ts "Ordering").
 * So batches are sent and acknowledged in accept order and every accept resolves in the order it was called.
 * A failed request is retried with backoff (retriable errors) until it succeeds or the sink is closed; nothing is
 * dropped. Memory: at most `maxBufferedRecords` records wait (a single message larger than that is let through
 * alone); further accepts wait in order for room (backpressure, counted in `stats.backpressureWaits`). A waiting
 * message's readings stay the pipeline's objects, which its caller holds until the acknowledgement anyway; they
 * become JSON only in the batch being sent (serialized at accept, the queue held a second copy of every waiting
 * reading: ~1.2 KB a five-reading message, ~10 MB of live heap at the fleet benchmark's 10k msg/s,
 * docs/benchmarks.md "2026-12-02 (session 20, Kafka-mode memory)").
 * Errors: `accept` rejects when the sink is closed before its batch was acknowledged, or when Kafka refused the
 * batch for good (logged at error level; the message is not acknowledged and its source resends it).
 * Events: `retry` (error, attempt, delayMs), `batch` ({ messages, records, ms }).
 */
export class KafkaBatchSink extends EventEmitter<{ retry: [error: unknown, attempt: number, delayMs: number]; batch: [{ messages: number; records: number; ms: number }] }> implements IngestSink {
  private readonly engine: GroupCommit<Message>
  private readonly untrack: () => void

  constructor(
    private readonly producer: BusProducer,
    private readonly options: KafkaSinkOptions,
    private readonly logger: Logger,
  ) {
    super()
    this.engine = new GroupCommit<Message>({
      send: (messages) => this.send(messages),
      sizeOf: (message) => message.devices + message.records.length,
      maxBatchSize: Infinity,
      maxBatchItems: options.batchMessages,
      lingerMs: options.batchMs,
      maxInFlight: 1,
      maxBuffered: options.maxBufferedRecords,
      retry: options.retry,
    })
    const outage = new OutageLog(this.logger, 'Kafka produce') // one warning per outage, not one per retry
    this.engine.on('retry', (error, attempt, delayMs) => {
      this.emit('retry', error, attempt, delayMs)
      outage.failed({ err: error, attempt, delayMs }, 'Kafka produce failed, retrying')
    })
    this.engine.on('batch', ({ items, units, ms }) => {
      outage.recovered()
      this.emit('batch', { messages: items, records: units, ms })
    })
    this.engine.on('batch', (batch) => observeBatch('kafka', batch))
    this.untrack = trackBuffer({ engine: 'kafka_sink', held: () => this.engine.bufferedCount, limit: options.maxBufferedRecords })
  }

  get stats(): KafkaSinkStats {
    const { batches, items, units, retries, backpressureWaits } = this.engine.stats
    return { batches, messages: items, records: units, retries, backpressureWaits }
  }

  /** Resolves once Kafka acknowledged every record of `batch` (acks = all); in accept order. */
  accept({ readings, rejections, events = [] }: WriteBatch): Promise<void> {
    if (this.engine.closed) return Promise.reject(new Error('Kafka sink is closed'))
    const { readingsTopic, rejectionsTopic, eventsTopic } = this.options
    // an empty message still queues, so it resolves after the messages accepted before it (ordering). Rejections
    // and events are serialized now, so that a value JSON cannot hold fails this message alone, not its batch.
    return this.engine.submit({
      readings,
      devices: deviceCount(readings),
      records: [
        ...rejections.map((r) => ({ topic: rejectionsTopic, record: { key: r.deviceId, value: JSON.stringify(r) } })),
        ...events.map((e) => ({ topic: eventsTopic, record: { key: e.deviceId, value: JSON.stringify(e) } })),
      ],
    })
  }

  /** Records accepted and not yet acknowledged (queued and in flight; not those still waiting for room). */
  get bufferedCount(): number {
    return this.engine.bufferedCount
  }

  /**
   * Graceful shutdown: sends the pending batch now and resolves once Kafka acknowledged everything accepted, or
   * at `deadline` (epoch ms) with the records still unacknowledged (group-commit.ts `drain`).
   */
  drain(deadline?: number): Promise<number> {
    return this.engine.drain(deadline)
  }

  /** Stops retrying; messages not yet acknowledged are rejected (so their MQTT PUBACK is never sent). */
  async close(): Promise<void> {
    this.engine.close()
    this.untrack()
    await this.producer.disconnect()
  }

  private async send(messages: Message[]): Promise<void> {
    const byTopic = new Map<string, BusRecord[]>()
    // one device's readings of the whole batch, in accept order, become one record (see the class comment)
    const readingsByKey = new Map<string, Reading[]>()
    for (const message of messages) {
      for (const reading of message.readings) {
        const ofDevice = readingsByKey.get(reading.deviceId)
        if (ofDevice) ofDevice.push(reading)
        else readingsByKey.set(reading.deviceId, [reading])
      }
      for (const { topic, record } of message.records) {
        const records = byTopic.get(topic)
        if (records) records.push(record)
        else byTopic.set(topic, [record])
      }
    }
    if (readingsByKey.size > 0) byTopic.set(this.options.readingsTopic, [...readingsByKey].map(([key, ofDevice]) => ({ key, value: JSON.stringify(ofDevice) })))
    try {
      await this.producer.send([...byTopic].map(([topic, records]) => ({ topic, records })))
    } catch (error) {
      if (!this.engine.closed && !isRetriable(error)) {
        const records = messages.reduce((n, m) => n + m.devices + m.records.length, 0)
        this.logger.error({ err: error, messages: messages.length, records }, 'Kafka refused a batch: its messages are not acknowledged')
      }
      throw error
    }
  }
}

/** Distinct device ids among `readings` (one, as a rule; a Tasmota message may hold sub-devices). */
function deviceCount(readings: readonly Reading[]): number {
  if (readings.length === 0) return 0
  const first = readings[0]!.deviceId
  if (readings.every((r) => r.deviceId === first)) return 1
  return new Set(readings.map((r) => r.deviceId)).size
}
