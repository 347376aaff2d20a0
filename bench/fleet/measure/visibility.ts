import type { InfluxBench, Only } from './influx.ts'

/**
 * Publish → queryable latency. The generator puts the publish time into each message as its observed time
 * (bench/fleet/load/generator.ts), so a stored point carries its own publish time. Every poll (~100 ms) asks
 * InfluxDB for each probe device's newest observed time of one quantity (`last(value) … GROUP BY device`, only
 * over the part of the step not yet seen; a tenth of the devices, so that the polling costs InfluxDB little). A point of device d with time t counts as queryable at the start of the
 * first poll whose newest time for d was ≥ t. After the step, the stored times of that quantity are read, and
 * each one's latency is that poll time − t. Lost messages (never stored) thus get none.
 *
 * Resolution: one poll interval plus the query's own time (a point becoming visible between two polls is
 * charged to the later one). It assumes that one device's points become queryable in publish order, which all
 * five stacks keep within a batch; where a later batch overtakes an earlier one, the earlier points are charged
 * the later batch's poll, at most one poll interval early.
 */
export class VisibilityTracker {
  /** Per device: poll start times (epoch ms) and the newest observed time seen then, both ascending. */
  private readonly seen = new Map<string, { at: number[]; newest: number[] }>()
  queries = 0
  queryMs = 0

  constructor(
    private readonly influx: InfluxBench,
    /** The quantity and the probe devices followed. */
    private readonly probe: Required<Only>,
    private readonly fromMs: number,
  ) {}

  async poll(): Promise<void> {
    const at = Date.now()
    const newest = await this.influx.newestPerDevice(this.probe, this.windowStart())
    this.queries++
    this.queryMs += Date.now() - at
    for (const [device, time] of newest) {
      const entry = this.seen.get(device) ?? { at: [], newest: [] }
      if (entry.newest.length === 0 || time > entry.newest.at(-1)!) {
        entry.at.push(at)
        entry.newest.push(time)
      }
      this.seen.set(device, entry)
    }
  }

  /** When the point (device, time) was first seen, or undefined when no poll saw it. */
  visibleAt(device: string, time: number): number | undefined {
    const entry = this.seen.get(device)
    if (!entry) return undefined
    let lo = 0
    let hi = entry.newest.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (entry.newest[mid]! >= time) hi = mid
      else lo = mid + 1
    }
    return lo < entry.at.length ? entry.at[lo] : undefined
  }

  /**
   * Latencies (ms) of every stored point of the quantity, given the stored times per device. Points no poll saw
   * (queryable only after the last poll) are charged `lastPollFallback`.
   */
  latencies(stored: Map<string, number[]>, lastPollFallback: number): { sorted: number[]; lastVisibleMs: number } {
    const sorted: number[] = []
    let lastVisibleMs = 0
    for (const [device, times] of stored) {
      for (const time of times) {
        const at = this.visibleAt(device, time) ?? lastPollFallback
        sorted.push(Math.max(0, at - time))
        lastVisibleMs = Math.max(lastVisibleMs, at)
      }
    }
    sorted.sort((a, b) => a - b)
    return { sorted, lastVisibleMs }
  }

  /**
   * Where the next poll starts: the oldest of the devices' newest times, since nothing older is still to be
   * discovered (assuming publish order, above); the step's start while some device has not been seen yet.
   */
  private windowStart(): number {
    if (this.seen.size < this.probe.devices.length) return this.fromMs
    let start = Infinity
    for (const entry of this.seen.values()) start = Math.min(start, entry.newest.at(-1)!)
    return Math.max(this.fromMs, start)
  }
}

/** The q-quantile of an ascending list (nearest rank), 0 when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}
