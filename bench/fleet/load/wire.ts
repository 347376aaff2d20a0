import { connect, type Socket } from 'node:net'

/**
 * The load generator's device connection: just enough MQTT 3.1.1 to log in and publish at QoS 1 (CONNECT,
 * PUBLISH, PUBACK, PINGREQ, DISCONNECT). Packets are written by hand from pre-encoded topic bytes, so one
 * generator process can offer 20k msg/s over a few hundred connections; mqtt.js costs several times more CPU per
 * publish, and the generator shares the machine's two cores with the stack it measures.
 *
 * Not a general client: no QoS 2, no subscriptions, no resend after a reconnect (a dropped connection ends the
 * device's part of the run, and its unacknowledged messages are counted as such by the caller).
 */

export interface WireLogin {
  host: string
  port: number
  clientId: string
  username: string
  password: string
  /** Seconds [MQTT-3.1.2-24]; a PINGREQ goes out every keepalive/2 whatever else is sent. */
  keepaliveS: number
}

/** CONNACK return codes [MQTT-3.2.2-3]. */
const CONNACK_REFUSED = ['', 'unacceptable protocol version', 'identifier rejected', 'server unavailable', 'bad user name or password', 'not authorized']

export class WireClient {
  /** Unacknowledged publishes: packet id → publish time (performance.now() ms) and the step it belongs to. */
  readonly inFlight = new Map<number, { at: number; step: number }>()
  /** Called with each PUBACK's publish time and step. */
  onAck: (sentAt: number, step: number) => void = () => {}
  closed = false
  closeReason: string | undefined
  private nextId = 1
  private queued: Buffer[] = []
  private rest: Buffer | undefined
  private ping: NodeJS.Timeout | undefined

  private constructor(private readonly socket: Socket) {}

  /** Connects and logs in; rejects with the broker's reason (CONNACK code) or the socket error. */
  static connect(login: WireLogin, timeoutMs = 30_000): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: login.host, port: login.port, noDelay: true })
      const client = new WireClient(socket)
      const timer = setTimeout(() => fail(new Error(`${login.clientId}: no CONNACK after ${timeoutMs} ms`)), timeoutMs)
      const fail = (error: Error) => {
        clearTimeout(timer)
        socket.destroy()
        reject(error)
      }
      socket.once('error', fail)
      socket.on('data', (chunk) => client.read(chunk))
      client.onConnack = (code) => {
        clearTimeout(timer)
        if (code !== 0) return fail(new Error(`${login.clientId}: connection refused: ${CONNACK_REFUSED[code] ?? `code ${code}`}`))
        socket.off('error', fail)
        socket.on('error', (error) => client.close(`socket error: ${error.message}`))
        socket.on('close', () => client.close('closed by the broker'))
        client.ping = setInterval(() => socket.write(PINGREQ), (login.keepaliveS * 1000) / 2)
        resolve(client)
      }
      socket.once('connect', () => socket.write(encodeConnect(login)))
    })
  }

  /**
   * Queues one QoS 1 PUBLISH (sent by `flush`). Returns false, sending nothing, when `window` publishes are
   * already unacknowledged or the connection is gone. `payload` must be ASCII (it is written as latin1).
   */
  publish(topic: Buffer, payload: string, window: number, step: number): boolean {
    if (this.closed || this.inFlight.size >= window) return false
    let id = this.nextId
    while (this.inFlight.has(id)) id = (id % 0xffff) + 1
    this.nextId = (id % 0xffff) + 1
    const remaining = 2 + topic.length + 2 + payload.length
    const header = remaining < 128 ? 2 : remaining < 16_384 ? 3 : 4
    const packet = Buffer.allocUnsafe(header + remaining)
    packet[0] = 0x32 // PUBLISH, QoS 1, no DUP, no RETAIN
    writeLength(packet, 1, remaining)
    packet.writeUInt16BE(topic.length, header)
    topic.copy(packet, header + 2)
    packet.writeUInt16BE(id, header + 2 + topic.length)
    packet.write(payload, header + 4 + topic.length, 'latin1')
    this.queued.push(packet)
    this.inFlight.set(id, { at: performance.now(), step })
    return true
  }

  /** Writes what `publish` queued, in one socket write. */
  flush(): void {
    if (this.queued.length === 0) return
    const data = this.queued.length === 1 ? this.queued[0]! : Buffer.concat(this.queued)
    this.queued = []
    if (!this.closed) this.socket.write(data)
  }

  /** Sends DISCONNECT [MQTT-3.14] and closes the socket. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      this.close('ended by the generator')
      if (this.socket.destroyed) return resolve()
      this.socket.end(DISCONNECT, () => resolve())
      setTimeout(() => (this.socket.destroy(), resolve()), 2_000).unref()
    })
  }

  private onConnack: (code: number) => void = () => {}

  private close(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.closeReason = reason
    clearInterval(this.ping)
  }

  private read(chunk: Buffer): void {
    let data = this.rest ? Buffer.concat([this.rest, chunk]) : chunk
    let offset = 0
    for (;;) {
      if (data.length - offset < 2) break
      let length = 0
      let multiplier = 1
      let i = offset + 1
      for (; i < data.length; i++) {
        length += (data[i]! & 0x7f) * multiplier
        multiplier *= 128
        if ((data[i]! & 0x80) === 0) break
      }
      if (i >= data.length || data.length - i - 1 < length) break
      const body = i + 1
      this.packet(data[offset]! >> 4, data, body)
      offset = body + length
    }
    this.rest = offset < data.length ? data.subarray(offset) : undefined
  }

  private packet(type: number, data: Buffer, body: number): void {
    if (type === 2) {
      this.onConnack(data[body + 1]!)
    } else if (type === 4) {
      const id = data.readUInt16BE(body)
      const sent = this.inFlight.get(id)
      if (sent === undefined) return
      this.inFlight.delete(id)
      this.onAck(sent.at, sent.step)
    }
    // PINGRESP (13) and anything else: nothing to do
  }
}

const PINGREQ = Buffer.from([0xc0, 0x00])
const DISCONNECT = Buffer.from([0xe0, 0x00])

/** Remaining Length, variable byte integer [MQTT-2.2.3]. */
function writeLength(buffer: Buffer, offset: number, length: number): void {
  do {
    let byte = length % 128
    length = Math.floor(length / 128)
    if (length > 0) byte |= 0x80
    buffer[offset++] = byte
  } while (length > 0)
}

/** CONNECT with clean session, user name and password [MQTT-3.1]. */
function encodeConnect(login: WireLogin): Buffer {
  const strings = [login.clientId, login.username, login.password].map((s) => Buffer.from(s, 'utf8'))
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0xc2, login.keepaliveS >> 8, login.keepaliveS & 0xff])
  const payload = Buffer.concat(strings.flatMap((s) => [Buffer.from([s.length >> 8, s.length & 0xff]), s]))
  const remaining = variable.length + payload.length
  const header = Buffer.alloc(remaining < 128 ? 2 : 3)
  header[0] = 0x10
  writeLength(header, 1, remaining)
  return Buffer.concat([header, variable, payload])
}
