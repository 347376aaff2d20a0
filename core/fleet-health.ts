import type { Quantity } from './quantities.ts'
import type { DeviceEvent } from './reading.ts'

/**
 * Fleet health: what the pipeline knows of each device between its readings (README "Fleet health").
 *
 * - **last seen**: receipt time of the device's newest stored reading (field `received_ms`), so it is read back
 *   from the store after a restart. A device whose readings all come through sub-devices (`tasmota-x.bme280`)
 *   is last seen when its newest sub-device was.
 * - **connection**: `online` / `offline` / `unknown` (never heard of). From the embedded broker's MQTT connects and
 *   disconnects, the device's will, and the status topics the decoders turn into `online`/`offline` events
 *   (Tasmota `tele/<t>/LWT`, ESPHome `<prefix>/status`, our `senshagen/v1/devices/<id>/status`; core/topics.ts):
 *   the newest of them wins. A sub-device has its base device's connection.
 * - **stale**: no reading for `staleAfterMs` (default 30 min: six missed Tasmota TelePeriods of 300 s, twelve
 *   missed sensor.community (airrohr) sends of 145 s, two missed uplinks of a 15-min LoRaWAN schedule; long enough that a Wi-Fi
 *   reconnect or a broker restart does not page anyone, short enough that a dead device shows within the hour
 *   that the calibration and the residents' page work in). A registered device never seen is stale once
 *   `staleAfterMs` passed since the tracker started.
 * - **stuck**: a quantity that always varies outdoors (STUCK_QUANTITIES) repeating one value: in the last
 *   `stuckAfterMs` (default 2 h) at least `stuckMinReadings` (default 6) readings, all equal, first and last
 *   received at least half of `stuckAfterMs` apart. Rationale: a BME280 reports temperature to 0.01 °C, humidity
 *   to 0.008 %RH and pressure to 0.18 Pa (Bosch BME280 datasheet, parameter specification), so an outdoor value
 *   identical for two hours is a frozen sensor or firmware repeating its last good value (a hung I²C bus, a driver
 *   returning its cache), not the weather. Six readings and half the window keep a device that just started, or
 *   sends once an hour, from being judged on too little. Particulate matter is left out: clean air really reads
 *   0.0 µg/m³ for hours, and so do precipitation, wind and water level.
 *
 * Transitions are recorded once each as device events (`online`, `offline`, `stale`, `recovered`, `stuck`), not
 * per check: `stale`, `stuck` and `recovered` carry in their detail the device's health after the change
 * (HealthSnapshot), so the newest of them restores the recorded state after a restart.
 */
export interface HealthSettings {
  staleAfterMs: number
  stuckAfterMs: number
  stuckMinReadings: number
}

export const DEFAULT_HEALTH_SETTINGS: HealthSettings = { staleAfterMs: 1_800_000, stuckAfterMs: 7_200_000, stuckMinReadings: 6 }

/** Quantities that vary continuously outdoors at sensor resolution (see above for why these). */
export const STUCK_QUANTITIES: readonly Quantity[] = ['air_temperature', 'relative_humidity', 'air_pressure']

export type Connection = 'online' | 'offline' | 'unknown'

/** Devices per state of senshagen_devices (countStates). */
export interface DeviceStateCounts {
  online: number
  offline: number
  never_connected: number
  stale: number
}

/** `sourceFormat` of the events the tracker records itself. */
export const HEALTH_SOURCE = 'fleet-health'

/** One device's health at one moment. Times are epoch ms UTC. */
export interface DeviceHealth {
  deviceId: string
  /** Receipt time of its newest reading; undefined when none was ever stored. */
  lastSeen?: number
  connection: Connection
  /** When the connection state was last reported. */
  connectionSince?: number
  stale: boolean
  /** Quantities repeating one value (sorted). */
  stuck: Quantity[]
}

/** What the store and the broker say, as assessDevices reads it. */
export interface FleetFacts {
  /** Device id → epoch ms of its newest reading's receipt. */
  lastSeen: ReadonlyMap<string, number>
  /** Device id → newest availability report. */
  connections: ReadonlyMap<string, { state: 'online' | 'offline'; at: number }>
  /** Per device and stuck-prone quantity over the last stuckAfterMs (core/store/health-queries.ts queryFlatness). */
  flatness: readonly Flatness[]
  /** Devices to report even with no data (registered ones). */
  known?: Iterable<string>
}

export interface Flatness {
  deviceId: string
  quantity: Quantity
  count: number
  /** max − min of the values in the window. */
  spread: number
  /** Receipt times of the first and last reading in the window, epoch ms. */
  firstAt: number
  lastAt: number
  value: number
}

/** The recorded part of a device's health (the detail of `stale`, `stuck` and `recovered` events). */
export interface HealthSnapshot {
  stale: boolean
  stuck: Quantity[]
}

/** True when `f` meets the stuck rule (module docstring). */
export function isStuck(f: Flatness, settings: HealthSettings): boolean {
  return STUCK_QUANTITIES.includes(f.quantity) && f.count >= settings.stuckMinReadings && f.spread === 0 && f.lastAt - f.firstAt >= settings.stuckAfterMs / 2
}

/** The base device of a sub-device id (`tasmota-x.bme280` → `tasmota-x`), or undefined for a base id. */
export function baseDevice(deviceId: string): string | undefined {
  const dot = deviceId.indexOf('.')
  return dot > 0 ? deviceId.slice(0, dot) : undefined
}

