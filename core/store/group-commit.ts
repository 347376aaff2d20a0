import { EventEmitter } from 'node:events'
import { settlesBy } from '../drain.ts'
import { withRetry } from '../retry.ts'

/**
 * The group-commit engine under every durable hand-off: the InfluxDB writer (core/store/reading-writer.ts,
 * direct mode and the Kafka-mode writer) and Kafka mode's produce batching (services/ingest/kafka-sink.ts).
 *
 * Callers `submit` items (a message's readings, a Kafka partition's fetched batch, a Kafka record list); the
 * engine gathers them into batches of at most `maxBatchSize` units (points, records) and `maxBatchItems` items,
 * sends up to `maxInFlight` batches at once, and resolves each item's promise when *its* batch was
 * acknowledged. With `cut`, an item that does not fit whole is cut so that batches are full (a large item
 * spans several batches and resolves when all of them were acknowledged); without it items go whole, and one
 * larger than `maxBatchSize` goes alone. A failed send is retried with backoff (core/retry.ts: retriable errors
 * only) until it succeeds or the engine is closed.
 *
 * When: with nothing in flight, the first item waits `lingerMs` (0 = the next turn of the event loop) for
 * others. A full batch goes at once into any free lane. A partial batch does not open a further lane while one
 * is in flight: it gathers until a batch is acknowledged, then goes into the freed lane. So light and moderate
 * load behave as one request at a time (no added latency, few requests), and only a backlog of full batches
 * puts several in flight.
 *
 * Refused batches (an error that is not retriable): without `onRefused`, the batch's items are rejected with
 * the error. With it, the batch is halved until the refused items stand alone (then, with `split`, the item is
 * halved down to single units), everything else is stored, and `onRefused` says what to store in a lone refused
 * unit's place (e.g. a reading as a `store_refused` rejection). If that is refused too, or there is nothing to
 * store instead, the unit is counted `lost` and the `lost` event fires; its item still resolves (resending a
 * poison message forever would help no one).
 *
 * Memory: at most `maxBuffered` units are submitted and not yet acknowledged (queued plus in flight; an item
 * larger than that is let in alone when nothing else is buffered). Further submits wait in a FIFO (counted in
 * `stats.backpressureWaits`): an item that must wait makes every later one wait behind it, so items enter the
 * queue in submit order.
 *
 * Ordering (what holds, and who relies on it):
 * - Batches are formed from the queue front and sent in submit order.
 * - `maxInFlight` 1: batches are acknowledged one after the other, so items resolve in submit order.
 *   services/ingest/kafka-sink.ts keeps 1 and promises accept order: with several concurrent `sendBatch`
 *   calls (acks = all, no idempotence), a retried request lands after a later one, which would break "one
 *   device's records in order on its partition"; an idempotent producer would make that safe, but kafkajs
 *   follows KIP-98's one request in flight per connection for it (kafkajs issue #200), so it would not help.
 * - `maxInFlight` > 1: batches overlap, a later batch may be acknowledged (and its items resolved) before an
 *   earlier one, and a retried batch may land after later ones. Within one batch items resolve together.
 *   The InfluxDB writer (core/store/reading-writer.ts) accepts this: a reading is one point keyed by (device,
 *   quantity, observed time), so the same key in two batches in flight lands in either order. A redelivered
 *   message carries identical values, so either order stores the same point; two *different* values for one
 *   key (a conflicting resend) are ordered by the writer itself (ReadingWriter.writeAfter). None of the writer's callers relies on resolve order:
 *   the embedded broker chains each client's PUBACKs itself (services/broker/broker-ingest.ts), the subscribed
 *   ingest's window releases PUBACKs in arrival order itself (services/ingest/mqtt-ack-window.ts), an HTTP push
 *   waits for its own, and the Kafka writer commits each partition's offsets after its own write resolved
 *   (services/writer/kafka-writer.ts).
 *
 * Errors: `submit` rejects when the engine is closed before the item was acknowledged, or with the refusal
 * when there is no `onRefused`. Events: `batch` ({ items, units, ms }) per acknowledged batch, `retry` (error,
 * attempt, delayMs), `lost` (item, error).
 */
