/**
 * The ordered finaliser of the subscribed ingest (services/ingest/mqtt-ingest.ts), one per MQTT connection.
 *
 * Messages enter in arrival order and take a slot each; their handling finishes in any order (the sink's
 * group commit acknowledges many at once, and not necessarily in order); they leave strictly in arrival
 * order, because a client sends its PUBACKs in the order the PUBLISH packets arrived [MQTT-4.6.0-2]. A
 * message leaves once it is done and every message before it has left; `release` is called whenever messages
 * left, with the packet ids of the QoS 1 ones among them (a QoS 0 message holds a slot while it is handled but
 * has nothing to acknowledge, so the list may be empty). A failed QoS 1 message never leaves, so nothing after it is acknowledged either: the broker
 * redelivers them all after the next connect [MQTT-4.4.0-1].
 *
 * `size` bounds the messages in the window (entered and not left); the caller holds further messages back
 * while `full`. Same idea as vector's ordered finaliser (PR #25785) and Telegraf mqtt_consumer's
 * `max_undelivered_messages`.
 */
export interface AckSlot {
  /** The message was handled (its sink acknowledged): it may be acknowledged in its turn. */
  done(): void
  /** The message could not be handled: it and everything after it stay unacknowledged. */
  fail(): void
}

export class AckWindow {
  private readonly entries: Entry[] = []
  private head = 0
  private closed = false
  /** Set while `drained()` is awaited. */
  private onDrained?: () => void

  /**
   * @param size most messages in the window at once (≥ 1)
   * @param release called when messages left the window, with the packet ids to acknowledge now, in arrival order
   */
  constructor(
    readonly size: number,
    private readonly release: (messageIds: number[]) => void,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a whole number ≥ 1, not ${size}`)
  }

  /** Messages entered and not yet left (handled or not). */
  get inFlight(): number {
    return this.entries.length - this.head
  }

  get full(): boolean {
    return this.inFlight >= this.size
  }

  /** True once a failed message blocks the window for good (until the connection is replaced). */
  get blocked(): boolean {
    return this.entries[this.head]?.state === 'failed'
  }

  /**
   * Takes the next slot in arrival order. `messageId` is the PUBLISH's packet id for QoS 1, undefined for
   * QoS 0. Throws when the window is full: the caller must wait for `full` to clear.
   */
  enter(messageId: number | undefined): AckSlot {
    if (this.full) throw new Error(`ack window full (${this.size} messages in flight)`)
    const entry: Entry = { messageId, state: 'pending' }
    this.entries.push(entry)
    return {
      done: () => this.settle(entry, 'done'),
      fail: () => this.settle(entry, 'failed'),
    }
  }

  /**
   * Graceful shutdown: resolves once every message in the window left it (its PUBACK released in its turn), or a
   * failed message blocks it (nothing after it will leave), or the window is closed.
   */
  drained(): Promise<void> {
    if (this.settledAll) return Promise.resolve()
    return new Promise((resolve) => (this.onDrained = resolve))
  }

  /** The connection is gone: nothing more is released (its packet ids mean nothing on another connection). */
  close(): void {
    this.closed = true
    this.entries.length = 0
    this.head = 0
    this.notifyDrained()
  }

  private get settledAll(): boolean {
    return this.closed || this.inFlight === 0 || this.blocked
  }

  private notifyDrained(): void {
    const resolve = this.onDrained
    if (resolve === undefined || !this.settledAll) return
    this.onDrained = undefined
    resolve()
  }

  private settle(entry: Entry, state: 'done' | 'failed'): void {
    if (this.closed || entry.state !== 'pending') return
    entry.state = state
    const ids: number[] = []
    let left = 0
    while (this.head < this.entries.length && this.entries[this.head]!.state === 'done') {
      const { messageId } = this.entries[this.head++]!
      if (messageId !== undefined) ids.push(messageId)
      left++
    }
    // compact now and then rather than shifting every time
    if (this.head > 1_024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head)
      this.head = 0
    }
    if (left > 0) this.release(ids)
    this.notifyDrained()
  }
}

interface Entry {
  messageId: number | undefined
  state: 'pending' | 'done' | 'failed'
}
