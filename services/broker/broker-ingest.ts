import type { Client, PublishPacket } from 'aedes'
import type { InboundMessage } from '../../core/decoders/index.ts'
import type { Logger } from '../../core/logger.ts'
import { countDropped, observeAck } from '../../core/metrics.ts'
import { memoByTopic, topicMatches } from '../../core/topics.ts'

/**
 * What the broker needs of an ingest running in its process (services/ingest IngestCore fits): the topic
 * filters its decoders handle, and `handle`, which resolves once what came out of the message is durable (Kafka
 * acks = all, or InfluxDB) and rejects when it cannot be (the sink is closing).
 */
export interface InBrokerIngest {
  filters: readonly string[]
  handle(message: InboundMessage): Promise<unknown>
}

export interface BrokerIngestStats {
  /** QoS 1/2 messages whose PUBACK waited for the sink and went out. */
  acknowledged: number
  /** QoS 0 messages handed to the ingest (best effort). */
  bestEffort: number
  /** QoS 0 messages and wills the sink failed to store: lost, each logged at error level. */
  dropped: number
  /** QoS 1/2 messages refused because the sink failed (the connection closes, the client resends). */
  refused: number
  /** Wills handed to the ingest (a device's `offline` status is a device event). */
  wills: number
  /** Retained-message clears (empty retained payload [MQTT-3.3.1-10]) not handed to the ingest. */
  retainedClears: number
}

type Callback = (error?: Error | null) => void

/** Per client: when the previous publish was handed to the ingest, and when its callback ran. */
interface ClientTurn {
  handed: Promise<void>
  done: Promise<void>
}

/**
 * The in-broker ingest: an authorized publish of a device or of the importer on a topic some decoder handles
 * runs through the ingest inside aedes' `authorizePublish`, and its callback — after which aedes writes the QoS 1
 * PUBACK and then delivers the message to subscribers (aedes lib/handlers/publish.js) — runs only once the sink
 * acknowledged. So a PUBACK means "durable", with no second MQTT hop, and a crash before it makes the device
 * resend (at-least-once). Many clients' messages meet in the sink's group commit.
 *
 * Order [MQTT-4.6.0-2]: aedes handles the packets of one socket read concurrently. Each publish takes its turn
 * when it arrives (`arrive`, called first thing in authorizePublish); it is handed to the ingest only after the
 * previous publish of the same client was, and its callback runs only after the previous one's. So one client's
 * PUBACKs follow arrival order, and its messages reach the sink (and Kafka's partition) in that order.
 *
 * QoS 0: handed over too, best effort: the callback does not wait; a failure is counted (`dropped`) and logged
 * at error level. Wills: ingested (an `offline` status is a device event) and delivered whatever the sink
 * says; a failure is dropped and logged likewise. Retained publishes are ingested like any other; an empty
 * retained payload only clears the topic and is not. Messages the broker later hands out from its retained
 * store are not ingested again (the ingest does not subscribe).
 * A sink failure of a QoS 1 message refuses the publish: MQTT 3.1.1 has no negative PUBACK, so aedes closes
 * the connection and the client resends after reconnecting.
 */
export class BrokerIngest {
  readonly stats: BrokerIngestStats = { acknowledged: 0, bestEffort: 0, dropped: 0, refused: 0, wills: 0, retainedClears: 0 }
  private readonly turns = new WeakMap<Client, ClientTurn>()
  private readonly handles = memoByTopic((topic) => this.ingest.filters.some((filter) => topicMatches(filter, topic)))

  constructor(
    private readonly ingest: InBrokerIngest,
    private readonly logger: Logger,
  ) {}

  /** True when some decoder handles `topic` (cached per topic; topics are bounded by the registry's devices). */
  wants(topic: string): boolean {
    return this.handles(topic)
  }

  /**
   * Takes `client`'s next turn; call as the publish arrives, before anything asynchronous. Returns `run`, to be
   * called exactly once when the publish is authorized (ingest = true when it is to be ingested) or refused
   * (error): it hands the message over in turn and calls `callback` in turn.
   */
  arrive(client: Client, packet: PublishPacket, callback: Callback): (outcome: { error: Error } | { ingest: boolean }) => void {
    const arrivedAt = performance.now()
    const previous = this.turns.get(client)
    let handed!: () => void
    let done!: () => void
    const turn: ClientTurn = { handed: new Promise((resolve) => (handed = resolve)), done: new Promise((resolve) => (done = resolve)) }
    this.turns.set(client, turn)
    const finish = (error: Error | null) => {
      if (this.turns.get(client) === turn) this.turns.delete(client)
      callback(error)
      done()
    }
    return (outcome) => {
      const start = () => {
        if ('error' in outcome) {
          handed()
          return void after(previous?.done, () => finish(outcome.error))
        }
        if (!outcome.ingest) {
          handed()
          return void after(previous?.done, () => finish(null))
        }
        const message = toMessage(packet)
        const stored = this.ingest.handle(message)
        handed()
        if (packet.qos === 0) {
          this.stats.bestEffort++
          stored.catch((error: unknown) => this.drop(error, client, packet, 'QoS 0 message'))
          return void after(previous?.done, () => finish(null))
        }
        stored.then(
          () => after(previous?.done, () => {
            this.stats.acknowledged++
            if (!client.closed) observeAck('mqtt', arrivedAt)
            finish(client.closed ? new Error('connection closed') : null)
          }),
          (error: unknown) => after(previous?.done, () => {
            this.stats.refused++
            this.logger.warn({ err: error, clientId: client.id, topic: packet.topic }, 'ingest could not store the message: publish refused, the client resends it')
            finish(new Error('ingest unavailable'))
          }),
        )
      }
      after(previous?.handed, start)
    }
  }

  /** A will being delivered (client closing): ingested, then `callback` whatever the sink said. */
  will(client: Client, packet: PublishPacket, callback: Callback): void {
    this.stats.wills++
    this.ingest.handle(toMessage(packet)).then(
      () => callback(null),
      (error: unknown) => {
        this.drop(error, client, packet, 'will')
        callback(null)
      },
    )
  }

  /** True (and counted) for an empty retained payload: it clears the topic and carries no data. */
  isRetainedClear(packet: PublishPacket): boolean {
    if (!packet.retain || packet.payload.length > 0) return false
    this.stats.retainedClears++
    return true
  }

  private drop(error: unknown, client: Client, packet: PublishPacket, what: string): void {
    this.stats.dropped++
    countDropped(what === 'will' ? 'will_not_stored' : 'qos0_not_stored')
    this.logger.error({ err: error, clientId: client.id, topic: packet.topic, qos: packet.qos, dropped: this.stats.dropped }, `LOST: ingest could not store a ${what}`)
  }
}

/** Runs `then` once `first` settled (at once, synchronously, when there is nothing to wait for). */
function after(first: Promise<void> | undefined, then: () => void): void {
  if (first === undefined) then()
  else void first.then(then)
}

function toMessage(packet: PublishPacket): InboundMessage {
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  return { topic: packet.topic, payload, receivedAt: Date.now(), qos: packet.qos, retain: packet.retain }
}
