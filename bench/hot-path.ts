/**
 * The direct mode's JavaScript hot path in one process, without sockets: native v1 messages through the ingest
 * (IngestCore: limit, depth, decode, validate, quality, drift, seal) into the InfluxDB writer (ReadingWriter:
 * group commit, conflict detection) over a store that builds each request's body as InfluxStore does
 * (`batchToLines(batch).join('\n')`) and acknowledges it a few milliseconds later instead of POSTing it. About
 * `window` messages are in flight at once (the fleet benchmark's 100 devices × 100), so the live set resembles
 * the broker's. It measures what `npm run bench` cannot on a shared machine: CPU and garbage-collection time per
 * 1,000 readings of our own code, and the heap, with nothing else of the process in the way.
 *
 *   npx tsx bench/hot-path.ts [messages=100000] [window=10000]
 *   node --heap-growing-percent=25 --import tsx bench/hot-path.ts      # with bin/runtime.js's setting
 *
 * Prints one JSON line: CPU s and GC s per 1,000 readings, GC pauses by kind, peak RSS and heap. A/B: run it
 * from two worktrees alternately (docs/benchmarks.md, 2 December 2026).
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDecoders } from '../core/decoders/index.ts'
import { createLogger } from '../core/logger.ts'
import { batchToLines } from '../core/store/schema.ts'
import { ReadingWriter } from '../core/store/reading-writer.ts'
import type { ReadingStore, WriteBatch } from '../core/store/store.ts'
import { readingsTopic } from '../core/topics.ts'
import { IngestCore } from '../services/ingest/ingest-core.ts'
import { directSink } from '../services/ingest/sinks.ts'

const MESSAGES = Number(process.argv[2] ?? 100_000)
const WINDOW = Number(process.argv[3] ?? 10_000)
const DEVICES = 100
const STORE_MS = 5

let bodyBytes = 0
// what InfluxStore.write does before its POST; the POST itself is replaced by a short wait
const store = {
  async write(batch: WriteBatch) {
    bodyBytes += batchToLines(batch).join('\n').length
    await sleep(STORE_MS)
  },
} as unknown as ReadingStore
const logger = createLogger('error')
const writer = new ReadingWriter(store, { batchSize: 5_000, maxInFlight: 4, maxBufferedReadings: 100_000 }, logger)
const ingest = new IngestCore({ maxPayloadBytes: 64 * 1024, maxFutureMs: 10 * 60_000, decoders: createDecoders() }, directSink(writer), logger)

// the fleet benchmark's message: a device's five quantities at one time (bench/fleet/load/generator.ts)
const topics = Array.from({ length: DEVICES }, (_, d) => readingsTopic(`bench-${String(d).padStart(3, '0')}`))
const T0 = Date.now() - 60_000
function message(i: number) {
  const device = i % DEVICES
  // one observed time per device and message (ms apart), so no message is a conflicting resend of another
  const time = new Date(T0 + Math.floor(i / DEVICES)).toISOString()
  const t = 5 + (i % 97) / 10
  const payload = `{"v":1,"device":"bench-${String(device).padStart(3, '0')}","time":"${time}","sensor":"BME280+SDS011","readings":{"air_temperature":${t},"relative_humidity":${80 + (i % 13)},"air_pressure":1012.25,"pm2_5":${7 + (i % 5)},"pm10":${12 + (i % 7)}}}`
  return { topic: topics[device]!, payload: Buffer.from(payload), receivedAt: Date.now(), qos: 1 as const }
}

const gc = { s: 0, count: 0, byKind: {} as Record<string, number> }
const kinds: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.s += entry.duration / 1000
    gc.count++
    const kind = kinds[(entry as PerformanceEntry & { detail: { kind: number } }).detail.kind] ?? 'other'
    gc.byKind[kind] = (gc.byKind[kind] ?? 0) + entry.duration / 1000
  }
}).observe({ entryTypes: ['gc'] })
let peak = { rss: 0, heapUsed: 0 }
const sampler = setInterval(() => {
  const m = process.memoryUsage()
  if (m.rss > peak.rss) peak = { rss: m.rss, heapUsed: m.heapUsed }
}, 50)

async function run(count: number, first = 0): Promise<number> {
  let next = first
  count += first
  let readings = 0
  const lane = async () => {
    while (next < count) {
      const ctx = await ingest.handle(message(next++))
      readings += ctx.readings.length
    }
  }
  await Promise.all(Array.from({ length: WINDOW }, lane))
  return readings
}

await run(Math.min(10_000, MESSAGES), 10_000_000) // warm-up: optimised code, steady heap
gc.s = gc.count = 0
gc.byKind = {}
const cpu0 = process.cpuUsage()
const wall0 = performance.now()
const readings = await run(MESSAGES)
const wallS = (performance.now() - wall0) / 1000
const cpu = process.cpuUsage(cpu0)
clearInterval(sampler)
await writer.close()
const per1k = (s: number) => Number(((s / readings) * 1000).toFixed(4))
console.log(
  JSON.stringify({
    messages: MESSAGES,
    readings,
    window: WINDOW,
    execArgv: process.execArgv.filter((a) => !a.includes('tsx')),
    readingsPerS: Math.round(readings / wallS),
    cpuSPer1k: per1k((cpu.user + cpu.system) / 1e6),
    gcSPer1k: per1k(gc.s),
    // GC pauses are wall time (a descheduled pause counts whole): compare runs of one moment, not to cpuSPer1k
    gcShareOfWall: Number((gc.s / wallS).toFixed(3)),
    gcSByKind: Object.fromEntries(Object.entries(gc.byKind).map(([k, v]) => [k, Number(v.toFixed(2))])),
    gcCount: gc.count,
    peakRssMb: Math.round(peak.rss / 2 ** 20),
    heapUsedAtPeakMb: Math.round(peak.heapUsed / 2 ** 20),
    bodyMb: Math.round(bodyBytes / 2 ** 20),
    loadAverage: (await import('node:os')).loadavg().map((l) => Number(l.toFixed(1))),
  }),
)
process.exit(0)
