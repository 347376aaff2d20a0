import type { Readable } from 'node:stream'
import type { Aedes } from 'aedes'

/** The part of aedes' persistence (aedes-persistence 11) this module wraps. */
interface OutgoingPersistence {
  outgoingStream(client: { id: string }): Readable
}

/**
 * Sets the DUP flag on QoS 1/2 messages that aedes re-sends to a reconnecting persistent session.
 *
 * When a client reconnects with CleanSession=0 the server must re-send unacknowledged PUBLISH packets with their
 * original packet identifiers [MQTT-4.4.0-1], and must set DUP=1 when it attempts to re-deliver [MQTT-3.3.1-1].
 * aedes 1.2 re-sends them (lib/handlers/connect.js `emptyQueue`, from `persistence.outgoingStream`) but with DUP=0.
 * In that queue a message that was already sent carries the packet identifier it was sent with (`outgoingUpdate`
 * stores it); one queued while the client was offline has none yet and is a first delivery. So we mark the
 * former as duplicates. Call once, right after `Aedes.createBroker`. Throws when aedes' persistence has no
 * `outgoingStream` (its internals changed).
 */
export function markRedeliveriesDup(aedes: Aedes): void {
  const persistence = (aedes as unknown as { persistence?: OutgoingPersistence }).persistence
  if (!persistence || typeof persistence.outgoingStream !== 'function') {
    throw new Error('aedes persistence has no outgoingStream (aedes internals changed): cannot mark redeliveries [MQTT-3.3.1-1]')
  }
  const outgoingStream = persistence.outgoingStream.bind(persistence)
  persistence.outgoingStream = (client) =>
    outgoingStream(client).map((packet: { messageId?: number }) => (packet.messageId === undefined ? packet : { ...packet, dup: true }))
}
