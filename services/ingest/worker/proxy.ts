import { Worker } from 'node:worker_threads'
import type { Config } from '../../../core/config.ts'
import type { InboundMessage } from '../../../core/decoders/index.ts'
import type { Logger } from '../../../core/logger.ts'
import type { FromWorker, HandBatch, ToWorker, WorkerInit } from './protocol.ts'

interface Waiting {
  resolve: () => void
  reject: (error: Error) => void
}

/**
 * The in-broker ingest on a second thread (SENSHAGEN_INGEST_WORKER, direct mode): fits services/broker
 * InBrokerIngest, so aedes and BrokerIngest stay on the main thread and keep each client's order and PUBACK
 * rule, while the pipeline and the InfluxDB writer run in a worker_thread (thread.ts). Publishes handed over in
 * one event-loop turn go as one message, their payloads copied once into one buffer that is transferred, not
 * cloned; the worker reports acknowledged ones back in batches, and `handle` resolves only then (durable).
 *
 * A worker that fails to start rejects `start`; one that dies later rejects every waiting and later publish (the
 * broker refuses them: the devices resend) and is logged at error level.
 */
export class IngestWorker {
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 1
  private batch: { ids: number[]; topics: string[]; payloads: Buffer[]; bytes: number; receivedAt: number[]; qos: Array<0 | 1 | 2>; retain: boolean[] } | undefined
  private dead: Error | undefined
  private readonly replies: Array<(message: FromWorker) => boolean> = []

  private constructor(
    readonly filters: readonly string[],
    private readonly worker: Worker,
    private readonly logger: Logger,
  ) {
    worker.on('message', (message: FromWorker) => this.receive(message))
    worker.on('error', (error) => this.die(error))
    worker.on('exit', (code) => this.die(new Error(`ingest worker exited with ${code}`)))
  }

  /** Starts the worker with `config` and waits until its writer is ready. Errors: the worker's start error. */
  static async start(config: Config, filters: readonly string[], logger: Logger): Promise<IngestWorker> {
    const init: WorkerInit = { config }
    const worker = new Worker(new URL('./entry.mjs', import.meta.url), { workerData: init })
    const proxy = new IngestWorker(filters, worker, logger)
    await proxy.reply('ready')
    return proxy
  }

  /** Resolves once the worker's sink acknowledged what came out of `message`; rejects when it failed or the worker is gone. */
  handle(message: InboundMessage): Promise<void> {
    if (this.dead) return Promise.reject(this.dead)
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++
      this.waiting.set(id, { resolve, reject })
      let batch = this.batch
      if (batch === undefined) {
        batch = this.batch = { ids: [], topics: [], payloads: [], bytes: 0, receivedAt: [], qos: [], retain: [] }
        setImmediate(() => this.flush())
      }
      batch.ids.push(id)
      batch.topics.push(message.topic)
      batch.payloads.push(message.payload)
      batch.bytes += message.payload.length
      batch.receivedAt.push(message.receivedAt)
      batch.qos.push(message.qos ?? 0)
      batch.retain.push(message.retain ?? false)
    })
  }

  /** Graceful shutdown: the worker's writer drains until `deadline`; resolves with the points left unacknowledged. */
  async drain(deadline: number): Promise<number> {
    if (this.dead) return 0
    this.flush()
    this.post({ type: 'drain', deadline })
    const reply = await this.reply('drained')
    return reply.type === 'drained' ? reply.left : 0
  }

  /** Closes the worker's sink and store and ends the thread; waiting publishes are rejected. */
  async close(): Promise<void> {
    if (this.dead) return
    this.flush()
    this.post({ type: 'close' })
    await this.reply('closed').catch(() => undefined)
    await this.worker.terminate()
  }

  private flush(): void {
    const batch = this.batch
    if (batch === undefined) return
    this.batch = undefined
    // one buffer of its own (not a slice of Node's pool), so that it can be transferred
    const payloads = Buffer.allocUnsafeSlow(batch.bytes)
    const ends: number[] = []
    let end = 0
    for (const payload of batch.payloads) ends.push((end += payload.copy(payloads, end)))
    const message: HandBatch = { type: 'batch', ids: batch.ids, topics: batch.topics, payloads: payloads.buffer as ArrayBuffer, ends, receivedAt: batch.receivedAt, qos: batch.qos, retain: batch.retain }
    this.worker.postMessage(message, [payloads.buffer as ArrayBuffer])
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message)
  }

  private receive(message: FromWorker): void {
    if (message.type === 'done') {
      for (const id of message.done) this.settle(id)
      for (const [id, error] of message.failed) this.settle(id, new Error(error))
      return
    }
    if (message.type === 'fatal') return this.die(new Error(message.message))
    const index = this.replies.findIndex((wants) => wants(message))
    if (index >= 0) this.replies.splice(index, 1)
  }

  private settle(id: number, error?: Error): void {
    const waiting = this.waiting.get(id)
    if (waiting === undefined) return
    this.waiting.delete(id)
    if (error) waiting.reject(error)
    else waiting.resolve()
  }

  private reply(type: FromWorker['type']): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(this.dead)
      this.replies.push((message) => {
        if (message.type === type) resolve(message)
        else if (message.type === 'fatal') reject(new Error(message.message))
        else return false
        return true
      })
    })
  }

  private die(error: Error): void {
    if (this.dead) return
    this.dead = error
    if (this.waiting.size > 0) this.logger.error({ err: error, waiting: this.waiting.size }, 'ingest worker gone: its publishes are refused (the devices resend them)')
    for (const waiting of this.waiting.values()) waiting.reject(error)
    this.waiting.clear()
    for (const wants of this.replies.splice(0)) wants({ type: 'fatal', message: error.message })
  }
}
