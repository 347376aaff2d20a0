import type { Config } from '../config.ts'
import type { Logger } from '../logger.ts'
import { withFirstReceipts } from './first-receipt.ts'
import { openInfluxStore, type InfluxReadingStore } from './influx.ts'
import { ReadingWriter } from './reading-writer.ts'

/**
 * Opens the InfluxDB store (config.influx; the database is created when missing) and a ReadingWriter on it
 * with config.writer's batch size, requests in flight and buffer bound, whose writes give a rejection without
 * observed time its first receipt's time (core/store/first-receipt.ts, so a redelivery overwrites itself): the writer service's (Kafka mode) and
 * direct-mode ingest's way to InfluxDB. The caller closes both. Errors: openInfluxStore's (UnavailableError
 * when InfluxDB does not answer).
 */
export async function openWriter(config: Config, logger: Logger): Promise<{ writer: ReadingWriter; store: InfluxReadingStore }> {
  const store = await openInfluxStore(config.influx, logger)
  await store.ensureDatabase()
  const { batchSize, maxInFlight, maxBufferedReadings } = config.writer
  const writer = new ReadingWriter(withFirstReceipts(store, logger), { batchSize, maxInFlight, maxBufferedReadings }, logger)
  return { writer, store }
}
