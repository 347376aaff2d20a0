import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import * as mqttPacket from 'mqtt-packet'
import type { IConnackPacket, IPublishPacket, ISubackPacket, Packet } from 'mqtt-packet'
import { ConfigError } from '../../core/errors.ts'
import { redactUrl } from '../../core/redact.ts'

export interface MqttConnectionOptions {
  /** `mqtt://` or `tcp://` (port 1883 unless given), `mqtts://`, `ssl://` or `tls://` (8883); user:password@ optional. */
  url: string
  clientId: string
  /** Wins over a username in the URL. */
  username?: string
  password?: string
  /** Persistent session (false) or a fresh one (true) [MQTT-3.1.2-4]. */
  clean: boolean
  /** Seconds; the broker closes a connection silent for 1.5 × this [MQTT-3.1.2-24]. */
  keepaliveS: number
  /** CONNACK and SUBACK must arrive within this, ms. */
  responseTimeoutMs: number
  /** Extra TLS settings for `mqtts://` (a private CA, a client certificate); the system CAs otherwise. */
  tls?: Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>
}

/** What the owner of a connection is told. Called synchronously from the socket's data handler. */
export interface MqttConnectionHandlers {
  /** A PUBLISH at QoS 0 or 1, in arrival order. QoS 1 needs `puback(messageId)` in that order [MQTT-4.6.0-2]. */
  publish(packet: IPublishPacket): void
  /** The connection is gone: `error` says why, undefined after our own `close()`. Called once. */
  closed(error: Error | undefined): void
}

/** SUBACK return code of a refused subscription [MQTT-3.9.3]. */
const SUBACK_FAILURE = 0x80

/**
 * One MQTT 3.1.1 client connection of the subscribed ingest, on a bare `net`/`tls` socket with mqtt-packet
 * (the codec mqtt.js and aedes use) for encoding and parsing. Only what a subscriber needs: CONNECT with
 * credentials, SUBSCRIBE (QoS ≤ 1), PUBLISH in, PUBACK out when its owner says so, PINGREQ, DISCONNECT.
 *
 * Why not mqtt.js (5.16): for a QoS 1 PUBLISH it calls `handleMessage(packet, cb)` and reads the next packet,
 * PINGRESP included, only after `cb` (build/lib/handlers/publish.js); there is no API to acknowledge later and
 * out of that loop, and a slow handler makes its keepalive time out (mqtt.js #1935, #1314, #691). Here the
 * socket is read all the time, PUBACKs are written whenever the owner releases them, and keepalive never
 * waits for the sink.
 *
 * Keepalive: a PINGREQ goes out whenever nothing was sent for half the keepalive, so the broker always hears
 * from us in time [MQTT-3.1.2-23]. If nothing at all arrives within a keepalive of an unanswered PINGREQ while
 * the socket is being read, the connection is taken as dead and destroyed. While the owner has paused reading
 * (its window is full), the broker's answers wait in the socket and that check is suspended.
 *
 * QoS 2 is never asked for (SUBSCRIBE at QoS 1 at most), so a conforming broker downgrades to QoS 1
 * [MQTT-3.8.4-6]; a QoS 2 PUBLISH all the same is a protocol error that closes the connection.
 */
