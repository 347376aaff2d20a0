import type { Counter } from 'prom-client'
import { RefusedError, UnavailableError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { DeviceEvent } from '../../core/reading.ts'
import { withRetry, type RetryOptions } from '../../core/retry.ts'

/** What the operator's webhook receives: one JSON object per fleet-health transition, `POST` with `content-type: application/json`. */
export interface HealthWebhookBody {
  device: string
  /** online | offline | stale | stuck | recovered */
  kind: DeviceEvent['kind']
  /** ISO-8601 UTC with ms. */
  at: string
  /** The event's detail, parsed (core/fleet-health.ts healthTransitions; `via` for connections). */
  detail: unknown
  /** Who said so: `fleet-health` (the tracker's own event), or `stored-report` (a connection change it read in the store: a status topic, a will, another instance's broker). */
  source: string
}

export interface HealthWebhookOptions {
  url: string
  /** Transitions waiting to be sent; past it new ones are dropped (logged at error level, counted). Default 1,000. */
  maxQueued?: number
  /** Default: 5 attempts, 1 s doubling to 30 s. */
  retry?: RetryOptions
  /** Per request, ms (default 10 s). */
  timeoutMs?: number
  /** Counts failures (reason `failed` after the last attempt, `queue_full`); core/metrics.ts healthWebhookFailures. */
  failures?: Pick<Counter<'reason'>, 'inc'>
}

/**
 * The optional operator webhook (SENSHAGEN_HEALTH_WEBHOOK_URL): every transition is POSTed as HealthWebhookBody,
 * one at a time in order, from a bounded queue, so a slow or failing webhook never holds up the tracker or the
 * ingest. A 5xx, 429, timeout or connection error is retried (core/retry.ts); a 4xx is not. A transition given up
 * is logged at warn with the device and kind and counted; the event itself is in the store either way.
 * Device ids are sent: the webhook is the operator's, not public.
 */
export class HealthWebhook {
  private readonly queue: DeviceEvent[] = []
  private sending: Promise<void> | undefined
  private readonly controller = new AbortController()
  readonly stats = { sent: 0, failed: 0, dropped: 0 }

  constructor(
    private readonly options: HealthWebhookOptions,
    private readonly logger: Logger,
  ) {}

  /** Queues `event` and returns at once. */
  notify(event: DeviceEvent): void {
    if (this.queue.length >= (this.options.maxQueued ?? 1_000)) {
      this.stats.dropped++
      this.options.failures?.inc({ reason: 'queue_full' })
      this.logger.error({ device: event.deviceId, kind: event.kind, dropped: this.stats.dropped }, 'LOST: health webhook queue full, transition not sent')
      return
    }
    this.queue.push(event)
    this.sending ??= this.drain().finally(() => (this.sending = undefined))
  }

  /** Resolves once the queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending
  }

  /** Stops retrying; what is still queued is not sent (logged at warn with the count; the events are in the store). */
  async close(): Promise<void> {
    this.controller.abort()
    if (this.queue.length > 0) this.logger.warn({ unsent: this.queue.length }, 'health webhook closed with transitions not sent (they are in the store)')
    this.queue.length = 0
    await this.sending?.catch(() => {})
  }

  private async drain(): Promise<void> {
    for (let event = this.queue.shift(); event !== undefined && !this.controller.signal.aborted; event = this.queue.shift()) {
      try {
        await withRetry(() => this.post(event!), { ...(this.options.retry ?? { initialDelayMs: 1_000, maxDelayMs: 30_000, maxAttempts: 5 }), signal: this.controller.signal })
        this.stats.sent++
      } catch (error) {
        if (this.controller.signal.aborted) return
        this.stats.failed++
        this.options.failures?.inc({ reason: 'failed' })
        this.logger.warn({ err: error, device: event.deviceId, kind: event.kind, failed: this.stats.failed }, 'health webhook failed: transition not delivered (it is in the store)')
      }
    }
  }

  private async post(event: DeviceEvent): Promise<void> {
    const body: HealthWebhookBody = { device: event.deviceId, kind: event.kind, at: new Date(event.at).toISOString(), detail: parseDetail(event.detail), source: event.sourceFormat }
    let response: Response
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)]),
      })
    } catch (cause) {
      throw new UnavailableError(`health webhook ${this.options.url} did not answer`, { cause })
    }
    await response.body?.cancel()
    if (response.ok) return
    const message = `health webhook ${this.options.url} answered ${response.status}`
    throw response.status >= 500 || response.status === 429 ? new UnavailableError(message) : new RefusedError(message)
  }
}

function parseDetail(detail: string): unknown {
  try {
    return JSON.parse(detail)
  } catch {
    return detail
  }
}
