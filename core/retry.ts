import { isRetriable } from './errors.ts'

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
