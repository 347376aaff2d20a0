import mqtt, { type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readingsTopic, statusTopic } from '../../core/topics.ts'
import { LoginThrottle } from '../../services/broker/login-throttle.ts'
import { testBroker, type TestBroker } from '../helpers/broker.ts'
import { uniqueId, waitFor } from '../helpers/env.ts'
import { connectBytes, rawConnect, rawSocket } from '../helpers/mqtt-raw.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * Issue 8's attacks on the embedded broker, each on the real aedes broker over TCP with a real SQLite registry:
 * every test shows the attack fails and that legitimate traffic in the same test still flows. Limits (packet
 * size, floods, storm, revocation, TLS) are in broker-limits.test.ts.
 */

const logLines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })

const DEVICES = ['sec-a', 'sec-b', 'sec-target', 'sec-revoked', 'sec-gone', 'tasmota-shed']
let registry: TestRegistry
let broker: TestBroker
/** `store.authenticate` calls: each is one scrypt verification. */
let credentialChecks = 0
/** The ingest account subscribed to every topic it may read; records what reached it. */
let observer: MqttClient
const observed: Array<{ topic: string; payload: string; retain: boolean }> = []
const ingestClientId = uniqueId('sec-ingest')

beforeAll(async () => {
  registry = await testRegistry(DEVICES.map((id) => ({ id, neighbourhood: 'stadshagen', consent: true })))
  await registry.store.revoke('sec-revoked')
  const authenticate = registry.store.authenticate.bind(registry.store)
  registry.store.authenticate = (username, secret) => (credentialChecks++, authenticate(username, secret))
  broker = await testBroker(registry, logger, { ingestClientId, registryPollMs: 250 })
  observer = await broker.service('ingest', { clientId: uniqueId('observer') })
  observer.on('message', (topic, payload, packet) => observed.push({ topic, payload: payload.toString(), retain: packet.retain }))
  const granted = await observer.subscribeAsync(['senshagen/v1/devices/+/readings', 'senshagen/v1/devices/+/status', 'tele/#'], { qos: 1 })
  expect(granted.map((g) => g.qos)).toEqual([1, 1, 1])
})

afterAll(async () => {
  await observer?.endAsync()
  await broker?.close()
  await registry?.close()
})

const closed = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()))
const seen = (payload: string) => observed.filter((m) => m.payload === payload)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Messages aedes' in-memory persistence holds in the outgoing queue of a client id. */
async function queuedFor(clientId: string): Promise<number> {
  const persistence = (broker.aedes as unknown as { persistence: { outgoingStream(client: { id: string }): AsyncIterable<unknown> } }).persistence
  let count = 0
  for await (const _ of persistence.outgoingStream({ id: clientId })) count++
  return count
}

/** A device publishes `payload` on its readings topic at QoS 1 and the observer receives it. */
async function legitimateReadingFlows(deviceId: string): Promise<void> {
  const payload = uniqueId(`ok-${deviceId}`)
  const device = await broker.device(deviceId)
  await device.publishAsync(readingsTopic(deviceId), payload, { qos: 1 })
  await waitFor(`${deviceId}'s reading at the observer`, () => seen(payload).length === 1, 5_000, 20)
  await device.endAsync()
}

