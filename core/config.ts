import { isIP } from 'node:net'
import { z } from 'zod'
import { DEFAULT_GROUP_RADIUS_KM, DEFAULT_MAX_REFERENCE_KM } from './calibration/methods/pm-groups.ts'
import { ConfigError } from './errors.ts'
import { DEFAULT_HEALTH_SETTINGS } from './fleet-health.ts'
import { isValidTimeZone } from './time.ts'

/**
 * Configuration, parsed once at start-up from the environment and passed down as a typed object.
 * Every setting is an environment variable `SENSHAGEN_*`; the README's configuration table lists them all
 * (keep the two in step: `test/unit/config.test.ts` checks the README names every variable below).
 */
const PLACEHOLDER_SECRETS = new Set(['changeme', 'change-me', 'secret', 'password', 'token', 'xxx', '<token>', 'todo'])

// 0 asks the OS for any free port (tests).
const port = z.coerce.number().int().min(0).max(65_535)
const positiveInt = z.coerce.number().int().positive()
const optionalText = z
  .string()
  .optional()
  .transform((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()))
const secret = optionalText.refine((text) => text === undefined || !PLACEHOLDER_SECRETS.has(text.toLowerCase()), {
  message: 'is a placeholder, not a real secret',
})

/**
 * The subscribed ingest's default window: Mosquitto 2.0's default `max_inflight_messages`, the most
 * unacknowledged QoS 1 messages it sends one client (EMQX: 32), so that a larger window would not be filled.
 */
export const DEFAULT_INGEST_WINDOW = 20

/**
 * How long a connection to the API or the HTTP ingest may carry no bytes either way before it is closed, ms:
 * twice the SSE heartbeat (15 s) and three times the query timeout (10 s), so only idle sockets go.
 */
export const DEFAULT_HTTP_IDLE_TIMEOUT_MS = 30_000

/**
 * SENSHAGEN_TRUST_PROXY, fastify's `trustProxy` (proxy-addr): off (default; X-Forwarded-For is ignored), a hop
 * count (that many nearest hops are proxies, whoever they are: only when clients cannot reach the API directly),
 * or a comma-separated list of proxy addresses, CIDR ranges or proxy-addr's names loopback, linklocal, uniquelocal.
 * `true` (trust every hop) is refused: any client could then name its own address.
 */
const trustProxy = optionalText.transform((text, ctx): false | number | string[] => {
  if (text === undefined || /^(off|false|0)$/i.test(text)) return false
  if (/^\d{1,2}$/.test(text)) return Number(text)
  const items = text.split(',').map((item) => item.trim())
  const address = (item: string) => {
    const [ip, prefix, ...rest] = item.split('/')
    const family = isIP(ip ?? '')
    return rest.length === 0 && family !== 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)))
  }
  const bad = items.find((item) => !address(item) && !['loopback', 'linklocal', 'uniquelocal'].includes(item))
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `'${bad.slice(0, 60)}' is not a hop count, an IP address, a CIDR range or loopback/linklocal/uniquelocal (trusting every hop, true, would let any client name its own address)` })
    return z.NEVER
  }
  return items
})

