import { performance } from 'node:perf_hooks'
import type { InboundMessage } from '../../core/decoders/decoder.ts'
import { parseMeetJeStadJson } from '../../core/decoders/meetjestad.ts'
import type { ArchiveRecord, ArchiveRowRejection } from '../../core/decoders/sc-archive.ts'
import { parseDataApiJson } from '../../core/decoders/sc-data-api.ts'
import { ReadingSchema, RejectionSchema, RULES } from '../../core/reading.ts'
import { readingToLine, rejectionToLine } from '../../core/store/schema.ts'
import { formatIsoMs } from '../../core/time.ts'
import { deviceFromReadingsTopic, readingsTopic } from '../../core/topics.ts'
import { HTTP_ROUTES } from '../../services/ingest/http-routes.ts'
import { MAX_REJECTIONS_PER_MESSAGE, type IngestContext, type IngestStep } from '../../services/ingest/pipeline.ts'
import type { Mutant } from './mutate.ts'

/**
 * The fuzzing oracle: runs one payload through the ingest's steps (services/ingest/pipeline.ts, the entry point of
 * the broker's and the HTTP ingest's path) and throws a FuzzFailure naming the broken promise, else returns what
 * became of it. The promises, for every payload:
 * - no step throws, and the whole pipeline returns within PAYLOAD_BUDGET_MS (a hang or a pathological slowdown);
 * - every value a decoder found is accounted for: the validate step turns each candidate into exactly one reading
 *   or one rejection; when the seal step folds more than MAX_REJECTIONS_PER_MESSAGE rejections into one
 *   `too_many_rejections`, that one lists every one of them;
 * - every reading is a valid Reading with a finite value, and its line-protocol line can be built; every
 *   rejection is a valid Rejection with a known rule and a message (its path may be empty: a weather-station
 *   parameter without a name), and its line can be built (a line that
 *   cannot be built would be lost between the PUBACK and the store);
 * - the message yields something: readings, rejections, device events, a skip reason or recognised metadata keys.
 *   A message that yields none of these is `empty`; the caller checks that it carried no value (see
 *   carriesNoValue).
 */
export const PAYLOAD_BUDGET_MS = 2_000

export class FuzzFailure extends Error {}

export interface Outcome {
  readings: number
  rejections: number
  events: number
  candidates: number
  empty: boolean
  ms: number
}

const KNOWN_RULES = new Set<string>(Object.values(RULES))

/** What the HTTP ingest does to a message before the pipeline (http-routes.ts `prepare`: positions removed). */
export function asDelivered(message: InboundMessage): InboundMessage {
  const route = HTTP_ROUTES.find((r) => r.topic === message.topic && r.prepare)
  return route?.prepare ? route.prepare(message) : message
}

export function judge(steps: ReadonlyArray<[string, IngestStep]>, message: InboundMessage, mutant?: Mutant): Outcome {
  const fail = (promise: string, detail: unknown = '') => {
    const what = mutant ? ` after ${mutant.ops.join(' then ')} of a ${mutant.seed.topic} seed` : ''
    const head = message.payload.subarray(0, 300).toString('utf8')
    throw new FuzzFailure(`${promise}${what}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}\n  topic ${message.topic}, ${message.payload.length} bytes: ${JSON.stringify(head)}`)
  }
  const ctx: IngestContext = { message, candidates: [], ignored: [], readings: [], rejections: [], events: [] }
  const started = performance.now()
  let beforeSeal = 0
  for (const [name, step] of steps) {
    const readings = ctx.readings.length
    const rejections = ctx.rejections.length
    if (name === 'seal') beforeSeal = ctx.rejections.length
    try {
      step(ctx)
    } catch (error) {
      fail(`step '${name}' threw`, String((error as Error).stack ?? error).slice(0, 600))
    }
    if (name === 'validate' && ctx.readings.length - readings + ctx.rejections.length - rejections !== ctx.candidates.length) {
      fail('validate lost or doubled a value', { candidates: ctx.candidates.length, readings: ctx.readings.length - readings, rejections: ctx.rejections.length - rejections })
    }
  }
  const ms = performance.now() - started
  if (ms > PAYLOAD_BUDGET_MS) fail(`took ${Math.round(ms)} ms, more than ${PAYLOAD_BUDGET_MS}`)

  if (beforeSeal > MAX_REJECTIONS_PER_MESSAGE) {
    const [summary] = ctx.rejections
    if (ctx.rejections.length !== 1 || summary!.rule !== RULES.tooManyRejections || (summary!.value as unknown[]).length !== beforeSeal) {
      fail('too_many_rejections does not list every rejection', { before: beforeSeal, after: ctx.rejections.map((r) => r.rule) })
    }
  }
  for (const reading of ctx.readings) {
    const parsed = ReadingSchema.safeParse(reading)
    if (!parsed.success || !Number.isFinite(reading.value)) fail('invalid reading', { reading, issues: parsed.error?.issues })
    try {
      readingToLine(reading)
    } catch (error) {
      fail('reading has no line protocol', { reading, error: String(error) })
    }
  }
  for (const rejection of ctx.rejections) {
    const parsed = RejectionSchema.safeParse(rejection)
    if (!parsed.success || !KNOWN_RULES.has(rejection.rule) || rejection.message.length === 0) {
      fail('invalid rejection', { rule: rejection.rule, path: rejection.path, message: rejection.message, issues: parsed.error?.issues })
    }
    try {
      rejectionToLine(rejection)
    } catch (error) {
      fail('rejection has no line protocol', { rule: rejection.rule, path: rejection.path, error: String(error).slice(0, 300) })
    }
  }
  const empty = !ctx.readings.length && !ctx.rejections.length && !ctx.events.length && !ctx.skipped && !ctx.ignored.length
  return { readings: ctx.readings.length, rejections: ctx.rejections.length, events: ctx.events.length, candidates: ctx.candidates.length, empty, ms }
}

