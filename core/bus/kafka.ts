import { type EachBatchPayload, Kafka, Partitioners, logLevel as KafkaLogLevel, type LogEntry } from 'kafkajs'
import { UnavailableError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { OutageLog } from '../retry.ts'
import type { Bus, BusConsumer, BusProducer } from './bus.ts'

/**
 * The Kafka bus on kafkajs 2.x. Producer: acks = -1 (all in-sync replicas), so a resolved send is durable.
 * Consumer: auto-commit off; a batch's offsets are committed after its handler and those of the partition's
 * earlier batches resolved, in offset order (at-least-once), while the partition's next batch is already
 * fetched and handled; see bus.ts BatchHandler.
 */
export function createKafkaBus(options: { brokers: string[]; clientId: string }, logger: Logger): Bus {
  const log = logger.child({ component: 'kafka' })
  // a broker restart, a rebalance or a topic's leader not elected yet: kafkajs retries them itself
  const outage = new OutageLog(log, 'Kafka')
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log
      const fields = { namespace: entry.namespace, ...extra }
      if (entry.level > KafkaLogLevel.WARN || message.startsWith('Crash: ')) return log.debug(fields, message) // crashes: the CRASH event below
      if (isSelfHealing(message, extra)) return outage.failed(fields, message)
      log[entry.level <= KafkaLogLevel.ERROR ? 'error' : 'warn'](fields, message)
    },
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
  })

  return {
    async ensureTopics(topics, partitions) {
      const admin = kafka.admin()
      await admin.connect()
      try {
        const existing = new Set(await admin.listTopics())
        const missing = topics.filter((topic) => !existing.has(topic))
        if (missing.length) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
          })
        }
      } finally {
        await admin.disconnect()
      }
    },

    async producer(): Promise<BusProducer> {
      const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
      await producer.connect()
      outage.recovered()
      return {
        async send(batches) {
          const topicMessages = batches
            .filter((batch) => batch.records.length > 0)
            .map((batch) => ({ topic: batch.topic, messages: batch.records }))
          if (topicMessages.length === 0) return
          try {
            await producer.sendBatch({ topicMessages, acks: -1 })
            outage.recovered()
          } catch (cause) {
            throw new UnavailableError(`Kafka produce failed: ${(cause as Error).message}`, { cause })
          }
        },
        disconnect: () => producer.disconnect(),
      }
    },

    async consumer({ groupId, topics, concurrency = 1, maxBytesPerPartition = 1024 * 1024 }): Promise<BusConsumer> {
      // A 10 s session (kafkajs default 30 s) lets the group notice a crashed writer sooner; heartbeats go out
      // every second and during long writes (services/writer/kafka-writer.ts). kafkajs 2.x fetches from a broker,
      // hands the partitions' batches to `concurrency` workers and fetches again only when every worker returned
      // (src/consumer/fetcher.js); a worker returns once the batch *before* the one it handed over is stored and
      // committed (handleBatch below), so the next fetch overlaps the store's write instead of waiting for it.
      // One fetch takes up to maxBytesPerPartition from each partition; the whole response (what is held in
      // memory at once) is bounded to four partitions' worth, at least 4 MiB.
      const consumer = kafka.consumer({
        groupId,
        allowAutoTopicCreation: false,
        maxBytesPerPartition,
        maxBytes: Math.max(4 * maxBytesPerPartition, 4 * 1024 * 1024),
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
      })
      // a crash the consumer restarts from is part of an outage; one it does not restart from is a failure
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        const fields = { groupId: payload.groupId, err: payload.error }
        if (payload.restart) outage.failed(fields, `Kafka consumer crashed, restarting: ${payload.error.message}`)
        else log.error(fields, `Kafka consumer crashed and does not restart: ${payload.error.message}`)
      })
      consumer.on(consumer.events.GROUP_JOIN, () => outage.recovered())
      await consumer.connect()
      for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true })
      // Per partition, the promise of its last handed batch: true once that batch and every earlier one were
      // stored (and their commit tried), false once one of them failed; the partition's next batch chains onto it.
      const tails = new Map<string, Promise<boolean>>()
      let stopping = false
      return {
        async run(handler) {
          await consumer.run({
            autoCommit: false,
            partitionsConsumedConcurrently: concurrency,
            eachBatchAutoResolve: false,
            eachBatch: async (payload) => {
              try {
                await handleBatch(payload)
              } catch (error) {
                throw restartable(error)
              }
            },
          })
          async function handleBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
            if (!isRunning() || isStale() || batch.messages.length === 0) return
            const { topic, partition } = batch
            const messages = batch.messages.map((m) => ({
              topic,
              partition,
              offset: m.offset,
              timestamp: Number(m.timestamp),
              key: m.key?.toString('utf8') ?? '',
              value: m.value?.toString('utf8') ?? '',
            }))
            const key = `${topic}/${partition}`
            const previous = tails.get(key) ?? Promise.resolve(true)
            const outcome = handler(messages, heartbeat).then(
              () => undefined,
              (error: unknown) => ({ error }),
            )
            let tail: Promise<boolean> | undefined = undefined
            tail = (async () => {
              const before = await previous
              const failed = await outcome
              if (failed) {
                if (tails.get(key) === tail) tails.delete(key) // the partition's batches from here on start a new chain
                if (!stopping && before) {
                  // not committed: fetch the partition again from this batch (kafkajs seek without auto-commit
                  // only moves the fetch position; batches fetched before it are stale and skipped)
                  outage.failed({ err: failed.error, partition: key, offset: batch.firstOffset() }, 'Kafka batch handler failed: consuming the partition again from its uncommitted batch')
                  consumer.seek({ topic, partition, offset: batch.firstOffset()! })
                }
                return false
              }
              if (!before) return false
              const offset = (BigInt(batch.lastOffset()) + 1n).toString()
              await consumer.commitOffsets([{ topic, partition, offset }]).then(
                () => outage.recovered(),
                // stored, only not marked: a later commit covers it, or the group delivers it again (at-least-once)
                (error: Error) => outage.failed({ err: error, partition: key, offset }, `Kafka offset commit failed: ${error.message}`),
              )
              return true
            })()
            const settled = tail
            tails.set(key, settled)
            void settled.then(() => void (tails.get(key) === settled && tails.delete(key)))
            // kafkajs fetches on from the last *resolved* offset: the partition's next batch is fetched and
            // handed over while this one is stored; this returns once the one before it is stored and committed
            // (two batches of a partition unacknowledged at most), or, when stopping, once this one is.
            resolveOffset(batch.lastOffset())
            await (stopping ? settled : previous)
          }
        },
        async stop() {
          // every batch handed over is stored (or fails) and committed while still a member; a batch handed over
          // meanwhile is awaited whole by its worker, which kafkajs' disconnect waits for (not pause(): kafkajs
          // then sleeps maxWaitTimeInMs, 5 s, before it notices the stop)
          stopping = true
          await Promise.all(tails.values())
          await consumer.disconnect()
        },
      }
    },
  }
}