describe('authentication', () => {
  it('refuses an anonymous client with CONNACK 5', async () => {
    const before = broker.security.refused.anonymous
    const { client, connack } = await rawConnect(broker.port, { clientId: uniqueId('anon') })
    expect(connack.returnCode).toBe(5)
    await client.closed // [MQTT-3.2.2-5]
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 5 })
    expect(broker.security.refused.anonymous - before).toBe(2)
    await legitimateReadingFlows('sec-a')
  })

  it('refuses 300 wrong passwords in a row, checking only the first loginFailures of them', async () => {
    const checksBefore = credentialChecks
    const { 'bad-credentials': badBefore, 'login-throttled': throttledBefore } = broker.security.refused
    const codes: number[] = []
    for (let i = 0; i < 300; i++) {
      const { client, connack } = await rawConnect(broker.port, { clientId: uniqueId('guess'), username: 'sec-target', password: Buffer.from(`guess-${i}`) })
      codes.push(connack.returnCode!)
      client.end()
    }
    expect(codes).toEqual(Array(300).fill(5))
    expect(credentialChecks - checksBefore).toBe(5) // SENSHAGEN_MQTT_LOGIN_FAILURES: one scrypt each, then none
    expect(broker.security.refused['bad-credentials'] - badBefore).toBe(5)
    expect(broker.security.refused['login-throttled'] - throttledBefore).toBe(295)
    // the locked pair is refused even with the right secret until the lock runs out (the price of the lock) …
    const locked = await rawConnect(broker.port, { clientId: uniqueId('owner'), username: 'sec-target', password: Buffer.from(registry.secrets.get('sec-target')!) })
    expect(locked.connack.returnCode).toBe(5)
    locked.client.end()
    expect(credentialChecks - checksBefore).toBe(5)
    // … while other accounts from the same address log in and publish
    await legitimateReadingFlows('sec-a')
  })

  it('locks a (address, username) pair after N failures and doubles the lock while failures go on', () => {
    let now = 0
    const throttle = new LoginThrottle({ failures: 3, lockoutMs: 1_000, now: () => now })
    expect([throttle.failed('10.0.0.1', 'x'), throttle.failed('10.0.0.1', 'x'), throttle.failed('10.0.0.1', 'x')]).toEqual([0, 0, 1_000])
    expect(throttle.lockedFor('10.0.0.1', 'x')).toBe(1_000)
    expect(throttle.lockedFor('10.0.0.2', 'x')).toBe(0) // another address
    expect(throttle.lockedFor('10.0.0.1', 'y')).toBe(0) // another username
    now = 1_000
    expect(throttle.lockedFor('10.0.0.1', 'x')).toBe(0)
    expect(throttle.failed('10.0.0.1', 'x')).toBe(2_000)
    now = 2_999
    expect(throttle.lockedFor('10.0.0.1', 'x')).toBe(1)
    now = 3_000
    expect(throttle.failed('10.0.0.1', 'x')).toBe(4_000)
    throttle.succeeded('10.0.0.1', 'x')
    expect(throttle.lockedFor('10.0.0.1', 'x')).toBe(0)
    expect(throttle.failed('10.0.0.1', 'x')).toBe(0) // forgotten: counting starts again
  })

  it('refuses an unregistered device and a revoked one', async () => {
    const ghost = await rawConnect(broker.port, { clientId: uniqueId('ghost'), username: 'ghost-device', password: Buffer.from('x'.repeat(43)) })
    expect(ghost.connack.returnCode).toBe(5)
    const revoked = await rawConnect(broker.port, { clientId: uniqueId('revoked'), username: 'sec-revoked', password: Buffer.from(registry.secrets.get('sec-revoked')!) })
    expect(revoked.connack.returnCode).toBe(5)
    await Promise.all([ghost.client.closed, revoked.client.closed])
    await legitimateReadingFlows('sec-b')
  })

  it('logs every refusal with reason, client id, username and address, never the password', async () => {
    const clientId = uniqueId('logged')
    const { client } = await rawConnect(broker.port, { clientId, username: 'ghost-logged', password: Buffer.from('the-wrong-secret-xyz') })
    await client.closed
    const line = logLines.find((l) => l.clientId === clientId)
    expect(line).toMatchObject({ level: 40, reason: 'bad-credentials', clientId, username: 'ghost-logged', remote: '127.0.0.1' })
    const all = JSON.stringify(logLines)
    expect(all).not.toContain('the-wrong-secret-xyz')
    expect(all).not.toContain('guess-1')
    for (const secret of registry.secrets.values()) expect(all).not.toContain(secret)
  })
})

