import type { BusProducer } from '../../core/bus/bus.ts'
import type { Logger } from '../../core/logger.ts'
import type { ReadingWriter } from '../../core/store/reading-writer.ts'
import type { WriteBatch } from '../../core/store/store.ts'
import { KafkaBatchSink, type KafkaSinkOptions } from './kafka-sink.ts'

/**
 * Where the ingest hands what came out of one message. `accept` resolves only once the data is durable:
 * Kafka acknowledged it (acks = all), or, in direct mode, InfluxDB did. Only then is the MQTT message
 * acknowledged, so a crash before that point makes the broker deliver it again (at-least-once).
 * Resolve order: the Kafka sink resolves in accept order; the direct sink, with several InfluxDB requests in
 * flight, may not (core/store/group-commit.ts "Ordering"); callers that need order keep it themselves.
 */
export interface IngestSink {
  accept(batch: WriteBatch): Promise<void>
  /**
   * Graceful shutdown: sends what waits (no linger) and resolves once everything accepted is acknowledged, or at
   * `deadline` (epoch ms, core/drain.ts) with the records/points still unacknowledged (0 = none). Optional: a
   * sink without it is closed as it is.
   */
  drain?(deadline?: number): Promise<number>
  close(): Promise<void>
}

/** Kafka mode: readings, rejections (the dead-letter topic) and device events, group-committed (kafka-sink.ts). */
export function kafkaSink(producer: BusProducer, options: KafkaSinkOptions, logger: Logger): KafkaBatchSink {
  return new KafkaBatchSink(producer, options, logger)
}

/**
 * Direct mode (no Kafka): the writer (core/store/reading-writer.ts) stores readings, rejections and events in
 * InfluxDB in-process; rejections are durable there too (measurement `rejection`).
 */
export function directSink(writer: ReadingWriter): IngestSink {
  return {
    accept: (batch) => writer.write(batch),
    drain: (deadline) => writer.drain(deadline),
    close: () => writer.close(),
  }
}
