import type { IPublishPacket } from 'mqtt-packet'
import { DEFAULT_INGEST_WINDOW } from '../../core/config.ts'
import type { InboundMessage } from '../../core/decoders/index.ts'
import { reportUndrained, settlesBy, type Deadline } from '../../core/drain.ts'
import { UnavailableError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { countDropped, observeAck } from '../../core/metrics.ts'
import { redactUrl } from '../../core/redact.ts'
import { OutageLog, sleep, withRetry } from '../../core/retry.ts'
import { AckWindow } from './mqtt-ack-window.ts'
import { MqttConnection, type MqttConnectionOptions } from './mqtt-connection.ts'

export interface MqttSourceOptions {
  /** `mqtt://host:port` or `mqtts://host:port` (TTN: mqtts://eu1.cloud.thethings.network:8883). */
  url: string
  /** Fixed: the persistent session lives under it. Instances sharing a subscription each need their own. */
  clientId: string
  username?: string
  password?: string
  /** Topic filters to subscribe to at QoS 1 (a broker such as TTN's may grant only QoS 0). */
  filters: string[]
  /** Most messages handed to the ingest and not yet acknowledged at once (default DEFAULT_INGEST_WINDOW). */
  window?: number
  /** Subscribe `$share/<group>/<filter>` instead, so instances in one group split the messages (not aedes). */
  shareGroup?: string
  /** Seconds (default 60). */
  keepaliveS?: number
  /** Reconnect backoff: first delay and ceiling, ms (defaults 500 and 30,000). */
  reconnect?: { initialDelayMs: number; maxDelayMs: number }
  /** A private CA or client certificate for mqtts:// (tests; TTN needs none). */
  tls?: MqttConnectionOptions['tls']
}

/**
 * What the subscription hands each message to (IngestCore fits): `handle` resolves once what came out of the
 * message is durable (Kafka acks = all, or InfluxDB) and rejects when it cannot be (the sink is closing).
 */
export interface MessageHandler {
  handle(message: InboundMessage): Promise<unknown>
}

export interface MqttSourceStats {
  /** Successful connects (CONNACK 0 and SUBACK granted); more than 1 means it reconnected. */
  connections: number
  /** PUBLISH packets received (redeliveries included). */
  received: number
  /** PUBACKs sent, each after its message's handle() resolved. */
  acknowledged: number
  /** QoS 0 messages handed to the ingest. */
  bestEffort: number
  /** QoS 0 messages lost: the sink failed, or the connection closed while they waited for a slot. */
  dropped: number
  /** QoS 1 messages the sink failed: not acknowledged, the connection is reopened and the broker redelivers. */
  refused: number
  /** Most messages in the window at once (handed over and not yet acknowledged). */
  maxInFlight: number
}

/**
 * One MQTT 3.1.1 broker the ingest subscribes to (Mosquitto, EMQX, TTN's broker); every message goes through
 * the IngestCore (any MessageHandler). Built on MqttConnection (mqtt-connection.ts: mqtt-packet over `net`/`tls`), because mqtt.js
 * cannot release acknowledgements out of its one-message-at-a-time loop (its `handleMessage` callback), which
 * serialised every message on a sink round trip and starved keepalive (mqtt.js #1935).
 *
 * At-least-once: the session is persistent (clean = false, fixed client id) and the filters are subscribed at
 * QoS 1, so the broker keeps what is unacknowledged, redelivers it after a reconnect [MQTT-4.4.0-1], and queues
 * what arrives while we are away [MQTT-3.1.2-5].
 *
 * Window: up to `window` messages are handed to `IngestCore.handle` at once, so the sink's group commit
 * gathers many. A QoS 1 message's PUBACK is sent once its handle() resolved and every message before it was
 * acknowledged: strictly in arrival order [MQTT-4.6.0-2] (AckWindow, mqtt-ack-window.ts). Messages beyond a
 * full window wait, unhandled, and the socket is paused until the window drains (backpressure: memory holds
 * the window and what one socket read brought at most); a broker with
 * an in-flight limit (Mosquitto's `max_inflight_messages`, 20 by default) never sends more than that, so size
 * the window to it. The socket is otherwise read all the time: keepalive does not wait for the sink.
 *
 * QoS 0 messages are handled too, best effort (a failure is counted in `dropped` and logged at error level).
 * A handle() rejection of a QoS 1 message (the sink closing, or refusing for good) leaves it, and everything
 * after it, unacknowledged; unless we are stopping, the connection is then closed and reopened after a
 * growing delay so that the broker redelivers them, instead of the window staying blocked until a restart.
 * A lost connection is reopened with exponential backoff, logged once per outage: a warning when it is lost,
 * the failed attempts at debug, one info line once resubscribed (OutageLog; a sink refusing is its own
 * outage, ended by the next PUBACK). `stop()` disconnects
 * without acknowledging what is still in the window: the broker redelivers it to the next session.
 */
export class MqttSource {
  readonly stats: MqttSourceStats = { connections: 0, received: 0, acknowledged: 0, bestEffort: 0, dropped: 0, refused: 0, maxInFlight: 0 }
  private current: Session | undefined
  private stopping = false
  private readonly abort = new AbortController()
  private reconnecting: Promise<void> | undefined
  /** Connections closed in a row because the sink refused a message; reset by the next PUBACK. */
  private refusals = 0
  private readonly logger: Logger
  /** Lost connection until resubscribed: one warning, then one info line (core/retry.ts OutageLog). */
  readonly connectionOutage: OutageLog
  /** The sink refusing QoS 1 messages until the next PUBACK: likewise. */
  readonly sinkOutage: OutageLog

  constructor(
    private readonly options: MqttSourceOptions,
    private readonly core: MessageHandler,
    logger: Logger,
  ) {
    this.logger = logger.child({ url: redactUrl(options.url), clientId: options.clientId })
    this.connectionOutage = new OutageLog(this.logger, 'MQTT broker connection')
    this.sinkOutage = new OutageLog(this.logger, 'ingest sink')
  }

  /** The filters as subscribed: `$share/<group>/<filter>` with a share group. */
  get subscriptions(): string[] {
    const group = this.options.shareGroup
    return group === undefined ? this.options.filters : this.options.filters.map((filter) => `$share/${group}/${filter}`)
  }

  /** Connects and subscribes; resolves once the subscription is granted, rejects if that first attempt fails. */
  async start(): Promise<void> {
    await this.connect()
    this.logger.info({ filters: this.subscriptions, window: this.window }, 'ingest subscribed')
  }

  /**
   * Disconnects (DISCONNECT after the PUBACKs written so far; the persistent session stays with the broker).
   * Without `deadline`, what is still being handled is not acknowledged (the broker redelivers it). With it
   * (graceful shutdown, epoch ms, core/drain.ts) the socket is read no more (what the broker sent and we did not
   * read, and messages waiting for a window slot, are redelivered to the next session; QoS 0 ones among the
   * waiting are lost and counted), and the window drains first: every message in it is handled and its PUBACK
   * sent in arrival order [MQTT-4.6.0-2], until the deadline; what is left then is logged at error level and
   * counted (reportUndrained).
   */
  async stop(deadline?: Deadline): Promise<void> {
    this.stopping = true
    this.abort.abort(new Error('MQTT source stopped'))
    await this.reconnecting?.catch(() => undefined)
    const session = this.current
    if (session && !session.gone && deadline !== undefined) {
      session.connection.pause()
      await settlesBy(deadline, session.window.drained())
      reportUndrained(this.logger, 'subscribed_ingest', session.window.inFlight, 'messages (no PUBACK sent)')
    }
    await session?.connection.close()
  }

  private get window(): number {
    return this.options.window ?? DEFAULT_INGEST_WINDOW
  }

  /** One connection: CONNECT, SUBSCRIBE; closes it again and throws when either fails. */
  private async connect(): Promise<void> {
    const connection = new MqttConnection(
      {
        url: this.options.url,
        clientId: this.options.clientId,
        username: this.options.username,
        password: this.options.password,
        clean: false,
        keepaliveS: this.options.keepaliveS ?? 60,
        responseTimeoutMs: 10_000,
        tls: this.options.tls,
      },
      {
        publish: (packet) => this.receive(session, packet),
        closed: (error) => this.closed(session, error),
      },
    )
    const session: Session = { connection, window: new AckWindow(this.window, (ids) => this.acknowledge(session, ids)), waiting: [], gone: false }
    try {
      const { sessionPresent } = await connection.handshake()
      const granted = await connection.subscribe(this.subscriptions, 1)
      if (granted.some((qos) => qos < 1)) {
        this.logger.warn({ filters: this.subscriptions, granted }, 'broker granted QoS 0: those messages are delivered at most once')
      }
      this.logger.debug({ sessionPresent }, 'connected')
    } catch (error) {
      connection.destroy(error as Error)
      throw error
    }
    this.stats.connections++
    this.current = session
  }

  private receive(session: Session, packet: IPublishPacket): void {
    this.stats.received++
    if (session.window.full || session.waiting.length > 0) {
      // beyond the window: wait, unhandled, and stop reading until the window drains
      session.waiting.push(packet)
      session.connection.pause()
      return
    }
    this.dispatch(session, packet)
  }

  private dispatch(session: Session, packet: IPublishPacket): void {
    const slot = session.window.enter(packet.qos === 0 ? undefined : packet.messageId)
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, session.window.inFlight)
    if (packet.qos === 0) this.stats.bestEffort++
    const arrivedAt = performance.now()
    this.core.handle(toMessage(packet)).then(
      () => {
        slot.done()
        if (packet.qos > 0) observeAck('mqtt_subscribed', arrivedAt)
      },
      (error: unknown) => {
        if (packet.qos === 0) {
          this.stats.dropped++
          countDropped('qos0_not_stored')
          this.logger.error({ err: error, topic: packet.topic }, 'QoS 0 message not stored: lost')
          return slot.done()
        }
        slot.fail()
        this.refuse(session, packet, error)
      },
    )
  }

  /** Called by the window when messages left it, with the ids now due in arrival order; then lets waiting ones in. */
  private acknowledge(session: Session, messageIds: number[]): void {
    if (messageIds.length > 0) {
      session.connection.puback(messageIds)
      this.stats.acknowledged += messageIds.length
      this.refusals = 0
      this.sinkOutage.recovered()
    }
    this.drain(session)
  }

  private drain(session: Session): void {
    if (this.stopping) return // stopping: waiting messages stay unhandled (redelivered) and the socket paused
    while (session.waiting.length > 0 && !session.window.full) this.dispatch(session, session.waiting.shift()!)
    if (session.waiting.length === 0) session.connection.resume()
  }

  private refuse(session: Session, packet: IPublishPacket, error: unknown): void {
    this.stats.refused++
    if (session.gone || this.stopping) return
    this.refusals++
    this.sinkOutage.failed({ err: error, topic: packet.topic, messageId: packet.messageId }, 'ingest could not store a QoS 1 message: not acknowledged; reconnecting so that the broker redelivers it and the ones after it')
    void session.connection.close(new Error('the ingest could not store a message'))
  }

  private closed(session: Session, error: Error | undefined): void {
    if (session.gone) return
    session.gone = true
    session.window.close()
    const lostQos0 = session.waiting.filter((p) => p.qos === 0).length
    this.stats.dropped += lostQos0
    countDropped('qos0_connection_lost', lostQos0)
    if (lostQos0 > 0) this.logger.error({ dropped: lostQos0 }, 'LOST: QoS 0 messages waiting for the ingest window when the connection closed')
    session.waiting.length = 0
    if (this.stopping || this.current !== session) return
    this.current = undefined
    // a reconnect the sink asked for (refuse) is the sink's outage, already logged
    if (!this.sinkOutage.failing) this.connectionOutage.failed({ err: error }, 'connection to the broker lost: reconnecting (unacknowledged messages come again)')
    this.reconnecting = this.reconnect().finally(() => (this.reconnecting = undefined))
  }

  /** After a lost connection: waits (longer after each refusal in a row), then connects with backoff until it works. */
  private async reconnect(): Promise<void> {
    const { initialDelayMs, maxDelayMs } = this.options.reconnect ?? { initialDelayMs: 500, maxDelayMs: 30_000 }
    try {
      await sleep(Math.min(maxDelayMs, initialDelayMs * 2 ** this.refusals), this.abort.signal)
      await withRetry(
        () =>
          this.connect().catch((cause: unknown) => {
            throw new UnavailableError(cause instanceof Error ? cause.message : String(cause), { cause })
          }),
        {
          initialDelayMs,
          maxDelayMs,
          maxAttempts: Infinity,
          signal: this.abort.signal,
          onRetry: (error, attempt, delayMs) => this.connectionOutage.failed({ err: error, attempt, delayMs }, 'reconnect failed: trying again'),
        },
      )
      if (this.stopping) return void (await this.current?.connection.close())
      if (this.connectionOutage.failing) this.connectionOutage.recovered({ filters: this.subscriptions })
      else this.logger.debug({ filters: this.subscriptions }, 'reconnected and subscribed')
    } catch (error) {
      if (!this.stopping) this.logger.error({ err: error }, 'gave up reconnecting')
    }
  }
}

/** One connection with its window and the messages waiting for a slot. */
interface Session {
  connection: MqttConnection
  window: AckWindow
  waiting: IPublishPacket[]
  gone: boolean
}

function toMessage(packet: IPublishPacket): InboundMessage {
  return {
    topic: packet.topic,
    payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
    receivedAt: Date.now(),
    qos: packet.qos,
    retain: packet.retain,
  }
}
