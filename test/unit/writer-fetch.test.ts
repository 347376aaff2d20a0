import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { writerFetch } from '../../services/writer/kafka-writer.ts'

describe('writerFetch (services/writer/kafka-writer.ts)', () => {
  it('takes about one full InfluxDB request of readings per fetch response, split between the readings partitions', () => {
    // defaults: 3 partitions, 5,000 points a request → 5,000 × 300 B in one response, a third of it a partition
    const config = loadConfig({ SENSHAGEN_KAFKA_BROKERS: '127.0.0.1:9092' })
    expect(writerFetch(config.kafka!.partitions, config.writer.batchSize)).toEqual({ concurrency: 9, maxBytesPerPartition: 500_000, maxBytes: 1_500_000 })
    expect(writerFetch(1, 10_000)).toEqual({ concurrency: 3, maxBytesPerPartition: 3_000_000, maxBytes: 3_000_000 })
    expect(writerFetch(6, 5_000)).toEqual({ concurrency: 18, maxBytesPerPartition: 250_000, maxBytes: 1_500_000 })
  })

  it('never fetches less than 1 MiB a response, however small the requests', () => {
    expect(writerFetch(3, 100)).toEqual({ concurrency: 9, maxBytesPerPartition: 349_526, maxBytes: 1_048_576 })
  })
})
