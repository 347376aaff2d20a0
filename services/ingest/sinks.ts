import type { BusProducer } from '../../core/bus/bus.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { withRetry } from '../../core/retry.ts'
import type { ReadingWriter } from '../writer/index.ts'

/**
 * Where the ingest hands what came out of one message. `accept` resolves only once the data is durable:
 * Kafka acknowledged it (acks = all), or, in direct mode, InfluxDB did. Only then is the MQTT message
 * acknowledged, so a crash before that point makes the broker deliver it again (at-least-once).
 */
export interface IngestSink {
  accept(batch: WriteBatch): Promise<void>
  close(): Promise<void>
}

/** Kafka mode: readings, rejections (the dead-letter topic) and device events to their topics, keyed by device. */
export function kafkaSink(producer: BusProducer, topics: { readingsTopic: string; rejectionsTopic: string; eventsTopic: string }, signal: AbortSignal): IngestSink {
  return {
    accept: ({ readings, rejections, events = [] }) =>
      withRetry(
        () =>
          producer.send([
            { topic: topics.readingsTopic, records: readings.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })) },
            { topic: topics.rejectionsTopic, records: rejections.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })) },
            { topic: topics.eventsTopic, records: events.map((e) => ({ key: e.deviceId, value: JSON.stringify(e) })) },
          ]),
        { initialDelayMs: 200, maxDelayMs: 10_000, maxAttempts: Infinity, signal },
      ),
    close: () => producer.disconnect(),
  }
}

/**
 * Direct mode (no Kafka): the writer stores readings and rejections in InfluxDB in-process; rejections are
 * durable there too (measurement `rejection`).
 */
export function directSink(writer: ReadingWriter): IngestSink {
  return {
    accept: (batch) => writer.write(batch),
    close: () => writer.close(),
  }
}
