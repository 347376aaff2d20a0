import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { readServiceCredentials } from '../../core/registry/service-credentials.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { KAFKA_BROKERS, isolatedEnv, uniqueId, waitFor } from '../helpers/env.ts'
import { freePort, startCli, type CliProcess } from '../helpers/processes.ts'
import { NEIGHBOURHOODS_FILE, NO_POSTGRES, startPostgresCluster, type PostgresCluster } from '../helpers/registry.ts'

/**
 * Scale-out without a home-made cluster (issue 9, item 4; README "Scaling out"): two `senshagen up` processes on
 * one machine, each a broker with the ingest in its process and a writer, share one Kafka (topics and consumer
 * group), one InfluxDB database and one PostgreSQL registry, and start at the same moment on a fresh registry
 * with one service-credentials file. Registered devices publish QoS 1 to either instance the way a device does:
 * a few publishes in flight, each one until its PUBACK; when the connection dies the device connects to the
 * other instance (a fresh session: nothing of the old one is there) and resends whatever was not acknowledged.
 * `kill -9` of one instance mid-stream; its devices move to the survivor, and its writer's partitions move to the
 * survivor's writer once Kafka's group session (10 s, core/bus/kafka.ts) expires.
 *
 * Proven: every reading is stored exactly once (point count and keys equal the expected set, every value equal to
 * what was sent), each device's records sit on one Kafka partition in the order it published them (resends of
 * unacknowledged messages are the only repeats), and both instances agree on the service accounts' secrets.
 */

const DEVICES = 12
const MESSAGES = 250 // per device; two readings each
const WINDOW = 4 // QoS 1 publishes a device keeps in flight (mqtt.js's default would be unbounded)
const KILL_AT = 0.3 // share of all messages acknowledged when the first instance is killed
const OBSERVED_FROM = Date.UTC(2025, 0, 6) // outside the calibration worker's window: it finds nothing to do

const logger = createLogger('warn')
const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** What device `d` sends as message `seq`: one observed time, two readings (values written out, not computed by the code under test). */
function expectedReadings(d: number, seq: number): { time: number; air_temperature: number; relative_humidity: number } {
  return { time: OBSERVED_FROM + seq * 60_000, air_temperature: Number(((d * 37 + seq) % 400 / 10 - 5).toFixed(1)), relative_humidity: Number((40 + ((d + seq) % 120) / 4).toFixed(2)) }
}

interface Device {
  index: number
  id: string
  secret: string
  /** Index into the instances' ports of the one it is connected to (or connecting to). */
  instance: number
  acked: Set<number>
  /** Publishes written, resends included. */
  sends: number
  /** Messages sent again on a new connection because the old one died before their PUBACK. */
  resent: number
  failovers: number
  outstanding: Set<number>
}

/**
 * One device: connects to its instance (or, when that one refuses, the other), keeps up to WINDOW QoS 1
 * publishes in flight and sends each message until it is acknowledged. A dead connection's unacknowledged
 * messages go first, in order, on the next one. Resolves when all MESSAGES are acknowledged.
 */
async function runDevice(device: Device, ports: number[]): Promise<void> {
  let next = 0
  const retry: number[] = []
  while (device.acked.size < MESSAGES) {
    const client = await connectSomewhere(device, ports)
    await new Promise<void>((resolve) => {
      let closed = false
      const pump = () => {
        if (closed) return
        while (device.outstanding.size < WINDOW && (retry.length > 0 || next < MESSAGES)) {
          const seq = retry.length > 0 ? retry.shift()! : next++
          device.outstanding.add(seq)
          device.sends++
          const r = expectedReadings(device.index, seq)
          const payload = JSON.stringify({ v: 1, device: device.id, time: r.time, readings: { air_temperature: r.air_temperature, relative_humidity: r.relative_humidity } })
          client.publishAsync(`senshagen/v1/devices/${device.id}/readings`, payload, { qos: 1 }).then(
            () => {
              if (closed) return
              device.outstanding.delete(seq)
              device.acked.add(seq)
              pump()
            },
            () => undefined, // the connection died first: resent below
          )
        }
        if (device.outstanding.size === 0) {
          closed = true
          resolve()
        }
      }
      client.once('close', () => {
        if (closed) return
        closed = true
        // unacknowledged: maybe stored by the dead instance, maybe not; the device cannot know, so it resends
        retry.push(...[...device.outstanding].sort((a, b) => a - b))
        device.resent += device.outstanding.size
        device.outstanding.clear()
        device.instance = 1 - device.instance
        device.failovers++
        resolve()
      })
      pump()
    })
    client.removeAllListeners('close')
    client.end(true)
  }
}

