import { AUTHENTICATED_DEVICE_HEADER } from '../../core/decoders/decoder.ts'
import { decoderForTopic, wholeMessageRejection, type Candidate, type Decoder, type InboundMessage } from '../../core/decoders/index.ts'
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../core/lenient-json.ts'
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
  /** The schema-drift state (core/schema-drift.ts); default a fresh one. IngestCore passes one it seeds from the store. */
  drift?: SchemaDriftTracker
}

/**
 * The ingest path as a list of named steps run in order (after aedes' `publishFuncsQoS`); each step can be
 * tested alone. The last step, handing the result to Kafka or the writer, is the sink's (sinks.ts).
 *   limit    → refuse payloads above maxPayloadBytes (`too_large`)
 *   depth    → refuse payloads nesting brackets deeper than MAX_JSON_DEPTH (`too_deep`, core/lenient-json.ts), before
 *              anything parses or walks them: a 5,000-deep body would otherwise overflow the stack of whatever
 *              recursion meets it first (JSON.stringify of a rejection value, zod, redaction)
 *   decode   → the decoder for the topic turns bytes into candidates, events and ignored keys (`no_decoder`, …)
 *   validate → candidates become readings or per-value rejections (core/validate.ts), one value per device,
 *              quantity and time (`duplicate_time`)
 *   quality  → quality flags on the readings (core/quality.ts); keeps per-series history
 *   drift    → schema-change events per device (core/schema-drift.ts); keeps per-device key types
 *   seal     → every rejection's `value` is one the store can JSON.stringify; one that is not (cannot happen after
 *              `depth`; a defence for decoders to come) is dropped with a note in `message`, the raw bytes stay.
 *              More than MAX_REJECTIONS_PER_MESSAGE rejections become one `too_many_rejections` rejection listing
 *              each as [path, rule, value]: every rejection stores the raw payload, so 20,000 rejected values of a
 *              250 KB message would write 5 GB; the readings of the message are stored as usual
 * A whole-message rejection (too_large, too_deep, no_decoder) stops the steps after it from reading the payload; it
 * names the device the HTTP layer authenticated (`:device` header), else `unknown`.
 */
export function createPipeline(options: PipelineOptions): Array<[name: string, step: IngestStep]> {
  const flagger = new QualityFlagger()
  const drift = options.drift ?? new SchemaDriftTracker()
  const decoderFor = memoByTopic((topic) => decoderForTopic(topic, options.decoders))
  // before decoding, the device is known only when the HTTP layer authenticated it
  const reject = (ctx: IngestContext, rule: string, message: string, payload = ctx.message) => {
    const deviceId = ctx.message.headers?.[AUTHENTICATED_DEVICE_HEADER] ?? UNKNOWN_DEVICE
    ctx.rejections.push(wholeMessageRejection(payload, { deviceId, sourceFormat: 'unknown', path: '$', rule, message }))
  }
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
      'depth',
      (ctx) => {
        if (ctx.rejections.length || !nestsDeeperThan(ctx.message.payload)) return
        reject(ctx, RULES.tooDeep, `payload nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels; raw holds it`)
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
    [
      'seal',
      (ctx) => {
        ctx.rejections.forEach((rejection, i) => (ctx.rejections[i] = sealed(rejection)))
        if (ctx.rejections.length > MAX_REJECTIONS_PER_MESSAGE) ctx.rejections.splice(0, Infinity, summarised(ctx.rejections))
      },
    ],
  ]
}

/**
 * The most rejections one message keeps one by one: 100, four times the most values a real message carries (an
 * airrohr push with every sensor: about 25). Only a pathological or misconfigured message exceeds it, e.g. an
 * openSenseMap batch (up to 2,500 values) from a box whose sensors are not configured.
 */
export const MAX_REJECTIONS_PER_MESSAGE = 100

/** One rejection standing for many of one message: their count per rule in `message`, each as [path, rule, value] in `value`. */
function summarised(rejections: Rejection[]): Rejection {
  const first = rejections[0]!
  const rules = new Map<string, number>()
  for (const r of rejections) rules.set(r.rule, (rules.get(r.rule) ?? 0) + 1)
  const counts = [...rules].map(([rule, n]) => `${rule} ${n}`).join(', ')
  const { observedAt: _observedAt, ...base } = first
  return {
    ...base,
    path: '$',
    rule: RULES.tooManyRejections,
    message: `${rejections.length} values rejected (${counts}), more than ${MAX_REJECTIONS_PER_MESSAGE}: value lists each as [path, rule, value]; raw holds the message`,
    value: rejections.map((r) => [r.path, r.rule, r.value ?? null]),
  }
}

/** The rejection itself when its value JSON.stringifies; else the same without value, saying why. */
function sealed(rejection: Rejection): Rejection {
  if (rejection.value === undefined) return rejection
  try {
    JSON.stringify(rejection.value)
    return rejection
  } catch (error) {
    const { value: _dropped, ...rest } = rejection
    return { ...rest, message: `${rejection.message} (value not kept: ${(error as Error).message}; raw holds it)` }
  }
}

/** Runs every step on one message; never throws for bad input. */
export function runPipeline(steps: Array<[string, IngestStep]>, message: InboundMessage): IngestContext {
  const ctx: IngestContext = { message, candidates: [], ignored: [], readings: [], rejections: [], events: [] }
  for (const [, step] of steps) step(ctx)
  return ctx
}
