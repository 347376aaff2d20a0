import type { Bus, BusConsumer, BusMessage } from '../../core/bus/bus.ts'
import type { Logger } from '../../core/logger.ts'
import { countRejections } from '../../core/metrics.ts'
import { DeviceEventSchema, ReadingSchema, RejectionSchema, rawText, type DeviceEvent, type Reading, type Rejection } from '../../core/reading.ts'
import type { ReadingWriter } from '../../core/store/reading-writer.ts'

export interface KafkaWriterTopics {
  readingsTopic: string
  rejectionsTopic: string
  eventsTopic: string
  groupId: string
}

export interface KafkaWriterFetch {
  /** Partitions handled at once (core/bus/bus.ts ConsumerOptions.concurrency). */
  concurrency: number
  /** Most bytes one fetch takes from a partition. */
  maxBytesPerPartition: number
}

/**
 * Consumes the readings, dead-letter and device-event topics in one consumer group and stores them through the
 * writer. Every partition's fetched batch is one `writer.write`, which the writer cuts into requests of its batch
 * size, several in flight; the batches of `fetch.concurrency` partitions are handled at once, and a partition's
 * next batch is fetched while the one before is written (core/bus/bus.ts BatchHandler), so their points meet in
 * the same requests. A batch's offsets are committed only after its write and those of the partition's earlier
 * batches resolved, i.e. after InfluxDB acknowledged every point of them, whatever order the requests finished
 * in; after a crash the uncommitted batches are delivered again and overwrite the same points.
 * A record that does not parse (not JSON, or not a reading) is stored as a `bus_record_invalid` rejection.
 */
export async function startKafkaWriter(bus: Bus, writer: ReadingWriter, topics: KafkaWriterTopics, fetch: KafkaWriterFetch, logger: Logger): Promise<BusConsumer> {
  const consumer = await bus.consumer({ groupId: topics.groupId, topics: [topics.readingsTopic, topics.rejectionsTopic, topics.eventsTopic], ...fetch })
  await consumer.run(async (messages, heartbeat) => {
    const readings: Reading[] = []
    const rejections: Rejection[] = []
    const events: DeviceEvent[] = []
    for (const message of messages) decodeRecord(message, topics, { readings, rejections, events })
    reportInvalid(rejections, logger)
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 3_000)
    try {
      await writer.write({ readings, rejections, events })
    } finally {
      clearInterval(beat)
    }
    logger.debug({ topic: messages[0]?.topic, partition: messages[0]?.partition, count: messages.length }, 'batch stored')
  })
  return consumer
}

/** Records that do not parse are kept as rejections, but they mean a producer wrote what no reader can read: counted and logged at error level. */
function reportInvalid(rejections: Rejection[], logger: Logger): void {
  const invalid = rejections.filter((r) => r.rule === 'bus_record_invalid')
  if (invalid.length === 0) return
  countRejections(invalid)
  logger.error({ count: invalid.length, first: invalid[0]!.topic, reason: invalid[0]!.message }, 'Kafka records that do not parse: kept as bus_record_invalid rejections')
}

type Decoded = { readings: Reading[]; rejections: Rejection[]; events: DeviceEvent[] }

/**
 * One record into `into`. A readings record holds a JSON array of one device's readings (one record per device
 * and message, services/ingest/kafka-sink.ts) or, as older records do, one reading object; each reading is
 * checked on its own, so one invalid reading in an array becomes one rejection (its index in `path`) and the
 * others are stored. Rejection and event records hold one object each.
 */
function decodeRecord(message: BusMessage, topics: KafkaWriterTopics, into: Decoded): void {
  let json: unknown
  try {
    json = JSON.parse(message.value)
  } catch {
    return void into.rejections.push(invalidRecord(message, undefined, 'not JSON'))
  }
  if (message.topic === topics.eventsTopic) {
    const parsed = DeviceEventSchema.safeParse(json)
    if (parsed.success) into.events.push(parsed.data)
    else into.rejections.push(invalidRecord(message, parsed.error.issues[0]))
  } else if (message.topic === topics.rejectionsTopic) {
    const parsed = RejectionSchema.safeParse(json)
    if (parsed.success) into.rejections.push(parsed.data)
    else into.rejections.push(invalidRecord(message, parsed.error.issues[0]))
  } else if (Array.isArray(json)) {
    json.forEach((element: unknown, index) => {
      const parsed = ReadingSchema.safeParse(element)
      if (parsed.success) into.readings.push(parsed.data)
      else into.rejections.push(invalidRecord(message, parsed.error.issues[0], undefined, index))
    })
  } else {
    const parsed = ReadingSchema.safeParse(json)
    if (parsed.success) into.readings.push(parsed.data)
    else into.rejections.push(invalidRecord(message, parsed.error.issues[0]))
  }
}

/**
 * A `bus_record_invalid` rejection for a record (or the `index`th reading of an array record) that does not parse,
 * timed by the record's own Kafka timestamp, so the record consumed again (a writer restart before its commit)
 * overwrites the same point (Date.now() only for a record that has none).
 */
function invalidRecord(message: BusMessage, issue: { path: PropertyKey[]; message: string } | undefined, text?: string, index?: number): Rejection {
  const path = [...(index === undefined ? [] : [index]), ...(issue?.path ?? [])].join('.')
  return {
    deviceId: 'unknown',
    topic: `kafka:${message.topic}/${message.partition}@${message.offset}`,
    sourceFormat: 'bus',
    receivedAt: message.timestamp !== undefined && Number.isFinite(message.timestamp) ? message.timestamp : Date.now(),
    path: path || '$',
    rule: 'bus_record_invalid',
    message: text ?? issue?.message ?? 'invalid',
    raw: rawText(Buffer.from(message.value, 'utf8')),
  }
}
