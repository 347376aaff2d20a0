import { createServer, type Server } from 'node:net'
import { generate as encode, type IPublishPacket, type ISubscribePacket, type Packet } from 'mqtt-packet'
import { afterEach, describe, expect, it } from 'vitest'
import type { InboundMessage } from '../../core/decoders/index.ts'
import { createLogger } from '../../core/logger.ts'
import { MqttSource, type MqttSourceOptions } from '../../services/ingest/mqtt-ingest.ts'
import { waitFor } from '../helpers/env.ts'
import { rawPeer, type RawClient } from '../helpers/mqtt-raw.ts'

/**
 * The subscribed ingest's MQTT client (services/ingest/mqtt-ingest.ts) against a test server that plays the
 * broker over a real TCP socket (mqtt-packet): the test chooses the packet ids and when they go out, and sees
 * every PUBACK in the order and at the moment the client wrote it. The real brokers (aedes, Mosquitto) are in
 * mqtt-subscribed-ingest.test.ts.
 */
const logger = createLogger('silent')
const FILTER = 'senshagen/v1/devices/+/readings'
const QUIET_MS = 150

/** A TCP server on 127.0.0.1 handing every accepted connection to the test as a RawClient. */
async function fakeBroker() {
  const accepted: RawClient[] = []
  let taken = 0
  const server: Server = createServer((socket) => void accepted.push(rawPeer(socket)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `mqtt://127.0.0.1:${port}`,
    /** The next connection the client opened (in order). */
    next: () => waitFor('a connection from the client', () => accepted[taken] && accepted[taken++], 5_000, 10),
    close: () => new Promise<void>((resolve) => {
      for (const peer of accepted) peer.end()
      server.close(() => resolve())
    }),
  }
}

/** Answers CONNECT with CONNACK 0 and SUBSCRIBE with `granted` (the QoS asked for by default). */
async function accept(peer: RawClient, granted?: number[]) {
  const connect = await peer.next('connect')
  peer.send({ cmd: 'connack', returnCode: 0, sessionPresent: false })
  const subscribe = (await peer.next('subscribe')) as ISubscribePacket
  peer.send({ cmd: 'suback', messageId: subscribe.messageId, granted: granted ?? subscribe.subscriptions.map((s) => s.qos) })
  return { connect, subscribe }
}

const publish = (messageId: number, qos: 0 | 1 = 1, dup = false): IPublishPacket => ({
  cmd: 'publish',
  topic: 'senshagen/v1/devices/fake-1/readings',
  payload: Buffer.from(`m${messageId}`),
  qos,
  dup,
  retain: false,
  messageId: qos === 0 ? undefined : messageId,
})

/**
 * Stands in for IngestCore: handle() resolves when the test says so, by payload; `resolved` lists the
 * payloads whose handle() has resolved, in that order.
 */
function gatedCore() {
  const pending = new Map<string, { resolve: () => void; reject: (error: Error) => void }>()
  const resolved: string[] = []
  const handled: string[] = []
  return {
    handled,
    resolved,
    handle(message: InboundMessage): Promise<void> {
      const key = message.payload.toString()
      handled.push(key)
      return new Promise<void>((resolve, reject) => pending.set(key, { resolve: () => (resolved.push(key), resolve()), reject }))
    },
    release: (...keys: string[]) => keys.forEach((key) => pending.get(key)!.resolve()),
    fail: (key: string) => pending.get(key)!.reject(new Error('sink closed')),
  }
}

const pubacks = (peer: RawClient) => peer.received.filter((p): p is Extract<Packet, { cmd: 'puback' }> => p.cmd === 'puback').map((p) => p.messageId!)
const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS))

