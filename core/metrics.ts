import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { DeviceStateCounts } from './fleet-health.ts'

/**
 * Every Prometheus metric of a SensHagen process, defined once (prom-client 15; served as text exposition
 * format 0.0.4 by core/metrics-http.ts on /metrics). Names follow the Prometheus naming guide
 * (https://prometheus.io/docs/practices/naming/): `senshagen_` prefix, snake_case, base units (seconds), `_total`
 * on counters; `promtool check metrics` lints them in test/e2e/prometheus-metrics.test.ts.
 *
 * One registry per process (`metricsRegistry`), not prom-client's global one: whatever runs in the process
 * (`senshagen up` runs broker, ingest, writer, calibration and API together) reports into it, and the process's one /metrics
 * listener serves all of it. Instances that come and go (a writer, a broker) register what they
 * report at scrape time with the `track*` functions below and unregister on close.
 *
 * Privacy and cardinality: no label carries a device id, position, topic or address. Label values come from
 * fixed sets in the code (decoder formats, rejection rules, refusal reasons, engine names, Kafka topics).
 * Process metrics are prom-client's default ones under their standard names (`process_*`, `nodejs_*`), so
 * stock dashboards work, less three misnamed gauges (configureMetrics).
 */
export const metricsRegistry = new Registry()
const registers = [metricsRegistry]

/** Ingest results, by `result`: see IngestResult. */
export type IngestResult = 'stored' | 'partial' | 'rejected' | 'skipped' | 'empty' | 'refused'

export const ingestMessages = new Counter({
  name: 'senshagen_ingest_messages_total',
  help: 'Messages through the ingest pipeline, by decoder format (unknown = no decoder for the topic) and result: stored (readings, no rejection), partial (readings and rejections), rejected (only rejections, dead-lettered), skipped (nothing on purpose: TTN join, stale retained state), empty (only device events or nothing), refused (the sink failed; not acknowledged, the source resends)',
  labelNames: ['format', 'result'] as const,
  registers,
})

export const ingestReadings = new Counter({
  name: 'senshagen_ingest_readings_total',
  help: 'Readings the ingest handed to its sink and the sink acknowledged (Kafka or InfluxDB), by decoder format',
  labelNames: ['format'] as const,
  registers,
})

export const rejections = new Counter({
  name: 'senshagen_rejections_total',
  help: 'Rejections kept (dead-lettered) with their rule (core/reading.ts RULES; bus_record_invalid and store_refused by the writer); other = a rule name outside [a-z_]{1,40}',
  labelNames: ['rule'] as const,
  registers,
})

