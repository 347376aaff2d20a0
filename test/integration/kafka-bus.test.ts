import { Kafka, logLevel } from 'kafkajs'
import { afterEach, describe, expect, it } from 'vitest'
import type { BusConsumer, BusMessage } from '../../core/bus/bus.ts'
import { createKafkaBus } from '../../core/bus/kafka.ts'
import { createLogger } from '../../core/logger.ts'
import { KAFKA_BROKERS, uniqueId, waitFor } from '../helpers/env.ts'

const logger = createLogger('silent')
const consumers: BusConsumer[] = []
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()))
})

/** A bus, its own topic of `partitions` partitions and a producer; `committed()` reads the group `${id}-g`'s offsets per partition (-1: none). */
async function setUp(prefix: string, partitions: number) {
  const id = uniqueId(prefix)
  const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
  const topic = `${id}.readings`
  await bus.ensureTopics([topic], partitions)
  const admin = new Kafka({ brokers: KAFKA_BROKERS.split(','), clientId: `${id}-admin`, logLevel: logLevel.NOTHING }).admin()
  let connected: Promise<void> | undefined
  const committed = async () => {
    await (connected ??= admin.connect())
    const [offsets] = await admin.fetchOffsets({ groupId: `${id}-g`, topics: [topic] })
    return new Map(offsets!.partitions.map((p) => [p.partition, Number(p.offset)]))
  }
  return { id, bus, topic, producer: await bus.producer(), committed, close: () => admin.disconnect() }
}

