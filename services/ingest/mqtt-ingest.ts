import { EventEmitter } from 'node:events'
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from '../../core/logger.ts'
import { DECODERS, type Decoder } from '../../core/decoders/index.ts'
import { createPipeline, runPipeline, type PipelineOptions } from './pipeline.ts'
import type { IngestSink } from './sinks.ts'

export interface MqttIngestOptions extends PipelineOptions {
  url: string
  clientId: string
  username?: string
  password?: string
}

export interface IngestStats {
  messages: number
  readings: number
  rejections: number
}

/**
 * Subscribes to a MQTT 3.1.1 broker (our aedes broker, Mosquitto, …) and runs every message through the
 * pipeline into the sink.
 *
 * At-least-once: the session is persistent (clean = false, fixed client id) and every decoder's topic is
 * subscribed at QoS 1. mqtt.js sends the PUBACK only when `handleMessage`'s callback runs, and we run it
 * only after the sink acknowledged; until then the broker keeps the message and redelivers it after a crash
 * [MQTT-4.3.2], and while offline the broker queues QoS 1 messages for the session [MQTT-3.1.2-5].
 * Messages are handled one at a time in arrival order, which is also the backpressure towards the broker.
 *
 * Events: `message` (IngestContext) after each message was acknowledged.
 */
export class MqttIngest extends EventEmitter {
  readonly stats: IngestStats = { messages: 0, readings: 0, rejections: 0 }
  private client?: MqttClient
  private readonly steps
  private readonly decoders: readonly Decoder[]

  constructor(
    private readonly options: MqttIngestOptions,
    private readonly sink: IngestSink,
    private readonly logger: Logger,
  ) {
    super()
    this.decoders = options.decoders ?? DECODERS
    this.steps = createPipeline({ ...options, decoders: this.decoders })
  }

  /** Connects and subscribes; resolves once the subscription is granted. */
  async start(): Promise<void> {
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.clientId,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      username: this.options.username,
      password: this.options.password,
    })
    this.client = client
    client.handleMessage = (packet, done) => {
      const message = {
        topic: packet.topic,
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        receivedAt: Date.now(),
        qos: packet.qos,
        retain: packet.retain,
      }
      const ctx = runPipeline(this.steps, message)
      this.sink.accept({ readings: ctx.readings, rejections: ctx.rejections }).then(
        () => {
          this.stats.messages++
          this.stats.readings += ctx.readings.length
          this.stats.rejections += ctx.rejections.length
          done()
          this.emit('message', ctx)
        },
        (error: unknown) => {
          // The sink only fails when it is being closed: leave the message unacknowledged for redelivery.
          this.logger.warn({ err: error, topic: packet.topic }, 'message not acknowledged; the broker will redeliver it')
          done(error as Error)
        },
      )
    }
    client.on('error', (error) => this.logger.error({ err: error }, 'mqtt error'))
    client.on('reconnect', () => this.logger.info({ url: this.options.url }, 'mqtt reconnecting'))
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
    })
    const filters = [...new Set(this.decoders.map((d) => d.topicFilter))]
    await client.subscribeAsync(Object.fromEntries(filters.map((topic) => [topic, { qos: 1 as const }])))
    this.logger.info({ url: this.options.url, clientId: this.options.clientId, filters }, 'ingest subscribed')
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true)
  }
}
