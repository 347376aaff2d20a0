/**
 * Per-key token buckets that delay work instead of refusing it: the broker runs each device's publish
 * authorization through `take(deviceId, go)`, so a device over its rate waits — and because aedes reads the
 * next chunk from a socket only when every packet of the previous chunk is done (lib/client.js `nextBatch`),
 * the wait becomes TCP backpressure on that device's connection alone. Other devices have their own buckets
 * and are never queued behind it.
 *
 * A bucket holds up to `burst` tokens and refills at `ratePerS` tokens per second; each `take` spends one.
 * Waiters of one key run in the order they came (FIFO), so a device's PUBACKs keep its publish order
 * [MQTT-4.6.0-2]. Memory: one bucket per key seen (keys are registered device ids, so bounded by the
 * registry) and, per key, the waiters of the packets aedes has in flight for it (bounded per connection by SENSHAGEN_MQTT_MAX_PENDING_PER_CLIENT, services/broker/auth.ts).
 */
export interface RateLimitOptions {
  /** Sustained rate, tokens per second (> 0). */
  ratePerS: number
  /** Bucket size: how many takes may happen at once after a quiet spell (≥ 1). */
  burst: number
  /** Clock in epoch ms (tests pass their own). */
  now?: () => number
}

interface Bucket {
  tokens: number
  /** Epoch ms of the last refill. */
  refilledAt: number
  waiting: Array<() => void>
  timer?: NodeJS.Timeout
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly now: () => number
  private closed = false

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? Date.now
  }

  /**
   * Runs `go` once `key` has a token: synchronously when one is there and nobody waits, else later.
   * Returns true when `go` ran at once, false when it was queued.
   */
  take(key: string, go: () => void): boolean {
    if (this.tryTake(key)) {
      go()
      return true
    }
    const bucket = this.buckets.get(key)!
    bucket.waiting.push(go)
    this.schedule(bucket)
    return false
  }

  /**
   * Spends one of `key`'s tokens when one is there and nobody waits, returning true; else false and nothing
   * changes (then `take` queues). The common case without a closure per call.
   */
  tryTake(key: string): boolean {
    const bucket = this.bucket(key)
    this.refill(bucket)
    if (bucket.waiting.length > 0 || bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Waiters queued for `key` right now. */
  waiting(key: string): number {
    return this.buckets.get(key)?.waiting.length ?? 0
  }

  /** Stops every timer and forgets the waiters (their `go` never runs): the broker is closing. */
  close(): void {
    this.closed = true
    for (const bucket of this.buckets.values()) {
      clearTimeout(bucket.timer)
      bucket.waiting.length = 0
    }
  }

  private bucket(key: string): Bucket {
    let bucket = this.buckets.get(key)
    if (!bucket) {
      bucket = { tokens: this.options.burst, refilledAt: this.now(), waiting: [] }
      this.buckets.set(key, bucket)
    }
    return bucket
  }

  private refill(bucket: Bucket): void {
    const now = this.now()
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.options.ratePerS)
    bucket.refilledAt = now
  }

  private schedule(bucket: Bucket): void {
    if (bucket.timer || this.closed) return
    const waitMs = Math.max(1, Math.ceil(((1 - bucket.tokens) / this.options.ratePerS) * 1000))
    bucket.timer = setTimeout(() => {
      bucket.timer = undefined
      this.refill(bucket)
      while (bucket.waiting.length > 0 && bucket.tokens >= 1) {
        bucket.tokens -= 1
        bucket.waiting.shift()!()
      }
      if (bucket.waiting.length > 0) this.schedule(bucket)
    }, waitMs)
  }
}
