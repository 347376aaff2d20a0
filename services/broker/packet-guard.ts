import type { Client } from 'aedes'

/**
 * The MQTT packet size limit, enforced before a byte of the body is buffered.
 *
 * aedes hands each socket read to its mqtt-packet parser (`client._parser`), which appends to a buffer list until
 * the whole packet announced by the fixed header's Remaining Length is there [MQTT-2.2.3]: a 100 MB PUBLISH would
 * be held in memory in full. We wrap that parser's `_parseLength` step: as soon as the Remaining Length is
 * decoded, a packet whose total size (1 header byte + 1–4 length bytes + Remaining Length) exceeds `maxBytes`
 * makes the parser emit an error, which aedes answers by destroying the connection (lib/client.js `_onError`).
 * At that moment at most one socket read (≈ 64 KiB) of the body has been buffered.
 *
 * MQTT 3.1.1 has no way to tell the client why (no CONNACK/DISCONNECT reason), so the connection just closes,
 * as Mosquitto does with `max_packet_size`.
 */
export class PacketTooLargeError extends Error {
  constructor(
    readonly packetBytes: number,
    readonly maxBytes: number,
  ) {
    super(`packet of ${packetBytes} bytes exceeds the maximum of ${maxBytes} bytes`)
    this.name = 'PacketTooLargeError'
  }
}

/** The parts of aedes' (mqtt-packet 9) parser the guard relies on. */
interface MqttPacketParser {
  packet: { length: number; cmd?: string }
  _parseLength(): boolean
  _emitError(error: Error): void
}

/**
 * Installs the guard on a freshly constructed aedes client (call it from `aedes.handle`, before the first read).
 * `onTooLarge` runs once, before the connection is destroyed. Throws when aedes' internals are not as expected
 * (an aedes upgrade changed them): better no broker than a broker without the limit.
 */
export function guardPacketSize(client: Client, maxBytes: number, onTooLarge: (error: PacketTooLargeError, cmd: string | undefined) => void): void {
  const parser = (client as unknown as { _parser?: MqttPacketParser })._parser
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function') {
    throw new Error('aedes client has no mqtt-packet parser to guard (aedes internals changed): refusing to run without a packet size limit')
  }
  const parseLength = parser._parseLength
  parser._parseLength = function guardedParseLength(this: MqttPacketParser): boolean {
    if (!parseLength.call(this)) return false
    const total = 1 + lengthBytes(this.packet.length) + this.packet.length
    if (total <= maxBytes) return true
    const error = new PacketTooLargeError(total, maxBytes)
    onTooLarge(error, this.packet.cmd)
    this._emitError(error)
    return false
  }
}

/** Bytes of the Remaining Length field for `length` (variable byte integer, 7 bits each) [MQTT-2.2.3]. */
function lengthBytes(length: number): number {
  return length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4
}
