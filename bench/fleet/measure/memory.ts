import { constants, PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'

/** What the resident memory of a Node process was made of at one moment, in MB. */
export interface MemorySample {
  rssMb: number
  heapTotalMb: number
  heapUsedMb: number
  /** Memory of C++ objects bound to JS objects, Buffers' backing stores included (`arrayBuffersMb` is part of it). */
  externalMb: number
  arrayBuffersMb: number
  /** RSS not accounted for by the V8 heap nor external memory: code, stacks, malloc arenas, libuv, the binary. */
  otherMb: number
  /** Per V8 heap space (new_space, old_space, code_space, large_object_space, …): size and used, MB. */
  spaces: Record<string, { sizeMb: number; usedMb: number }>
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10

/** One sample of this process's memory (`process.memoryUsage()` and `v8.getHeapSpaceStatistics()`). */
export function memorySample(): MemorySample {
  const usage = process.memoryUsage()
  const spaces: MemorySample['spaces'] = {}
  for (const space of getHeapSpaceStatistics()) spaces[space.space_name] = { sizeMb: mb(space.space_size), usedMb: mb(space.space_used_size) }
  return {
    rssMb: mb(usage.rss),
    heapTotalMb: mb(usage.heapTotal),
    heapUsedMb: mb(usage.heapUsed),
    externalMb: mb(usage.external),
    arrayBuffersMb: mb(usage.arrayBuffers),
    otherMb: mb(usage.rss - usage.heapTotal - usage.external),
    spaces,
  }
}

/**
 * Samples this process's memory every `intervalMs` and keeps the sample of the highest RSS, so that a benchmark
 * can say what the peak RSS was made of. `stop(report)` ends the sampling and hands the peak sample over.
 */
export function sampleMemory(intervalMs: number): { stop(report: (peak: MemorySample & { liveAfterMajorGcMb: number }) => void): void } {
  let peak = memorySample()
  // the heap in use just after a full (mark-compact) collection is about what is live; its maximum is the live set
  let liveAfterMajorGcMb = 0
  const gcs = new PerformanceObserver((list) => {
    if (!list.getEntries().some((entry) => (entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) return
    liveAfterMajorGcMb = Math.max(liveAfterMajorGcMb, mb(process.memoryUsage().heapUsed))
  })
  gcs.observe({ entryTypes: ['gc'] })
  const timer = setInterval(() => {
    const sample = memorySample()
    if (sample.rssMb > peak.rssMb) peak = sample
  }, intervalMs)
  timer.unref()
  return {
    stop(report) {
      clearInterval(timer)
      gcs.disconnect()
      report({ ...peak, liveAfterMajorGcMb })
    },
  }
}
