import type { Logger } from '../logger.ts'
import { rejectionDigest, rejectionValueJson } from './schema.ts'
import type { ReadingStore, WriteBatch } from './store.ts'

/**
 * How far back a rejection without an observed time finds its first receipt: 24 h, longer than a device keeps
 * an unacknowledged QoS 1 message before it gives up or reboots in practice (Tasmota and ESPHome keep none
 * across a reboot), so a resend after any restart of ours lands on the first point.
 */
export const FIRST_RECEIPT_WINDOW_MS = 24 * 3_600_000
/** Most digests remembered per process (~100 bytes each); the oldest are forgotten first. */
export const FIRST_RECEIPT_CACHE = 100_000
/** Most rejections read back per device when a device is first looked up (the newest within the window). */
const LOOKUP_LIMIT = 10_000

/**
 * Makes a rejection that has no observed time idempotent across redeliveries (issue 10). Such a rejection is
 * timed at receipt (core/store/schema.ts), so the same message received again — a device resending a publish
 * whose PUBACK a restart of ours swallowed — would make a second point: same `digest` tag, another time. Before
 * a write, each such rejection gets the receipt time (`receivedAt`, which is also its point's time) of the first
 * rejection with the same digest stored within FIRST_RECEIPT_WINDOW_MS, so the resend overwrites that point.
 *
 * Where the first receipt comes from: a per-process map digest → first receipt (filled by every write, at most
 * FIRST_RECEIPT_CACHE digests), and, the first time a device has such a rejection in this process, the store's
 * rejections of that device (and its sub-devices) of the window, read back once: so a restarted ingest or writer
 * knows what its predecessor wrote. Rejections with an observed time are left alone (their time is already the
 * message's own), as are readings and events.
 *
 * Limits (README "Fault matrix"): with several writers for one device (`senshagen broker` instances behind a load
 * balancer, each writing in direct mode) a resend that reaches another instance than the first delivery, after
 * that instance read the device back, still makes a second point. When the read-back fails, the rejection is
 * written with its own receipt time (a possible second point, logged at warn) rather than held back: keeping
 * it comes first.
 */
export class FirstReceipts {
  /** digest → first receipt, epoch ms; insertion order = age. */
  private readonly first = new Map<string, number>()
  /** Devices whose stored rejections were read back (or are being read). */
  private readonly loaded = new Map<string, Promise<void>>()

  constructor(
    private readonly store: Pick<ReadingStore, 'queryRejections'>,
    private readonly logger: Logger,
    private readonly options: { windowMs?: number; cacheSize?: number; now?: () => number } = {},
  ) {}

  /** `batch` with each rejection without an observed time re-timed to its first receipt; the same object when none has to change. */
  async retime(batch: WriteBatch): Promise<WriteBatch> {
    const timeless = batch.rejections.filter((r) => r.observedAt === undefined)
    if (timeless.length === 0) return batch
    await Promise.all([...new Set(timeless.map((r) => r.deviceId))].map((deviceId) => this.load(deviceId)))
    let changed = false
    const rejections = batch.rejections.map((rejection) => {
      if (rejection.observedAt !== undefined) return rejection
      const digest = rejectionDigest(rejection, rejectionValueJson(rejection))
      const first = this.first.get(digest)
      if (first === undefined || first > rejection.receivedAt) {
        this.remember(digest, rejection.receivedAt)
        return rejection
      }
      if (first === rejection.receivedAt) return rejection
      changed = true
      return { ...rejection, receivedAt: first }
    })
    return changed ? { ...batch, rejections } : batch
  }

  /** Reads `deviceId`'s stored rejections of the window once per process (again after a failed read). */
  private load(deviceId: string): Promise<void> {
    let loading = this.loaded.get(deviceId)
    if (!loading) {
      const since = (this.options.now ?? Date.now)() - (this.options.windowMs ?? FIRST_RECEIPT_WINDOW_MS)
      loading = this.store.queryRejections({ deviceId, since, limit: LOOKUP_LIMIT }).then(
        (stored) => {
          for (const r of stored) {
            const digest = rejectionDigest(r, r.value)
            const known = this.first.get(digest)
            if (known === undefined || r.time < known) this.remember(digest, r.time)
          }
        },
        (error: unknown) => {
          this.loaded.delete(deviceId)
          this.logger.warn({ err: error, deviceId }, 'could not read back stored rejections: a redelivered rejection without observed time may be stored a second time')
        },
      )
      this.loaded.set(deviceId, loading)
      if (this.loaded.size > (this.options.cacheSize ?? FIRST_RECEIPT_CACHE)) this.loaded.delete(this.loaded.keys().next().value!)
    }
    return loading
  }

  private remember(digest: string, receivedAt: number): void {
    this.first.delete(digest)
    this.first.set(digest, receivedAt)
    if (this.first.size > (this.options.cacheSize ?? FIRST_RECEIPT_CACHE)) this.first.delete(this.first.keys().next().value!)
  }
}

/**
 * `store` whose `write` re-times rejections without an observed time to their first receipt (FirstReceipts)
 * before writing; every other method is the store's own. For the ReadingWriter of core/store/open.ts.
 */
export function withFirstReceipts<S extends ReadingStore>(store: S, logger: Logger, options?: ConstructorParameters<typeof FirstReceipts>[2]): S {
  const receipts = new FirstReceipts(store, logger, options)
  const write = async (batch: WriteBatch) => store.write(await receipts.retime(batch))
  return new Proxy(store, {
    get(target, property) {
      if (property === 'write') return write
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
