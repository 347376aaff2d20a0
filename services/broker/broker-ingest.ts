import type { Client, PublishPacket } from 'aedes'
import type { InboundMessage } from '../../core/decoders/index.ts'
import { settlesBy, type Deadline } from '../../core/drain.ts'
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

type Outcome = { error: Error } | { ingest: boolean }

/** One publish of a client, from its arrival until its callback ran. */
interface Turn {
  packet: PublishPacket
  callback: Callback
  /** performance.now() when the publish arrived (the ack latency histogram). */
  arrivedAt: number
  /** Set by `run`: refused, or authorized (ingested or not). */
  outcome?: Outcome
  /** Set once the callback may run: null to let the publish through, an Error to refuse it. */
  result?: Error | null
}

/**
 * A client's publishes in arrival order. `turns[head]` is the oldest whose callback has not run (the slots
 * before it are emptied, so a released packet is not kept); the first `handed` were handed to the ingest. One
 * queue per client instead of promises per publish: the hot path allocates one small object per message.
 */
interface ClientQueue {
  turns: Array<Turn | undefined>
  head: number
  handed: number
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
  private readonly queues = new WeakMap<Client, ClientQueue>()
  /** Publishes arrived whose callback has not run yet (all clients). */
  private unanswered = 0
  /** Set while `drain` waits: called once no publish waits for its callback. */
  private idle?: () => void
  private readonly handles = memoByTopic((topic) => this.ingest.filters.some((filter) => topicMatches(filter, topic)))

  constructor(
    private readonly ingest: InBrokerIngest,
    private readonly logger: Logger,
  ) {}

  /** True when some decoder handles `topic` (cached per topic; topics are bounded by the registry's devices). */
  wants(topic: string): boolean {
    return this.handles(topic)
  }

  /** Publishes that arrived and whose callback (for QoS 1: the PUBACK) has not run yet. */
  get pending(): number {
    return this.unanswered
  }

  /**
   * Graceful shutdown (services/broker/shutdown.ts): resolves once every publish that arrived so far had its
   * callback run, in each client's order (QoS 1: stored and PUBACK written), or at `deadline` (epoch ms), with
   * the number still waiting then.
   */
  async drain(deadline: Deadline): Promise<number> {
    if (this.unanswered > 0) await settlesBy(deadline, new Promise<void>((resolve) => (this.idle = resolve)))
    this.idle = undefined
    return this.unanswered
  }

  /**
   * Takes `client`'s next turn; call as the publish arrives, before anything asynchronous. Returns `run`, to be
   * called exactly once when the publish is authorized (ingest = true when it is to be ingested) or refused
   * (error): it hands the message over in turn and calls `callback` in turn.
   */
  arrive(client: Client, packet: PublishPacket, callback: Callback): (outcome: Outcome) => void {
    let queue = this.queues.get(client)
    if (queue === undefined) {
      queue = { turns: [], head: 0, handed: 0 }
      this.queues.set(client, queue)
    }
    const turn: Turn = { packet, callback, arrivedAt: performance.now() }
    queue.turns.push(turn)
    this.unanswered++
    const owner = queue
    return (outcome) => {
      turn.outcome = outcome
      this.handOver(client, owner)
    }
  }

  /** Hands over, in arrival order, every publish whose outcome is known and whose predecessors were handed. */
  private handOver(client: Client, queue: ClientQueue): void {
    for (let turn = queue.turns[queue.handed]; turn?.outcome !== undefined; turn = queue.turns[queue.handed]) {
      queue.handed++
      const { outcome, packet } = turn
      if ('error' in outcome) turn.result = outcome.error
      else if (!outcome.ingest) turn.result = null
      else {
        const stored = this.ingest.handle(toMessage(packet))
        if (packet.qos === 0) {
          this.stats.bestEffort++
          stored.catch((error: unknown) => this.drop(error, client, packet, 'QoS 0 message'))
          turn.result = null
        } else {
          stored.then(
            () => {
              this.stats.acknowledged++
              if (!client.closed) observeAck('mqtt', turn.arrivedAt)
              turn.result = client.closed ? new Error('connection closed') : null
              this.release(client, queue)
            },
            (error: unknown) => {
              this.stats.refused++
              this.logger.warn({ err: error, clientId: client.id, topic: packet.topic }, 'ingest could not store the message: publish refused, the client resends it')
              turn.result = new Error('ingest unavailable')
              this.release(client, queue)
            },
          )
        }
      }
    }
    this.release(client, queue)
  }

  /** Runs, in arrival order, the callbacks of the oldest publishes whose result is known. */
  private release(client: Client, queue: ClientQueue): void {
    for (let turn = queue.turns[queue.head]; turn?.result !== undefined; turn = queue.turns[queue.head]) {
      queue.turns[queue.head++] = undefined
      turn.callback(turn.result)
      if (--this.unanswered === 0) this.idle?.()
    }
    if (queue.head === queue.turns.length) {
      // all done: forget the client (a later publish starts a new queue)
      if (this.queues.get(client) === queue) this.queues.delete(client)
      queue.turns.length = 0
      queue.head = queue.handed = 0
    } else if (queue.head >= 64 && queue.head * 2 > queue.turns.length) {
      queue.turns.splice(0, queue.head)
      queue.handed -= queue.head
      queue.head = 0
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

function toMessage(packet: PublishPacket): InboundMessage {
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  return { topic: packet.topic, payload, receivedAt: Date.now(), qos: packet.qos, retain: packet.retain }
}