/** A share group name: one topic level, no wildcard [MQTT 5.0 §4.8.2, which 3.1.1 brokers such as Mosquitto follow]. */
const shareGroup = optionalText.refine((text) => text === undefined || /^[^/+#]+$/.test(text), { message: 'must be one topic level without / + or #' })

export const ENV_SCHEMA = z.object({
  SENSHAGEN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SENSHAGEN_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000).describe('graceful shutdown (SIGTERM/SIGINT): longest the long-running commands wait for what they accepted to become durable and acknowledged, ms; what is left then is logged at error level and counted'),
  SENSHAGEN_MQTT_BIND: z.string().default('127.0.0.1').describe('address the embedded broker listens on'),
  SENSHAGEN_MQTT_PORT: port.default(1883).describe('embedded broker, MQTT over TCP'),
  SENSHAGEN_MQTT_WS_PORT: port.default(9001).describe('embedded broker, MQTT over WebSocket'),
  SENSHAGEN_MQTT_URL: z.string().url().default('mqtt://127.0.0.1:1883').describe('broker the ingest subscribes to and replay/sim publish to'),
  SENSHAGEN_MQTT_USERNAME: optionalText.describe('MQTT username of this command (ingest, replay, sim); default: its service account from SENSHAGEN_SERVICE_CREDENTIALS'),
  SENSHAGEN_MQTT_PASSWORD: secret.describe('MQTT password that goes with SENSHAGEN_MQTT_USERNAME'),
  SENSHAGEN_INGEST_CLIENT_ID: z.string().min(1).default('senshagen-ingest').describe('MQTT client id; persistent session'),
  SENSHAGEN_INGEST_WINDOW: z.coerce.number().int().min(1).max(65_535).default(DEFAULT_INGEST_WINDOW).describe('subscribed ingest: most QoS 1 messages handed to the ingest and not yet acknowledged at once (PUBACKs go out in arrival order); a broker with an in-flight limit (Mosquitto max_inflight_messages, default 20) sends no more than that'),
  SENSHAGEN_INGEST_SHARE_GROUP: shareGroup.describe('subscribed ingest: subscribe $share/<group>/<filter> so that instances in one group split the messages (Mosquitto, EMQX, HiveMQ; not aedes); each instance needs its own SENSHAGEN_INGEST_CLIENT_ID'),
  SENSHAGEN_MAX_PAYLOAD_BYTES: positiveInt.default(262_144),
  SENSHAGEN_INGEST_BATCH_MS: z.coerce.number().int().min(0).max(1_000).default(0).describe('Kafka mode: longest a message waits for others to join its produce request when none is in flight, ms (0 = next tick; while one is in flight the next batch gathers anyway)'),
  SENSHAGEN_INGEST_BATCH_MESSAGES: positiveInt.default(500).describe('Kafka mode: most messages in one produce request; a full batch is sent at once'),
  SENSHAGEN_INGEST_MAX_BUFFERED: positiveInt.default(20_000).describe('Kafka mode: most records accepted and not yet acknowledged by Kafka; further messages wait (their PUBACK too)'),
  SENSHAGEN_MAX_FUTURE_MS: z.coerce.number().int().min(0).default(300_000).describe('observed time may lie this far ahead of receipt'),
  SENSHAGEN_MAX_AGE_MS: z.coerce.number().int().min(0).default(7 * 86_400_000).describe('live device formats: observed time may lie this far before receipt'),
  SENSHAGEN_DEVICE_TIMEZONE: z
    .string()
    .default('Europe/Amsterdam')
    .refine(isValidTimeZone, { message: 'is not an IANA time zone such as Europe/Amsterdam' })
    .describe('zone of device-local timestamps without an offset (Tasmota Time)'),
  SENSHAGEN_OSEM_SENSORS_FILE: optionalText.describe('JSON file: openSenseMap sensor id -> {quantity, unit?, model?}'),
  SENSHAGEN_HTTP_BIND: z.string().default('127.0.0.1').describe('address of the HTTP ingest (airrohr pushes)'),
  SENSHAGEN_HTTP_PORT: port.default(8081).describe('HTTP ingest port'),
  SENSHAGEN_TTN_URL: optionalText.describe('The Things Stack MQTT broker, e.g. mqtts://eu1.cloud.thethings.network:8883; empty = none'),
  SENSHAGEN_TTN_USERNAME: optionalText.describe('{application id}@{tenant id}, e.g. senshagen@ttn'),
  SENSHAGEN_TTN_PASSWORD: secret.describe('TTN API key'),
  SENSHAGEN_TTN_CLIENT_ID: z.string().min(1).default('senshagen-ttn'),
  SENSHAGEN_KAFKA_BROKERS: optionalText.describe('comma-separated host:port list; empty = direct mode, no Kafka'),
  SENSHAGEN_KAFKA_CLIENT_ID: z.string().min(1).default('senshagen'),
  SENSHAGEN_KAFKA_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/).default('senshagen'),
  SENSHAGEN_KAFKA_GROUP: z.string().min(1).default('senshagen-writer'),
  SENSHAGEN_KAFKA_PARTITIONS: positiveInt.default(3),
  SENSHAGEN_INFLUX_URL: z.string().url().default('http://127.0.0.1:8086'),
  SENSHAGEN_INFLUX_DATABASE: z.string().regex(/^[A-Za-z0-9_-]+$/).default('senshagen').describe('1.x database / 2.x bucket'),
  SENSHAGEN_INFLUX_TOKEN: secret.describe('2.x/3.x API token'),
  SENSHAGEN_INFLUX_ORG: optionalText.describe('2.x organisation'),
  SENSHAGEN_INFLUX_USERNAME: optionalText.describe('1.x user, when auth is on'),
  SENSHAGEN_INFLUX_PASSWORD: secret,
  SENSHAGEN_SITE_LAT: z.coerce.number().min(-90).max(90).default(52.53).describe('deployment centre, for reference station distances (Stadshagen, Zwolle)'),
  SENSHAGEN_SITE_LON: z.coerce.number().min(-180).max(180).default(6.06),
  SENSHAGEN_REFERENCE_PM_STATION: z.string().min(1).default('NL10818').describe('Luchtmeetnet station for PM calibration'),
  SENSHAGEN_REFERENCE_WEATHER_STATION: z.string().min(1).default('278').describe('KNMI station for temperature/humidity calibration'),
  SENSHAGEN_COLLOCATED_DEVICES: optionalText.describe('comma-separated devices mounted at the reference station'),
  SENSHAGEN_CALIBRATION_WINDOW_H: positiveInt.default(48).describe('hours the hourly worker recalculates'),
  SENSHAGEN_CALIBRATION_FIT_DAYS: z.coerce.number().int().min(2).max(90).default(21).describe('days every calibration method is fitted on (T/RH radiation-offset, PM gain scale and drift, NO2)'),
  SENSHAGEN_CALIBRATION_REFIT_HOURS: z.coerce.number().int().min(1).max(24 * 90).default(24).describe('hours a stored calibration fit is applied before the worker refits (services/calibration/calibrator.ts)'),
  SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM: z.coerce.number().positive().max(1000).default(DEFAULT_GROUP_RADIUS_KM).describe('km: largest distance between two PM sensors of one calibration group'),
  SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM: z.coerce.number().positive().max(1000).default(DEFAULT_MAX_REFERENCE_KM).describe('km: farthest a PM group\'s centre may be from the reference station for a group factor'),
  SENSHAGEN_CALIBRATION_COMPLETENESS: z.coerce.number().min(0).max(1).default(0.75).describe('share of expected readings an hour needs'),
  SENSHAGEN_REPORTS_DIR: z.string().min(1).default('reports').describe('calibration reports and plots'),
  SENSHAGEN_API_BIND: z.string().default('127.0.0.1').describe('address the public HTTP API listens on'),
  SENSHAGEN_API_PORT: port.default(8080).describe('public HTTP API and residents\' page port'),
  SENSHAGEN_API_LIVE_POLL_MS: z.coerce.number().int().min(100).default(10_000).describe('GET /api/v1/live polls InfluxDB this often'),
  SENSHAGEN_API_LIVE_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000).describe('SSE heartbeat comment interval'),
  SENSHAGEN_HTTP_IDLE_TIMEOUT_MS: positiveInt.default(DEFAULT_HTTP_IDLE_TIMEOUT_MS).describe('a connection to the API or the HTTP ingest on which nothing is sent or received this long is closed (guards against idle-connection floods; above the SSE heartbeat and the query timeout)'),
  SENSHAGEN_BASEMAP_FILE: optionalText.describe("residents' page street map: an MBTiles file of PNG/JPEG tiles (README Residents' page); empty = map without streets"),
  SENSHAGEN_BASEMAP_NAMES_FILE: optionalText.describe('street/postcode search index for the basemap (JSON, README Residents\' page); empty = no search'),
  SENSHAGEN_HOST_INVITE_URL: optionalText.describe('"host a sensor" link (https: or mailto:) shown where a neighbourhood has no sensors; empty = none'),
  SENSHAGEN_API_RATE_LIMIT_PER_MIN: positiveInt.default(600).describe('requests per minute one client address may send the API (429 with Retry-After beyond)'),
  SENSHAGEN_TRUST_PROXY: trustProxy.describe('reverse proxies whose X-Forwarded-For names the client (rate limit per client): off, a hop count, or addresses/CIDR ranges'),
  SENSHAGEN_API_QUERY_TIMEOUT_MS: positiveInt.default(10_000).describe('a readings query running longer is stopped (and killed in InfluxDB): 504'),
  SENSHAGEN_API_MAX_QUERY_WINDOWS: positiveInt.default(1_000_000).describe('most series × windows one readings query may group (413 beyond)'),
  SENSHAGEN_API_MAX_QUERY_POINTS: positiveInt.default(20_000_000).describe('most readings one aggregate query may scan, estimated from reporting intervals (413 beyond)'),
  SENSHAGEN_DEVICE_REGISTRY: z.string().min(1).default('data/registry.sqlite').describe('device registry: a SQLite file path, or a postgres:// URL several instances share'),
  SENSHAGEN_NEIGHBOURHOODS: z.string().min(1).default('config/neighbourhoods.json').describe('neighbourhoods a fresh registry knows (JSON)'),
  SENSHAGEN_SERVICE_CREDENTIALS: z.string().min(1).default('data/service-accounts.json').describe('secrets of the ingest, importer and operator accounts (written 0600 by the broker)'),
  SENSHAGEN_MQTT_MAX_PACKET_BYTES: positiveInt.default(262_144).describe('largest MQTT packet the broker reads; a bigger one closes the connection'),
  SENSHAGEN_MQTT_DEVICE_RATE: z.coerce.number().positive().default(5).describe('messages per second one device may publish (sustained); faster ones wait'),
  SENSHAGEN_MQTT_DEVICE_BURST: positiveInt.default(60).describe('messages one device may publish at once before the rate applies'),
  SENSHAGEN_MQTT_MAX_RETAINED_PER_CLIENT: positiveInt.default(16).describe('distinct topics one device account may hold retained messages on'),
  SENSHAGEN_MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT: positiveInt.default(32).describe('subscriptions one client may hold'),
  SENSHAGEN_MQTT_MAX_PENDING_PER_CLIENT: positiveInt.default(1_000).describe('publishes one connection may have waiting for their PUBACK (rate limit, store); one more closes it'),
  SENSHAGEN_MQTT_LOGIN_FAILURES: positiveInt.default(5).describe('failed logins per address and username before further tries are refused unchecked'),
  SENSHAGEN_MQTT_LOGIN_LOCKOUT_MS: positiveInt.default(60_000).describe('how long such tries are refused (doubles while failures go on)'),
  SENSHAGEN_MQTT_REGISTRY_POLL_MS: positiveInt.default(2_000).describe('how often the broker checks the registry for revoked or rotated devices'),
  SENSHAGEN_MQTT_TLS_CERT: optionalText.describe('PEM certificate (chain): enables MQTTS and WSS'),
  SENSHAGEN_MQTT_TLS_KEY: optionalText.describe('PEM private key of SENSHAGEN_MQTT_TLS_CERT'),
  SENSHAGEN_MQTTS_PORT: port.default(8883).describe('MQTT over TLS, when a certificate is configured'),
  SENSHAGEN_MQTT_WSS_PORT: port.default(9443).describe('MQTT over secure WebSocket, when a certificate is configured'),
  SENSHAGEN_WRITER_BATCH_SIZE: positiveInt.default(5000).describe('most points (lines) per InfluxDB write request'),
  SENSHAGEN_WRITER_IN_FLIGHT: z.coerce.number().int().min(1).max(64).default(4).describe('InfluxDB write requests in flight at once when full ones wait (writer service and direct mode)'),
  SENSHAGEN_WRITER_MAX_BUFFER: positiveInt.default(20_000).describe('points accepted and not yet acknowledged by InfluxDB before producers are made to wait; at least batch size × in flight'),
  SENSHAGEN_METRICS_BIND: z.string().default('127.0.0.1').describe('address of the /metrics listener of processes without an HTTP server (writer, calibration); no authentication'),
  SENSHAGEN_METRICS_PORT: port.default(9464).describe('port of that /metrics listener (the API and the HTTP ingest serve /metrics on their own ports)'),
  SENSHAGEN_STALE_AFTER_MS: positiveInt.default(DEFAULT_HEALTH_SETTINGS.staleAfterMs).describe('a device with no reading for this long is stale: a `stale` device event, senshagen_devices{state="stale"} (why 30 min: core/fleet-health.ts)'),
  SENSHAGEN_STUCK_AFTER_MS: positiveInt.default(DEFAULT_HEALTH_SETTINGS.stuckAfterMs).describe('temperature, humidity or pressure repeating one value this long is stuck (a `stuck` device event)'),
  SENSHAGEN_STUCK_MIN_READINGS: positiveInt.default(DEFAULT_HEALTH_SETTINGS.stuckMinReadings).describe('readings the stuck rule needs in SENSHAGEN_STUCK_AFTER_MS before it judges'),
  SENSHAGEN_HEALTH_CHECK_MS: positiveInt.default(60_000).describe('how often the fleet-health tracker (in `up` and `broker`) checks for stale and stuck devices'),
  SENSHAGEN_HEALTH_WEBHOOK_URL: optionalText.pipe(z.string().url().optional()).describe('operator webhook: a JSON POST for every fleet-health transition (device ids included); empty = none'),
})

