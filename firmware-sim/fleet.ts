import mqtt, { type MqttClient } from 'mqtt'
import { ConfigError, UnavailableError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { DeviceIdSchema } from '../core/reading.ts'
import { readingsTopic, statusTopic } from '../core/topics.ts'
import { deviceIdFor, modelOptions, simPayload, type ModelOptions } from './model.ts'
import { uniform } from './random.ts'

/** Where the simulated devices publish and how they identify themselves. */
export interface SimConnection {
  mqttUrl: string
  username?: string
  password?: string
  /** Model seed; also part of every MQTT client id (`senshagen-sim-<seed>-<i>`). */
  seed: number
  /** Number of devices, 1…1000; ids `sim-000` … (prefix + index padded to 3 digits). */
  devices: number
  qos: 0 | 1
  /** Default `sim-`. */
  deviceIdPrefix?: string
  /** Model settings other than the seed (default: STADSHAGEN_LATE_AUTUMN). */
  model?: Partial<Omit<ModelOptions, 'seed'>>
  /** Give up connecting after this long, ms; default 10 000. */
  connectTimeoutMs?: number
}

export interface FleetOptions extends SimConnection {
  /** Wall-clock time between two readings of one device, ms. */
  intervalMs: number
  /** Simulated epoch ms at start; default now. Readings later than now + 5 min are refused by the ingest. */
  startTime?: number
  /** Simulated ms per wall-clock ms (default 1): 60 with a 10 s interval sends one reading per 10 min of weather. */
  speedup?: number
  /** Stop by itself after this many wall-clock ms. */
  durationMs?: number
  /** Readings one device may have unacknowledged (QoS 1) or queued before new ones are dropped; default 100. */
  maxInFlightPerDevice?: number
}

/** Counters since start: acknowledged (QoS 1) or written (QoS 0) / refused by the client / dropped at the bound. */
export interface FleetStats {
  published: number
  failed: number
  dropped: number
}

export interface Fleet {
  readonly stats: FleetStats
  /** Resolves once the fleet has stopped (after `stop()` or at the end of `durationMs`). */
  readonly done: Promise<void>
  /** Publishes `offline` (retained) per device, waits ≤ 5 s for in-flight readings, disconnects. Idempotent. */
  stop(): Promise<void>
}

const STOP_DRAIN_MS = 5_000

/**
 * Starts `devices` simulated BME280+SDS011 devices, each its own MQTT 3.1.1 client, publishing a native
 * payload v1 (firmware-sim/model.ts) on `senshagen/v1/devices/{device}/readings` every `intervalMs`.
 * The first reading of each device is delayed by a per-device offset in [0, intervalMs) (deterministic from
 * the seed) so the fleet does not publish in one burst. Each client registers the retained will `offline`
 * on `…/status` [MQTT-3.1.2-8] and publishes `online` (retained, QoS 1) on every (re)connect.
 * Resolves once every device is connected; throws UnavailableError when one cannot connect, ConfigError
 * for bad options. While a device is disconnected its QoS 0 readings fail and its QoS 1 readings queue up to
 * `maxInFlightPerDevice`; beyond that they are dropped (counted in `stats.dropped`, logged).
 */
export async function startFleet(options: FleetOptions, logger: Logger): Promise<Fleet> {
  checkConnection(options)
  if (!(options.intervalMs > 0)) throw new ConfigError(`intervalMs must be > 0 (got ${options.intervalMs})`)
  const speedup = options.speedup ?? 1
  if (!(speedup > 0)) throw new ConfigError(`speedup must be > 0 (got ${speedup})`)
  const maxInFlight = options.maxInFlightPerDevice ?? 100
  const log = logger.child({ service: 'sim' })
  const model = modelOptions({ ...options.model, seed: options.seed })
  const prefix = options.deviceIdPrefix ?? 'sim-'
  const stats: FleetStats = { published: 0, failed: 0, dropped: 0 }

  const devices = Array.from({ length: options.devices }, (_, i) => ({ i, id: deviceIdFor(i, prefix), inFlight: 0 }))
  const clients = await connectAll(options, devices.map((d) => d.id), log)
  const wallStart = Date.now()
  const simNow = () => Math.round((options.startTime ?? wallStart) + (Date.now() - wallStart) * speedup)
  const timers = new Set<NodeJS.Timeout>()

  devices.forEach((device, n) => {
    const client = clients[n]!
    const deviceLog = log.child({ deviceId: device.id })
    const topic = readingsTopic(device.id)
    const firstAt = wallStart + uniform(options.seed, 0x5eed, device.i) * options.intervalMs
    const publishOne = () => {
      if (device.inFlight >= maxInFlight) {
        if (++stats.dropped % 100 === 1) deviceLog.warn({ dropped: stats.dropped, maxInFlight }, 'reading dropped: too many unacknowledged')
        return
      }
      device.inFlight++
      const payload = JSON.stringify(simPayload(model, device.i, simNow(), prefix))
      client.publish(topic, payload, { qos: options.qos }, (error) => {
        device.inFlight--
        if (!error) stats.published++
        else if (++stats.failed % 100 === 1) deviceLog.warn({ err: error, failed: stats.failed }, 'reading not published')
      })
    }
    const schedule = (k: number) => {
      const timer = setTimeout(() => {
        timers.delete(timer)
        publishOne()
        // after a stall (blocked event loop, suspended laptop) skip the missed slots instead of bursting
        schedule(Math.max(k + 1, Math.ceil((Date.now() - firstAt) / options.intervalMs)))
      }, Math.max(0, firstAt + k * options.intervalMs - Date.now()))
      timers.add(timer)
    }
    schedule(0)
  })
  log.info({ url: options.mqttUrl, devices: options.devices, intervalMs: options.intervalMs, qos: options.qos }, 'sim fleet publishing')

  let resolveDone!: () => void
  const done = new Promise<void>((resolve) => (resolveDone = resolve))
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      await Promise.all(
        clients.map(async (client, n) => {
          const device = devices[n]!
          if (client.connected) {
            // A clean DISCONNECT discards the will [MQTT-3.1.2-10], so say `offline` ourselves.
            device.inFlight++
            client.publish(statusTopic(device.id), 'offline', { qos: 1, retain: true }, () => device.inFlight--)
          }
          const drained = await waitFor(() => device.inFlight === 0, STOP_DRAIN_MS)
          await client.endAsync(!drained || !client.connected)
        }),
      )
      log.info({ ...stats }, 'sim fleet stopped')
      resolveDone()
    })())
  if (options.durationMs !== undefined) {
    const timer = setTimeout(() => void stop(), options.durationMs)
    void done.then(() => clearTimeout(timer))
  }
  return { stats, done, stop }
}

