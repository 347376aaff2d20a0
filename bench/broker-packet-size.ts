/**
 * How much memory a 100 MB MQTT publish costs the embedded broker: four clients at once each announce a 100 MB
 * PUBLISH and stream it, against the broker with the default packet limit (256 KiB) and, as the baseline measured
 * in the same run, the same broker with the limit at the MQTT maximum (256 MiB, i.e. aedes buffering everything,
 * as before issue 8). Prints the broker process's peak RSS growth for each and their ratio.
 *
 *   npx tsx bench/broker-packet-size.ts            (about 10 s; needs ~1 GB free for the baseline)
 *
 * Clients and broker share this process; the clients reuse one 64 KiB chunk, so the growth is the broker's.
 */
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as mqttPacket from 'mqtt-packet'
import { loadConfig } from '../core/config.ts'
import { createLogger } from '../core/logger.ts'
import { openRegistryStore } from '../core/registry/open.ts'
import type { RegistryStore } from '../core/registry/store.ts'
import { publishHeader } from '../test/helpers/mqtt-raw.ts'
import { readingsTopic } from '../core/topics.ts'
import { startBroker } from '../services/broker/broker.ts'

const PUBLISH_BYTES = 100 * 1024 * 1024
const CLIENTS = 4
const DEVICE = 'bench-big'
const logger = createLogger('silent')

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'senshagen-bench-'))
  const store = await openRegistryStore({
    url: join(dir, 'registry.sqlite'),
    neighbourhoodsFile: fileURLToPath(new URL('../config/neighbourhoods.json', import.meta.url)),
    serviceCredentialsFile: join(dir, 'service-accounts.json'),
  })
  try {
    const { secret } = await store.addDevice({ id: DEVICE, neighbourhood: 'stadshagen', consent: true })
    const guarded = await attack(store, secret, 262_144)
    const baseline = await attack(store, secret, 268_435_455)
    for (const [label, r] of [['limit 256 KiB (default)', guarded], ['baseline: limit 256 MiB (no effective limit)', baseline]] as const) {
      console.log(`${label.padEnd(46)} peak RSS +${mib(r.peakGrowth)} MiB, ${mib(r.sentPerClient)} MiB sent per client before the end, ${r.closedEarly}/${CLIENTS} connections closed early`)
    }
    console.log(`ratio baseline/limited peak RSS growth: ${(baseline.peakGrowth / Math.max(guarded.peakGrowth, 1)).toFixed(1)}x`)
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Starts a broker with `maxPacketBytes`, logs the clients in (scrypt alone takes 16 MiB per login), then measures
 * RSS from there while the four 100 MB publishes stream: returns the peak growth.
 */
async function attack(store: RegistryStore, secret: string, maxPacketBytes: number) {
  const defaults = loadConfig({}).broker
  const broker = await startBroker({ ...defaults, port: 0, wsPort: 0, tls: undefined, limits: { ...defaults.limits, maxPacketBytes }, store }, logger)
  const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => login(broker.port, secret)))
  await new Promise((resolve) => setTimeout(resolve, 200))
  globalThis.gc?.()
  const before = process.memoryUsage.rss()
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  const results = await Promise.all(sockets.map(bigPublish))
  await new Promise((resolve) => setTimeout(resolve, 500)) // let the broker parse what it received
  peak = Math.max(peak, process.memoryUsage.rss())
  clearInterval(sampler)
  await broker.close()
  globalThis.gc?.()
  return { peakGrowth: peak - before, sentPerClient: Math.max(...results.map((r) => r.sent)), closedEarly: results.filter((r) => r.closedEarly).length }
}

/** A socket logged in as the bench device (CONNACK 0). */
async function login(port: number, secret: string): Promise<Socket> {
  const socket: Socket = connect({ port, host: '127.0.0.1' })
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: `bench-${Math.random()}`, username: DEVICE, password: Buffer.from(secret) }))
  const [connack] = (await once(socket, 'data')) as [Buffer]
  if (connack[3] !== 0) throw new Error(`CONNACK ${connack[3]}`)
  return socket
}

/** Sends a PUBLISH header announcing 100 MB and streams the payload until done or closed. */
async function bigPublish(socket: Socket): Promise<{ sent: number; closedEarly: boolean }> {
  let closed = false
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve((closed = true) && undefined)))
  socket.write(publishHeader(readingsTopic(DEVICE), PUBLISH_BYTES))
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  let sent = 0
  while (!closed && sent < PUBLISH_BYTES) {
    const n = Math.min(chunk.length, PUBLISH_BYTES - sent)
    sent += n
    if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), gone])
  }
  const closedEarly = closed
  socket.destroy()
  return { sent, closedEarly }
}


const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

await main()
