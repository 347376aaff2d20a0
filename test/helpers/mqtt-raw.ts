import { connect as netConnect, type Socket } from 'node:net'
import * as mqttPacket from 'mqtt-packet'
import type { IConnackPacket, IConnectPacket, Packet } from 'mqtt-packet'

/**
 * An MQTT 3.1.1 client on a bare TCP socket, for what mqtt.js hides or refuses to do: an empty client id with
 * clean=false, a fixed header announcing 100 MB, thousands of publishes written at once, a CONNACK code read as is.
 * Packets are encoded and parsed by mqtt-packet (the codec aedes and mqtt.js use).
 */
export interface RawClient {
  socket: Socket
  /** Every packet the broker sent, in order. */
  received: Packet[]
  /** Writes one packet. */
  send(packet: Packet): void
  /** Writes bytes as they are (a packet mqt-packet refuses to encode, a fixed header alone, a flood). */
  write(bytes: Buffer): boolean
  /** The first received packet of `cmd` not taken before (in arrival order); rejects after `timeoutMs`. */
  next<C extends Packet['cmd']>(cmd: C, timeoutMs?: number): Promise<Extract<Packet, { cmd: C }>>
  /** Resolves when the broker (or we) closed the connection. */
  closed: Promise<void>
  isClosed(): boolean
  end(): void
}

export async function rawSocket(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = netConnect({ port, host })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return rawPeer(socket)
}

/**
 * The same on a socket that is already connected: either end of MQTT, e.g. a connection a test server
 * accepted, where the test plays the broker (`received` then holds what the client sent).
 */
export function rawPeer(socket: Socket): RawClient {
  socket.on('error', () => undefined) // a reset by the peer shows as `closed`
  const received: Packet[] = []
  const taken = new Set<Packet>()
  const waiters = new Set<() => void>()
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (packet: Packet) => {
    received.push(packet)
    for (const wake of [...waiters]) wake()
  })
  socket.on('data', (chunk) => parser.parse(chunk))
  let isClosed = false
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true
      for (const wake of [...waiters]) wake()
      resolve()
    }),
  )
  return {
    socket,
    received,
    send: (packet) => void socket.write(mqttPacket.generate(packet)),
    write: (bytes) => socket.write(bytes),
    next<C extends Packet['cmd']>(cmd: C, timeoutMs = 5_000) {
      return new Promise<Extract<Packet, { cmd: C }>>((resolve, reject) => {
        const check = () => {
          const found = received.find((p) => p.cmd === cmd && !taken.has(p))
          if (found) {
            taken.add(found)
            done()
            resolve(found as Extract<Packet, { cmd: C }>)
          } else if (isClosed) {
            done()
            reject(new Error(`connection closed before a ${cmd} arrived`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`no ${cmd} within ${timeoutMs} ms`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    closed,
    isClosed: () => isClosed,
    end: () => socket.destroy(),
  }
}

/**
 * A CONNECT packet encoded by hand (MQTT 3.1.1 §3.1), for what mqtt-packet refuses to encode: a zero-length
 * client id with CleanSession=0 [MQTT-3.1.3-8]. No will.
 */
export function connectBytes(options: { clientId: string; clean: boolean; username?: string; password?: string; keepalive?: number }): Buffer {
  const string = (text: string) => {
    const bytes = Buffer.from(text, 'utf8')
    return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
  }
  const flags = (options.username !== undefined ? 0x80 : 0) | (options.password !== undefined ? 0x40 : 0) | (options.clean ? 0x02 : 0)
  const keepalive = options.keepalive ?? 60
  const body = Buffer.concat([
    string('MQTT'),
    Buffer.from([4, flags, keepalive >> 8, keepalive & 0xff]),
    string(options.clientId),
    ...(options.username !== undefined ? [string(options.username)] : []),
    ...(options.password !== undefined ? [string(options.password)] : []),
  ])
  if (body.length > 127) throw new Error('connectBytes encodes short packets only')
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

/** Opens a socket, sends CONNECT (protocol 4, keepalive 60 s unless given) and waits for the CONNACK. */
export async function rawConnect(port: number, connect: Partial<IConnectPacket>): Promise<{ client: RawClient; connack: IConnackPacket }> {
  const client = await rawSocket(port)
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: '', ...connect } as IConnectPacket)
  const connack = await client.next('connack')
  return { client, connack }
}

/** PUBLISH fixed header + topic for a QoS 0 packet announcing `payloadBytes` of payload [MQTT-2.2.3, 3.3]. */
export function publishHeader(topic: string, payloadBytes: number): Buffer {
  const topicField = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), Buffer.from(topic)])
  let remaining = topicField.length + payloadBytes
  const length: number[] = []
  do {
    let byte = remaining % 128
    remaining = Math.floor(remaining / 128)
    if (remaining > 0) byte |= 0x80
    length.push(byte)
  } while (remaining > 0)
  return Buffer.concat([Buffer.from([0x30, ...length]), topicField])
}