export type Env = z.infer<typeof ENV_SCHEMA>

export interface Config {
  logLevel: Env['SENSHAGEN_LOG_LEVEL']
  /** Graceful shutdown: the drain's deadline after SIGTERM/SIGINT, ms (core/drain.ts). */
  drainTimeoutMs: number
  broker: {
    bind: string
    port: number
    wsPort: number
    /** Limits every client meets (README "Security"). */
    limits: {
      maxPacketBytes: number
      deviceRatePerS: number
      deviceBurst: number
      maxRetainedPerClient: number
      maxSubscriptionsPerClient: number
      maxPendingPerClient: number
      loginFailures: number
      loginLockoutMs: number
    }
    registryPollMs: number
    /** MQTTS and WSS listeners, when a certificate is configured. */
    tls?: { certFile: string; keyFile: string; port: number; wsPort: number }
  }
  mqtt: {
    url: string
    username?: string
    password?: string
    ingestClientId: string
    /** Subscribe `$share/<group>/<filter>` (several ingest instances split one subscription). */
    shareGroup?: string
  }
  ingest: {
    maxPayloadBytes: number
    maxFutureMs: number
    maxAgeMs: number
    deviceTimeZone: string
    openSenseMapSensorsFile?: string
    /** Kafka mode's group commit (services/ingest/kafka-sink.ts): wait at most batchMs, send at most batchMessages. */
    batchMs: number
    batchMessages: number
    /** Records accepted and not yet acknowledged by Kafka before accepts wait (backpressure). */
    maxBufferedRecords: number
    /** MQTT subscriptions (SENSHAGEN_MQTT_URL, TTN): messages handled at once and not yet acknowledged. */
    window: number
  }
  /** The HTTP ingest (airrohr "Send to own API" and sensor.community push format). */
  /** The HTTP ingest (airrohr pushes); idleTimeoutMs as api.idleTimeoutMs. */
  http: { bind: string; port: number; idleTimeoutMs?: number }
  /** A second broker to subscribe to with its own credentials: The Things Stack (TTN v3). */
  ttn?: { url: string; username: string; password: string; clientId: string }
  /** `undefined` = direct mode: ingest hands readings to the writer in-process. */
  kafka?: { brokers: string[]; clientId: string; readingsTopic: string; rejectionsTopic: string; eventsTopic: string; groupId: string; partitions: number }
  influx: { url: string; database: string; token?: string; org?: string; username?: string; password?: string }
  /** The InfluxDB writer (core/store/reading-writer.ts): points per request, requests in flight, points held. */
  writer: { batchSize: number; maxInFlight: number; maxBufferedReadings: number }
  /** The public HTTP API and residents' page (services/api). */
  api: {
    bind: string
    port: number
    livePollMs: number
    liveHeartbeatMs: number
    /** Requests per minute and client address (services/api/access.ts); absent: its default. */
    rateLimitPerMinute?: number
    /** Proxies whose X-Forwarded-For is believed (fastify trustProxy): false, a hop count, or addresses/CIDR ranges; absent: false. */
    trustProxy?: false | number | string[]
    /** A connection with no bytes either way this long is closed, ms (fastify connectionTimeout); absent: 30 s. */
    idleTimeoutMs?: number
    /** Readings query timeout, ms (services/api/query-cost.ts); absent: its default. */
    queryTimeoutMs?: number
    /** Cost limits of a readings query (services/api/query-cost.ts); absent: its defaults. */
    maxQueryWindows?: number
    maxQueryPoints?: number
    /** The residents' page: basemap MBTiles file, its street/postcode index, the "host a sensor" link. */
    basemapFile?: string
    basemapNamesFile?: string
    hostInviteUrl?: string
  }
  /** Device registry: neighbourhoods, devices with consent, exact positions and credentials, service accounts (config/README.md). */
  registry: { url: string; neighbourhoodsFile: string; serviceCredentialsFile: string }
  calibration: {
    site: { lat: number; lon: number }
    pmStation: string
    weatherStation: string
    collocated: string[]
    windowHours: number
    /** Days every method is fitted on, ending at the run's end (services/calibration/calibrator.ts). */
    fitDays: number
    /** Hours a stored fit is applied before the worker refits. */
    refitHours: number
    /** PM groups: largest distance between members, farthest reference from the group centre, km (core/calibration/methods/pm-groups.ts). */
    pmGroups: { radiusKm: number; maxReferenceKm: number }
    completeness: number
    reportsDir: string
  }
  /** Prometheus metrics (core/metrics.ts): the listener of processes without an HTTP server, device staleness. */
  metrics: { bind: string; port: number; staleAfterMs: number }
  /** Fleet health (core/fleet-health.ts, services/health): thresholds, check interval, operator webhook. */
  health: { staleAfterMs: number; stuckAfterMs: number; stuckMinReadings: number; checkMs: number; webhookUrl?: string }
}