export const ackLatency = new Histogram({
  name: 'senshagen_ack_latency_seconds',
  help: 'From a publish or push arriving to its acknowledgement (MQTT PUBACK, HTTP 200), which is sent only once it is durable; transport: mqtt (embedded broker), mqtt_subscribed (ingest subscribed to an external broker), http',
  labelNames: ['transport'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers,
})

export const writeBatchSize = new Histogram({
  name: 'senshagen_write_batch_size',
  help: 'Units per acknowledged request: points (lines) per InfluxDB write (target influxdb), records per Kafka produce request (target kafka)',
  labelNames: ['target'] as const,
  buckets: [1, 5, 10, 50, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000],
  registers,
})

export const writeDuration = new Histogram({
  name: 'senshagen_write_duration_seconds',
  help: 'From sending a request to its acknowledgement, retries included: InfluxDB write (target influxdb), Kafka produce with acks=all (target kafka)',
  labelNames: ['target'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers,
})

export type DropReason = 'qos0_not_stored' | 'will_not_stored' | 'qos0_connection_lost' | 'store_lost' | 'health_event_not_stored'

export const dropped = new Counter({
  name: 'senshagen_dropped_total',
  help: 'Messages or points lost, each also logged at error level, by reason: qos0_not_stored (a QoS 0 publish the sink failed), will_not_stored (a will the sink failed), qos0_connection_lost (QoS 0 messages waiting for the ingest window when the connection closed), store_lost (points InfluxDB refused both as they were and as rejections), health_event_not_stored (a device connection change the fleet-health queue had no room for)',
  labelNames: ['reason'] as const,
  registers,
})

export const brokerRefusals = new Counter({
  name: 'senshagen_broker_refusals_total',
  help: 'What the embedded MQTT broker refused, by reason (services/broker/security-stats.ts REFUSAL_REASONS: bad-credentials, publish-refused, pending-limit, packet-too-large, ...)',
  labelNames: ['reason'] as const,
  registers,
})

export const brokerRateLimited = new Counter({
  name: 'senshagen_broker_rate_limited_total',
  help: 'Device publishes the per-device rate limit held back (delayed until a token was free, not refused)',
  registers,
})

export const httpIngestRefusals = new Counter({
  name: 'senshagen_http_ingest_refusals_total',
  help: 'HTTP ingest pushes refused before decoding, by reason (services/ingest/http-auth.ts REFUSAL_REASONS)',
  labelNames: ['reason'] as const,
  registers,
})

export const healthWebhookFailures = new Counter({
  name: 'senshagen_health_webhook_failures_total',
  help: 'Fleet-health transitions the operator webhook (SENSHAGEN_HEALTH_WEBHOOK_URL) did not get, by reason: failed (every attempt failed), queue_full (not queued); the events are in the store either way',
  labelNames: ['reason'] as const,
  registers,
})

export const apiResponsesCut = new Counter({
  name: 'senshagen_api_responses_cut_total',
  help: 'API responses whose streamed body (CSV, bulk files) failed after it had begun, so the connection was aborted and the client sees the body incomplete, by route pattern (services/api/streamed.ts)',
  labelNames: ['route'] as const,
  registers,
})

export const calibrationLastSuccess = new Gauge({
  name: 'senshagen_calibration_last_success_timestamp_seconds',
  help: 'Unix time at which the calibration worker of this process last finished a run without error (0 until the first)',
  registers,
})

/** The time a calibration run finished well; called by the calibration worker. */
export function calibrationSucceeded(at = Date.now()): void {
  calibrationLastSuccess.set(at / 1000)
}

// ------------------------------------------------------------------ pipeline edges

/** Rule names are code constants; this keeps a stray one from becoming a label value of its own. */
const RULE_NAME = /^[a-z_]{1,40}$/

/** What recordIngest reads of an ingest result (services/ingest/pipeline.ts IngestContext fits). */
export interface IngestOutcome {
  decoder?: { format: string }
  readings: ReadonlyArray<{ deviceId: string; receivedAt?: number }>
  rejections: ReadonlyArray<{ rule: string }>
  skipped?: string
}

/**
 * Counts one message after its sink answered: `refused` when the sink failed (its rejections are not counted,
 * the source resends the message), else by what came out of it; marks its devices as seen now (devices stale).
 */
export function recordIngest(outcome: IngestOutcome, refused = false): void {
  const format = outcome.decoder?.format ?? 'unknown'
  const { readings, rejections: rejected } = outcome
  if (refused) return void ingestMessages.inc({ format, result: 'refused' })
  const result: IngestResult =
    readings.length > 0 ? (rejected.length > 0 ? 'partial' : 'stored') : rejected.length > 0 ? 'rejected' : outcome.skipped ? 'skipped' : 'empty'
  ingestMessages.inc({ format, result })
  if (readings.length > 0) ingestReadings.inc({ format }, readings.length)
  countRejections(rejected)
  const now = Date.now()
  let previous: string | undefined
  for (const { deviceId } of readings) if (deviceId !== previous) noteSeen((previous = deviceId), now)
}

/** Counts rejections by rule (ingest pipeline, the writer's bus_record_invalid and store_refused). */
export function countRejections(list: ReadonlyArray<{ rule: string }>): void {
  for (const { rule } of list) rejections.inc({ rule: RULE_NAME.test(rule) ? rule : 'other' })
}

/** One acknowledgement sent for something that arrived at `arrivedAtMs` (performance.now() or Date.now() clock, with `clock`). */
export function observeAck(transport: 'mqtt' | 'mqtt_subscribed' | 'http', arrivedAtMs: number, clock: () => number = () => performance.now()): void {
  ackLatency.observe({ transport }, Math.max(0, clock() - arrivedAtMs) / 1000)
}

/** One acknowledged request of a group-commit engine (its `batch` event: units sent, ms from send to ack). */
export function observeBatch(target: 'influxdb' | 'kafka', batch: { units: number; ms: number }): void {
  writeBatchSize.observe({ target }, batch.units)
  writeDuration.observe({ target }, batch.ms / 1000)
}

/** Where a graceful shutdown gave up (core/drain.ts): the embedded broker, the subscribed ingest, the ingest's sink, the Kafka-mode writer. */
export type DrainStage = 'embedded_broker' | 'subscribed_ingest' | 'ingest_sink' | 'writer'

export const drainUnacknowledged = new Counter({
  name: 'senshagen_drain_unacknowledged_total',
  help: 'Units a stage still held unacknowledged when the shutdown drain deadline (SENSHAGEN_DRAIN_TIMEOUT_MS) passed, each stage logged at error level, by stage: embedded_broker and subscribed_ingest (QoS 1 publishes without PUBACK, resent by the client), ingest_sink (records or points; a publish left in the broker is also counted here), writer (points whose Kafka offsets stay uncommitted, consumed again)',
  labelNames: ['stage'] as const,
  registers,
})

/** Counts `count` lost messages or points; the caller logs them at error level. */
export function countDropped(reason: DropReason, count = 1): void {
  if (count > 0) dropped.inc({ reason }, count)
}

// ------------------------------------------------------------------ sampled at scrape time

/** A buffer in front of a durable hand-off: units held now (queued and in flight) and its bound. */
export interface TrackedBuffer {
  engine: 'influxdb_writer' | 'kafka_sink'
  held(): number
  limit: number
}

const buffers = new Set<TrackedBuffer>()

new Gauge({
  name: 'senshagen_buffered',
  help: 'Units (points, Kafka records) accepted and not yet acknowledged, per engine (influxdb_writer: SENSHAGEN_WRITER_MAX_BUFFER points, kafka_sink: SENSHAGEN_INGEST_MAX_BUFFERED records); beyond the limit producers wait',
  labelNames: ['engine'] as const,
  registers,
  collect() {
    this.reset()
    for (const [engine, total] of sumBy(buffers, (b) => b.held())) this.set({ engine }, total)
  },
})

new Gauge({
  name: 'senshagen_buffer_limit',
  help: 'Most units an engine holds before producers wait (backpressure); compare with senshagen_buffered',
  labelNames: ['engine'] as const,
  registers,
  collect() {
    this.reset()
    for (const [engine, total] of sumBy(buffers, (b) => b.limit)) this.set({ engine }, total)
  },
})

/** Reports `buffer` in senshagen_buffered until the returned function is called (on close). */
export function trackBuffer(buffer: TrackedBuffer): () => void {
  return track(buffers, buffer)
}

/** Consumer lag per topic (records behind the newest offset, summed over partitions) of one consumer group. */
export type LagSource = () => Promise<Record<string, number>>
const lagSources = new Set<LagSource>()

new Gauge({
  name: 'senshagen_kafka_consumer_lag',
  help: 'Records the writer consumer group has not committed yet, per topic (summed over partitions), sampled at scrape time (at most every few seconds)',
  labelNames: ['topic'] as const,
  registers,
  async collect() {
    this.reset()
    for (const source of lagSources) {
      for (const [topic, lag] of Object.entries(await source().catch(() => ({})))) this.inc({ topic }, lag)
    }
  },
})

/** Reports `source` in senshagen_kafka_consumer_lag until the returned function is called. */
export function trackConsumerLag(source: LagSource): () => void {
  return track(lagSources, source)
}

/** An embedded broker as the metrics see it. */
export interface TrackedBroker {
  /** Open MQTT connections (aedes connectedClients). */
  connections(): number
  /** Ids of registry devices connected now. */
  devicesOnline(): Iterable<string>
  /** Ids of registered, not revoked devices (may be cached by the caller). */
  devicesRegistered(): Promise<Iterable<string>>
}

const brokers = new Set<TrackedBroker>()

new Gauge({
  name: 'senshagen_broker_connections',
  help: 'Open MQTT connections to the embedded broker (devices and service accounts)',
  registers,
  collect() {
    this.set([...brokers].reduce((sum, b) => sum + b.connections(), 0))
  },
})

/** Reports `broker` in the broker and device gauges until the returned function is called (on close). */
export function trackBroker(broker: TrackedBroker): () => void {
  return track(brokers, broker)
}

/** A fleet-health tracker (services/health/tracker.ts): device counts by state, read at scrape time (awaited). */
export type FleetSource = () => DeviceStateCounts | Promise<DeviceStateCounts>
const fleets = new Set<FleetSource>()

/** Reports `fleet` in senshagen_devices (online, offline, never_connected, stale) instead of the broker's view, until the returned function is called. */
export function trackFleet(fleet: FleetSource): () => void {
  return track(fleets, fleet)
}

// Devices without a fleet-health tracker in the process (or before it could start): online = connected to an
// embedded broker of this process; offline and never_connected are not reported (telling them apart needs the
// tracker's history); stale = registered and no reading stored by this process for staleAfterMs (counted from process start for a
// device not seen since). In-memory, per process: a restart forgets when devices were last seen.
const settings = { staleAfterMs: 3_600_000, startedAt: Date.now() }
/** Device id → epoch ms of its last acknowledged reading here; bounded (oldest forgotten first). */
const lastSeen = new Map<string, number>()
const MAX_SEEN = 100_000

function noteSeen(deviceId: string, at: number): void {
  lastSeen.delete(deviceId)
  lastSeen.set(deviceId, at)
  if (lastSeen.size > MAX_SEEN) lastSeen.delete(lastSeen.keys().next().value!)
}

/** Epoch ms of `deviceId`'s last reading acknowledged in this process, or undefined. */
export function lastSeenAt(deviceId: string): number | undefined {
  return lastSeen.get(deviceId)
}

new Gauge({
  name: 'senshagen_devices',
  help: 'Devices by state: registered (registered, not revoked; processes with the embedded broker), and from the fleet-health tracker (README "Fleet health"): online (connected or last reported online), offline (last reported offline: disconnect, will or status), never_connected (no connection ever reported), stale (no reading for SENSHAGEN_STALE_AFTER_MS; in any of the three)',
  labelNames: ['state'] as const,
  registers,
  async collect() {
    this.reset()
    if (fleets.size > 0) {
      const sum: DeviceStateCounts = { online: 0, offline: 0, never_connected: 0, stale: 0 }
      for (const counts of await Promise.all([...fleets].map((fleet) => fleet()))) for (const [state, n] of Object.entries(counts)) sum[state as keyof typeof sum] += n
      for (const [state, n] of Object.entries(sum)) this.set({ state }, n)
    }
    if (brokers.size === 0) return
    const online = new Set<string>()
    const registered = new Set<string>()
    for (const broker of brokers) {
      for (const id of broker.devicesOnline()) online.add(id)
      for (const id of await broker.devicesRegistered().catch(() => [])) registered.add(id)
    }
    const staleBefore = Date.now() - settings.staleAfterMs
    let onlineRegistered = 0
    let stale = 0
    for (const id of registered) {
      if (online.has(id)) onlineRegistered++
      if ((lastSeen.get(id) ?? settings.startedAt) < staleBefore) stale++
    }
    this.set({ state: 'registered' }, registered.size)
    if (fleets.size > 0) return
    this.set({ state: 'online' }, onlineRegistered)
    this.set({ state: 'stale' }, stale)
  },
})

const buildInfo = new Gauge({
  name: 'senshagen_build_info',
  help: 'Always 1; the labels say which build runs: version (package.json), node_version, commit (git, or unknown)',
  labelNames: ['version', 'node_version', 'commit'] as const,
  registers,
})

let configured = false

/**
 * Settings of the process's metrics, once at start-up (later calls only change staleAfterMs): build info,
 * prom-client's default process metrics, and the staleness threshold of senshagen_devices{state="stale"}.
 */
export function configureMetrics(options: { staleAfterMs: number; version: string; commit?: string }): void {
  settings.staleAfterMs = options.staleAfterMs
  if (configured) return
  configured = true
  buildInfo.set({ version: options.version, node_version: process.version, commit: options.commit ?? 'unknown' }, 1)
  collectDefaultMetrics({ register: metricsRegistry })
  // prom-client names three gauges `_total`, which Prometheus reserves for counters (promtool check metrics:
  // "non-counter metrics should not have _total suffix"); their by-type siblings nodejs_active_* hold the same.
  for (const name of NON_COUNTER_TOTALS) metricsRegistry.removeSingleMetric(name)
}

const NON_COUNTER_TOTALS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

function track<T>(set: Set<T>, item: T): () => void {
  set.add(item)
  return () => void set.delete(item)
}

function sumBy<T extends { engine: string }>(items: Iterable<T>, value: (item: T) => number): Map<string, number> {
  const sums = new Map<string, number>()
  for (const item of items) sums.set(item.engine, (sums.get(item.engine) ?? 0) + value(item))
  return sums
}
