/**
 * Ingest throughput: N native payloads (5 quantities each) published at QoS 1 into the embedded broker and
 * stored in InfluxDB, in direct mode and in Kafka mode, against a baseline measured in the same run: the same
 * messages through the same broker to a subscriber that does nothing but acknowledge.
 * Each mode runs twice: with the ingest inside the broker (`senshagen up` and `senshagen broker`, every PUBACK
 * after the store acknowledged; cli/front-door.ts), and with the ingest subscribed to the broker over MQTT
 * (`senshagen ingest`, the path for external brokers), so the ratio between the two is measured in one run.
 *
 *   npm run infra:up && npx tsx bench/ingest-throughput.ts [messages=3000]
 *
 * Prints messages/s, readings/s, the ratio to the baseline and the process's peak RSS. Every MQTT client logs in
 * against a throwaway registry (README "Security"), so the figures include authentication and authorization.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { loadConfig } from '../core/config.ts'
import { createLogger } from '../core/logger.ts'
import { openRegistryStore } from '../core/registry/open.ts'
import { ensureServiceCredentials } from '../core/registry/service-credentials.ts'
import { openInfluxStore } from '../core/store/influx.ts'
import { readingsTopic } from '../core/topics.ts'
import { startFrontDoor } from '../cli/front-door.ts'
import { runBroker } from '../services/broker/main.ts'
import { runIngest } from '../services/ingest/main.ts'
import { runWriter } from '../services/writer/index.ts'

const MESSAGES = Number(process.argv[2] ?? 3000)
const DEVICES = 50
const logger = createLogger('warn')
let peakRss = 0
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100)

function payload(i: number): string {
  const time = Date.UTC(2026, 0, 1) + i * 1000
  return JSON.stringify({ v: 1, time, sensor: 'BME280+SDS011', readings: { air_temperature: 5 + (i % 100) / 10, relative_humidity: 80.5, air_pressure: 1012.25, pm2_5: 7.1, pm10: 12.4 } })
}

// Every client authenticates, as in production: a throwaway registry with the bench devices; the publisher is the
// importer account (not rate limited, allowed for registered devices only), the baseline subscriber the operator.
const registryDir = mkdtempSync(join(tmpdir(), 'senshagen-bench-'))
const registryEnv = {
  SENSHAGEN_DEVICE_REGISTRY: join(registryDir, 'registry.sqlite'),
  SENSHAGEN_SERVICE_CREDENTIALS: join(registryDir, 'service-accounts.json'),
}
const registry = await openRegistryStore(loadConfig(registryEnv).registry)
for (let d = 0; d < DEVICES; d++) await registry.addDevice({ id: `bench-${d}`, neighbourhood: 'stadshagen', consent: true })
const service = await ensureServiceCredentials(registry, registryEnv.SENSHAGEN_SERVICE_CREDENTIALS)

/** The publisher, connected (and its login checked: one scrypt, ~50 ms) before any clock starts. */
function connectPublisher(url: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, ...service.importer })
}

async function publishAll(client: mqtt.MqttClient): Promise<void> {
  const inFlight = new Set<Promise<unknown>>()
  for (let i = 0; i < MESSAGES; i++) {
    while (inFlight.size >= 200) await Promise.race(inFlight)
    const p = client.publishAsync(readingsTopic(`bench-${i % DEVICES}`), payload(i), { qos: 1 })
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  }
  await Promise.all(inFlight)
  await client.endAsync()
}

async function baseline(): Promise<number> {
  const broker = await runBroker(loadConfig({ ...registryEnv, SENSHAGEN_MQTT_PORT: '0', SENSHAGEN_MQTT_WS_PORT: '0' }), logger, registry)
  const url = `mqtt://127.0.0.1:${broker.port}`
  const sub = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'bench-baseline', clean: false, ...service.operator })
  let received = 0
  const done = new Promise<void>((resolve) => sub.on('message', () => ++received === MESSAGES && resolve()))
  await sub.subscribeAsync('senshagen/v1/devices/+/readings', { qos: 1 })
  const publisher = await connectPublisher(url)
  const t0 = performance.now()
  await publishAll(publisher)
  await done
  const seconds = (performance.now() - t0) / 1000
  await publisher.endAsync()
  await sub.endAsync()
  await broker.close()
  return seconds
}

