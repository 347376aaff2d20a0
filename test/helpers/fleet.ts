import mqtt, { type MqttClient } from 'mqtt'

/**
 * Devices that publish the way a careful firmware does at QoS 1: a few publishes in flight, each one until its
 * PUBACK; when the connection dies, the device reconnects (as long as the broker refuses, for up to
 * `reconnectForMs`) and first resends, in order, whatever was not acknowledged. The device cannot know whether
 * an unacknowledged message was stored, so a resend may deliver it twice (at-least-once, MQTT 3.1.1 §4.3.2).
 */

/** One MQTT message of a device and what it must leave in the store. */
export interface FleetMessage {
  topic: string
  payload: string
  /** The readings it carries, as they must be stored: device id (the stored one), quantity, time (epoch ms), value. */
  readings: Array<{ device: string; quantity: string; time: number; value: number }>
  /** Rules of the rejections it must leave (empty for a valid message). */
  rejections: string[]
}

export interface FleetDevice {
  /** Login (username and client id); the registry id of the device. */
  id: string
  /** Its secret; undefined for a broker without authentication (Mosquitto in the fault matrix). */
  secret?: string
  messages: FleetMessage[]
}

export interface PublishStats {
  /** PUBLISH packets written, resends included. */
  sends: number
  /** Messages sent again on a new connection because the old one died before their PUBACK. */
  resent: number
  /** Connections that died under the device. */
  reconnects: number
}

export interface PublishOptions {
  url: string
  /** QoS 1 publishes a device keeps in flight (4). */
  window?: number
  /** How long a device keeps trying to connect after a refusal before it gives up (300 s). */
  reconnectForMs?: number
  /** Called once per message, at its first PUBACK. */
  onAcked?(device: FleetDevice, message: FleetMessage): void
}

/** Publishes every message of `device` until each one is acknowledged; resolves with its counts. */
export async function publishUntilAcked(device: FleetDevice, options: PublishOptions): Promise<PublishStats> {
  const window = options.window ?? 4
  const stats: PublishStats = { sends: 0, resent: 0, reconnects: 0 }
  const acked = new Set<number>()
  const retry: number[] = []
  let next = 0
  while (acked.size < device.messages.length) {
    const client = await connectUntilAccepted(device, options.url, options.reconnectForMs ?? 300_000)
    const outstanding = new Set<number>()
    await new Promise<void>((resolve) => {
      let finished = false
      const pump = () => {
        if (finished) return
        while (outstanding.size < window && (retry.length > 0 || next < device.messages.length)) {
          const index = retry.length > 0 ? retry.shift()! : next++
          const message = device.messages[index]!
          outstanding.add(index)
          stats.sends++
          client.publishAsync(message.topic, message.payload, { qos: 1 }).then(
            () => {
              if (finished) return
              outstanding.delete(index)
              if (!acked.has(index)) options.onAcked?.(device, message)
              acked.add(index)
              pump()
            },
            () => undefined, // the connection died first: resent on the next one
          )
        }
        if (outstanding.size === 0) {
          finished = true
          resolve()
        }
      }
      const died = () => {
        if (finished) return
        finished = true
        const lost = [...outstanding].sort((a, b) => a - b)
        retry.unshift(...lost)
        stats.resent += lost.length
        stats.reconnects++
        resolve()
      }
      client.once('close', died)
      // closed between the CONNACK and here: mqtt.js would queue the publishes offline and never send them
      if (!client.connected) return died()
      pump()
    })
    client.removeAllListeners('close')
    await client.endAsync(true).catch(() => undefined)
  }
  return stats
}

async function connectUntilAccepted(device: FleetDevice, url: string, forMs: number): Promise<MqttClient> {
  const deadline = Date.now() + forMs
  for (;;) {
    try {
      const client = await mqtt.connectAsync(url, {
        protocolVersion: 4,
        clientId: device.id,
        username: device.secret === undefined ? undefined : device.id,
        password: device.secret,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 15_000, // a login is one scrypt verification: seconds on a busy machine
      }, false) // allowRetries false: a connection closed before its CONNACK rejects (mqtt.js would otherwise wait forever)
      client.on('error', () => undefined) // a reset shows as 'close'
      return client
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${device.id}: no connection to ${url} for ${forMs} ms`, { cause: error })
      await new Promise((resolve) => setTimeout(resolve, 250 + Math.random() * 250))
    }
  }
}