/** The bus contract against the real single-node Kafka broker that `npm run infra:up` runs. */
describe('Kafka bus (real broker)', () => {
  it('delivers records keyed by device, in order per key, after an acks=all produce', async () => {
    const id = uniqueId('bus')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    await bus.ensureTopics([`${id}.readings`], 3)
    await bus.ensureTopics([`${id}.readings`], 3) // idempotent
    const producer = await bus.producer()
    const records = Array.from({ length: 30 }, (_, i) => ({ key: `dev-${i % 3}`, value: JSON.stringify({ i }) }))
    await producer.send([{ topic: `${id}.readings`, records }])
    await producer.disconnect()

    const received: BusMessage[] = []
    const consumer = await bus.consumer({ groupId: `${id}-g`, topics: [`${id}.readings`] })
    consumers.push(consumer)
    await consumer.run(async (messages) => void received.push(...messages))
    await waitFor('30 records', () => received.length === 30)
    for (const key of ['dev-0', 'dev-1', 'dev-2']) {
      const mine = received.filter((m) => m.key === key).map((m) => JSON.parse(m.value).i)
      expect(mine).toEqual([...mine].sort((a, b) => a - b))
      expect(mine).toHaveLength(10)
      expect(new Set(received.filter((m) => m.key === key).map((m) => m.partition)).size).toBe(1)
    }
  })

  it('with concurrency, handles several partitions\' batches at once and commits each partition after its own handler only', async () => {
    const { id, bus, topic, producer, committed, close } = await setUp('concurrent', 3)
    await producer.send([{ topic, records: Array.from({ length: 60 }, (_, i) => ({ key: `dev-${i}`, value: String(i) })) }])
    await producer.disconnect()

    const gates = new Map<number, () => void>()
    let active = 0
    let peak = 0
    const consumer = await bus.consumer({ groupId: `${id}-g`, topics: [topic], concurrency: 3 })
    consumers.push(consumer)
    await consumer.run(async (messages) => {
      peak = Math.max(peak, ++active)
      await new Promise<void>((resolve) => gates.set(messages[0]!.partition, resolve))
      active--
    })
    // one handler per partition runs at the same time (with concurrency 1 the second would wait for the first)
    await waitFor('three partitions in their handlers at once', () => active === 3, 30_000, 20)
    try {
      expect([...(await committed()).values()]).toEqual([-1, -1, -1])
      gates.get(1)!()
      gates.get(2)!()
      await waitFor('partitions 1 and 2 committed', async () => ((await committed()).get(2)! > 0 && (await committed()).get(1)! > 0 ? true : undefined), 10_000, 50)
      expect((await committed()).get(0)).toBe(-1) // still in its handler: not committed
      gates.get(0)!()
      await waitFor('partition 0 committed', async () => ((await committed()).get(0)! > 0 ? true : undefined), 10_000, 50)
      const offsets = await committed()
      expect(offsets.get(0)! + offsets.get(1)! + offsets.get(2)!).toBe(60)
      expect(peak).toBe(3)
    } finally {
      await close()
    }
  })

  it('hands a partition\'s next batch over while the one before is unresolved, commits them in offset order, and holds a third back', async () => {
    const { id, bus, topic, producer, committed: offsets, close } = await setUp('pipeline', 1)
    const handed: string[][] = []
    const gates: Array<() => void> = []
    const consumer = await bus.consumer({ groupId: `${id}-g`, topics: [topic] })
    consumers.push(consumer)
    await consumer.run(async (messages) => {
      handed.push(messages.map((m) => m.value))
      await new Promise<void>((resolve) => gates.push(resolve))
    })
    try {
      const committed = async () => (await offsets()).get(0)
      await producer.send([{ topic, records: [{ key: 'd', value: '1' }] }])
      await waitFor('batch 1 handed over', () => handed.length === 1, 30_000, 20)
      await producer.send([{ topic, records: [{ key: 'd', value: '2' }] }])
      // batch 1 is still unresolved (a write in flight): batch 2 is fetched and handed over all the same
      await waitFor('batch 2 handed over while batch 1 is unresolved', () => handed.length === 2, 30_000, 20)
      await producer.send([{ topic, records: [{ key: 'd', value: '3' }] }])
      gates[1]!() // batch 2 stored first: not committed before batch 1
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(await committed()).toBe(-1)
      expect(handed).toEqual([['1'], ['2']]) // two unresolved batches of a partition at most: 3 waits
      gates[0]!()
      await waitFor('both committed', async () => ((await committed()) === 2 ? true : undefined), 10_000, 50)
      await waitFor('batch 3 handed over once batch 1 is', () => handed.length === 3, 30_000, 20)
      expect(handed[2]).toEqual(['3'])
      gates[2]!()
      await waitFor('batch 3 committed', async () => ((await committed()) === 3 ? true : undefined), 10_000, 50)
    } finally {
      await close()
      await producer.disconnect()
    }
  })

  it('commits only after the handler resolved: a failed batch and an unfinished one are delivered again', async () => {
    const id = uniqueId('commit')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    const topic = `${id}.readings`
    await bus.ensureTopics([topic], 1)
    const producer = await bus.producer()
    await producer.send([{ topic, records: [1, 2, 3].map((i) => ({ key: 'd', value: String(i) })) }])

    // 1st consumer: throws on its first batch, then does not finish the redelivered one until it stops, when
    // its write fails (a writer closed mid-write, services/writer/main.ts).
    let calls = 0
    const seenFirst: string[] = []
    let failWrite: (error: Error) => void = () => undefined
    const first = await bus.consumer({ groupId: `${id}-g`, topics: [topic] })
    await first.run(async (messages) => {
      calls++
      seenFirst.push(...messages.map((m) => m.value))
      if (calls === 1) throw new Error('store unavailable')
      await new Promise((_, reject) => (failWrite = reject))
    })
    await waitFor('a redelivery after the failure', () => calls >= 2, 30_000)
    const stopped = first.stop()
    await new Promise((resolve) => setTimeout(resolve, 200))
    failWrite(new Error('writer closed'))
    await stopped
    expect(calls).toBe(2) // stopping: not delivered a third time
    expect(seenFirst.slice(0, 3)).toEqual(['1', '2', '3'])
    expect(seenFirst.slice(3, 6)).toEqual(['1', '2', '3'])

    // 2nd consumer in the same group gets everything again, since nothing was committed.
    await producer.send([{ topic, records: [{ key: 'd', value: '4' }] }])
    const seenSecond: string[] = []
    const second = await bus.consumer({ groupId: `${id}-g`, topics: [topic] })
    consumers.push(second)
    await second.run(async (messages) => void seenSecond.push(...messages.map((m) => m.value)))
    await waitFor('all 4 records', () => seenSecond.length >= 4, 45_000)
    expect(seenSecond).toEqual(['1', '2', '3', '4'])
    await second.stop()
    consumers.splice(0)

    // 3rd consumer: all committed now, so only new records arrive.
    await producer.send([{ topic, records: [{ key: 'd', value: '5' }] }])
    const seenThird: string[] = []
    const third = await bus.consumer({ groupId: `${id}-g`, topics: [topic] })
    consumers.push(third)
    await third.run(async (messages) => void seenThird.push(...messages.map((m) => m.value)))
    await waitFor('record 5', () => seenThird.length >= 1, 45_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(seenThird).toEqual(['5'])
    await producer.disconnect()
  }, 150_000)

  it('after a batch handler fails with a non-retriable error, hands the uncommitted batch again and goes on', async () => {
    // kafkajs 2.2 stops a consumer for good on a non-retriable crash; core/bus/kafka.ts seeks back to a failed
    // batch (and restartable() makes any error of its own one it restarts from): a writer evicted from its group
    // was seen to stop consuming otherwise
    const id = uniqueId('restart')
    const bus = createKafkaBus({ brokers: KAFKA_BROKERS.split(','), clientId: id }, logger)
    const topic = `${id}.readings`
    await bus.ensureTopics([topic], 1)
    const producer = await bus.producer()
    await producer.send([{ topic, records: Array.from({ length: 10 }, (_, i) => ({ key: 'dev', value: String(i) })) }])
    const handled: string[] = []
    let failures = 0
    const consumer = await bus.consumer({ groupId: `${id}-g`, topics: [topic] })
    consumers.push(consumer)
    await consumer.run(async (messages) => {
      if (failures === 0) {
        failures++
        throw new TypeError('not retriable: a bug in the handler')
      }
      handled.push(...messages.map((m) => m.value))
    })
    await waitFor('the failed batch handled again after the restart', () => handled.length >= 10, 60_000)
    expect(failures).toBe(1)
    expect([...new Set(handled)].sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 10 }, (_, i) => String(i)))
    // and it goes on consuming
    await producer.send([{ topic, records: [{ key: 'dev', value: 'after' }] }])
    await waitFor('a record produced after the restart', () => handled.includes('after'), 30_000)
    await producer.disconnect()
  }, 120_000)
})