describe('publish rights', () => {
  it('closes the connection of a device publishing into another device\'s topic; nothing is delivered', async () => {
    const attacker = await broker.device('sec-b')
    const gone = closed(attacker)
    const forged = uniqueId('forged')
    void attacker.publishAsync(readingsTopic('sec-a'), forged, { qos: 1 }).catch(() => undefined) // no PUBACK in 3.1.1
    await gone
    const forged0 = uniqueId('forged0')
    const again = await broker.device('sec-b')
    const gone0 = closed(again)
    void again.publish(`tele/shed/SENSOR`, forged0, { qos: 0 }) // a Tasmota device's topic
    await gone0
    await legitimateReadingFlows('sec-a')
    await pause(200)
    expect([...seen(forged), ...seen(forged0)]).toEqual([])
    expect(broker.security.refused['publish-refused']).toBeGreaterThanOrEqual(2)
  })

  it('lets the importer publish only for registered, active devices', async () => {
    const importer = await broker.service('importer')
    const ok = uniqueId('imported')
    await importer.publishAsync(readingsTopic('sec-a'), ok, { qos: 1 })
    await waitFor('the imported reading', () => seen(ok).length === 1, 5_000, 20)
    for (const device of ['not-registered', 'sec-revoked']) {
      const client = await broker.service('importer')
      const gone = closed(client)
      const payload = uniqueId('unregistered')
      void client.publishAsync(readingsTopic(device), payload, { qos: 1 }).catch(() => undefined)
      await gone
      await pause(100)
      expect(seen(payload)).toEqual([])
    }
    await importer.endAsync()
  })

  it('refuses a retained reading (connection closed, nothing retained) but keeps a device\'s retained status', async () => {
    const device = await broker.device('sec-a')
    const gone = closed(device)
    void device.publishAsync(readingsTopic('sec-a'), uniqueId('retained'), { qos: 1, retain: true }).catch(() => undefined)
    await gone
    const status = await broker.device('sec-a')
    await status.publishAsync(statusTopic('sec-a'), 'online', { qos: 1, retain: true })
    await status.endAsync()
    const reader = await broker.service('operator')
    const got: Array<[string, string, boolean]> = []
    reader.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.retain]))
    await reader.subscribeAsync([readingsTopic('sec-a'), statusTopic('sec-a')], { qos: 1 })
    await waitFor('the retained status', () => got.length >= 1, 5_000, 20)
    await pause(200)
    expect(got).toEqual([[statusTopic('sec-a'), 'online', true]])
    expect(broker.security.refused['retain-refused']).toBe(1)
    await reader.endAsync()
  })

  it('refuses a CONNECT whose will aims at another device; a will on the own status topic is delivered', async () => {
    const forged = await mqtt
      .connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, username: 'sec-b', password: registry.secrets.get('sec-b'), will: { topic: statusTopic('sec-a'), payload: Buffer.from('forged-offline'), qos: 1, retain: true } })
      .then(() => 0, (error: { code?: number }) => error.code)
    expect(forged).toBe(5)
    const honest = await broker.device('sec-b', { will: { topic: statusTopic('sec-b'), payload: Buffer.from('sec-b-offline'), qos: 1, retain: true } })
    honest.stream.destroy() // unclean: the broker publishes the will [MQTT-3.1.2-8]
    await waitFor('sec-b\'s own will', () => seen('sec-b-offline').length === 1, 5_000, 20)
    expect(seen('forged-offline')).toEqual([])
    expect(broker.security.refused['will-refused']).toBe(1)
  })
})

describe('subscriptions', () => {
  it('answers # and $SYS/# with 0x80 and delivers nothing through them', async () => {
    const password = Buffer.from(registry.secrets.get('sec-a')!)
    const { client: spy, connack } = await rawConnect(broker.port, { clientId: uniqueId('spy'), username: 'sec-a', password })
    expect(connack.returnCode).toBe(0)
    const filters = ['#', '$SYS/#', readingsTopic('sec-b'), '$SYS/+/new/clients', 'senshagen/#']
    spy.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 0 as const })) })
    expect((await spy.next('suback')).granted).toEqual([128, 128, 128, 128, 128]) // [MQTT-3.9.3]
    const operator = await rawConnect(broker.port, { clientId: uniqueId('op'), username: registry.service.operator.username, password: Buffer.from(registry.service.operator.password) })
    operator.client.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: '$SYS/#', qos: 0 }, { topic: readingsTopic('sec-b'), qos: 0 }] })
    expect((await operator.client.next('suback')).granted).toEqual([128, 0])
    await legitimateReadingFlows('sec-b') // a reading, and a new client: aedes publishes $SYS/<id>/new/clients
    const toOperator = await operator.client.next('publish')
    expect(toOperator.topic).toBe(readingsTopic('sec-b'))
    await pause(300)
    expect(spy.received.filter((p) => p.cmd === 'publish')).toEqual([])
    expect(operator.client.received.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic)).toEqual([readingsTopic('sec-b')])
    spy.end()
    operator.client.end()
  })

  it('keeps a refused filter out of a persistent session: nothing is queued or delivered for it', async () => {
    const clientId = uniqueId('persistent-spy')
    const login = { clientId, clean: false, username: 'tasmota-shed', password: Buffer.from(registry.secrets.get('tasmota-shed')!) }
    const first = await rawConnect(broker.port, login)
    first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmnd/shed/POWER', qos: 1 }, { topic: '#', qos: 1 }] })
    expect((await first.client.next('suback')).granted).toEqual([1, 128])
    await legitimateReadingFlows('sec-a') // QoS 1 while the spy is online …
    first.client.end()
    await first.client.closed
    await legitimateReadingFlows('sec-b') // … and while it is away
    expect(await queuedFor(clientId)).toBe(0)
    const back = await rawConnect(broker.port, login)
    expect(back.connack).toMatchObject({ returnCode: 0, sessionPresent: true }) // its allowed filter survived
    await pause(300)
    expect(back.client.received.filter((p) => p.cmd === 'publish')).toEqual([])
    back.client.end()
  })
})