export interface GroupCommitOptions<T> {
  /** Sends one batch; resolves once the receiver acknowledged all of it. Retriable errors are retried. */
  send(items: T[]): Promise<void>
  /** An item's size in units (points, records): what `maxBatchSize` and `maxBuffered` count. */
  sizeOf(item: T): number
  /** Most units in one batch (without `cut`, an item larger than this goes alone). */
  maxBatchSize: number
  /** Most items in one batch; default unlimited. */
  maxBatchItems?: number
  /** How long the first item of an empty queue waits for others, ms; 0 = the next turn of the event loop. */
  lingerMs: number
  /** Most batches sent and not yet acknowledged at once (≥ 1); see "Ordering". */
  maxInFlight: number
  /** Most units submitted and not yet acknowledged; further submits wait. */
  maxBuffered: number
  retry?: { initialDelayMs: number; maxDelayMs: number }
  /**
   * Cuts `item` into a head of at most `units` units (at least one) and the rest, to fill a batch; undefined
   * when it cannot be cut there (the item then waits for the next batch, or goes alone).
   */
  cut?(item: T, units: number): [T, T] | undefined
  /** Halves an item of more than one unit for the refused-batch search; undefined when it cannot be cut. */
  split?(item: T): [T, T] | undefined
  /** What to store in place of a lone item the receiver refused for good; undefined = nothing (counted lost). */
  onRefused?(item: T, error: unknown): T | undefined
}

export interface GroupCommitStats {
  /** Batches acknowledged (a batch retried counts once; the parts of a split refused batch each count). */
  batches: number
  /** Items acknowledged. */
  items: number
  /** Units acknowledged. */
  units: number
  /** Send attempts, retries included. */
  requests: number
  retries: number
  /** Submits that had to wait because `maxBuffered` units were waiting. */
  backpressureWaits: number
  /** Units refused for good and handed to `onRefused`. */
  refused: number
  /** Units that could be stored neither as they were nor as `onRefused`'s substitute. */
  lost: number
  /** Most batches that were in flight at the same time. */
  peakInFlight: number
}

export interface GroupCommitEvents<T> {
  batch: [{ items: number; units: number; ms: number }]
  retry: [error: unknown, attempt: number, delayMs: number]
  lost: [item: T, error: unknown]
}

/** One submit's promise: settles when every part of its item did (`parts` > 1 once `cut` split it). */
interface Submit {
  parts: number
  resolve: () => void
  reject: (error: unknown) => void
}

interface Entry<T> {
  item: T
  size: number
  submit: Submit
}

export class GroupCommit<T> extends EventEmitter<GroupCommitEvents<T>> {
  readonly stats: GroupCommitStats = { batches: 0, items: 0, units: 0, requests: 0, retries: 0, backpressureWaits: 0, refused: 0, lost: 0, peakInFlight: 0 }
  private readonly queue: Entry<T>[] = []
  private queuedUnits = 0
  /** Units admitted and not yet settled (queued plus in flight). */
  private buffered = 0
  private readonly waiting: Entry<T>[] = []
  private inFlight = 0
  private timer?: NodeJS.Timeout
  private immediate?: NodeJS.Immediate
  private readonly abort = new AbortController()
  /** Set while `drain` waits: called once nothing is left unacknowledged. */
  private idle?: () => void

  constructor(private readonly options: GroupCommitOptions<T>) {
    super()
    if (!(options.maxInFlight >= 1) || !(options.maxBatchSize >= 1)) throw new RangeError('maxInFlight and maxBatchSize must be at least 1')
  }

