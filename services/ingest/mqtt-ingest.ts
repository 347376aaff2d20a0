import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from '../../core/logger.ts'
import type { IngestCore } from './ingest-core.ts'
import { redactUrl } from '../../core/redact.ts'

export interface MqttSourceOptions {
  url: string
  clientId: string
  username?: string
  password?: string
  /** Topic filters to subscribe to (QoS 1; a broker such as TTN's may grant only QoS 0). */
  filters: string[]
}

/**
 * One MQTT 3.1.1 broker the ingest subscribes to (our aedes broker, Mosquitto, TTN's broker, …); every
 * message goes through the IngestCore.
 *
 * At-least-once: the session is persistent (clean = false, fixed client id) and the filters are subscribed
 * at QoS 1. mqtt.js sends the PUBACK only when `handleMessage`'s callback runs, and we run it only after the
 * sink acknowledged; until then the broker keeps the message and redelivers it after a crash [MQTT-4.3.2],
 * and while offline the broker queues QoS 1 messages for the session [MQTT-3.1.2-5]. Messages are handled
 * one at a time in arrival order, which is also the backpressure towards the broker.
 */
export class MqttSource {
  private client?: MqttClient

  constructor(
    private readonly options: MqttSourceOptions,
    private readonly core: IngestCore,
    private readonly logger: Logger,
  ) {}

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
      this.core.handle(message).then(
        () => done(),
        (error: unknown) => {
          // The sink only fails when it is being closed: leave the message unacknowledged for redelivery.
          this.logger.warn({ err: error, topic: packet.topic }, 'message not acknowledged; the broker will redeliver it')
          done(error as Error)
        },
      )
    }
    client.on('error', (error) => this.logger.error({ err: error, url: redactUrl(this.options.url) }, 'mqtt error'))
    client.on('reconnect', () => this.logger.info({ url: redactUrl(this.options.url) }, 'mqtt reconnecting'))
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
    })
    await client.subscribeAsync(Object.fromEntries(this.options.filters.map((topic) => [topic, { qos: 1 as const }])))
    this.logger.info({ url: redactUrl(this.options.url), clientId: this.options.clientId, filters: this.options.filters }, 'ingest subscribed')
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true)
  }
}

