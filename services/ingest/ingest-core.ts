import { EventEmitter } from 'node:events'
import type { InboundMessage } from '../../core/decoders/index.ts'
import { reportUndrained } from '../../core/drain.ts'
import type { Logger } from '../../core/logger.ts'
import { recordIngest } from '../../core/metrics.ts'
import { RULES } from '../../core/reading.ts'
import { SchemaDriftTracker, type SchemaChangeRecord } from '../../core/schema-drift.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { createPipeline, runPipeline, type IngestContext, type PipelineOptions } from './pipeline.ts'
import type { IngestSink } from './sinks.ts'

export interface IngestStats {
  messages: number
  readings: number
  rejections: number
  events: number
  /** Messages that yielded nothing on purpose, by reason (TTN join, stale retained state, …). */
  skipped: Record<string, number>
  /** Metadata keys recognised and not stored, per device (airrohr signal, TTN battery, …). */
  ignoredKeys: Record<string, number>
}

/**
 * The ingest shared by every way in (the embedded broker's publish hook, MQTT subscriptions, the HTTP
 * endpoint): runs the pipeline on a message
 * and resolves once the sink acknowledged what came out of it, so the caller may acknowledge the source
 * (MQTT PUBACK, HTTP 200). Events: `message` (IngestContext) after each acknowledged message.
 *
 * `history`, when given, reads the stored `schema_change` events back (loadSchemaHistory) before the first message is
 * handled, so a restarted ingest does not record every device's schema again (core/schema-drift.ts). If it fails,
 * one warn line says so and the ingest starts without history (each device's next message records `first: true`).
 * A message dead-lettered whole for its shape (`too_large`, `too_deep`) logs one warn line: topic, rule and size,
 * never the payload (a dead letter is kept, not lost).
 */
export class IngestCore extends EventEmitter {
  readonly stats: IngestStats = { messages: 0, readings: 0, rejections: 0, events: 0, skipped: {}, ignoredKeys: {} }
  private readonly steps
  private readonly ready: Promise<void>

  constructor(
    readonly options: PipelineOptions,
    private readonly sink: IngestSink,
    private readonly logger: Logger,
    history?: () => Promise<Iterable<SchemaChangeRecord>>,
  ) {
    super()
    const drift = options.drift ?? new SchemaDriftTracker()
    this.steps = createPipeline({ ...options, drift })
    this.ready = history === undefined ? Promise.resolve() : this.seed(drift, history)
  }

  async handle(message: InboundMessage): Promise<IngestContext> {
    await this.ready
    const ctx = runPipeline(this.steps, message)
    await this.sink.accept({ readings: ctx.readings, rejections: ctx.rejections, events: ctx.events }).catch((error: unknown) => {
      recordIngest(ctx, true)
      throw error
    })
    recordIngest(ctx)
    const whole = ctx.rejections.find((r) => r.rule === RULES.tooDeep || r.rule === RULES.tooLarge)
    if (whole) this.logger.warn({ topic: message.topic, rule: whole.rule, bytes: message.payload.length }, 'message dead-lettered whole')
    this.stats.messages++
    this.stats.readings += ctx.readings.length
    this.stats.rejections += ctx.rejections.length
    this.stats.events += ctx.events.length
    if (ctx.skipped) {
      this.stats.skipped[ctx.skipped] = (this.stats.skipped[ctx.skipped] ?? 0) + 1
      this.logger.debug({ topic: message.topic, skipped: ctx.skipped }, 'message skipped')
    }
    for (const i of ctx.ignored) this.stats.ignoredKeys[i.deviceId] = (this.stats.ignoredKeys[i.deviceId] ?? 0) + 1
    this.emit('message', ctx)
    return ctx
  }

  /**
   * Closes the sink. With `deadline` (graceful shutdown, epoch ms, core/drain.ts) it first waits until the sink
   * acknowledged everything accepted (the pending batch flushed) or the deadline passed; what is left then is
   * logged at error level and counted (reportUndrained) before the sink rejects it.
   */
  async close(deadline?: number): Promise<void> {
    if (deadline !== undefined && this.sink.drain) reportUndrained(this.logger, 'ingest_sink', await this.sink.drain(deadline), 'records')
    await this.sink.close()
  }

  private async seed(drift: SchemaDriftTracker, history: () => Promise<Iterable<SchemaChangeRecord>>): Promise<void> {
    try {
      const devices = drift.seed(await history())
      this.logger.info({ devices }, 'schema drift state read back from the store')
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read schema drift state back: every device records its schema again')
    }
  }
}

/**
 * Every stored `schema_change` event (measurement device_event), oldest first per device, for SchemaDriftTracker.seed.
 * One store query at start; a device has one event per actual change, so this stays small. A database that
 * does not exist yet (first start) has no history: []. Errors: the store's, otherwise.
 */
export async function loadSchemaHistory(store: Pick<ReadingStore, 'deviceEvents'>): Promise<SchemaChangeRecord[]> {
  const events = await store.deviceEvents({ kinds: ['schema_change'] }).catch((error: unknown) => {
    // a first start: the writer (Kafka mode) has not created the database yet, so nothing was recorded
    if (error instanceof Error && /database not found/.test(error.message)) return []
    throw error
  })
  return events.map((e) => ({ deviceId: e.deviceId, detail: e.detail }))
}
