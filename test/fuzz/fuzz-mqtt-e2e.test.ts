import fc from 'fast-check'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { createLogger } from '../../core/logger.ts'
import { pointKey, type Reading, type Rejection } from '../../core/reading.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import type { IngestContext } from '../../services/ingest/pipeline.ts'
import { directSink } from '../../services/ingest/sinks.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { uniqueId } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { mutants, type Mutant } from './mutate.ts'
import { DECODER_SETTINGS, formatSeeds } from './seeds.ts'

/**
 * Fuzzing end to end (README "Fuzzing"): SENSHAGEN_FUZZ_E2E_RUNS (default 500) mutants per device MQTT format, each
 * published at QoS 1 by its own registered device to the real embedded broker (in-broker ingest, direct mode) and
 * stored in a real InfluxDB database of its own. Every publish must get its PUBACK (the broker and ingest survive
 * everything), and afterwards the store must hold exactly what the acknowledged messages yielded: the same reading
 * keys (device, quantity, time), each with a value one of its messages sent (last write wins among resends), and one
 * rejection point per distinct rejection (device, rule, content key, time); the writer lost and refused nothing.
 * HTTP formats go through the same pipeline in fuzz-pipeline.test.ts; their HTTP layer is tested in
 * test/e2e/http-auth.test.ts.
 */
const RUNS = Number(process.env.SENSHAGEN_FUZZ_E2E_RUNS ?? 500)
const SEED = process.env.SENSHAGEN_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SENSHAGEN_FUZZ_SEED ?? 20_261_201)
const logger = createLogger(process.env.SENSHAGEN_FUZZ_LOG ?? 'error')
/** A publish not acknowledged within this is a hang (the harness's bound, not a speed target). */
const PUBACK_BOUND_MS = 20_000
// TTN v3 uplinks arrive from TTN's broker through the subscribed ingest (test/e2e/device-formats.test.ts), not from
// devices on ours; their pipeline is fuzzed in fuzz-pipeline.test.ts
const MQTT_FORMATS = formatSeeds().filter((f) => f.transport === 'mqtt' && f.format !== 'ttn-v3')

/** The registered device allowed to publish on `topic` (core/registry/topic-rights.ts), with its native id. */
function publisher(topic: string): { id: string; nativeId: string } {
  const levels = topic.split('/')
  if (levels[0] === 'senshagen') return { id: levels[3]!, nativeId: levels[3]! }
  if (levels[0] === 'tele' || levels[0] === 'stat') return { id: `tasmota-${levels[1]!.toLowerCase()}`, nativeId: levels[1]! }
  if (levels[1] === 'devices') return { id: levels[2]!, nativeId: levels[2]! }
  const node = levels[0] === 'homeassistant' ? levels[2]! : levels[0]!
  return { id: `esphome-${node}`, nativeId: node }
}

/** The point a rejection is stored as (core/store/schema.ts rejectionToLine: tags device, rule, content digest; time). */
const rejectionKey = (r: Rejection) => JSON.stringify([r.deviceId, r.rule, r.topic, r.raw, r.path, r.value === undefined ? '' : JSON.stringify(r.value), r.observedAt ?? r.receivedAt])

