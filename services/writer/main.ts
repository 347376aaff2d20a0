import { createKafkaBus } from '../../core/bus/kafka.ts'
import { kafkaConsumerLag } from '../../core/bus/kafka-lag.ts'
import type { Config } from '../../core/config.ts'
import { reportUndrained, settlesBy, type Deadline } from '../../core/drain.ts'
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
  /**
   * Stops consuming and closes the writer. With `deadline` (graceful shutdown, epoch ms, core/drain.ts) the batches
   * being handled are written to InfluxDB and their offsets committed first, until the deadline; points still
   * unacknowledged then are logged at error level and counted, and their offsets stay uncommitted (consumed
   * again by the group).
   */
  stop(deadline?: Deadline): Promise<void>
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
  // Every partition of the three topics handled at once; one fetch takes about one full InfluxDB request of a
  // partition (a reading is ~250 bytes of JSON). The partition's next fetch overlaps that write (core/bus/kafka.ts),
  // so the requests in flight fill from several fetches; a larger fetch only held more in memory (5 MiB a
  // partition before).
  const fetch = { concurrency: 3 * config.kafka.partitions, maxBytesPerPartition: Math.max(1 << 20, config.writer.batchSize * 256) }
  const consumer = await startKafkaWriter(bus, writer, config.kafka, fetch, logger)
  const lag = kafkaConsumerLag(config.kafka, config.kafka.groupId, [config.kafka.readingsTopic, config.kafka.rejectionsTopic, config.kafka.eventsTopic], logger)
  const untrackLag = trackConsumerLag(lag.sample)
  logger.info({ influx: config.influx.url, generation: store.generation, database: store.database, group: config.kafka.groupId }, 'writer running')
  return {
    writer,
    store,
    async stop(deadline) {
      untrackLag()
      await lag.close()
      // kafkajs' disconnect waits for the batches being handled: their writes and offset commits
      const stopped = consumer.stop()
      if (deadline !== undefined && !(await settlesBy(deadline, stopped))) reportUndrained(logger, 'writer', writer.bufferedCount, 'points (offsets not committed)')
      await writer.close()
      await stopped
      await store.close()
    },
  }
}
