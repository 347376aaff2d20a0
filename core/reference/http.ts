import { RefusedError, UnavailableError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { sleep, withRetry, type RetryOptions } from '../retry.ts'
import { DEFAULT_CACHE_DIR, ResponseCache, type CachedRequest } from './cache.ts'
import { DAY_MS } from './common.ts'
import type { ReferenceSourceName } from './reference.ts'

/** What every HTTP reference source takes next to its base URL. */
export interface ReferenceSourceOptions {
  logger: Logger
  /** Replaces global fetch (tests, proxies). */
  fetch?: typeof fetch
  /** Response cache directory (default DEFAULT_CACHE_DIR, `.cache/reference` under the working directory); `null` = no cache. */
  cacheDir?: string | null
  /** Retry policy for retriable failures (network, timeout, 408, 429, 5xx); default DEFAULT_REFERENCE_RETRY. */
  retry?: Partial<RetryOptions>
  /** Per-request timeout, ms (default 30 000). */
  timeoutMs?: number
  /**
   * Observation responses for a window that ended less than this long ago are not cached, because the last
   * hours still arrive or get corrected (default 2 days).
   */
  settleMs?: number
  /** Station metadata responses are reused for this long (default 7 days). */
  metadataMaxAgeMs?: number
  /** Clock, epoch ms (tests). */
  now?: () => number
}

/**
 * Default retry: 6 attempts, 1 s doubling to 60 s. The Luchtmeetnet API allows about 100 requests per 5 minutes
 * and answers 429 beyond that; its Retry-After is honoured on top of this backoff.
 */
export const DEFAULT_REFERENCE_RETRY: RetryOptions = { initialDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 6 }
/** A Retry-After longer than this is cut down to it (ms). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000

/** How a response may be cached: metadata (TTL), an observation window ending at `windowEnd`, or not at all. */
export type CachePolicy = { kind: 'metadata' } | { kind: 'window'; windowEnd: number } | { kind: 'none' }

/**
 * The HTTP side shared by the reference sources: cache lookup, fetch with timeout, error classification
 * (core/errors.ts) and retry (core/retry.ts) honouring Retry-After.
 *
 * Errors: UnavailableError (network failure, timeout, 408, 429, 5xx — after the retries are used up) or
 * RefusedError (any other non-2xx status, e.g. 400 or 404).
 */
export class ReferenceHttp {
  /** Network requests made so far (cache hits not counted). */
  requests = 0
  private readonly cache: ResponseCache | undefined
  private readonly fetch: typeof fetch
  private readonly retry: RetryOptions
  private readonly now: () => number
  private readonly logger: Logger

  constructor(
    readonly source: ReferenceSourceName,
    private readonly options: ReferenceSourceOptions,
  ) {
    this.logger = options.logger.child({ component: 'reference', source })
    const dir = options.cacheDir === undefined ? DEFAULT_CACHE_DIR : options.cacheDir
    this.cache = dir === null ? undefined : new ResponseCache(dir, this.logger)
    this.fetch = options.fetch ?? globalThis.fetch
    this.retry = { ...DEFAULT_REFERENCE_RETRY, ...options.retry }
    this.now = options.now ?? Date.now
  }

  /** The response body of `request` as text, from the cache when allowed and present. */
  async text(request: CachedRequest, policy: CachePolicy): Promise<string> {
    const cacheable = this.cache !== undefined && this.isCacheable(policy)
    const maxAgeMs = policy.kind === 'metadata' ? (this.options.metadataMaxAgeMs ?? 7 * DAY_MS) : Infinity
    if (cacheable) {
      const hit = await this.cache!.get(this.source, request, maxAgeMs, this.now())
      if (hit !== undefined) {
        this.logger.debug({ url: request.url }, 'reference response from cache')
        return hit
      }
    }
    const body = await withRetry(() => this.once(request), {
      ...this.retry,
      onRetry: async (error, attempt, delayMs) => {
        const retryAfterMs = error instanceof UnavailableError ? (error.context.retryAfterMs as number | undefined) : undefined
        this.logger.warn({ err: error, attempt, delayMs, retryAfterMs, url: request.url }, 'reference request failed, retrying')
        // withRetry waits delayMs after this; wait the rest of the server's Retry-After first
        if (retryAfterMs !== undefined && retryAfterMs > delayMs) await sleep(retryAfterMs - delayMs, this.retry.signal)
      },
    })
    if (cacheable) {
      try {
        await this.cache!.set(this.source, request, body, this.now())
      } catch (error) {
        this.logger.warn({ err: error, dir: this.cache!.dir }, 'could not write reference cache entry')
      }
    }
    return body
  }

  private isCacheable(policy: CachePolicy): boolean {
    if (policy.kind === 'none') return false
    if (policy.kind === 'metadata') return true
    return policy.windowEnd <= this.now() - (this.options.settleMs ?? 2 * DAY_MS)
  }

  private async once(request: CachedRequest): Promise<string> {
    this.requests++
    this.logger.debug({ method: request.method, url: request.url, form: request.form }, 'reference request')
    let response: Response
    try {
      response = await this.fetch(request.url, {
        method: request.method,
        headers: { accept: 'application/json, text/plain;q=0.9, */*;q=0.5', ...(request.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: request.form ? new URLSearchParams(request.form).toString() : undefined,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      })
    } catch (cause) {
      throw new UnavailableError(`${this.source}: ${request.method} ${request.url} failed: ${(cause as Error).message}`, { cause })
    }
    const body = await response.text().catch((cause: unknown) => {
      throw new UnavailableError(`${this.source}: reading the response of ${request.url} failed`, { cause })
    })
    if (response.ok) return body
    const message = `${this.source}: ${request.method} ${request.url} answered ${response.status} ${response.statusText}: ${body.slice(0, 200)}`
    const context = { status: response.status, url: request.url, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), this.now()) }
    if (response.status === 408 || response.status === 429 || response.status >= 500) throw new UnavailableError(message, { context })
    throw new RefusedError(message, { context })
  }
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; ms to wait, capped at MAX_RETRY_AFTER_MS,
 * or undefined when absent or unreadable.
 */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const text = header.trim()
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms))
}