export interface BackfillOptions extends SimConnection {
  /** Window of simulated time, epoch ms, `[fromMs, toMs)`; readings at multiples of `stepMs`. */
  fromMs: number
  toMs: number
  /** Default 300 000 (5 min). */
  stepMs?: number
  /** Publishes awaiting their acknowledgement (QoS 1) or socket write (QoS 0) at once; default 100. */
  maxInFlight?: number
}

/**
 * Publishes the readings every device would have sent in a past window, as fast as the broker acknowledges
 * them, so dashboards have history (e.g. the last 24 h at 5-min steps = 288 readings per device). One client
 * `senshagen-sim-<seed>-backfill`; messages go out time-major (all devices at t, then t + step).
 */
export async function backfill(options: BackfillOptions, logger: Logger): Promise<BatchStats> {
  checkConnection(options)
  const stepMs = options.stepMs ?? 300_000
  if (!(stepMs > 0) || !(options.toMs >= options.fromMs)) throw new ConfigError('backfill needs stepMs > 0 and toMs >= fromMs')
  const log = logger.child({ service: 'sim' })
  const model = modelOptions({ ...options.model, seed: options.seed })
  const prefix = options.deviceIdPrefix ?? 'sim-'
  const [client] = await connectAll({ ...options, clientSuffix: 'backfill' }, [], log)
  function* messages() {
    for (let t = Math.ceil(options.fromMs / stepMs) * stepMs; t < options.toMs; t += stepMs) {
      for (let i = 0; i < options.devices; i++) {
        yield { topic: readingsTopic(deviceIdFor(i, prefix)), payload: JSON.stringify(simPayload(model, i, t, prefix)) }
      }
    }
  }
  try {
    const stats = await emitBatch(client!, messages(), { qos: options.qos, maxInFlight: options.maxInFlight ?? 100 }, log)
    log.info({ ...stats, fromMs: options.fromMs, toMs: options.toMs, stepMs }, 'sim backfill done')
    return stats
  } finally {
    await client!.endAsync()
  }
}