/** Parses `env` (default `process.env`) into a Config; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ENV_SCHEMA.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`)
  }
  const e = parsed.data
  if (e.SENSHAGEN_HTTP_IDLE_TIMEOUT_MS <= Math.max(e.SENSHAGEN_API_LIVE_HEARTBEAT_MS, e.SENSHAGEN_API_QUERY_TIMEOUT_MS)) {
    // an event stream between heartbeats, or a request waiting for its query, sends nothing and would be cut
    throw new ConfigError('invalid configuration: SENSHAGEN_HTTP_IDLE_TIMEOUT_MS must be above SENSHAGEN_API_LIVE_HEARTBEAT_MS and SENSHAGEN_API_QUERY_TIMEOUT_MS')
  }
  if (e.SENSHAGEN_WRITER_BATCH_SIZE * e.SENSHAGEN_WRITER_IN_FLIGHT > e.SENSHAGEN_WRITER_MAX_BUFFER) {
    throw new ConfigError(
      `invalid configuration: SENSHAGEN_WRITER_BATCH_SIZE × SENSHAGEN_WRITER_IN_FLIGHT (${e.SENSHAGEN_WRITER_BATCH_SIZE} × ${e.SENSHAGEN_WRITER_IN_FLIGHT}) must not exceed ` +
        `SENSHAGEN_WRITER_MAX_BUFFER (${e.SENSHAGEN_WRITER_MAX_BUFFER}): the requests in flight could never all be full`,
    )
  }
  if (e.SENSHAGEN_INFLUX_USERNAME !== undefined && e.SENSHAGEN_INFLUX_PASSWORD === undefined) {
    throw new ConfigError('invalid configuration: SENSHAGEN_INFLUX_USERNAME is set but SENSHAGEN_INFLUX_PASSWORD is not')
  }
  if (e.SENSHAGEN_TTN_URL !== undefined && (e.SENSHAGEN_TTN_USERNAME === undefined || e.SENSHAGEN_TTN_PASSWORD === undefined)) {
    throw new ConfigError('invalid configuration: SENSHAGEN_TTN_URL needs SENSHAGEN_TTN_USERNAME ({app}@{tenant}) and SENSHAGEN_TTN_PASSWORD (API key)')
  }
  if ((e.SENSHAGEN_MQTT_TLS_CERT === undefined) !== (e.SENSHAGEN_MQTT_TLS_KEY === undefined)) {
    throw new ConfigError('invalid configuration: SENSHAGEN_MQTT_TLS_CERT and SENSHAGEN_MQTT_TLS_KEY go together (both PEM files, or neither)')
  }
  if (e.SENSHAGEN_MQTT_MAX_PACKET_BYTES > 268_435_455) {
    throw new ConfigError('invalid configuration: SENSHAGEN_MQTT_MAX_PACKET_BYTES must not exceed 268435455, the MQTT 3.1.1 maximum [MQTT-2.2.3]')
  }
  const brokers = e.SENSHAGEN_KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean)
  return {
    logLevel: e.SENSHAGEN_LOG_LEVEL,
    drainTimeoutMs: e.SENSHAGEN_DRAIN_TIMEOUT_MS,
    broker: {
      bind: e.SENSHAGEN_MQTT_BIND,
      port: e.SENSHAGEN_MQTT_PORT,
      wsPort: e.SENSHAGEN_MQTT_WS_PORT,
      limits: {
        maxPacketBytes: e.SENSHAGEN_MQTT_MAX_PACKET_BYTES,
        deviceRatePerS: e.SENSHAGEN_MQTT_DEVICE_RATE,
        deviceBurst: e.SENSHAGEN_MQTT_DEVICE_BURST,
        maxRetainedPerClient: e.SENSHAGEN_MQTT_MAX_RETAINED_PER_CLIENT,
        maxSubscriptionsPerClient: e.SENSHAGEN_MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT,
        maxPendingPerClient: e.SENSHAGEN_MQTT_MAX_PENDING_PER_CLIENT,
        loginFailures: e.SENSHAGEN_MQTT_LOGIN_FAILURES,
        loginLockoutMs: e.SENSHAGEN_MQTT_LOGIN_LOCKOUT_MS,
      },
      registryPollMs: e.SENSHAGEN_MQTT_REGISTRY_POLL_MS,
      tls:
        e.SENSHAGEN_MQTT_TLS_CERT === undefined
          ? undefined
          : { certFile: e.SENSHAGEN_MQTT_TLS_CERT, keyFile: e.SENSHAGEN_MQTT_TLS_KEY!, port: e.SENSHAGEN_MQTTS_PORT, wsPort: e.SENSHAGEN_MQTT_WSS_PORT },
    },
    mqtt: {
      url: e.SENSHAGEN_MQTT_URL,
      username: e.SENSHAGEN_MQTT_USERNAME,
      password: e.SENSHAGEN_MQTT_PASSWORD,
      ingestClientId: e.SENSHAGEN_INGEST_CLIENT_ID,
      shareGroup: e.SENSHAGEN_INGEST_SHARE_GROUP,
    },
    ingest: {
      maxPayloadBytes: e.SENSHAGEN_MAX_PAYLOAD_BYTES,
      maxFutureMs: e.SENSHAGEN_MAX_FUTURE_MS,
      maxAgeMs: e.SENSHAGEN_MAX_AGE_MS,
      deviceTimeZone: e.SENSHAGEN_DEVICE_TIMEZONE,
      openSenseMapSensorsFile: e.SENSHAGEN_OSEM_SENSORS_FILE,
      batchMs: e.SENSHAGEN_INGEST_BATCH_MS,
      batchMessages: e.SENSHAGEN_INGEST_BATCH_MESSAGES,
      maxBufferedRecords: e.SENSHAGEN_INGEST_MAX_BUFFERED,
      window: e.SENSHAGEN_INGEST_WINDOW,
    },
    http: { bind: e.SENSHAGEN_HTTP_BIND, port: e.SENSHAGEN_HTTP_PORT, idleTimeoutMs: e.SENSHAGEN_HTTP_IDLE_TIMEOUT_MS },
    ttn:
      e.SENSHAGEN_TTN_URL === undefined
        ? undefined
        : { url: e.SENSHAGEN_TTN_URL, username: e.SENSHAGEN_TTN_USERNAME!, password: e.SENSHAGEN_TTN_PASSWORD!, clientId: e.SENSHAGEN_TTN_CLIENT_ID },
    kafka: brokers?.length
      ? {
          brokers,
          clientId: e.SENSHAGEN_KAFKA_CLIENT_ID,
          readingsTopic: `${e.SENSHAGEN_KAFKA_TOPIC_PREFIX}.readings`,
          rejectionsTopic: `${e.SENSHAGEN_KAFKA_TOPIC_PREFIX}.rejections`,
          eventsTopic: `${e.SENSHAGEN_KAFKA_TOPIC_PREFIX}.events`,
          groupId: e.SENSHAGEN_KAFKA_GROUP,
          partitions: e.SENSHAGEN_KAFKA_PARTITIONS,
        }
      : undefined,
    influx: {
      url: e.SENSHAGEN_INFLUX_URL,
      database: e.SENSHAGEN_INFLUX_DATABASE,
      token: e.SENSHAGEN_INFLUX_TOKEN,
      org: e.SENSHAGEN_INFLUX_ORG,
      username: e.SENSHAGEN_INFLUX_USERNAME,
      password: e.SENSHAGEN_INFLUX_PASSWORD,
    },
    api: {
      bind: e.SENSHAGEN_API_BIND,
      port: e.SENSHAGEN_API_PORT,
      livePollMs: e.SENSHAGEN_API_LIVE_POLL_MS,
      liveHeartbeatMs: e.SENSHAGEN_API_LIVE_HEARTBEAT_MS,
      idleTimeoutMs: e.SENSHAGEN_HTTP_IDLE_TIMEOUT_MS,
      rateLimitPerMinute: e.SENSHAGEN_API_RATE_LIMIT_PER_MIN,
      trustProxy: e.SENSHAGEN_TRUST_PROXY,
      queryTimeoutMs: e.SENSHAGEN_API_QUERY_TIMEOUT_MS,
      maxQueryWindows: e.SENSHAGEN_API_MAX_QUERY_WINDOWS,
      maxQueryPoints: e.SENSHAGEN_API_MAX_QUERY_POINTS,
      basemapFile: e.SENSHAGEN_BASEMAP_FILE,
      basemapNamesFile: e.SENSHAGEN_BASEMAP_NAMES_FILE,
      hostInviteUrl: e.SENSHAGEN_HOST_INVITE_URL,
    },
    registry: { url: e.SENSHAGEN_DEVICE_REGISTRY, neighbourhoodsFile: e.SENSHAGEN_NEIGHBOURHOODS, serviceCredentialsFile: e.SENSHAGEN_SERVICE_CREDENTIALS },
    calibration: {
      site: { lat: e.SENSHAGEN_SITE_LAT, lon: e.SENSHAGEN_SITE_LON },
      pmStation: e.SENSHAGEN_REFERENCE_PM_STATION,
      weatherStation: e.SENSHAGEN_REFERENCE_WEATHER_STATION,
      collocated: e.SENSHAGEN_COLLOCATED_DEVICES?.split(',').map((d) => d.trim()).filter(Boolean) ?? [],
      windowHours: e.SENSHAGEN_CALIBRATION_WINDOW_H,
      fitDays: e.SENSHAGEN_CALIBRATION_FIT_DAYS,
      refitHours: e.SENSHAGEN_CALIBRATION_REFIT_HOURS,
      pmGroups: { radiusKm: e.SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM, maxReferenceKm: e.SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM },
      completeness: e.SENSHAGEN_CALIBRATION_COMPLETENESS,
      reportsDir: e.SENSHAGEN_REPORTS_DIR,
    },
    writer: {
      batchSize: e.SENSHAGEN_WRITER_BATCH_SIZE,
      maxInFlight: e.SENSHAGEN_WRITER_IN_FLIGHT,
      maxBufferedReadings: e.SENSHAGEN_WRITER_MAX_BUFFER,
    },
    metrics: { bind: e.SENSHAGEN_METRICS_BIND, port: e.SENSHAGEN_METRICS_PORT, staleAfterMs: e.SENSHAGEN_STALE_AFTER_MS },
    health: {
      staleAfterMs: e.SENSHAGEN_STALE_AFTER_MS,
      stuckAfterMs: e.SENSHAGEN_STUCK_AFTER_MS,
      stuckMinReadings: e.SENSHAGEN_STUCK_MIN_READINGS,
      checkMs: e.SENSHAGEN_HEALTH_CHECK_MS,
      webhookUrl: e.SENSHAGEN_HEALTH_WEBHOOK_URL,
    },
  }
}
