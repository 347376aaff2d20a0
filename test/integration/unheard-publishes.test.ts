import { createServer, type Server } from 'node:net'
import { Aedes } from 'aedes'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { skipUnheardPublishes } from '../../services/broker/unheard-publishes.ts'
import { uniqueId, waitFor } from '../helpers/env.ts'

/**
 * services/broker/unheard-publishes.ts on a real aedes over TCP (no authentication, so that only the skip is
 * under test): a publish nobody subscribed to skips aedes' delivery, and every subscriber still gets what MQTT
 * owes it: live, from a persistent session's offline queue, retained, and `$SYS`.
 */
let aedes: Aedes
let server: Server
const clients: MqttClient[] = []

async function start(): Promise<{ url: string; counts: { readonly skipped: number } }> {
  aedes = await Aedes.createBroker()
  const counts = skipUnheardPublishes(aedes)
  server = createServer((socket) => aedes.handle(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return { url: `mqtt://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, counts }
}

async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: uniqueId('uh'), ...options })
  clients.push(client)
  return client
}

function received(client: MqttClient): Array<{ topic: string; payload: string; retain: boolean }> {
  const messages: Array<{ topic: string; payload: string; retain: boolean }> = []
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }))
  return messages
}

afterEach(async () => {
  for (const client of clients.splice(0)) await client.endAsync(true)
  await new Promise<void>((resolve) => aedes.close(() => resolve()))
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('skipUnheardPublishes', () => {
  it('skips the delivery of a publish no filter matches, and delivers again once a matching filter is granted', async () => {
    const { url, counts } = await start()
    const device = await connect(url)
    await device.publishAsync('senshagen/v1/devices/a/readings', 'first', { qos: 1 })
    expect(counts.skipped).toBe(1)

    const listener = await connect(url)
    const messages = received(listener)
    await listener.subscribeAsync('senshagen/v1/devices/+/readings', { qos: 1 })
    await device.publishAsync('senshagen/v1/devices/a/readings', 'second', { qos: 1 })
    await device.publishAsync('senshagen/v1/devices/a/status', 'not matched', { qos: 1 })
    await waitFor('the live message', () => messages.length === 1, 5_000, 20)
    expect(messages).toEqual([{ topic: 'senshagen/v1/devices/a/readings', payload: 'second', retain: false }])
    expect(counts.skipped).toBe(2) // the status publish: its topic matches no granted filter
  })

  it('keeps delivering to a persistent session that unsubscribed nothing and went offline (its offline queue)', async () => {
    const { url, counts } = await start()
    const clientId = uniqueId('persistent')
    const offline = await connect(url, { clientId, clean: false })
    await offline.subscribeAsync('senshagen/v1/devices/b/readings', { qos: 1 })
    await offline.endAsync()
    const device = await connect(url)
    await device.publishAsync('senshagen/v1/devices/b/readings', 'queued', { qos: 1 })
    expect(counts.skipped).toBe(0)

    const back = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId, clean: false })
    clients.push(back)
    const messages = received(back)
    await waitFor('the queued message', () => messages.length === 1, 5_000, 20)
    expect(messages[0]).toEqual({ topic: 'senshagen/v1/devices/b/readings', payload: 'queued', retain: false })
  })

  it('never skips a retained publish: a later subscriber gets it', async () => {
    const { url, counts } = await start()
    const device = await connect(url)
    await device.publishAsync('senshagen/v1/devices/c/status', 'online', { qos: 1, retain: true })
    expect(counts.skipped).toBe(0)
    const late = await connect(url)
    const messages = received(late)
    await late.subscribeAsync('senshagen/v1/devices/c/status', { qos: 1 })
    await waitFor('the retained message', () => messages.length === 1, 5_000, 20)
    expect(messages[0]).toEqual({ topic: 'senshagen/v1/devices/c/status', payload: 'online', retain: true })
  })

  it('leaves $SYS topics and a host listening to the publish event alone', async () => {
    const { url, counts } = await start()
    const seen: string[] = []
    aedes.on('publish', (packet) => void seen.push(packet.topic))
    const device = await connect(url)
    await device.publishAsync('senshagen/v1/devices/d/readings', 'x', { qos: 1 })
    await waitFor('the publish event', () => seen.includes('senshagen/v1/devices/d/readings'), 5_000, 20)
    expect(counts.skipped).toBe(0)
    expect(seen.some((topic) => topic.startsWith('$SYS/'))).toBe(true)
  })
})
