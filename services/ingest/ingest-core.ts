import { EventEmitter } from 'node:events'
import type { InboundMessage } from '../../core/decoders/index.ts'
import type { Logger } from '../../core/logger.ts'
import { recordIngest } from '../../core/metrics.ts'
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
 */
export class IngestCore extends EventEmitter {
  readonly stats: IngestStats = { messages: 0, readings: 0, rejections: 0, events: 0, skipped: {}, ignoredKeys: {} }
  private readonly steps

  constructor(
    readonly options: PipelineOptions,
    private readonly sink: IngestSink,
    private readonly logger: Logger,
  ) {
    super()
    this.steps = createPipeline(options)
  }

  async handle(message: InboundMessage): Promise<IngestContext> {
    const ctx = runPipeline(this.steps, message)
    await this.sink.accept({ readings: ctx.readings, rejections: ctx.rejections, events: ctx.events }).catch((error: unknown) => {
      recordIngest(ctx, true)
      throw error
    })
    recordIngest(ctx)
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

  close(): Promise<void> {
    return this.sink.close()
  }
}