/**
 * Every device's health at `now` (sorted by id): the devices with a reading, an availability report or a
 * stuck finding, and `facts.known`. `startedAt` stands in for last seen of a device never seen.
 */
export function assessDevices(facts: FleetFacts, now: number, settings: HealthSettings, startedAt: number): DeviceHealth[] {
  const ids = new Set<string>([...facts.lastSeen.keys(), ...facts.connections.keys(), ...(facts.known ?? [])])
  const stuck = new Map<string, Quantity[]>()
  for (const f of facts.flatness) {
    ids.add(f.deviceId)
    if (isStuck(f, settings)) stuck.set(f.deviceId, [...(stuck.get(f.deviceId) ?? []), f.quantity])
  }
  const lastSeen = new Map(facts.lastSeen)
  for (const [id, at] of facts.lastSeen) {
    const base = baseDevice(id)
    if (base !== undefined && ids.has(base)) lastSeen.set(base, Math.max(lastSeen.get(base) ?? at, at))
  }
  return [...ids].sort().map((deviceId) => {
    const seen = lastSeen.get(deviceId)
    const connection = facts.connections.get(deviceId) ?? facts.connections.get(baseDevice(deviceId) ?? '')
    return {
      deviceId,
      ...(seen === undefined ? {} : { lastSeen: seen }),
      connection: connection?.state ?? 'unknown',
      ...(connection === undefined ? {} : { connectionSince: connection.at }),
      stale: now - (seen ?? startedAt) >= settings.staleAfterMs,
      stuck: (stuck.get(deviceId) ?? []).sort(),
    }
  })
}

/**
 * The events that take the recorded health (`recorded`: device id → snapshot; a device missing is fresh and not
 * stuck) to `current`, at most one of each per device: `stale` when it went stale (at = last seen +
 * staleAfterMs), `recovered` when it is fresh again (at = last seen), `stuck` naming the quantities newly stuck
 * (at = now), `recovered` naming the quantities that vary again (at = now, 1 ms later when that is the other
 * `recovered`'s time: an event's key in the store is device, kind and time). Every detail is JSON: the
 * HealthSnapshot after the event plus what changed (`from`, `lastSeen`, `quantities`).
 */
export function healthTransitions(recorded: ReadonlyMap<string, HealthSnapshot>, current: readonly DeviceHealth[], now: number, settings: HealthSettings, startedAt: number): DeviceEvent[] {
  const events: DeviceEvent[] = []
  for (const device of current) {
    const before = recorded.get(device.deviceId) ?? { stale: false, stuck: [] }
    const snapshot: HealthSnapshot = { stale: before.stale, stuck: [...before.stuck] }
    const event = (kind: DeviceEvent['kind'], at: number, change: Record<string, unknown>) =>
      events.push({ deviceId: device.deviceId, kind, at, topic: '', sourceFormat: HEALTH_SOURCE, detail: JSON.stringify({ ...change, ...snapshot }) })
    const lastSeen = device.lastSeen === undefined ? null : new Date(device.lastSeen).toISOString()
    let freshAt: number | undefined
    if (device.stale !== before.stale) {
      snapshot.stale = device.stale
      if (device.stale) event('stale', (device.lastSeen ?? startedAt) + settings.staleAfterMs, { lastSeen })
      else event('recovered', (freshAt = device.lastSeen ?? now), { from: 'stale', lastSeen })
    }
    const newlyStuck = device.stuck.filter((q) => !before.stuck.includes(q))
    if (newlyStuck.length > 0) {
      snapshot.stuck = [...snapshot.stuck, ...newlyStuck].sort()
      event('stuck', now, { quantities: newlyStuck, stuckAfterMs: settings.stuckAfterMs })
    }
    const varying = before.stuck.filter((q) => !device.stuck.includes(q))
    if (varying.length > 0) {
      snapshot.stuck = snapshot.stuck.filter((q) => !varying.includes(q))
      event('recovered', freshAt === now ? now + 1 : now, { from: 'stuck', quantities: varying })
    }
  }
  return events
}

/** The snapshot an event of the tracker carries, or undefined when its detail is not one. */
export function snapshotOf(detail: string): HealthSnapshot | undefined {
  try {
    const parsed = JSON.parse(detail) as Partial<HealthSnapshot>
    if (typeof parsed.stale === 'boolean' && Array.isArray(parsed.stuck)) return { stale: parsed.stale, stuck: parsed.stuck }
  } catch {
    // not the tracker's detail
  }
  return undefined
}

/**
 * Counts for senshagen_devices, one state of connection per device: `online`; `offline` (its newest report is a
 * disconnect, will or offline status: what `senshagen devices status --offline` shows as "offline since");
 * `never_connected` (no connection report ever: registered and never connected, or HTTP only); and, across
 * those, `stale`. A sub-device whose base device is listed counts with its base, not again.
 */
export function countStates(devices: readonly DeviceHealth[]): DeviceStateCounts {
  const ids = new Set(devices.map((d) => d.deviceId))
  const counts = { online: 0, offline: 0, never_connected: 0, stale: 0 }
  for (const d of devices) {
    if (ids.has(baseDevice(d.deviceId) ?? '')) continue
    counts[d.connection === 'unknown' ? 'never_connected' : d.connection]++
    if (d.stale) counts.stale++
  }
  return counts
}
