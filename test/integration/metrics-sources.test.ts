import type { Client, PublishPacket } from 'aedes'
import { Kafka, logLevel } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { kafkaConsumerLag } from '../../core/bus/kafka-lag.ts'
import { RefusedError } from '../../core/errors.ts'
import { dropped, metricsRegistry, trackConsumerLag } from '../../core/metrics.ts'
import type { Rejection } from '../../core/reading.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { BrokerIngest } from '../../services/broker/broker-ingest.ts'
import { KAFKA_BROKERS, uniqueId, waitFor } from '../helpers/env.ts'
import { sampleValue } from '../helpers/prometheus.ts'

/** A logger whose lines the test reads back (level 50 = error). */
function capturingLogger(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = []
  return { logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }), lines }
}

async function droppedCount(reason: string): Promise<number> {
  return (await dropped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('drops are counted and logged at error level', () => {
  it('a QoS 0 publish the in-broker ingest could not store: qos0_not_stored', async () => {
    const { logger, lines } = capturingLogger()
    const ingest = new BrokerIngest({ filters: ['#'], handle: () => Promise.reject(new Error('store down')) }, logger)
    const before = await droppedCount('qos0_not_stored')
    const packet = { cmd: 'publish', topic: 'senshagen/v1/devices/d1/readings', payload: Buffer.from('{}'), qos: 0, retain: false, dup: false } as PublishPacket
    let acknowledged = false
    ingest.arrive({ id: 'c1', closed: false } as Client, packet, () => (acknowledged = true))({ ingest: true })
    await waitFor('the drop counted', async () => (await droppedCount('qos0_not_stored')) === before + 1, 5_000, 10)
    expect(acknowledged).toBe(true) // QoS 0 has no PUBACK to hold back
    expect(ingest.stats.dropped).toBe(1)
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual(['LOST: ingest could not store a QoS 0 message'])
  })

  it('a rejection InfluxDB refuses for good: store_lost, counted per point', async () => {
    const { logger, lines } = capturingLogger()
    const store = { write: () => Promise.reject(new RefusedError('partial write: field type conflict')) } as unknown as ReadingStore
    const writer = new ReadingWriter(store, { batchSize: 100, maxBufferedReadings: 1_000 }, logger)
    const rejection: Rejection = { deviceId: 'd1', topic: 't', sourceFormat: 'senshagen-v1', receivedAt: 0, path: '$', rule: 'json', message: 'not JSON', raw: 'x' }
    const before = await droppedCount('store_lost')
    await writer.write({ readings: [], rejections: [rejection, { ...rejection, path: 'a' }] })
    await writer.close()
    expect(await droppedCount('store_lost')).toBe(before + 2)
    expect(writer.stats.lost).toBe(2)
    expect(lines.filter((l) => l.level === 50).length).toBe(2)
  })
})

describe('Kafka consumer lag, from the real Kafka', () => {
  it('counts records not committed by the group, per topic summed over partitions', async () => {
    const id = uniqueId('prom_lag')
    const topic = `${id}.readings`
    const kafka = new Kafka({ clientId: id, brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const producer = kafka.producer()
    const { logger } = capturingLogger()
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] })
      await producer.connect()
      const records = (partition: number, n: number) => Array.from({ length: n }, (_, i) => ({ partition, value: `r${partition}-${i}` }))
      await producer.send({ topic, acks: -1, messages: [...records(0, 4), ...records(1, 3)] })
      const options = { brokers: KAFKA_BROKERS.split(','), clientId: id }

      // a group that never committed: everything from the low watermark
      const fresh = kafkaConsumerLag(options, `${id}-group`, [topic], logger)
      const untrack = trackConsumerLag(fresh.sample)
      try {
        expect(await fresh.sample()).toEqual({ [topic]: 7 })
        const text = await metricsRegistry.getSingleMetricAsString('senshagen_kafka_consumer_lag')
        expect(sampleValue(text, 'senshagen_kafka_consumer_lag', { topic })).toBe(7)
      } finally {
        untrack()
        await fresh.close()
      }

      // partition 0 committed to its end: only partition 1's three records remain
      await admin.setOffsets({ groupId: `${id}-group`, topic, partitions: [{ partition: 0, offset: '4' }] })
      const after = kafkaConsumerLag(options, `${id}-group`, [topic], logger)
      try {
        expect(await after.sample()).toEqual({ [topic]: 3 })
      } finally {
        await after.close()
      }
    } finally {
      await producer.disconnect()
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
      await admin.disconnect()
    }
  })
})