  /** Resolves once `item`'s batch was acknowledged (see the class comment for refusals and closing). */
  submit(item: T): Promise<void> {
    if (this.abort.signal.aborted) return Promise.reject(new Error('closed'))
    return new Promise<void>((resolve, reject) => {
      const entry = { item, size: this.options.sizeOf(item), submit: { parts: 1, resolve, reject } }
      if (this.waiting.length === 0 && this.fits(entry.size)) {
        this.enqueue(entry)
      } else {
        this.stats.backpressureWaits++
        this.waiting.push(entry)
      }
    })
  }

  /** Units admitted and not yet acknowledged (queued and in flight; at most `maxBuffered`, see "Memory"). */
  get bufferedCount(): number {
    return this.buffered
  }

  /**
   * Graceful shutdown's flush: sends what is queued now (no linger) and resolves once nothing is submitted and
   * unacknowledged (queued, in flight or waiting for room), or when `deadline` (epoch ms, core/drain.ts) passed,
   * with the units still unacknowledged then (0 = all acknowledged). Submits keep being accepted meanwhile and
   * are waited for too; call `close` afterwards to reject what is left.
   */
  async drain(deadline?: number): Promise<number> {
    const left = () => this.buffered + this.waiting.reduce((n, e) => n + e.size, 0)
    if (left() === 0 || this.closed) return left()
    const idle = new Promise<void>((resolve) => (this.idle = resolve))
    this.pump(true)
    await settlesBy(deadline, idle)
    this.idle = undefined
    return left()
  }

  /**
   * Stops: retries end, items queued or waiting for room are rejected now, batches in flight reject unless
   * their current request is acknowledged. Their sources resend them (at-least-once).
   */
  close(): void {
    if (this.abort.signal.aborted) return
    this.abort.abort(new Error('closed'))
    clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    const closed = new Error('closed before the item was acknowledged')
    for (const entry of [...this.waiting.splice(0), ...this.queue.splice(0)]) entry.submit.reject(closed)
  }

  get closed(): boolean {
    return this.abort.signal.aborted
  }

  private fits(size: number): boolean {
    return this.buffered === 0 || this.buffered + size <= this.options.maxBuffered
  }

  private enqueue(entry: Entry<T>): void {
    this.buffered += entry.size
    this.queuedUnits += entry.size
    this.queue.push(entry)
    this.pump(false)
  }

