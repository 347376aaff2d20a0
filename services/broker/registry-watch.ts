import type { Logger } from '../../core/logger.ts'
import type { DeviceRecord, RegistryStore } from '../../core/registry/store.ts'

/**
 * Follows the registry while the broker runs: every `pollMs` it asks `store.changedSince` for devices added,
 * edited, rotated or revoked since the previous poll and hands them to `onChange` (which closes the connections
 * that authenticated before the change). It also answers "is this device registered and active?" for the
 * importer's publishes from a cache that the same poll keeps current.
 *
 * Polls overlap by `OVERLAP_MS` so that a change written in the same millisecond as a poll is not missed;
 * `onChange` must therefore be idempotent (closing only connections older than the change is). A failing poll
 * (registry unavailable) is logged and retried at the next period; connections stay as they are meanwhile.
 */
const OVERLAP_MS = 1_000

export class RegistryWatch {
  private timer?: NodeJS.Timeout
  private since: number
  private polling?: Promise<void>
  /** Device id → active (registered and not revoked); only ids looked up or changed since start. */
  private readonly active = new Map<string, boolean>()

  constructor(
    private readonly store: RegistryStore,
    private readonly pollMs: number,
    private readonly onChange: (changed: DeviceRecord[]) => void,
    private readonly logger: Logger,
    now = Date.now(),
  ) {
    this.since = now - OVERLAP_MS
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollMs)
    this.timer.unref()
  }

  /** One poll now (also what the timer runs); concurrent calls share one run. */
  poll(): Promise<void> {
    this.polling ??= this.runPoll().finally(() => (this.polling = undefined))
    return this.polling
  }

  /**
   * True when `deviceId` is registered and not revoked. Answers from the cache when it can; asks the store
   * otherwise (a device registered a moment ago, before the next poll, is found). Errors: the store's.
   */
  async isActive(deviceId: string): Promise<boolean> {
    const cached = this.active.get(deviceId)
    if (cached !== undefined) return cached
    const device = await this.store.device(deviceId)
    const active = device !== undefined && device.revokedAt === undefined
    // cache positive answers only: an unknown id asked for over and over must not grow the map
    if (device !== undefined) this.active.set(deviceId, active)
    return active
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.polling
  }

  private async runPoll(): Promise<void> {
    const startedAt = Date.now()
    try {
      const changed = await this.store.changedSince(this.since)
      for (const device of changed) this.active.set(device.id, device.revokedAt === undefined)
      if (changed.length > 0) this.onChange(changed)
      this.since = startedAt - OVERLAP_MS
    } catch (error) {
      this.logger.warn({ err: error }, 'registry poll failed; connections of revoked devices are closed at the next successful poll')
    }
  }
}