describe('client ids', () => {
  it('keeps the ingest\'s client id and persistent session for the ingest account', async () => {
    const ingest = await broker.service('ingest', { clientId: ingestClientId, clean: false })
    await ingest.subscribeAsync('senshagen/v1/devices/+/readings', { qos: 1 })
    const got: string[] = []
    ingest.on('message', (_t, payload) => got.push(payload.toString()))
    for (const clean of [false, true]) {
      const takeover = await broker
        .device('sec-a', { clientId: ingestClientId, clean })
        .then(() => 0, (error: { code?: number }) => error.code)
      expect(takeover).toBe(5)
    }
    expect(ingest.connected).toBe(true)
    await ingest.endAsync()
    // offline: a reading is queued for the session; a takeover attempt must neither get it nor wipe it
    const queued = uniqueId('queued')
    const device = await broker.device('sec-a')
    await device.publishAsync(readingsTopic('sec-a'), queued, { qos: 1 })
    await device.endAsync()
    const wipe = await broker.device('sec-b', { clientId: ingestClientId, clean: true }).then(() => 0, (error: { code?: number }) => error.code)
    expect(wipe).toBe(5)
    const back = await broker.service('ingest', { clientId: ingestClientId, clean: false })
    const after: string[] = []
    back.on('message', (_t, payload) => after.push(payload.toString()))
    await waitFor('the queued reading', () => after.includes(queued), 5_000, 20)
    await back.endAsync()
    expect(broker.security.refused['client-id-taken']).toBeGreaterThanOrEqual(3)
  })

  it('lets only the same device take over its own client id [MQTT-3.1.4-2]', async () => {
    const clientId = uniqueId('shared-id')
    const first = await broker.device('sec-a', { clientId })
    const other = await broker.device('sec-b', { clientId }).then(() => 0, (error: { code?: number }) => error.code)
    expect(other).toBe(5)
    expect(first.connected).toBe(true)
    const firstGone = closed(first)
    const second = await broker.device('sec-a', { clientId })
    await firstGone // the same account's new connection replaces the old one
    await second.endAsync()
  })

  it('reserves each account\'s name as a client id: another device cannot squat on it and lock that device out', async () => {
    // a by-hand trial: sec-a logged in with client id "sec-b" and a persistent session, and sec-b itself was then refused
    for (const clientId of ['sec-b', 'sec-revoked', '_ingest']) {
      const squat = await broker.device('sec-a', { clientId, clean: false }).then(() => 0, (error: { code?: number }) => error.code)
      expect(squat, clientId).toBe(5)
    }
    await legitimateReadingFlows('sec-b')
    const own = await broker.device('sec-a', { clientId: 'sec-a' })
    expect(own.connected).toBe(true)
    await own.endAsync()
  })

  it('refuses an empty client id with CleanSession=0 (CONNACK 2) and accepts it with CleanSession=1', async () => {
    const password = registry.secrets.get('sec-a')!
    const persistent = await rawSocket(broker.port)
    persistent.write(connectBytes({ clientId: '', clean: false, username: 'sec-a', password }))
    expect((await persistent.next('connack')).returnCode).toBe(2) // [MQTT-3.1.3-8]
    await persistent.closed
    expect(broker.security.refused['empty-client-id']).toBe(1)
    const clean = await rawSocket(broker.port)
    clean.write(connectBytes({ clientId: '', clean: true, username: 'sec-a', password }))
    expect((await clean.next('connack')).returnCode).toBe(0) // [MQTT-3.1.3-6]: the server assigns an id
    clean.end()
  })
})
