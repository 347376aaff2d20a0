import { decoderForTopic, wholeMessageRejection, type Candidate, type Decoder, type InboundMessage } from '../../core/decoders/index.ts'
import { QualityFlagger } from '../../core/quality.ts'
import { RULES, UNKNOWN_DEVICE, type DeviceEvent, type Reading, type Rejection } from '../../core/reading.ts'
import { SchemaDriftTracker } from '../../core/schema-drift.ts'
import { memoByTopic } from '../../core/topics.ts'
import { validateCandidates } from '../../core/validate.ts'

/** What flows through the ingest steps for one message. */
export interface IngestContext {
  message: InboundMessage
  decoder?: Decoder
  candidates: Candidate[]
  ignored: Array<{ deviceId: string; path: string; type: string }>
  readings: Reading[]
  rejections: Rejection[]
  events: DeviceEvent[]
  /** Why the message yielded nothing on purpose (TTN join, stale retained ESPHome state, …). */
  skipped?: string
}

export type IngestStep = (ctx: IngestContext) => void

export interface PipelineOptions {
  maxPayloadBytes: number
  maxFutureMs: number
  /** Replaces the maxAgeMs of live decoders (Decoder.maxAgeMs); undefined keeps theirs. */
  maxAgeMs?: number
  decoders: readonly Decoder[]
}

/**
 * The ingest path as a list of named steps run in order (after aedes' `publishFuncsQoS`); each step can be
 * tested alone. The last step, handing the result to Kafka or the writer, is the sink's (sinks.ts).
 *   limit    → refuse payloads above maxPayloadBytes (`too_large`)
 *   decode   → the decoder for the topic turns bytes into candidates, events and ignored keys (`no_decoder`, …)
 *   validate → candidates become readings or per-value rejections (core/validate.ts)
 *   quality  → quality flags on the readings (core/quality.ts); keeps per-series history
 *   drift    → schema-change events per device (core/schema-drift.ts); keeps per-device key types
 */
export function createPipeline(options: PipelineOptions): Array<[name: string, step: IngestStep]> {
  const flagger = new QualityFlagger()
  const drift = new SchemaDriftTracker()
  const decoderFor = memoByTopic((topic) => decoderForTopic(topic, options.decoders))
  const reject = (ctx: IngestContext, rule: string, message: string, payload = ctx.message) =>
    ctx.rejections.push(wholeMessageRejection(payload, { deviceId: UNKNOWN_DEVICE, sourceFormat: 'unknown', path: '$', rule, message }))
  return [
    [
      'limit',
      (ctx) => {
        const size = ctx.message.payload.length
        if (size <= options.maxPayloadBytes) return
        const kept = { ...ctx.message, payload: ctx.message.payload.subarray(0, options.maxPayloadBytes) }
        reject(ctx, RULES.tooLarge, `payload is ${size} bytes, more than ${options.maxPayloadBytes}; raw holds the first ${options.maxPayloadBytes}`, kept)
      },
    ],
    [
      'decode',
      (ctx) => {
        if (ctx.rejections.length) return
        ctx.decoder = decoderFor(ctx.message.topic)
        if (!ctx.decoder) return void reject(ctx, RULES.noDecoder, `no decoder for topic '${ctx.message.topic}'`)
        const decoded = ctx.decoder.decode(ctx.message)
        ctx.candidates.push(...decoded.candidates)
        ctx.rejections.push(...decoded.rejections)
        ctx.events.push(...(decoded.events ?? []))
        ctx.ignored.push(...(decoded.ignored ?? []))
        ctx.skipped = decoded.skipped
      },
    ],
    [
      'validate',
      (ctx) => {
        const live = ctx.decoder?.maxAgeMs
        const maxAgeMs = live === undefined ? undefined : (options.maxAgeMs ?? live)
        const result = validateCandidates(ctx.message, ctx.candidates, { maxFutureMs: options.maxFutureMs, maxAgeMs })
        ctx.readings.push(...result.readings)
        ctx.rejections.push(...result.rejections)
      },
    ],
    ['quality', (ctx) => flagger.flag(ctx.readings)],
    ['drift', (ctx) => ctx.events.push(...drift.observe({ candidates: ctx.candidates, ignored: ctx.ignored }, ctx.message.topic, ctx.message.receivedAt, ctx.decoder?.format))],
  ]
}

/** Runs every step on one message; never throws for bad input. */
export function runPipeline(steps: Array<[string, IngestStep]>, message: InboundMessage): IngestContext {
  const ctx: IngestContext = { message, candidates: [], ignored: [], readings: [], rejections: [], events: [] }
  for (const [, step] of steps) step(ctx)
  return ctx
}
