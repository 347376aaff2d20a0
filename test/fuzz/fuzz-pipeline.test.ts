import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { createPipeline } from '../../services/ingest/pipeline.ts'
import { asDelivered, carriesNoValue, FuzzFailure, judge, judgeFile, type Outcome } from './harness.ts'
import { mutants } from './mutate.ts'
import { DECODER_SETTINGS, formatSeeds } from './seeds.ts'

/**
 * Fuzzing (issue 10 item 5; README "Fuzzing"): per source format, SENSHAGEN_FUZZ_RUNS (default 10,000) malformed
 * payloads mutated from the real fixtures (./mutate.ts) through the ingest pipeline's steps, each judged by the
 * oracle in ./harness.ts: no throw, no hang, every value a reading or a rejection with a rule and reason, nothing
 * silently dropped. The fast-check seed is fixed (SENSHAGEN_FUZZ_SEED overrides it; `random` picks one and
 * prints it), so a failure replays exactly.
 */
const RUNS = Number(process.env.SENSHAGEN_FUZZ_RUNS ?? 10_000)
const SEED = process.env.SENSHAGEN_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SENSHAGEN_FUZZ_SEED ?? 20_261_201)
/** Receipt time of every message; the fixtures were captured 2018–2026, so the age limit is widened to 30 years. */
const RECEIVED = Date.UTC(2026, 11, 1)
const MAX_AGE_MS = 30 * 365 * 86_400_000

describe(`fuzzing the ingest pipeline (${RUNS} payloads per format, fast-check seed ${SEED})`, () => {
  for (const { format, seeds, transport } of formatSeeds()) {
    it(`${format}: every malformed payload is stored or dead-lettered with a rule, none crashes, hangs or vanishes`, () => {
      const steps = createPipeline({ ...loadConfig({}).ingest, maxAgeMs: MAX_AGE_MS, decoders: createDecoders(DECODER_SETTINGS) })
      const totals = { payloads: 0, readings: 0, rejections: 0, events: 0, empty: 0, slowestMs: 0 }
      const count = (o: Outcome) => {
        totals.readings += o.readings
        totals.rejections += o.rejections
        totals.events += o.events
        totals.slowestMs = Math.max(totals.slowestMs, o.ms)
      }
      fc.assert(
        fc.property(mutants(seeds), (mutant) => {
          totals.payloads++
          if (transport === 'file') return void judgeFile(steps, format, mutant.payload.toString('utf8'), RECEIVED, mutant).forEach(count)
          const message = asDelivered({ topic: mutant.seed.topic, payload: mutant.payload, receivedAt: RECEIVED, headers: mutant.seed.headers, qos: 1 })
          const outcome = judge(steps, message, mutant)
          count(outcome)
          if (!outcome.empty) return
          totals.empty++
          if (!carriesNoValue(message.payload, message.topic)) throw new FuzzFailure(`silently dropped: no reading, rejection, event, skip or ignored key after ${mutant.ops.join(' then ')}: ${message.payload.subarray(0, 300).toString()}`)
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: process.env.SENSHAGEN_FUZZ_SHRINK !== '1' },
      )
      console.info(`fuzz ${format}: ${JSON.stringify({ ...totals, slowestMs: Math.round(totals.slowestMs) })}`)
      // the generators reach both sides: mutants that still decode, and mutants that are dead-lettered
      expect(totals.payloads).toBe(RUNS)
      expect(totals.readings).toBeGreaterThan(0)
      expect(totals.rejections).toBeGreaterThan(0)
    }, 600_000)
  }
})
