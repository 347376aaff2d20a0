import { decoderForTopic, wholeMessageRejection, type Candidate, type Decoder, type InboundMessage } from '../../core/decoders/index.ts'
import { RULES, UNKNOWN_DEVICE, type Reading, type Rejection } from '../../core/reading.ts'
import { validateCandidates } from '../../core/validate.ts'

/** What flows through the ingest steps for one message. */
export interface IngestContext {
  message: InboundMessage
  decoder?: Decoder
  candidates: Candidate[]
  readings: Reading[]
  rejections: Rejection[]
}

export type IngestStep = (ctx: IngestContext) => void

export interface PipelineOptions {
  maxPayloadBytes: number
  maxFutureMs: number
  decoders?: readonly Decoder[]
}

/**
 * The ingest path as a list of named steps run in order (after aedes' `publishFuncsQoS`); each step can be
 * tested alone. The last step, handing the result to Kafka or the writer, is the sink's (sinks.ts).
 *   limit    → refuse payloads above maxPayloadBytes (`too_large`)
 *   decode   → the decoder for the topic turns bytes into candidates (`no_decoder`, `json`, `schema`, …)
 *   validate → candidates become readings or per-value rejections (core/validate.ts)
 */
export function createPipeline(options: PipelineOptions): Array<[name: string, step: IngestStep]> {
  return [
    [
      'limit',
      (ctx) => {
        if (ctx.message.payload.length <= options.maxPayloadBytes) return
        const kept = { ...ctx.message, payload: ctx.message.payload.subarray(0, options.maxPayloadBytes) }
        ctx.rejections.push(
          wholeMessageRejection(kept, {
            deviceId: UNKNOWN_DEVICE,
            sourceFormat: 'unknown',
            path: '$',
            rule: RULES.tooLarge,
            message: `payload is ${ctx.message.payload.length} bytes, more than ${options.maxPayloadBytes}; raw holds the first ${options.maxPayloadBytes}`,
          }),
        )
      },
    ],
    [
      'decode',
      (ctx) => {
        if (ctx.rejections.length) return
        ctx.decoder = decoderForTopic(ctx.message.topic, options.decoders)
        if (!ctx.decoder) {
          const reason = { deviceId: UNKNOWN_DEVICE, sourceFormat: 'unknown', path: '$', rule: RULES.noDecoder, message: `no decoder for topic '${ctx.message.topic}'` }
          ctx.rejections.push(wholeMessageRejection(ctx.message, reason))
          return
        }
        const decoded = ctx.decoder.decode(ctx.message)
        ctx.candidates.push(...decoded.candidates)
        ctx.rejections.push(...decoded.rejections)
      },
    ],
    [
      'validate',
      (ctx) => {
        const result = validateCandidates(ctx.message, ctx.candidates, { maxFutureMs: options.maxFutureMs })
        ctx.readings.push(...result.readings)
        ctx.rejections.push(...result.rejections)
      },
    ],
  ]
}

/** Runs every step on one message; never throws for bad input. */
export function runPipeline(steps: Array<[string, IngestStep]>, message: InboundMessage): IngestContext {
  const ctx: IngestContext = { message, candidates: [], readings: [], rejections: [] }
  for (const [, step] of steps) step(ctx)
  return ctx
}