describe(`fuzzing end to end over MQTT (${RUNS} payloads per format, fast-check seed ${SEED})`, () => {
  const db = throwawayDatabase('fuzz', logger)
  let registry: TestRegistry
  let broker: TestBroker
  let writer: ReadingWriter
  const acknowledged: IngestContext[] = []
  const devices = new Map(MQTT_FORMATS.flatMap((f) => f.seeds.map((s) => publisher(s.topic))).map((d) => [d.id, d]))

  beforeAll(async () => {
    registry = await testRegistry([...devices.values()].map((d) => ({ ...d, neighbourhood: 'stadshagen', consent: true })))
    writer = new ReadingWriter(db.store, { batchSize: 1_000, maxInFlight: 2, maxBufferedReadings: 20_000 }, logger)
    const decoders = createDecoders(DECODER_SETTINGS)
    // the fixtures were captured 2018–2026: the age limit is widened as SENSHAGEN_MAX_AGE_MS would
    const core = new IngestCore({ ...loadConfig({}).ingest, maxAgeMs: 30 * 365 * 86_400_000, decoders }, directSink(writer), logger)
    core.on('message', (ctx: IngestContext) => acknowledged.push(ctx))
    const filters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
    // no rate limit: the fuzzer publishes as fast as PUBACKs come (the limit itself is tested in broker-limits.test.ts)
    broker = await testBroker(registry, logger, { limits: { deviceRatePerS: 1_000_000, deviceBurst: 1_000_000 }, ingest: { filters, handle: (message) => core.handle(message) } })
  })

  afterAll(async () => {
    await broker?.close()
    await writer?.close()
    await registry?.close()
  })

  it('every mutant is acknowledged, and the store holds exactly the readings and rejections the acknowledged messages yielded', async () => {
    const maxPacket = loadConfig({}).broker.limits.maxPacketBytes
    const byDevice = new Map<string, Mutant[]>()
    let oversized = 0
    for (const { seeds } of MQTT_FORMATS) {
      for (const mutant of fc.sample(mutants(seeds), { numRuns: RUNS, seed: SEED })) {
        // a packet over the broker's limit closes the connection unacknowledged (broker-limits.test.ts): not a loss
        if (mutant.payload.length + mutant.seed.topic.length + 16 > maxPacket) {
          oversized++
          continue
        }
        const id = publisher(mutant.seed.topic).id
        byDevice.set(id, [...(byDevice.get(id) ?? []), mutant])
      }
    }
    let sent = 0
    const progress = setInterval(() => console.info(`fuzz e2e: ${sent} acknowledged`), 10_000)
    const published = [...byDevice.values()].reduce((n, list) => n + list.length, 0)
    // one connection per device, its mutants in order, each awaiting its PUBACK; devices in parallel
    await Promise.all(
      [...byDevice].map(async ([id, list]) => {
        const client: MqttClient = await broker.device(id, { clientId: uniqueId(id.replace(/[^a-z0-9]/gi, '')) })
        try {
          for (const mutant of list) {
            let timer: NodeJS.Timeout | undefined
            const unanswered = new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no PUBACK within ${PUBACK_BOUND_MS} ms for ${id} on ${mutant.seed.topic} after ${mutant.ops.join(' then ')}`)), PUBACK_BOUND_MS)
            })
            await Promise.race([client.publishAsync(mutant.seed.topic, mutant.payload, { qos: 1 }), unanswered]).finally(() => clearTimeout(timer))
            sent++
          }
        } finally {
          await client.endAsync(true)
        }
      }),
    )
    clearInterval(progress)
    expect(acknowledged.length).toBe(published)

    const expectedReadings = new Map<string, Set<number>>()
    const expectedRejections = new Map<string, Set<string>>()
    for (const ctx of acknowledged) {
      for (const r of ctx.readings as Reading[]) expectedReadings.set(pointKey(r), (expectedReadings.get(pointKey(r)) ?? new Set()).add(r.value))
      for (const r of ctx.rejections) expectedRejections.set(r.rule, (expectedRejections.get(r.rule) ?? new Set()).add(rejectionKey(r)))
    }
    const stored = new Map<string, number>()
    for (const series of await db.store.influxql('SELECT "value" FROM "reading" GROUP BY "device", "quantity"')) {
      for (const [time, value] of series.values as Array<[number, number]>) stored.set(pointKey({ deviceId: series.tags!.device!, quantity: series.tags!.quantity! as Reading['quantity'], observedAt: time }), value)
    }
    expect([...stored.keys()].sort()).toEqual([...expectedReadings.keys()].sort())
    const foreign = [...stored].filter(([key, value]) => !expectedReadings.get(key)!.has(value))
    expect(foreign).toEqual([])

    const rejectionCounts = Object.fromEntries((await db.store.influxql('SELECT count("message") FROM "rejection" GROUP BY "rule"')).map((s) => [s.tags!.rule!, s.values[0]![1] as number]))
    expect(rejectionCounts).toEqual(Object.fromEntries([...expectedRejections].map(([rule, keys]) => [rule, keys.size])))
    expect({ lost: writer.stats.lost, refused: writer.stats.refused }).toEqual({ lost: 0, refused: 0 })

    const readings = acknowledged.reduce((n, c) => n + c.readings.length, 0)
    const rejections = acknowledged.reduce((n, c) => n + c.rejections.length, 0)
    console.info(`fuzz e2e: ${JSON.stringify({ published, oversized, readings, readingPoints: stored.size, rejections, rejectionPoints: Object.values(rejectionCounts).reduce((a: number, b) => a + b, 0) })}`)
    expect(readings).toBeGreaterThan(0)
    expect(rejections).toBeGreaterThan(0)
  }, 180_000)
})
