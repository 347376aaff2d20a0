import type { Logger } from './logger.ts'
import { drainUnacknowledged, type DrainStage } from './metrics.ts'

/**
 * Graceful shutdown (SIGTERM/SIGINT, cli/context.ts runUntilSignal): each stage stops taking work, waits until
 * what it already took is durable and acknowledged, and gives up at one deadline shared by the whole process
 * (config.drainTimeoutMs, SENSHAGEN_DRAIN_TIMEOUT_MS, from the signal on). What is still unacknowledged then is
 * logged at error level and counted (`reportUndrained`); the stage closes anyway and exit stays 0.
 */

/** The end of a drain: epoch ms on the Date.now() clock. */
export type Deadline = number

/** A deadline `ms` from now. */
export function deadlineIn(ms: number): Deadline {
  return Date.now() + ms
}

/**
 * Waits for `done` until `deadline`: true when it settled in time (resolved or rejected), false when the deadline
 * passed first (`done` goes on; its rejection is ignored).
 */
export async function settlesBy(deadline: Deadline | undefined, done: Promise<unknown>): Promise<boolean> {
  const settled = done.then(
    () => true,
    () => true,
  )
  if (deadline === undefined) return settled
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))))
  try {
    return await Promise.race([settled, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `left` units (`unit`: 'publishes', 'points', …) of `stage` were not acknowledged when the drain deadline passed:
 * logged at error level and counted in senshagen_drain_unacknowledged_total{stage}. QoS 1 messages without
 * PUBACK are resent by their clients and uncommitted Kafka records are consumed again, so this is a stall to look
 * at, not by itself a loss; QoS 0 messages among them are lost.
 */
export function reportUndrained(logger: Logger, stage: DrainStage, left: number, unit: string): void {
  if (left <= 0) return
  drainUnacknowledged.inc({ stage }, left)
  logger.error({ stage, left, unit }, `shutdown drain deadline passed: ${left} ${unit} of the ${stage.replace('_', ' ')} not acknowledged`)
}