export class MqttConnection {
  private readonly socket: Socket
  private readonly endpoint: ReturnType<typeof parseBrokerUrl>
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 })
  private readonly waiting = new Map<number, { resolve: (packet: Packet) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>()
  private connected = false
  private isClosed = false
  private paused = false
  private lastSentAt = Date.now()
  /** When the oldest unanswered PINGREQ went out (reset by any packet from the broker). */
  private pingSentAt: number | undefined
  private keepaliveTimer: NodeJS.Timeout | undefined
  private nextPacketId = 1

  /**
   * Opens the socket (no CONNECT yet: `handshake()`). A URL scheme other than MQTT over TCP or TLS is a
   * ConfigError, thrown here.
   */
  constructor(
    private readonly options: MqttConnectionOptions,
    private readonly handlers: MqttConnectionHandlers,
  ) {
    this.endpoint = parseBrokerUrl(options.url)
    const { host, port } = this.endpoint
    this.socket = this.endpoint.tls
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ...options.tls })
      : netConnect({ host, port })
    this.socket.setNoDelay(true)
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet))
    this.parser.on('error', (error: Error) => this.destroy(new Error(`malformed packet from ${redactUrl(options.url)}: ${error.message}`)))
    this.socket.on('data', (chunk: Buffer) => this.parser.parse(chunk))
    this.socket.on('error', (error) => this.finish(error))
    this.socket.on('close', () => this.finish(new Error(`connection to ${redactUrl(options.url)} closed`)))
  }

  /**
   * Sends CONNECT and waits for the CONNACK. Rejects with a message naming the broker (password redacted) on
   * a socket error, a timeout or a refused CONNACK (return code in the message, e.g. 5 = not authorized
   * [MQTT-3.2.2-3]); the connection is closed then. PUBLISH packets right behind the CONNACK (a persistent
   * session's queue) are handed on at once, before this resolves.
   */
  async handshake(): Promise<{ sessionPresent: boolean }> {
    const password = this.options.password ?? this.endpoint.password
    const connack = (await this.request(
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: this.options.clientId,
        clean: this.options.clean,
        keepalive: this.options.keepaliveS,
        username: this.options.username ?? this.endpoint.username,
        password: password === undefined ? undefined : Buffer.from(password, 'utf8'),
      },
      'connack',
      0,
    )) as IConnackPacket
    if (connack.returnCode !== 0) {
      const code = connack.returnCode ?? -1
      const error = new Error(`${redactUrl(this.options.url)} refused the connection of ${this.options.clientId}: CONNACK ${code} (${CONNACK_REASONS[code] ?? 'unknown'})`)
      this.destroy(error)
      throw error
    }
    this.scheduleKeepalive()
    return { sessionPresent: connack.sessionPresent }
  }

  /**
   * Subscribes `filters` at `qos` (≤ 1) in one SUBSCRIBE and resolves with the granted QoS of each. Rejects,
   * naming the filter, when the broker refuses one (SUBACK 0x80).
   */
  async subscribe(filters: string[], qos: 0 | 1): Promise<number[]> {
    const messageId = this.packetId()
    const suback = (await this.request({ cmd: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos })) }, 'suback', messageId)) as ISubackPacket
    const granted = suback.granted as number[]
    const refused = filters.filter((_, i) => granted[i] === undefined || granted[i]! >= SUBACK_FAILURE)
    if (refused.length > 0) throw new Error(`${redactUrl(this.options.url)} refused the subscription to ${refused.map((f) => `'${f}'`).join(', ')} (SUBACK 0x80) for ${this.options.clientId}`)
    return granted
  }

  /** Writes one PUBACK per id (0x40, remaining length 2, packet id [MQTT-3.4]), in the order given, in one write. */
  puback(messageIds: readonly number[]): void {
    if (this.isClosed) return
    const bytes = Buffer.allocUnsafe(4 * messageIds.length)
    messageIds.forEach((messageId, i) => bytes.writeUInt32BE((0x40 << 24) | (2 << 16) | messageId, 4 * i))
    this.socket.write(bytes)
    this.lastSentAt = Date.now()
  }

  /** Stops reading the socket (TCP backpressure towards the broker); PINGREQs still go out. */
  pause(): void {
    if (this.paused) return
    this.paused = true
    this.socket.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    // the answers to PINGREQs sent meanwhile are still in the socket: give them a keepalive to arrive
    if (this.pingSentAt !== undefined) this.pingSentAt = Date.now()
    this.socket.resume()
  }

  /**
   * Sends DISCONNECT after what was written before (PUBACKs included) and closes; the session stays with the
   * broker when it is persistent [MQTT-3.14.4]. `reason`, if any, is what `closed` is told.
   */
  async close(reason?: Error): Promise<void> {
    if (this.isClosed) return
    const gone = new Promise<void>((resolve) => this.socket.once('close', () => resolve()))
    this.finish(reason)
    this.socket.resume() // a paused socket would not see the broker's end of the connection
    if (this.connected && !this.socket.destroyed) this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
    else this.socket.destroy()
    const timer = setTimeout(() => this.socket.destroy(), 1_000)
    await gone
    clearTimeout(timer)
  }

  /** Closes at once without DISCONNECT (a protocol error, a dead peer); `closed(error)` is reported. */
  destroy(error: Error): void {
    this.finish(error)
    this.socket.destroy()
  }

  private onPacket(packet: Packet): void {
    if (this.isClosed) return
    this.pingSentAt = undefined
    switch (packet.cmd) {
      case 'publish':
        if (packet.qos === 2) return this.destroy(new Error(`QoS 2 PUBLISH on '${packet.topic}' although the subscription asked for QoS 1 at most [MQTT-3.8.4-6]`))
        if (this.connected) this.handlers.publish(packet)
        return
      case 'connack':
        // synchronously: PUBLISH packets of the same read follow at once
        this.connected = packet.returnCode === 0
        return this.answer(0, packet)
      case 'suback':
        return this.answer(packet.messageId ?? -1, packet)
      case 'pingresp':
        return
      default:
        // PUBREL, UNSUBACK, …: nothing we asked for at QoS ≤ 1; ignored
        return
    }
  }

  /** Sends `packet` and waits for the answer of type `cmd` with `key` (0 for CONNACK). */
  private request(packet: Packet, cmd: 'connack' | 'suback', key: number): Promise<Packet> {
    return new Promise<Packet>((resolve, reject) => {
      if (this.isClosed) return reject(new Error(`connection to ${redactUrl(this.options.url)} closed`))
      const timer = setTimeout(() => {
        this.waiting.delete(key)
        const error = new Error(`no ${cmd.toUpperCase()} from ${redactUrl(this.options.url)} within ${this.options.responseTimeoutMs} ms`)
        reject(error)
        this.destroy(error)
      }, this.options.responseTimeoutMs)
      this.waiting.set(key, { resolve, reject, timer })
      this.send(packet)
    })
  }

  private answer(key: number, packet: Packet): void {
    const waiter = this.waiting.get(key)
    if (!waiter) return
    this.waiting.delete(key)
    clearTimeout(waiter.timer)
    waiter.resolve(packet)
  }

  private send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet))
    this.lastSentAt = Date.now()
  }

  private scheduleKeepalive(): void {
    if (this.options.keepaliveS === 0) return
    const keepaliveMs = this.options.keepaliveS * 1_000
    this.keepaliveTimer = setInterval(() => {
      const now = Date.now()
      if (this.pingSentAt !== undefined && !this.paused && now - this.pingSentAt >= keepaliveMs) {
        return this.destroy(new Error(`no answer from ${redactUrl(this.options.url)} within the keepalive (${this.options.keepaliveS} s)`))
      }
      if (now - this.lastSentAt >= keepaliveMs / 2) {
        this.send({ cmd: 'pingreq' })
        this.pingSentAt ??= now
      }
    }, Math.max(100, keepaliveMs / 4))
    this.keepaliveTimer.unref()
  }

  private packetId(): number {
    const id = this.nextPacketId
    this.nextPacketId = id === 65_535 ? 1 : id + 1
    return id
  }

  private finish(error: Error | undefined): void {
    if (this.isClosed) return
    this.isClosed = true
    clearInterval(this.keepaliveTimer)
    for (const [key, waiter] of this.waiting) {
      clearTimeout(waiter.timer)
      waiter.reject(error ?? new Error('connection closed'))
      this.waiting.delete(key)
    }
    this.handlers.closed(error)
  }
}

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3. */
const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
}

function parseBrokerUrl(url: string): { tls: boolean; host: string; port: number; username?: string; password?: string } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new ConfigError(`not a broker URL: ${redactUrl(url)}`, { cause })
  }
  const scheme = parsed.protocol.replace(/:$/, '')
  const tls = ['mqtts', 'ssl', 'tls'].includes(scheme)
  if (!tls && !['mqtt', 'tcp'].includes(scheme)) {
    throw new ConfigError(`${redactUrl(url)}: the subscribed ingest speaks MQTT over TCP (mqtt://) or TLS (mqtts://), not ${scheme}://`)
  }
  return {
    tls,
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? (tls ? 8883 : 1883) : Number(parsed.port),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  }
}
