import { isRetriable } from './errors.ts'
import type { Logger } from './logger.ts'

export interface RetryOptions {
  /** First delay in ms; doubles each attempt up to `maxDelayMs`. */
  initialDelayMs: number
  maxDelayMs: number
  /** Attempts in total, including the first; `Infinity` retries until `signal` aborts. */
  maxAttempts: number
  signal?: AbortSignal
  /** Called before each wait, e.g. to log or to send a Kafka heartbeat. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void>
}

export const DEFAULT_RETRY: RetryOptions = { initialDelayMs: 200, maxDelayMs: 10_000, maxAttempts: Infinity }

/**
 * Runs `operation` until it succeeds, retrying with exponential backoff and full jitter while the error is
 * retriable (see core/errors.ts). A non-retriable error, the last attempt's error or an abort is thrown.
 */
export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation()
    } catch (error) {
      if (!isRetriable(error) || attempt >= options.maxAttempts || options.signal?.aborted) throw error
      const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (attempt - 1))
      const delayMs = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
      await options.onRetry?.(error, attempt, delayMs)
      await sleep(delayMs, options.signal)
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(done, ms)
    function done() {
      signal?.removeEventListener('abort', abort)
      resolve()
    }
    function abort() {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', abort, { once: true })
  })
}

/** What an OutageLog counted: plain numbers, for whoever exports metrics. */
export interface OutageStats {
  /** Outages begun (first failure after a success, or since the start). */
  episodes: number
  /** Failures reported, all episodes together (the first of each included). */
  failures: number
  /** Outages that ended with a success. */
  recoveries: number
}

/**
 * Logs a self-healing outage (a lost connection being reopened, a failing write being retried) once per
 * episode, so that a broker restart is three lines, not twenty: the first failure at warn, the failures after
 * it at debug, and the first success after them one info line with the episode's length in seconds and its
 * failed attempts. A success outside an episode logs nothing. Not for losses: a message or reading given up
 * is logged at error level where it is dropped, and counted there (README "Observability").
 * `what` names the thing in the messages ("Kafka", "InfluxDB write"); `now` is the clock, in ms.
 */
export class OutageLog {
  readonly stats: OutageStats = { episodes: 0, failures: 0, recoveries: 0 }
  private since: number | undefined
  private attempts = 0

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** True between a failure and the next success. */
  get failing(): boolean {
    return this.since !== undefined
  }

  /** A failure that will be retried: `message` says what failed; `fields` go into the log line. */
  failed(fields: Record<string, unknown>, message: string): void {
    this.stats.failures++
    this.attempts++
    if (this.since !== undefined) return this.logger.debug({ ...fields, outage: this.what, attempt: this.attempts }, message)
    this.since = this.now()
    this.stats.episodes++
    this.logger.warn({ ...fields, outage: this.what }, `${message} (${this.what}: retrying; logged once until it recovers)`)
  }

  /** A success: ends the episode, if one is running, with one info line. */
  recovered(fields: Record<string, unknown> = {}): void {
    if (this.since === undefined) return
    const seconds = Math.round((this.now() - this.since) / 100) / 10
    const attempts = this.attempts
    this.since = undefined
    this.attempts = 0
    this.stats.recoveries++
    this.logger.info({ ...fields, outage: this.what, seconds, failedAttempts: attempts }, `${this.what} recovered after ${seconds} s / ${attempts} failed attempt${attempts === 1 ? '' : 's'}`)
  }
}