/** kafkajs 2.2 rejoins the group itself on these (consumer/runner.js); anything else from a batch restarts the consumer. */
const REJOINED_BY_KAFKAJS = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION'])

/**
 * A batch's error as one the consumer restarts from. kafkajs 2.2 restarts a crashed consumer only when the error
 * is `retriable` (consumer/index.js onCrash); any other error — the store refusing, our own error types, a
 * member evicted while the handler ran — would leave the consumer stopped for good, with acknowledged readings
 * waiting in Kafka until someone restarts the writer. Restarted, it resumes from the last committed offset, so
 * the batch is handled again (InfluxDB writes are idempotent: same series, same time, same point).
 */
export function restartable(error: unknown): unknown {
  const type = (error as { type?: unknown } | null)?.type
  if ((error as { retriable?: unknown } | null)?.retriable === true || (typeof type === 'string' && REJOINED_BY_KAFKAJS.has(type))) return error
  const message = error instanceof Error ? error.message : String(error)
  return Object.assign(new Error(`batch handler failed, the consumer restarts: ${message}`, { cause: error }), { name: 'KafkaJSBatchHandlerError', retriable: true })
}

/**
 * What kafkajs 2.2 logs at ERROR and then retries or heals by itself: connection trouble (network/connection.js,
 * cluster/brokerPool.js), a retry in progress (`retryCount` set), a rebalance or a lost coordinator
 * (consumer/runner.js), a consumer restart (consumer/index.js), and the race of a topic just created (its leader
 * not yet elected, or created by another instance at the same moment). Anything else stays an error.
 */
export function isSelfHealing(message: string, extra: Record<string, unknown>): boolean {
  return extra.retryCount !== undefined || SELF_HEALING.test(message) || (typeof extra.error === 'string' && SELF_HEALING.test(extra.error))
}

const SELF_HEALING = new RegExp(
  [
    'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'Connection (error|timeout)', 'Closed connection', 'connection (was )?closed',
    'Failed to connect to (seed )?broker', 'reconnecting', 'Restarting the consumer', 'rebalanc', 're-joining the group',
    'coordinator (is )?not (available|aware)', 'not the correct coordinator', 'leader(ship)? (is )?not available',
    'not the leader for that topic-partition', 'does not host this topic-partition', 'already exists',
  ].join('|'),
  'i',
)