describe('subscribed ingest client against a scripted broker', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function setup(options: Partial<MqttSourceOptions> = {}) {
    const broker = await fakeBroker()
    const core = gatedCore()
    const source = new MqttSource({ url: broker.url, clientId: 'ingest-fake', username: '_ingest', password: 's3cr3t-pw', filters: [FILTER], keepaliveS: 30, ...options }, core, logger)
    cleanups.push(broker.close, () => source.stop())
    const started = source.start()
    const peer = await broker.next()
    return { broker, core, source, started, peer }
  }

  it('connects with a persistent session and its credentials, and subscribes at QoS 1 ($share/<group>/ with a group)', async () => {
    const { started, peer } = await setup({ shareGroup: 'ingesters' })
    const { connect, subscribe } = await accept(peer)
    await started
    expect(connect).toMatchObject({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'ingest-fake', clean: false, keepalive: 30, username: '_ingest' })
    expect(Buffer.from((connect as { password: Buffer }).password).toString()).toBe('s3cr3t-pw')
    expect(subscribe.subscriptions).toEqual([{ topic: `$share/ingesters/${FILTER}`, qos: 1 }])
  })

  it('sends PUBACKs in arrival order, each only after its handle() resolved, whatever order the sink finishes in', async () => {
    const { core, source, started, peer } = await setup()
    await accept(peer)
    await started
    // every PUBACK the broker gets must belong to a message whose handle() had resolved
    const early: number[] = []
    peer.socket.on('data', () => {
      for (const id of pubacks(peer)) if (!core.resolved.includes(`m${id}`)) early.push(id)
    })
    // one socket write: ten QoS 1 publishes with a QoS 0 one among them (it needs no PUBACK)
    const ids = [101, 102, 103, 104, 105, 106, 107, 108, 109, 110]
    peer.write(Buffer.concat([...ids.slice(0, 5).map((id) => publish(id)), publish(999, 0), ...ids.slice(5).map((id) => publish(id))].map(encode)))
    await waitFor('all eleven handed over concurrently', () => core.handled.length === 11, 5_000, 10)
    expect(core.handled).toEqual(['m101', 'm102', 'm103', 'm104', 'm105', 'm999', 'm106', 'm107', 'm108', 'm109', 'm110'])

    const steps: Array<[string[], number[]]> = [
      [['m103', 'm110', 'm102'], []], // the first is not done: nothing may go out
      [['m101'], [101, 102, 103]], // the gap closes: three at once, in order
      [['m105', 'm999'], [101, 102, 103]], // 104 still missing
      [['m104'], [101, 102, 103, 104, 105]], // the QoS 0 message between 105 and 106 is done too
      [['m109', 'm108', 'm107'], [101, 102, 103, 104, 105]],
      [['m106'], ids],
    ]
    for (const [release, expected] of steps) {
      core.release(...release)
      if (expected.length > pubacks(peer).length) await waitFor(`PUBACKs ${expected.join(',')}`, () => pubacks(peer).length >= expected.length, 5_000, 5)
      await quiet()
      expect(pubacks(peer)).toEqual(expected)
    }
    expect(early).toEqual([])
    expect(source.stats).toMatchObject({ connections: 1, received: 11, acknowledged: 10, bestEffort: 1, maxInFlight: 11 })
  })

  it('leaves a message the ingest could not store and all after it unacknowledged, then reconnects and gets them again', async () => {
    const { broker, core, source, started, peer } = await setup({ reconnect: { initialDelayMs: 50, maxDelayMs: 200 } })
    await accept(peer)
    await started
    peer.write(Buffer.concat([1, 2, 3].map((id) => encode(publish(id)))))
    await waitFor('three handed over', () => core.handled.length === 3, 5_000, 10)
    core.release('m1')
    core.fail('m2')
    core.release('m3')
    await peer.closed // the client drops the connection so that the broker redelivers
    expect(pubacks(peer)).toEqual([1])

    // the same persistent session again: the broker resends 2 and 3 with DUP set [MQTT-4.4.0-1]
    const again = await broker.next()
    const { connect } = await accept(again)
    expect(connect).toMatchObject({ clientId: 'ingest-fake', clean: false })
    again.write(Buffer.concat([2, 3].map((id) => encode(publish(id, 1, true)))))
    await waitFor('the redelivered two handed over', () => core.handled.length === 5, 5_000, 10)
    core.release('m2', 'm3')
    await waitFor('their PUBACKs', () => pubacks(again).length === 2, 5_000, 10)
    expect(pubacks(again)).toEqual([2, 3])
    expect(source.stats).toMatchObject({ connections: 2, received: 5, acknowledged: 3, refused: 1 })
  })

  it('holds messages beyond the window back until a slot frees, QoS 0 ones too, and acknowledges only QoS 1', async () => {
    const { core, source, started, peer } = await setup({ window: 2 })
    await accept(peer)
    await started
    peer.write(Buffer.concat([publish(1, 0), publish(2, 0), publish(3, 0), publish(4), publish(5, 0)].map(encode)))
    await waitFor('a full window', () => core.handled.length === 2, 5_000, 10)
    await quiet()
    expect(core.handled).toEqual(['m1', 'm2'])
    core.release('m2') // not first: its slot stays taken until m1 leaves
    await quiet()
    expect(core.handled).toEqual(['m1', 'm2'])
    core.release('m1') // two QoS 0 leave: two waiting messages come in
    await waitFor('the next two', () => core.handled.length === 4, 5_000, 10)
    core.release('m3', 'm4')
    await waitFor('the last one', () => core.handled.length === 5, 5_000, 10)
    core.release('m5')
    await waitFor('the one PUBACK', () => pubacks(peer).length === 1, 5_000, 10)
    await quiet()
    expect(core.handled).toEqual(['m1', 'm2', 'm3', 'm4', 'm5'])
    expect(pubacks(peer)).toEqual([4])
    expect(source.stats).toMatchObject({ received: 5, acknowledged: 1, bestEffort: 4, maxInFlight: 2 })
  })

  it('refuses to start when the broker refuses the subscription, naming the filter', async () => {
    const { started, peer } = await setup({ filters: [FILTER, 'tele/+/SENSOR'] })
    await accept(peer, [1, 0x80])
    await expect(started).rejects.toThrow(/refused the subscription to 'tele\/\+\/SENSOR' \(SUBACK 0x80\) for ingest-fake/)
    await peer.closed
  })

  it('refuses to start on a refused CONNECT, with the return code and no password in the message', async () => {
    const { started, peer } = await setup()
    await peer.next('connect')
    peer.send({ cmd: 'connack', returnCode: 5, sessionPresent: false })
    const error = await started.then(() => undefined, (e: Error) => e)
    expect(error?.message).toMatch(/refused the connection of ingest-fake: CONNACK 5 \(not authorized\)/)
    expect(error?.message).not.toContain('s3cr3t-pw')
  })
})
