import type { Logger } from './logger.ts'
import { countDropped } from './metrics.ts'

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
 * `left` units (`what`: 'messages', 'points', …) of `stage` were not acknowledged when the drain deadline passed:
 * logged at error level and counted in senshagen_dropped_total{reason="drain_timeout"}. QoS 1 messages without
 * PUBACK are resent by their devices and uncommitted Kafka records are consumed again, so this is a stall to
 * look at, not necessarily a loss; QoS 0 messages among them are lost.
 */
export function reportUndrained(logger: Logger, stage: string, left: number, what: string): void {
  if (left <= 0) return
  countDropped('drain_timeout', left)
  logger.error({ stage, left, unit: what }, `shutdown drain deadline passed: ${left} ${what} of the ${stage} not acknowledged`)
}