/** Connects to the device's instance, switching to the other after a refusal or a timeout; tries for up to 30 s. */
async function connectSomewhere(device: Device, ports: number[]): Promise<MqttClient> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports[device.instance]}`, {
        protocolVersion: 4,
        clientId: device.id,
        username: device.id,
        password: device.secret,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000, // a login is one scrypt verification: seconds on a busy machine
      }, false) // allowRetries false: a connection closed before its CONNACK rejects (mqtt.js would otherwise wait forever)
      client.on('error', () => undefined) // a reset shows as 'close'
      return client
    } catch (error) {
      if (Date.now() > deadline) throw error
      device.instance = 1 - device.instance
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** Every record of `topic` from the beginning up to its current end, as `{ partition, offset, key, value }` in offset order per partition. */
async function readTopic(topic: string): Promise<Array<{ partition: number; key: string; value: string }>> {
  const kafka = new Kafka({ clientId: `${topic}-check`, brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]))
  await admin.disconnect()
  const records: Array<{ partition: number; offset: bigint; key: string; value: string }> = []
  const reached = new Map<number, bigint>()
  const consumer = kafka.consumer({ groupId: `${topic}-check-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await new Promise<void>((resolve) => {
    const done = () => [...ends].every(([partition, high]) => (reached.get(partition) ?? 0n) >= high)
    if (done()) return resolve()
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, offset: BigInt(message.offset), key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' })
        reached.set(partition, BigInt(message.offset) + 1n)
        if (done()) resolve()
      },
    })
  })
  await consumer.disconnect()
  return records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
}

