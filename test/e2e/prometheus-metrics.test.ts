import { readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { INFLUX_URL, KAFKA_BROKERS, MOSQUITTO_URL, isolatedEnv, uniqueId, waitFor } from '../helpers/env.ts'
import { freePort, startCli, type CliProcess } from '../helpers/processes.ts'
import { NO_PROMTOOL, havePromtool, promtoolCheck, sampleValue, scrape } from '../helpers/prometheus.ts'
import { testRegistry } from '../helpers/registry.ts'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
const PROMTOOL = havePromtool()
const started: CliProcess[] = []

const databases: string[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()))
  for (const db of databases.splice(0)) await fetch(`${INFLUX_URL}/query?q=${encodeURIComponent(`DROP DATABASE "${db}"`)}`, { method: 'POST' })
})

describe.skipIf(!PROMTOOL)(`the promtool lint${PROMTOOL ? '' : ` (${NO_PROMTOOL})`}`, () => {
  it('reports a misnamed metric (so a clean result means something)', () => {
    const { status, output } = promtoolCheck('# HELP senshagen_things_total Things.\n# TYPE senshagen_things_total gauge\nsenshagen_things_total 1\n')
    expect(status).not.toBe(0)
    expect(output).toContain('non-counter metrics should not have "_total" suffix')
  })
})

/** `promtool check metrics` finds nothing to complain about (skipped, with a message, only outside CI without promtool). */
function expectLintClean(text: string): void {
  if (!PROMTOOL) return void console.warn(`promtool lint ${NO_PROMTOOL}`)
  expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
}

/**
 * `senshagen up` (direct mode) as an operator runs it, its /metrics on SENSHAGEN_METRICS_PORT scraped after a
 * known mix of messages: the counters moved by exactly what was sent, and the exposition passes promtool.
 */
describe('/metrics of senshagen up', () => {
  it('counts stored, partial and rejected messages, rejections by rule, acks, refusals and devices, and passes promtool', async () => {
    const id = uniqueId('prom_up')
    databases.push(id)
    const registry = await testRegistry([
      { id: 'prom-a', neighbourhood: 'stadshagen', consent: true },
      { id: 'prom-b', neighbourhood: 'stadshagen', consent: true },
    ])
    const [mqttPort, metricsPort] = [await freePort(), await freePort()]
    const staleAfterMs = 6_000
    const env = isolatedEnv(id, {
      ...registry.env,
      SENSHAGEN_MQTT_PORT: String(mqttPort),
      SENSHAGEN_API_PORT: '0',
      SENSHAGEN_METRICS_PORT: String(metricsPort),
      SENSHAGEN_STALE_AFTER_MS: String(staleAfterMs),
      SENSHAGEN_REPORTS_DIR: join(await mkdtemp(join(tmpdir(), 'prom-up-')), 'reports'),
    })
    const up = await startCli(['up', '--no-calibration'], env, 'senshagen up:', 60_000)
    started.push(up)
    const startedAt = Date.now()
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
    try {
      const before = await scrape(metricsUrl)
      expect(before).toMatch(new RegExp(`^senshagen_build_info\\{version="${VERSION.replace(/\./g, '\\.')}",node_version="${process.version}",commit="(?:[0-9a-f]{12}|unknown)"\\} 1$`, 'm'))
      expect(sampleValue(before, 'senshagen_devices', { state: 'registered' })).toBe(2)
      expect(sampleValue(before, 'senshagen_devices', { state: 'online' })).toBe(0)
      expect(sampleValue(before, 'senshagen_buffer_limit', { engine: 'influxdb_writer' })).toBe(20_000)

      // one wrong password: refused once (no automatic reconnect)
      const wrong = mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, username: 'prom-a', password: 'not-the-secret', reconnectPeriod: 0 })
      await expect(wrong).rejects.toThrow()

      // prom-b never sends: stale once staleAfterMs passed since the process started
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + staleAfterMs + 500 - Date.now())))
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, username: 'prom-a', password: registry.secrets.get('prom-a')!, reconnectPeriod: 0 })
      try {
        const topic = 'senshagen/v1/devices/prom-a/readings'
        const now = Date.now()
        for (let i = 0; i < 3; i++) await client.publishAsync(topic, JSON.stringify({ v: 1, time: now - 60_000 + i * 1_000, readings: { air_temperature: 7 + i } }), { qos: 1 })
        // one good value and one out of range (relative_humidity 0…110 %): partial
        await client.publishAsync(topic, JSON.stringify({ v: 1, time: now - 30_000, readings: { air_temperature: 9.5, relative_humidity: 150 } }), { qos: 1 })
        await client.publishAsync(topic, 'not json at all', { qos: 1 })
        // an HTTP push without credentials: refused before decoding
        const httpPort = Number(/"httpPort":(\d+)/.exec(up.stderr())![1])
        expect((await fetch(`http://127.0.0.1:${httpPort}/data.php`, { method: 'POST', body: '{}' })).status).toBe(401)

        const text = await scrape(metricsUrl)
        const value = (name: string, labels: Record<string, string> = {}) => sampleValue(text, name, labels)
        expect(value('senshagen_ingest_messages_total', { format: 'senshagen-v1', result: 'stored' })).toBe(3)
        expect(value('senshagen_ingest_messages_total', { format: 'senshagen-v1', result: 'partial' })).toBe(1)
        expect(value('senshagen_ingest_messages_total', { format: 'senshagen-v1', result: 'rejected' })).toBe(1)
        expect(value('senshagen_ingest_messages_total', { format: 'senshagen-v1', result: 'refused' })).toBeUndefined()
        expect(value('senshagen_ingest_readings_total', { format: 'senshagen-v1' })).toBe(4)
        expect(value('senshagen_rejections_total', { rule: 'range' })).toBe(1)
        expect(value('senshagen_rejections_total', { rule: 'json' })).toBe(1)
        expect(value('senshagen_ack_latency_seconds_count', { transport: 'mqtt' })).toBe(5)
        expect(value('senshagen_ack_latency_seconds_bucket', { transport: 'mqtt', le: '+Inf' })).toBe(5)
        expect(value('senshagen_broker_refusals_total', { reason: 'bad-credentials' })).toBe(1)
        expect(value('senshagen_http_ingest_refusals_total', { reason: 'missing_credentials' })).toBe(1)
        expect(value('senshagen_broker_connections')).toBe(1)
        expect(value('senshagen_devices', { state: 'registered' })).toBe(2)
        expect(value('senshagen_devices', { state: 'online' })).toBe(1)
        // prom-b never connected: not offline (which `devices status --offline` shows as "offline since"), never_connected
        expect(value('senshagen_devices', { state: 'offline' })).toBe(0)
        expect(value('senshagen_devices', { state: 'never_connected' })).toBe(1)
        expect(value('senshagen_devices', { state: 'stale' })).toBe(1)
        // 4 readings + 2 rejections at least (device events such as schema changes come on top), in ≥ 1 InfluxDB request
        expect(value('senshagen_write_batch_size_count', { target: 'influxdb' })).toBeGreaterThanOrEqual(1)
        expect(value('senshagen_write_batch_size_sum', { target: 'influxdb' })).toBeGreaterThanOrEqual(6)
        expect(value('senshagen_write_duration_seconds_count', { target: 'influxdb' })).toBe(value('senshagen_write_batch_size_count', { target: 'influxdb' }))
        expect(value('senshagen_buffered', { engine: 'influxdb_writer' })).toBe(0)
        expect(text).not.toContain('senshagen_dropped_total{')
        expect(value('process_cpu_seconds_total')).toBeGreaterThan(0)
        // no device ids in any label: devices are counted, never named
        expect(text).not.toMatch(/prom-a|prom-b/)
        expectLintClean(text)
      } finally {
        await client.endAsync()
      }
    } finally {
      await registry.close()
    }
  })
})

