import { connect } from 'node:net'
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { readingsTopic } from '../../core/topics.ts'
import { startFrontDoor } from '../../cli/front-door.ts'
import { INFLUX_URL, isolatedConfig, uniqueId } from '../helpers/env.ts'
import { freePort } from '../helpers/processes.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

/**
 * The embedded broker as `senshagen up` and `senshagen broker` start it (cli/front-door.ts), direct mode, with
 * InfluxDB behind a TCP proxy that can go away: the MQTT listener opens only once the store answered, so a
 * device that connects early is refused at the socket, never acknowledged; and a publish while the store is
 * away gets its PUBACK only once its reading is stored. Own registry, database and ports.
 */
const logger = createLogger('silent')
const DEVICE = 'ready-dev'

async function storedValues(database: string): Promise<number[]> {
  const query = new URLSearchParams({ db: database, q: `SELECT value FROM reading WHERE device = '${DEVICE}'` })
  const body = (await (await fetch(`${INFLUX_URL}/query?${query}`)).json()) as { results: Array<{ series?: Array<{ values: Array<[string, number]> }> }> }
  return body.results[0]?.series?.[0]?.values.map(([, value]) => value) ?? []
}

/** Tries a TCP connection to `port` every 20 ms until `stop()`; returns how many were accepted. */
function probe(port: number) {
  let accepted = 0
  let refused = 0
  let running = true
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1')
        socket.once('connect', () => (accepted++, socket.destroy(), resolve()))
        socket.once('error', () => (refused++, resolve()))
      })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return { accepted, refused }
    },
  }
}

describe('front door readiness: no device publish is accepted before the ingest can store it', () => {
  let registry: TestRegistry
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>
  const database = uniqueId('front_door_ready')

  beforeAll(async () => {
    registry = await testRegistry([{ id: DEVICE, neighbourhood: 'stadshagen', consent: true }])
    const influx = new URL(INFLUX_URL)
    proxy = await startTcpProxy({ host: influx.hostname, port: Number(influx.port) })
  })
  afterAll(async () => {
    await proxy?.close()
    await fetch(`${INFLUX_URL}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }) })
    await registry?.close()
  })

  const config = (mqttPort: number) =>
    isolatedConfig(database, { ...registry.env, SENSHAGEN_INFLUX_URL: proxy.url, SENSHAGEN_MQTT_PORT: String(mqttPort) })

  it('does not open the MQTT port while the store does not answer: an early device is refused at the socket', async () => {
    const port = await freePort()
    proxy.down()
    const early = probe(port)
    try {
      await expect(startFrontDoor(config(port), logger, registry.store)).rejects.toThrow(/does not answer/)
    } finally {
      proxy.up()
    }
    const seen = await early.stop()
    expect(seen.accepted).toBe(0)
    expect(seen.refused).toBeGreaterThan(0)
  })

  it('acknowledges a publish made while the store is away only once its reading is stored', async () => {
    const frontDoor = await startFrontDoor(config(0), logger, registry.store)
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${frontDoor.broker.port}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: DEVICE,
      username: DEVICE,
      password: registry.secrets.get(DEVICE)!,
    })
    try {
      proxy.down()
      let acknowledged = false
      const published = device
        .publishAsync(readingsTopic(DEVICE), JSON.stringify({ v: 1, time: Date.UTC(2026, 11, 1, 9, 0, 0), readings: { pm10: 17.5 } }), { qos: 1 })
        .then(() => (acknowledged = true))
      await new Promise((resolve) => setTimeout(resolve, 1_500)) // the writer retries meanwhile
      expect(acknowledged).toBe(false)
      proxy.up()
      await published
      // the PUBACK came after the store acknowledged the write: the reading is there at once
      expect(await storedValues(database)).toEqual([17.5])
      expect(frontDoor.broker.ingest).toMatchObject({ acknowledged: 1, refused: 0, dropped: 0 })
    } finally {
      proxy.up()
      await device.endAsync()
      await frontDoor.stop()
    }
  })
})