/** The JSON file formats `senshagen replay` reads (cli/replay.ts), by format name. */
export const FILE_PARSERS: Record<string, (text: string) => { records: ArchiveRecord[]; rejections: ArchiveRowRejection[] }> = {
  'sc-data-api': parseDataApiJson,
  'meetjestad-data-api': parseMeetJeStadJson,
}

/**
 * The JSON file path of `senshagen replay` (cli/replay.ts): the file is parsed into records and row rejections
 * without throwing, each entry of the file becoming exactly one of them, and each record is published as a native v1
 * payload, judged like any message. Returns the messages' outcomes.
 */
export function judgeFile(steps: ReadonlyArray<[string, IngestStep]>, format: string, text: string, receivedAt: number, mutant?: Mutant): Outcome[] {
  let parsed: ReturnType<(typeof FILE_PARSERS)[string]>
  try {
    parsed = FILE_PARSERS[format]!(text)
  } catch (error) {
    throw new FuzzFailure(`${format} parser threw${mutant ? ` after ${mutant.ops.join(' then ')}` : ''}: ${String((error as Error).stack ?? error).slice(0, 600)}`)
  }
  const { records, rejections } = parsed
  let entries = 1
  try {
    const json: unknown = JSON.parse(text)
    entries = Array.isArray(json) ? json.length : 1
  } catch {
    // not JSON: one rejection for the file
  }
  if (records.length + rejections.length !== entries) {
    throw new FuzzFailure(`${format}: ${entries} entries became ${records.length} records and ${rejections.length} rejections${mutant ? ` after ${mutant.ops.join(' then ')}` : ''}`)
  }
  return records.map((record) => {
    // as cli/replay.ts publishes a record
    const payload = { v: 1, device: record.deviceId, time: formatIsoMs(record.observedAt), sensor: record.sensorModel, readings: record.readings, ...(Object.keys(record.units).length ? { units: record.units } : {}) }
    return judge(steps, { topic: readingsTopic(record.deviceId), payload: Buffer.from(JSON.stringify(payload)), receivedAt }, mutant)
  })
}

/**
 * True when an `empty` outcome is honest: the payload held no value that could have been a measurement, i.e. no
 * JSON number or numeric string (for text payloads, no digit at all). A message with a value that yields nothing at
 * all was silently dropped. For native v1 only `readings` counts: the envelope allows other keys by design
 * (docs/native-payload-v1.schema.json has no additionalProperties: false) and ignores them, uncounted (README
 * "Fuzzing" names this).
 */
export function carriesNoValue(payload: Buffer, topic: string): boolean {
  const text = payload.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return !/\d/.test(text)
  }
  if (deviceFromReadingsTopic(topic) !== undefined) json = typeof json === 'object' && json !== null ? (json as { readings?: unknown }).readings : undefined
  const stack = [json]
  while (stack.length) {
    const node = stack.pop()
    if (typeof node === 'number') return false
    if (typeof node === 'string' && node.trim() !== '' && Number.isFinite(Number(node))) return false
    if (typeof node === 'object' && node !== null) stack.push(...Object.values(node))
  }
  return true
}
