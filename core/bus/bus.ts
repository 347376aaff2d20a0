/**
 * The message bus between ingest and writer, kept behind this thin interface because its client, kafkajs,
 * has been unmaintained since 2023: replacing it touches only core/bus/kafka.ts.
 */
export interface BusRecord {
  /** Partitioning key: the device id, so one device's readings stay in order on one partition. */
  key: string
  /** JSON text. */
  value: string
}

export interface BusProducer {
  /** Sends records to their topics; resolves once every broker replica in the ISR acknowledged (acks = all). */
  send(batches: Array<{ topic: string; records: BusRecord[] }>): Promise<void>
  disconnect(): Promise<void>
}

export interface BusMessage extends BusRecord {
  topic: string
  partition: number
  offset: string
  /** The record's Kafka timestamp (producer create time), epoch ms: the same every time the record is consumed. */
  timestamp?: number
}

/**
 * Handles one fetched batch; resolves once what it holds is stored. The consumer commits the batch's offsets
 * only after the returned promise and those of every earlier batch of the same partition resolved, in offset
 * order. It does not wait for that to fetch on: the partition's next batch may be handed over while this one is
 * stored (at most two batches of a partition unresolved at once; the handler may overlap their writes). If a
 * promise rejects, neither that batch's offsets nor any later ones of its partition are committed, and the
 * consumer restarts from the committed offsets at its next batch, so the batch is delivered again. The
 * handler's synchronous part (up to its first await) runs before the next fetch.
 * `heartbeat` keeps the group membership alive during long work such as retries.
 */
export type BatchHandler = (messages: BusMessage[], heartbeat: () => Promise<void>) => Promise<void>

export interface BusConsumer {
  /** Starts consuming `topics` in consumer group `groupId`; returns once the consumer runs. */
  run(handler: BatchHandler): Promise<void>
  /** Stops fetching, waits until every batch handed over is resolved and its offsets committed (or failed), then leaves the group. */
  stop(): Promise<void>
}

export interface ConsumerOptions {
  groupId: string
  topics: string[]
  /**
   * Partitions whose fetched batches are handled at the same time (default 1): with more, several handlers
   * run at once, one per partition, so a slow handler (an InfluxDB write) overlaps with others. A partition's
   * next batch may be handed to the handler while the one before is still being stored (two at most, in offset
   * order); a batch's offset is committed only once it and every earlier batch of its partition were stored
   * (core/bus/kafka.ts).
   */
  concurrency?: number
  /** Most bytes one fetch takes from one partition: the upper bound of a handled batch (default 1 MiB). */
  maxBytesPerPartition?: number
}

export interface Bus {
  /** Creates topics that do not exist yet (replication factor 1 on a single-node broker). */
  ensureTopics(topics: string[], partitions: number): Promise<void>
  producer(): Promise<BusProducer>
  consumer(options: ConsumerOptions): Promise<BusConsumer>
}
