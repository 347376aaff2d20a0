import { createKafkaBus } from '../../core/bus/kafka.ts'
import { kafkaConsumerLag } from '../../core/bus/kafka-lag.ts'
import type { Config } from '../../core/config.ts'
import { ConfigError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { trackConsumerLag } from '../../core/metrics.ts'
import { openWriter } from '../../core/store/open.ts'
import type { ReadingWriter } from '../../core/store/reading-writer.ts'
import type { InfluxReadingStore } from '../../core/store/influx.ts'
import { startKafkaWriter } from './kafka-writer.ts'

export interface RunningWriter {
  writer: ReadingWriter
  store: InfluxReadingStore
  stop(): Promise<void>
}

/**
 * Writer service: Kafka consumer group → InfluxDB in requests of config.writer.batchSize points,
 * config.writer.maxInFlight at once; offsets committed after InfluxDB acknowledged.
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
  // Every partition of the three topics handled at once; one fetch takes enough of a partition to fill the
  // writer's requests in flight (a reading is ~250 bytes of JSON).
  const fetch = { concurrency: 3 * config.kafka.partitions, maxBytesPerPartition: Math.max(1 << 20, config.writer.batchSize * config.writer.maxInFlight * 256) }
  const consumer = await startKafkaWriter(bus, writer, config.kafka, fetch, logger)
  const lag = kafkaConsumerLag(config.kafka, config.kafka.groupId, [config.kafka.readingsTopic, config.kafka.rejectionsTopic, config.kafka.eventsTopic], logger)
  const untrackLag = trackConsumerLag(lag.sample)
  logger.info({ influx: config.influx.url, generation: store.generation, database: store.database, group: config.kafka.groupId }, 'writer running')
  return {
    writer,
    store,
    async stop() {
      untrackLag()
      await lag.close()
      await consumer.stop()
      await writer.close()
      await store.close()
    },
  }
}