describe('two senshagen up instances sharing Kafka, InfluxDB and a PostgreSQL registry', () => {
  it('kill -9 of one mid-stream: its devices move to the other, resend what was unacknowledged, every reading stored once', async (context) => {
    const startedAt = Date.now()
    const cluster: PostgresCluster | undefined = await startPostgresCluster()
    if (cluster === undefined) return context.skip(NO_POSTGRES)
    cleanups.push(() => cluster.stop())
    const id = uniqueId('scaleout')
    const folder = mkdtempSync(join(tmpdir(), 'senshagen-scaleout-'))
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }))
    const registryEnv = {
      SENSHAGEN_DEVICE_REGISTRY: await cluster.createDatabase(),
      SENSHAGEN_NEIGHBOURHOODS: NEIGHBOURHOODS_FILE,
      // one file for both, as on shared storage: neither instance has it before they start
      SENSHAGEN_SERVICE_CREDENTIALS: join(folder, 'service-accounts.json'),
    }
    const registry: RegistryStore = await openRegistryStore({ url: registryEnv.SENSHAGEN_DEVICE_REGISTRY, neighbourhoodsFile: NEIGHBOURHOODS_FILE, serviceCredentialsFile: registryEnv.SENSHAGEN_SERVICE_CREDENTIALS })
    cleanups.push(() => registry.close())
    // registered while the instances start (each secret costs a scrypt and a PBKDF2 hash)
    const registering: Promise<Device[]> = Promise.all(
      Array.from({ length: DEVICES }, async (_, index) => {
        const deviceId = `garden-${String(index).padStart(2, '0')}`
        const { secret } = await registry.addDevice({ id: deviceId, neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
        return { index, id: deviceId, secret, instance: index % 2, acked: new Set<number>(), sends: 0, resent: 0, failovers: 0, outstanding: new Set<number>() }
      }),
    )

    const ports = [await freePort(), await freePort()]
    const envOf = async (port: number) =>
      isolatedEnv(id, {
        ...registryEnv,
        SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS,
        SENSHAGEN_MQTT_PORT: String(port),
        SENSHAGEN_MQTT_WS_PORT: String(await freePort()),
        SENSHAGEN_API_PORT: '0',
        SENSHAGEN_REPORTS_DIR: join(folder, 'reports'),
        // the devices here stand for a much larger fleet: lift the per-device rate limit
        SENSHAGEN_MQTT_DEVICE_RATE: '100000',
        SENSHAGEN_MQTT_DEVICE_BURST: '100000',
      })
    const [envA, envB] = [await envOf(ports[0]!), await envOf(ports[1]!)]
    const store = await openInfluxStore({ url: envA.SENSHAGEN_INFLUX_URL!, database: id }, logger)
    await store.ensureDatabase()
    cleanups.push(async () => {
      await store.influxql(`DROP DATABASE "${id}"`)
      await store.close()
    })
    // both at once, on a registry without service secrets yet: one issues them, the other reads the file
    const starts = await Promise.allSettled([startCli(['up'], envA, 'senshagen up:', 60_000), startCli(['up', '--no-calibration'], envB, 'senshagen up:', 60_000)])
    const instances = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []))
    cleanups.push(() => Promise.all(instances.map((p) => p.stop())).then(() => undefined))
    for (const start of starts) if (start.status === 'rejected') throw start.reason
    const [a, b] = instances as [CliProcess, CliProcess]
    const devices = await registering
    const importer = readServiceCredentials(registryEnv.SENSHAGEN_SERVICE_CREDENTIALS, 'importer')!
    expect(await registry.authenticate(importer.username, importer.password)).toMatchObject({ kind: 'service', role: 'importer' })
    expect(a.stderr()).toContain('"calibration running"')
    expect(b.stderr()).toContain('calibration not here (--no-calibration)')
    expect(b.stderr()).not.toContain('"calibration running"')
    const readyAt = Date.now()

    const total = DEVICES * MESSAGES
    const acked = () => devices.reduce((n, d) => n + d.acked.size, 0)
    const running = Promise.all(devices.map((device) => runDevice(device, ports)))
    // mid-stream, with publishes of the victim's devices in flight
    await waitFor('the kill moment', () => acked() >= total * KILL_AT && devices.some((d) => d.instance === 0 && d.outstanding.size > 0), 60_000, 1)
    // a device whose first connect timed out went to the other instance: who is where is decided at the kill
    const victims = new Set(devices.filter((d) => d.instance === 0))
    const failoversAtKill = new Map(devices.map((d) => [d, d.failovers]))
    const inFlightAtKill = [...victims].reduce((n, d) => n + d.outstanding.size, 0)
    await a.kill9()
    const ackedAtKill = acked()
    await running
    const publishedAt = Date.now()

    const expected = new Map<string, number>()
    for (const d of devices) {
      for (let seq = 0; seq < MESSAGES; seq++) {
        const r = expectedReadings(d.index, seq)
        expected.set(`${d.id}|air_temperature|${r.time}`, r.air_temperature)
        expected.set(`${d.id}|relative_humidity|${r.time}`, r.relative_humidity)
      }
    }
    const count = async () => Number((await store.influxql('SELECT count("value") FROM reading'))[0]?.values[0]?.[1] ?? 0)
    // the killed writer's partitions wait for its group session to expire, then the survivor's writer takes them
    await waitFor(`${expected.size} readings stored`, async () => (await count()) >= expected.size, 40_000, 250)
    const storedAt = Date.now()
    await new Promise((resolve) => setTimeout(resolve, 500)) // anything later would be a duplicate: give it a moment
    const rows = (await store.influxql('SELECT "value", "device", "quantity" FROM reading'))[0]?.values ?? []
    const stored = new Map(rows.map(([time, value, device, quantity]) => [`${device}|${quantity}|${time as number}`, value as number]))
    expect(rows.length).toBe(expected.size) // no extra point
    expect(stored.size).toBe(expected.size)
    const wrong = [...expected].filter(([key, value]) => stored.get(key) !== value)
    expect(wrong).toEqual([])

    // Kafka: each device on one partition, its messages in the order it sent them; repeats only as resends
    // one record per device and message, holding that message's readings (services/ingest/kafka-sink.ts)
    type Stored = { deviceId: string; quantity: string; observedAt: number }
    const records = (await readTopic(`${id}.readings`)).flatMap((r) => (JSON.parse(r.value) as Stored[]).map((reading) => ({ ...r, reading })))
    const byDevice = new Map<string, typeof records>()
    for (const r of records) byDevice.set(r.key, [...(byDevice.get(r.key) ?? []), r])
    expect([...byDevice.keys()].sort()).toEqual(devices.map((d) => d.id))
    let repeats = 0
    for (const [deviceId, list] of byDevice) {
      expect(new Set(list.map((r) => r.partition)).size, `${deviceId}: partitions`).toBe(1)
      expect(list.every((r) => r.reading.deviceId === deviceId)).toBe(true)
      const seen = new Set<string>()
      let latest = -Infinity
      for (const { reading } of list) {
        const key = `${reading.quantity}|${reading.observedAt}`
        if (seen.has(key)) {
          repeats++
          continue
        }
        seen.add(key)
        expect(reading.observedAt, `${deviceId}: first deliveries in the order sent`).toBeGreaterThanOrEqual(latest)
        latest = reading.observedAt
      }
      expect(seen.size).toBe(2 * MESSAGES)
    }
    const resent = devices.reduce((n, d) => n + d.resent, 0)
    expect(repeats).toBeLessThanOrEqual(2 * resent) // a reading repeats in Kafka only when its message was resent

    expect(ackedAtKill).toBeLessThan(total) // the kill really was mid-stream
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(resent).toBeGreaterThan(0)
    expect(victims.size).toBeGreaterThan(0)
    for (const d of devices) {
      expect(d.acked.size).toBe(MESSAGES)
      // the victim's devices moved once, the survivor's stayed
      expect(d.failovers - failoversAtKill.get(d)!, d.id).toBe(victims.has(d) ? 1 : 0)
      expect(d.instance).toBe(1)
    }
    expect(b.child.exitCode).toBeNull() // the survivor is still up
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
    console.log(
      `scale-out: ${total} messages (${expected.size} readings) from ${DEVICES} devices over 2 instances; kill -9 of one after ${ackedAtKill} acknowledged ` +
        `(${inFlightAtKill} in flight); its ${victims.size} devices failed over and resent ${resent} messages (${devices.reduce((n, d) => n + d.sends, 0)} publishes); ` +
        `Kafka holds ${records.length} reading records, ${repeats} of them repeats of resent messages; InfluxDB ${rows.length} points, ${rows.length - expected.size} duplicates, ${wrong.length} wrong values. ` +
        `Timings: setup ${s(readyAt - startedAt)}, publishing ${s(publishedAt - readyAt)}, stored ${s(storedAt - publishedAt)} later`,
    )
  }, 90_000)
})