export interface BatchStats {
  published: number
  failed: number
}

/**
 * Publishes `messages` through `client` with at most `maxInFlight` publishes outstanding (the bound is the
 * backpressure: the generator is not advanced while the window is full). Failures are counted and logged
 * (first and every 100th), never thrown.
 */
export async function emitBatch(
  client: MqttClient,
  messages: Iterable<{ topic: string; payload: string }>,
  options: { qos: 0 | 1; maxInFlight: number },
  logger: Logger,
): Promise<BatchStats> {
  const stats: BatchStats = { published: 0, failed: 0 }
  const pending = new Set<Promise<void>>()
  for (const message of messages) {
    while (pending.size >= options.maxInFlight) await Promise.race(pending)
    const publish: Promise<void> = client.publishAsync(message.topic, message.payload, { qos: options.qos }).then(
      () => void stats.published++,
      (error: unknown) => {
        if (++stats.failed % 100 === 1) logger.warn({ err: error, topic: message.topic, failed: stats.failed }, 'publish failed')
      },
    )
    const tracked = publish.finally(() => pending.delete(tracked))
    pending.add(tracked)
  }
  await Promise.all(pending)
  return stats
}

function checkConnection(options: SimConnection): void {
  if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > 1000) {
    throw new ConfigError(`devices must be an integer 1..1000 (got ${options.devices})`)
  }
  if (options.qos !== 0 && options.qos !== 1) throw new ConfigError(`qos must be 0 or 1 (got ${String(options.qos)})`)
  const lastId = deviceIdFor(options.devices - 1, options.deviceIdPrefix ?? 'sim-')
  if (!DeviceIdSchema.safeParse(lastId).success) throw new ConfigError(`deviceIdPrefix gives an invalid device id '${lastId}'`)
}

/**
 * Connects one MQTT 3.1.1 client per device id (with will and `online` status), or a single client without
 * status when `deviceIds` is empty (client id suffix `clientSuffix`). All-or-nothing: on the first failure every
 * client is closed and UnavailableError thrown.
 */
async function connectAll(
  options: SimConnection & { clientSuffix?: string },
  deviceIds: string[],
  log: Logger,
): Promise<MqttClient[]> {
  const timeoutMs = options.connectTimeoutMs ?? 10_000
  const specs = deviceIds.length > 0 ? deviceIds.map((id, i) => ({ id, suffix: String(i) })) : [{ id: undefined, suffix: options.clientSuffix ?? 'batch' }]
  const pending = specs.map(({ id, suffix }) => {
    const client = mqtt.connect(options.mqttUrl, {
      clientId: `senshagen-sim-${options.seed}-${suffix}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: timeoutMs,
      queueQoSZero: false, // like a device: a QoS 0 reading while offline is lost, not queued
      username: options.username,
      password: options.password,
      will: id === undefined ? undefined : { topic: statusTopic(id), payload: Buffer.from('offline'), qos: 1, retain: true },
    })
    // `online` on every (re)connect; the first one is acknowledged before startFleet resolves
    let connects = 0
    const online = new Promise<void>((resolve, reject) =>
      client.on('connect', () => {
        if (connects++ > 0) log.info({ clientId: client.options.clientId }, 'mqtt reconnected')
        if (id === undefined) return resolve()
        client.publish(statusTopic(id), 'online', { qos: 1, retain: true }, (error) => (error ? reject(error) : resolve()))
      }),
    )
    client.on('offline', () => log.info({ clientId: client.options.clientId }, 'mqtt connection lost; reconnecting'))
    client.on('error', (error) => log.debug({ clientId: client.options.clientId, err: error }, 'mqtt error'))
    return { client, online }
  })
  const connected = ({ client, online }: { client: MqttClient; online: Promise<void> }) =>
    new Promise<void>((resolve, reject) => {
      online.then(resolve, reject)
      client.once('error', reject)
      setTimeout(() => reject(new Error(`not connected within ${timeoutMs} ms`)), timeoutMs).unref()
    })
  const clients = pending.map((p) => p.client)
  try {
    await Promise.all(pending.map(connected))
    return clients
  } catch (error) {
    await Promise.all(clients.map((client) => client.endAsync(true)))
    throw new UnavailableError(`cannot connect to ${options.mqttUrl}: ${(error as Error).message}`, { cause: error })
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}
