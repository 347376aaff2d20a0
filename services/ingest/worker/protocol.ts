import type { Config } from '../../../core/config.ts'

/**
 * Messages between the in-broker ingest's proxy (services/ingest/worker/proxy.ts, main thread, next to aedes) and
 * the ingest worker thread (thread.ts: pipeline + sink). Batches, not one message per publish: one postMessage
 * per event-loop turn each way.
 */
export interface WorkerInit {
  config: Config
}

/** Main → worker: the publishes handed over in one turn, in hand-over order (index i of every array is one message). */
export interface HandBatch {
  type: 'batch'
  ids: number[]
  topics: string[]
  /** Every payload, one after the other, in one buffer transferred (not copied) to the worker. */
  payloads: ArrayBuffer
  /** End offset of message i's payload in `payloads` (it starts where message i − 1's ends). */
  ends: number[]
  receivedAt: number[]
  qos: Array<0 | 1 | 2>
  retain: boolean[]
}

/** Main → worker: graceful shutdown (core/drain.ts); the worker answers `drained`, then `closed` after `close`. */
export type Control = { type: 'drain'; deadline: number } | { type: 'close' }

export type ToWorker = HandBatch | Control

/** Worker → main: messages whose output the sink acknowledged (`done`) or that failed (`failed`: id, error message). */
export interface DoneBatch {
  type: 'done'
  done: number[]
  failed: Array<[number, string]>
}

export type FromWorker = DoneBatch | { type: 'ready' } | { type: 'drained'; left: number } | { type: 'closed' } | { type: 'fatal'; message: string }
