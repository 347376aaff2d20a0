import type { Bus, BusConsumer, BusMessage } from '../../core/bus/bus.ts'
import type { Logger } from '../../core/logger.ts'
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
 * size, several in flight; the batches of `fetch.concurrency` partitions are handled at once, so their points
 * meet in the same requests. A batch's offsets are committed only after its write resolved, i.e. after InfluxDB
 * acknowledged every point of it, whatever order the requests finished in; after a crash the uncommitted batch
 * is delivered again and overwrites the same points.
 * A record that does not parse (not JSON, or not a reading) is stored as a `bus_record_invalid` rejection.
 */
export async function startKafkaWriter(bus: Bus, writer: ReadingWriter, topics: KafkaWriterTopics, fetch: KafkaWriterFetch, logger: Logger): Promise<BusConsumer> {
  const consumer = await bus.consumer({ groupId: topics.groupId, topics: [topics.readingsTopic, topics.rejectionsTopic, topics.eventsTopic], ...fetch })
  await consumer.run(async (messages, heartbeat) => {
    const readings: Reading[] = []
    const rejections: Rejection[] = []
    const events: DeviceEvent[] = []
    for (const message of messages) {
      const decoded = decodeRecord(message, topics)
      if ('reading' in decoded) readings.push(decoded.reading)
      else if ('event' in decoded) events.push(decoded.event)
      else rejections.push(decoded.rejection)
    }
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

function decodeRecord(message: BusMessage, topics: KafkaWriterTopics): { reading: Reading } | { rejection: Rejection } | { event: DeviceEvent } {
  let json: unknown
  try {
    json = JSON.parse(message.value)
  } catch {
    json = undefined
  }
  let issue: { path: PropertyKey[]; message: string } | undefined
  if (message.topic === topics.eventsTopic) {
    const parsed = DeviceEventSchema.safeParse(json)
    if (parsed.success) return { event: parsed.data }
    issue = parsed.error.issues[0]
  } else if (message.topic === topics.rejectionsTopic) {
    const parsed = RejectionSchema.safeParse(json)
    if (parsed.success) return { rejection: parsed.data }
    issue = parsed.error.issues[0]
  } else {
    const parsed = ReadingSchema.safeParse(json)
    if (parsed.success) return { reading: parsed.data }
    issue = parsed.error.issues[0]
  }
  return {
    rejection: {
      deviceId: 'unknown',
      topic: `kafka:${message.topic}/${message.partition}@${message.offset}`,
      sourceFormat: 'bus',
      receivedAt: Date.now(),
      path: issue?.path.join('.') || '$',
      rule: 'bus_record_invalid',
      message: json === undefined ? 'not JSON' : (issue?.message ?? 'invalid'),
      raw: rawText(Buffer.from(message.value, 'utf8')),
    },
  }
}
