import { afterEach, describe, expect, it } from 'vitest'
import type { BusConsumer, BusMessage, BusProducer } from '../../core/bus/bus.ts'
import { createKafkaBus } from '../../core/bus/kafka.ts'
import { UnavailableError } from '../../core/errors.ts'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { KafkaBatchSink } from '../../services/ingest/kafka-sink.ts'
import { KAFKA_BROKERS, uniqueId, waitFor } from '../helpers/env.ts'

const logger = createLogger('silent')
const consumers: BusConsumer[] = []
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()))
})

function reading(device: string, i: number): Reading {
  return { deviceId: device, quantity: 'pm2_5', value: i, observedAt: Date.UTC(2026, 0, 1) + i * 1000, receivedAt: Date.UTC(2026, 0, 1), sourceFormat: 'native-v1', flags: [] } as unknown as Reading
}

/** A producer that counts its produce requests and can hold or fail them. */
function counting(producer: BusProducer) {
  const sends: number[] = []
  let failures = 0
  return {
    sends,
    failNext(n: number) {
      failures = n
    },
    producer: {
      async send(batches) {
        if (failures > 0) {
          failures--
          throw new UnavailableError('Kafka unavailable (test)')
        }
        sends.push(batches.reduce((n, b) => n + b.records.length, 0))
        await producer.send(batches)
      },
      disconnect: () => producer.disconnect(),
    } satisfies BusProducer,
  }
}

/** Kafka mode's group commit (services/ingest/kafka-sink.ts) against the real single-node Kafka. */
describe('Kafka batch sink (real broker)', () => {
  it.each([5, 0])('sends 500 concurrent messages in far fewer produce requests, one record per device and request, each reading exactly once, resolving in order (linger %i ms)', async (batchMs) => {
    const id = uniqueId('ksink')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    const topics = { readingsTopic: `${id}.readings`, rejectionsTopic: `${id}.rejections`, eventsTopic: `${id}.events` }
    await bus.ensureTopics(Object.values(topics), 3)
    const counter = counting(await bus.producer())
    const sink = new KafkaBatchSink(counter.producer, { ...topics, batchMs, batchMessages: 100, maxBufferedRecords: 20_000 }, logger)
    const resolved: number[] = []
    // each message: two readings of its device and one of a sub-device (as a Tasmota message with two sensors)
    const message = (i: number) => ({ readings: [reading(`dev-${i % 7}`, i), reading(`dev-${i % 7}`, i + 100_000), reading(`dev-${i % 7}.sub`, i)], rejections: [] })
    await Promise.all(Array.from({ length: 500 }, (_, i) => sink.accept(message(i)).then(() => resolved.push(i))))
    expect(resolved).toEqual(Array.from({ length: 500 }, (_, i) => i))
    // 500 messages, at most 100 per request: 5 requests when every accept came in one tick (never 500)
    expect(counter.sends.length).toBeLessThanOrEqual(10)
    // 14 devices (dev-0..6 and their sub-devices): each request holds one record per device, not one per message
    const sent = counter.sends.reduce((a, b) => a + b, 0)
    expect(sent).toBeLessThanOrEqual(14 * counter.sends.length)
    expect(sink.stats).toMatchObject({ messages: 500, records: 1000, batches: counter.sends.length, retries: 0 })
    await sink.close()

    const received: BusMessage[] = []
    const consumer = await bus.consumer({ groupId: `${id}-g`, topics: [topics.readingsTopic] })
    consumers.push(consumer)
    await consumer.run(async (messages) => void received.push(...messages))
    await waitFor(`${sent} records`, () => received.length >= sent, 30_000)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(received).toHaveLength(sent)
    const arrays = received.map((m) => ({ key: m.key, readings: JSON.parse(m.value) as Array<{ deviceId: string; value: number }> }))
    // every record holds the readings of its key's device only
    for (const { key, readings } of arrays) expect(readings.every((r) => r.deviceId === key)).toBe(true)
    const values = arrays.filter((a) => !a.key!.endsWith('.sub')).flatMap((a) => a.readings.map((r) => r.value)).sort((a, b) => a - b)
    expect(values).toEqual([...Array.from({ length: 500 }, (_, i) => i), ...Array.from({ length: 500 }, (_, i) => i + 100_000)])
    const subValues = arrays.filter((a) => a.key!.endsWith('.sub')).flatMap((a) => a.readings.map((r) => r.value)).sort((a, b) => a - b)
    expect(subValues).toEqual(Array.from({ length: 500 }, (_, i) => i))
    // one device's readings stay in accept order on its partition: message i's two readings, then message i + 7's
    const dev0 = arrays.filter((a) => a.key === 'dev-0').flatMap((a) => a.readings.map((r) => r.value))
    expect(dev0).toEqual(Array.from({ length: 72 }, (_, k) => [7 * k, 7 * k + 100_000]).flat())
  })

  it('retries a failed produce request, bounds what waits, and rejects what is unacknowledged at close', async () => {
    const id = uniqueId('ksink_retry')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    const topics = { readingsTopic: `${id}.readings`, rejectionsTopic: `${id}.rejections`, eventsTopic: `${id}.events` }
    await bus.ensureTopics(Object.values(topics), 1)
    const counter = counting(await bus.producer())
    const sink = new KafkaBatchSink(counter.producer, { ...topics, batchMs: 0, batchMessages: 10, maxBufferedRecords: 20, retry: { initialDelayMs: 20, maxDelayMs: 50 } }, logger)
    counter.failNext(2)
    let peak = 0
    const watch = setInterval(() => (peak = Math.max(peak, sink.bufferedCount)), 1)
    await Promise.all(Array.from({ length: 60 }, (_, i) => sink.accept({ readings: [reading('dev', i)], rejections: [] })))
    clearInterval(watch)
    expect(sink.stats.retries).toBe(2)
    expect(sink.stats.records).toBe(60)
    expect(sink.stats.backpressureWaits).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(20)

    counter.failNext(Infinity)
    const pending = sink.accept({ readings: [reading('dev', 999)], rejections: [] })
    await new Promise((resolve) => setTimeout(resolve, 100))
    await sink.close()
    await expect(pending).rejects.toThrow()
    await expect(sink.accept({ readings: [reading('dev', 1000)], rejections: [] })).rejects.toThrow(/closed/)
  })
})
