import { parentPort, workerData } from 'node:worker_threads'
import { createDecoders } from '../../../core/decoders/index.ts'
import { createLogger } from '../../../core/logger.ts'
import { openWriter } from '../../../core/store/open.ts'
import { IngestCore, loadSchemaHistory } from '../ingest-core.ts'
import { readSensorsFile } from '../main.ts'
import { directSink } from '../sinks.ts'
import type { DoneBatch, FromWorker, ToWorker, WorkerInit } from './protocol.ts'

/**
 * The ingest worker thread (SENSHAGEN_INGEST_WORKER, direct mode): runs the ingest pipeline and the InfluxDB
 * writer of the in-broker ingest off the broker's thread. Receives batches of publishes (protocol.ts), hands
 * each to IngestCore in order, and reports back, batched per event-loop turn, which ones the sink acknowledged.
 * The proxy resolves a publish only on that report, so a PUBACK still means durable.
 */
const port = parentPort!
const send = (message: FromWorker) => port.postMessage(message)

async function main({ config }: WorkerInit): Promise<void> {
  const logger = createLogger(config.logLevel).child({ service: 'ingest', thread: 'worker' })
  const { writer, store } = await openWriter(config, logger)
  const decoders = createDecoders({ deviceTimeZone: config.ingest.deviceTimeZone, openSenseMapSensors: readSensorsFile(config.ingest.openSenseMapSensorsFile) })
  const core = new IngestCore({ ...config.ingest, decoders }, directSink(writer), logger, () => loadSchemaHistory(store))
  let report: DoneBatch | undefined
  const settle = (id: number, error?: unknown) => {
    if (report === undefined) {
      report = { type: 'done', done: [], failed: [] }
      setImmediate(() => {
        send(report!)
        report = undefined
      })
    }
    if (error === undefined) report.done.push(id)
    else report.failed.push([id, error instanceof Error ? error.message : String(error)])
  }
  port.on('message', (message: ToWorker) => {
    if (message.type === 'batch') {
      const payloads = Buffer.from(message.payloads)
      for (let i = 0, start = 0; i < message.ids.length; start = message.ends[i++]!) {
        const id = message.ids[i]!
        const inbound = { topic: message.topics[i]!, payload: payloads.subarray(start, message.ends[i]), receivedAt: message.receivedAt[i]!, qos: message.qos[i]!, retain: message.retain[i]! }
        core.handle(inbound).then(
          () => settle(id),
          (error: unknown) => settle(id, error),
        )
      }
    } else if (message.type === 'drain') {
      void writer.drain(message.deadline).then((left) => send({ type: 'drained', left }))
    } else if (message.type === 'close') {
      void core
        .close()
        .then(() => store.close())
        .finally(() => {
          send({ type: 'closed' })
          port.close()
        })
    }
  })
  send({ type: 'ready' })
}

main(workerData as WorkerInit).catch((error: unknown) => send({ type: 'fatal', message: error instanceof Error ? error.message : String(error) }))