async function pipeline(mode: 'direct' | 'kafka', ingestAt: 'in-broker' | 'subscribed'): Promise<number> {
  const id = `bench_${mode}_${ingestAt === 'in-broker' ? 'inb' : 'sub'}_${Date.now().toString(36)}`
  const config = loadConfig({
    SENSHAGEN_LOG_LEVEL: 'warn',
    SENSHAGEN_INFLUX_DATABASE: id,
    SENSHAGEN_INGEST_CLIENT_ID: `${id}-ingest`,
    SENSHAGEN_KAFKA_TOPIC_PREFIX: id,
    SENSHAGEN_KAFKA_GROUP: `${id}-writer`,
    SENSHAGEN_MQTT_PORT: '0',
    SENSHAGEN_MQTT_WS_PORT: '0',
    SENSHAGEN_HTTP_PORT: '0',
    ...registryEnv,
    // the group commit's knobs may be tried from the command line (README "Configuration")
    ...Object.fromEntries(['SENSHAGEN_INGEST_BATCH_MS', 'SENSHAGEN_INGEST_BATCH_MESSAGES'].flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : []))),
    ...(mode === 'kafka' ? { SENSHAGEN_KAFKA_BROKERS: process.env.SENSHAGEN_KAFKA_BROKERS ?? '127.0.0.1:9092' } : {}),
  })
  let url: string
  let stopFront: () => Promise<void>
  if (ingestAt === 'in-broker') {
    const frontDoor = await startFrontDoor(config, logger, registry)
    url = `mqtt://127.0.0.1:${frontDoor.broker.port}`
    stopFront = frontDoor.stop
  } else {
    const broker = await runBroker(config, logger, registry)
    url = `mqtt://127.0.0.1:${broker.port}`
    const ingest = await runIngest({ ...config, mqtt: { ...config.mqtt, url } }, logger)
    stopFront = async () => {
      await ingest.stop()
      await broker.close()
    }
  }
  const withUrl = { ...config, mqtt: { ...config.mqtt, url } }
  const writer = mode === 'kafka' ? await runWriter(withUrl, logger) : undefined
  const store = await openInfluxStore(config.influx, logger)
  const publisher = await connectPublisher(url)
  const t0 = performance.now()
  await publishAll(publisher)
  const expected = MESSAGES * 5
  for (;;) {
    const n = (await store.influxql('SELECT count("value") FROM reading'))[0]?.values[0]?.[1]
    if (n === expected) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const seconds = (performance.now() - t0) / 1000
  await publisher.endAsync()
  await stopFront()
  await writer?.stop()
  await store.influxql(`DROP DATABASE "${id}"`)
  return seconds
}

const base = await baseline()
console.log(`messages: ${MESSAGES} (5 readings each, QoS 1, ${DEVICES} devices)`)
console.log(`${'baseline broker -> acking subscriber'.padEnd(58)}: ${(MESSAGES / base).toFixed(0).padStart(6)} msg/s`)
const rates: Record<string, number> = {}
for (const mode of ['direct', 'kafka'] as const) {
  for (const ingestAt of ['in-broker', 'subscribed'] as const) {
    const seconds = await pipeline(mode, ingestAt)
    rates[`${mode} ${ingestAt}`] = MESSAGES / seconds
    const path = `${ingestAt === 'in-broker' ? 'broker+ingest' : 'broker -> MQTT -> ingest'} -> ${mode === 'kafka' ? 'Kafka -> writer -> ' : ''}InfluxDB`
    console.log(
      `${mode.padEnd(6)} ${path}`.padEnd(58) +
        `: ${(MESSAGES / seconds).toFixed(0).padStart(6)} msg/s, ${((MESSAGES * 5) / seconds).toFixed(0).padStart(6)} readings/s, ${(base / seconds).toFixed(3)} × baseline`,
    )
  }
}
for (const mode of ['direct', 'kafka']) {
  console.log(`${mode}: in-broker ingest ${(rates[`${mode} in-broker`]! / rates[`${mode} subscribed`]!).toFixed(2)} × the subscribed ingest`)
}
clearInterval(rssTimer)
await registry.close()
rmSync(registryDir, { recursive: true, force: true })
console.log(`peak RSS of this process (broker, ingest, writer and publisher together): ${(peakRss / 1024 / 1024).toFixed(0)} MiB`)
process.exit(0)
