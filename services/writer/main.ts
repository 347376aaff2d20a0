import { createKafkaBus } from '../../core/bus/kafka.ts'
import type { Config } from '../../core/config.ts'
import { ConfigError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { startKafkaWriter } from './kafka-writer.ts'
import { ReadingWriter } from './reading-writer.ts'

export interface RunningWriter {
  writer: ReadingWriter
  store: ReadingStore
  stop(): Promise<void>
}

/** Opens the store and a ReadingWriter on it (used by the writer service and by direct-mode ingest). */
export async function openWriter(config: Config, logger: Logger): Promise<{ writer: ReadingWriter; store: ReadingStore }> {
  const store = await openInfluxStore(config.influx, logger)
  await store.ensureDatabase()
  const writer = new ReadingWriter(store, { batchSize: config.writer.batchSize, maxBufferedReadings: config.writer.maxBufferedReadings }, logger)
  return { writer, store }
}

/**
 * Writer service: Kafka consumer group → InfluxDB, offsets committed after InfluxDB acknowledged.
 * Needs Kafka; in direct mode the ingest writes in-process and there is no separate writer.
 */
export async function runWriter(config: Config, parentLogger: Logger): Promise<RunningWriter> {
  const logger = parentLogger.child({ service: 'writer' })
  if (!config.kafka) {
    throw new ConfigError('the writer service consumes Kafka: set SENSHAGEN_KAFKA_BROKERS (in direct mode the ingest writes to InfluxDB itself)')
  }
  const { writer, store } = await openWriter(config, logger)
  const bus = createKafkaBus(config.kafka, logger)
  await bus.ensureTopics([config.kafka.readingsTopic, config.kafka.rejectionsTopic, config.kafka.eventsTopic], config.kafka.partitions)
  const consumer = await startKafkaWriter(bus, writer, config.kafka, logger)
  logger.info({ influx: config.influx.url, generation: store.generation, database: store.database, group: config.kafka.groupId }, 'writer running')
  return {
    writer,
    store,
    async stop() {
      await consumer.stop()
      await writer.close()
      await store.close()
    },
  }
}
