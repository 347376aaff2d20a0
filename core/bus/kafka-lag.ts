import { Kafka, logLevel as KafkaLogLevel, type Admin } from 'kafkajs'
import type { Logger } from '../logger.ts'
import type { LagSource } from '../metrics.ts'

/** Lag samples are reused for this long, so that frequent scrapes cost Kafka no more than one round a few seconds. */
export const LAG_SAMPLE_MS = 5_000

/**
 * Consumer lag of `groupId` on `topics`, for senshagen_kafka_consumer_lag (core/metrics.ts): per topic, the sum
 * over partitions of (high watermark − committed offset), a partition without a committed offset counting from
 * its low watermark. Two admin requests per topic (kafkajs admin.fetchTopicOffsets, admin.fetchOffsets), made at
 * scrape time and cached LAG_SAMPLE_MS; the admin client connects on the first scrape and stays connected until
 * `close`. A failing sample (Kafka down) is logged at warn once per episode and the scrape shows no lag series.
 */
export function kafkaConsumerLag(options: { brokers: string[]; clientId: string }, groupId: string, topics: readonly string[], logger: Logger): { sample: LagSource; close(): Promise<void> } {
  const kafka = new Kafka({ clientId: `${options.clientId}-lag`, brokers: options.brokers, logLevel: KafkaLogLevel.NOTHING, retry: { retries: 1 } })
  let admin: Admin | undefined
  let cached: { at: number; lag: Promise<Record<string, number>> } | undefined
  let failing = false
  const measure = async (): Promise<Record<string, number>> => {
    if (!admin) {
      admin = kafka.admin()
      await admin.connect()
    }
    const lag: Record<string, number> = {}
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] })
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic)
      const done = new Map((committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
      lag[topic] = ends.reduce((sum, p) => {
        const offset = done.get(p.partition) ?? -1
        return sum + Math.max(0, Number(p.high) - (offset >= 0 ? offset : Number(p.low)))
      }, 0)
    }
    return lag
  }
  const sample: LagSource = () => {
    if (!cached || Date.now() - cached.at > LAG_SAMPLE_MS) {
      cached = { at: Date.now(), lag: measure() }
      cached.lag.then(
        () => (failing = false),
        (error: unknown) => {
          if (!failing) logger.warn({ err: error }, 'could not sample the Kafka consumer lag (metrics); trying again at the next scrape')
          failing = true
          cached = undefined
        },
      )
    }
    return cached.lag
  }
  return {
    sample,
    async close() {
      await admin?.disconnect()
    },
  }
}