/** Every other long-running command serves /metrics on its own listener, lint-clean, with what it has to report. */
describe('/metrics of each service alone', () => {
  it.each([
    { command: ['writer'], ready: 'writer running', kafka: true },
    { command: ['api'], ready: 'api listening', kafka: false },
    { command: ['calibration'], ready: 'calibration running', kafka: false },
    { command: ['ingest'], ready: 'ingest running', kafka: false },
    { command: ['broker'], ready: 'mqtt broker listening', kafka: false },
  ])('senshagen $command.0', async ({ command, ready, kafka }) => {
    const id = uniqueId(`prom_${command[0]}`)
    databases.push(id)
    const registry = await testRegistry([])
    const metricsPort = await freePort()
    const env = isolatedEnv(id, {
      ...registry.env,
      SENSHAGEN_METRICS_PORT: String(metricsPort),
      SENSHAGEN_API_PORT: '0',
      SENSHAGEN_MQTT_URL: MOSQUITTO_URL,
      SENSHAGEN_REPORTS_DIR: join(await mkdtemp(join(tmpdir(), 'prom-svc-')), 'reports'),
      ...(kafka ? { SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS } : {}),
    })
    started.push(await startCli(command, env, ready, 60_000))
    try {
      const url = `http://127.0.0.1:${metricsPort}/metrics`
      const text = await scrape(url)
      expect(sampleValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0)
      expect(text).toContain(`senshagen_build_info{version="${VERSION}"`)
      if (command[0] === 'writer') {
        // lag sampled from Kafka at scrape time: the three fresh topics have nothing uncommitted
        for (const topic of ['readings', 'rejections', 'events']) expect(sampleValue(text, 'senshagen_kafka_consumer_lag', { topic: `${id}.${topic}` }), topic).toBe(0)
      }
      if (command[0] === 'calibration') {
        // the first run starts at once; with no data it finishes quickly and well
        const last = await waitFor('a calibration run done', async () => sampleValue(await scrape(url), 'senshagen_calibration_last_success_timestamp_seconds') || undefined, 30_000, 250)
        expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(60)
      }
      if (command[0] === 'broker') expect(sampleValue(text, 'senshagen_broker_connections')).toBe(0)
      expect(await fetch(`http://127.0.0.1:${metricsPort}/other`).then((r) => r.status)).toBe(404)
      expectLintClean(text)
    } finally {
      await registry.close()
    }
  })
})
