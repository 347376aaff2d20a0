import type { Logger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { formatIsoMs } from '../../core/time.ts'

/**
 * The poller behind GET /api/v1/live: one store query (readingRows) every `pollMs` while at least one client listens,
 * fanned out to every subscriber (so 100 open pages cost one query, not 100).
 *
 * Each poll asks for readings of the public devices observed in [last poll − overlap, now + future slack),
 * overlap = max(60 s, 3 polls), and sends those not sent before (keys device|quantity|time, remembered for
 * the overlap). Readings that reach InfluxDB up to a minute after their observed time (MQTT, Kafka, writer
 * batching) are therefore still sent once; later arrivals (replays, backfills) are not live data and are
 * skipped. The first poll starts at the time the first client subscribed.
 *
 * Resuming (the SSE `id:` / `Last-Event-ID` of the HTML standard, §9.2 Server-sent events). Every reading sent
 * gets an id `<hub start, base 36>.<sequence>`; the newest REPLAY_BUFFER (1000) are kept, also while no one
 * listens. `replayAfter(id)` gives those sent after `id`, or undefined when the id is not from this hub or
 * older than the buffer (the client then starts from now). When the last client leaves, polling stops; when one
 * comes back within RESUME_MS (5 min), polling resumes where it stopped, so readings stored in between are still
 * sent (and buffered) — a dropped client that reconnects within 5 minutes misses nothing.
 */
export interface LiveReading {
  /** ISO-8601 UTC with ms (observed time). */
  time: string
  device: string
  quantity: string
  /** Raw value in `unit`, the quantity's canonical unit. */
  value: number
  unit: string
  /** A live value is raw, as it arrived: `uncalibrated`, with no uncertainty (README "Reading the data"). */
  uncertainty: null
  label: 'uncalibrated'
}

/** A reading with its event id. */
export interface LiveEvent {
  id: string
  reading: LiveReading
}

export interface LiveHubOptions {
  store: Pick<ReadingStore, 'readingRows'>
  /** The public device ids now (asked at every poll, so a device revoked or no longer consented drops out): nothing else is ever queried. */
  devices: () => readonly string[]
  pollMs: number
  logger: Logger
}

/** Readings per poll; more than this in one interval are sent on the next polls. */
export const LIVE_POLL_LIMIT = 10_000
/** How far ahead of the API's clock an observed time may be (device clock skew), ms. */
const FUTURE_SLACK_MS = 300_000
/** Events kept for Last-Event-ID resumption. */
export const REPLAY_BUFFER = 1_000
/** A hub restarted within this long after it stopped polls on from where it stopped, ms. */
export const RESUME_MS = 300_000

export class LiveHub {
  private readonly listeners = new Set<(events: LiveEvent[]) => void>()
  private timer: NodeJS.Timeout | undefined
  private since = 0
  private stoppedAt = 0
  private sequence = 0
  private readonly epoch = Date.now().toString(36)
  private readonly buffer: LiveEvent[] = []
  private readonly sent = new Map<string, number>()
  private polling: Promise<void> = Promise.resolve()
  private readonly overlapMs: number

  constructor(private readonly options: LiveHubOptions) {
    this.overlapMs = Math.max(60_000, 3 * options.pollMs)
  }

  /** Adds a listener; returns the function that removes it. The poller runs while there are listeners. */
  subscribe(listener: (events: LiveEvent[]) => void): () => void {
    if (this.listeners.size === 0) this.start()
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
      if (this.listeners.size === 0) this.stop()
    }
  }

  get subscribers(): number {
    return this.listeners.size
  }

  /** The buffered events sent after the one with `lastId`, oldest first; undefined when that id cannot be resumed from. */
  replayAfter(lastId: string): LiveEvent[] | undefined {
    const [epoch, seq] = lastId.split('.')
    const n = Number(seq)
    if (epoch !== this.epoch || !Number.isSafeInteger(n) || n > this.sequence) return undefined
    const first = this.buffer[0]
    if (n < this.sequence && (first === undefined || Number(first.id.split('.')[1]) > n + 1)) return undefined
    return this.buffer.filter((e) => Number(e.id.split('.')[1]) > n)
  }

  /** Stops polling and forgets every listener. */
  async close(): Promise<void> {
    this.listeners.clear()
    this.stop()
    await this.polling
  }

  private start(): void {
    const now = Date.now()
    if (this.stoppedAt === 0 || now - this.stoppedAt > RESUME_MS) {
      this.since = now
      this.sent.clear()
    }
    const tick = () => {
      this.polling = this.poll().finally(() => {
        if (this.listeners.size > 0) this.timer = setTimeout(tick, this.options.pollMs)
      })
    }
    this.timer = setTimeout(tick, this.options.pollMs)
  }

  private stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.stoppedAt = Date.now()
  }

  private async poll(): Promise<void> {
    const devices = this.options.devices()
    if (devices.length === 0) return
    const now = Date.now()
    const lower = this.since
    let values: Array<[number, number, string, string]>
    try {
      const rows = await this.options.store.readingRows({ devices, from: lower, to: now + FUTURE_SLACK_MS, fields: ['value'], limit: LIVE_POLL_LIMIT })
      values = rows.map((r) => [r.time, r.fields.value as number, r.deviceId, r.quantity])
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'live poll failed; the next poll retries')
      return
    }
    // a full answer: the next poll starts at its last time (keys already sent are skipped)
    if (values.length === LIVE_POLL_LIMIT) this.since = values[values.length - 1]![0] as number
    else this.since = Math.max(this.since, now - this.overlapMs)
    for (const [key, time] of this.sent) if (time < lower) this.sent.delete(key)
    const fresh: LiveEvent[] = []
    for (const [time, value, device, quantity] of values) {
      const key = `${device}|${quantity}|${time}`
      if (this.sent.has(key)) continue
      this.sent.set(key, time)
      fresh.push({ id: `${this.epoch}.${++this.sequence}`, reading: { time: formatIsoMs(time), device, quantity, value, unit: QUANTITIES[quantity as Quantity]?.unit ?? '', uncertainty: null, label: 'uncalibrated' } })
    }
    if (fresh.length === 0) return
    this.buffer.push(...fresh)
    if (this.buffer.length > REPLAY_BUFFER) this.buffer.splice(0, this.buffer.length - REPLAY_BUFFER)
    for (const listener of this.listeners) listener(fresh)
  }
}