  /**
   * Starts batches while a lane is free: a full batch at once; a partial one when `now` (the linger ran out or
   * a batch was acknowledged), else after the linger when nothing is in flight (see "When").
   */
  private pump(now: boolean): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0 && !this.abort.signal.aborted) {
      const full = this.queuedUnits >= this.options.maxBatchSize || this.queue.length >= (this.options.maxBatchItems ?? Infinity)
      if (!now && !full) return this.inFlight === 0 ? this.arm() : undefined
      this.launch(this.takeBatch())
    }
  }

  private arm(): void {
    if (this.timer || this.immediate) return
    const go = () => {
      this.timer = undefined
      this.immediate = undefined
      this.pump(true)
    }
    if (this.options.lingerMs === 0) this.immediate = setImmediate(go)
    else this.timer = setTimeout(go, this.options.lingerMs)
  }

  /**
   * Entries from the queue front up to maxBatchSize units and maxBatchItems items: whole ones, then the head
   * of the next one when `cut` can fill the rest; the first entry always goes (whole when it cannot be cut).
   */
  private takeBatch(): Entry<T>[] {
    // whole entries are counted first and removed with one splice: `shift` per entry moves the rest of a long
    // queue each time (6.6 % of bench/hot-path.ts's profile with 10,000 messages queued)
    const maxItems = this.options.maxBatchItems ?? Infinity
    let whole = 0
    let units = 0
    let head: Entry<T> | undefined
    while (whole < this.queue.length && whole < maxItems) {
      const next = this.queue[whole]!
      const room = this.options.maxBatchSize - units
      if (next.size <= room) {
        whole++
        units += next.size
        continue
      }
      head = this.cutHead(next, room)
      if (!head && whole === 0) {
        whole = 1 // the first entry always goes: whole when it cannot be cut
        units += next.size
      }
      break
    }
    const batch = this.queue.splice(0, whole)
    if (head) {
      batch.push(head)
      units += head.size
    }
    this.queuedUnits -= units
    return batch
  }

  /** Cuts `room` units off the front of `entry`, which stays queued with the rest; undefined when it cannot. */
  private cutHead(entry: Entry<T>, room: number): Entry<T> | undefined {
    const parts = room > 0 ? this.options.cut?.(entry.item, room) : undefined
    if (!parts) return undefined
    const [head, tail] = parts.map((part) => ({ item: part, size: this.options.sizeOf(part) }))
    if (head!.size === 0 || head!.size > room || tail!.size === 0) return undefined
    entry.item = tail!.item
    entry.size = tail!.size
    entry.submit.parts++
    return { ...head!, submit: entry.submit }
  }

  private launch(batch: Entry<T>[]): void {
    this.inFlight++
    this.stats.peakInFlight = Math.max(this.stats.peakInFlight, this.inFlight)
    const units = batch.reduce((n, e) => n + e.size, 0)
    void this.commit(batch.map((e) => e.item)).then(
      () => {
        for (const { submit } of batch) if (--submit.parts === 0) submit.resolve()
        this.settled(units)
      },
      (error: unknown) => {
        for (const { submit } of batch) submit.reject(error)
        this.settled(units)
      },
    )
  }

  private settled(units: number): void {
    this.inFlight--
    this.buffered -= units
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.size) && !this.abort.signal.aborted) this.enqueue(this.waiting.shift()!)
    this.pump(true)
    if (this.buffered === 0 && this.waiting.length === 0) this.idle?.()
  }

  /** Stores `items`; on a refusal, with onRefused, stores what can be stored (see the class comment). */
  private async commit(items: T[]): Promise<void> {
    try {
      await this.sendWithRetry(items)
      return
    } catch (error) {
      if (this.abort.signal.aborted || !this.options.onRefused) throw error
      const halves = items.length > 1 ? [items.slice(0, items.length >> 1), items.slice(items.length >> 1)] : this.options.split?.(items[0]!)?.map((part) => [part])
      if (halves) {
        for (const half of halves) await this.commit(half)
        return
      }
      await this.storeInstead(items[0]!, error)
    }
  }

  private async storeInstead(item: T, error: unknown): Promise<void> {
    const size = this.options.sizeOf(item)
    this.stats.refused += size
    const substitute = this.options.onRefused!(item, error)
    if (substitute === undefined) return this.lose(item, size, error)
    try {
      await this.sendWithRetry([substitute])
    } catch (second) {
      if (this.abort.signal.aborted) throw second
      this.lose(item, size, second)
    }
  }

  private lose(item: T, size: number, error: unknown): void {
    this.stats.lost += size
    this.emit('lost', item, error)
  }

  private async sendWithRetry(items: T[]): Promise<void> {
    const startedAt = Date.now()
    await withRetry(
      () => {
        this.stats.requests++
        return this.options.send(items)
      },
      {
        initialDelayMs: this.options.retry?.initialDelayMs ?? 200,
        maxDelayMs: this.options.retry?.maxDelayMs ?? 10_000,
        maxAttempts: Infinity,
        signal: this.abort.signal,
        onRetry: (error, attempt, delayMs) => {
          this.stats.retries++
          this.emit('retry', error, attempt, delayMs)
        },
      },
    )
    const units = items.reduce((n, item) => n + this.options.sizeOf(item), 0)
    this.stats.batches++
    this.stats.items += items.length
    this.stats.units += units
    this.emit('batch', { items: items.length, units, ms: Date.now() - startedAt })
  }
}
