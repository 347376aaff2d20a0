import { STUCK_QUANTITIES, assessDevices, baseDevice, snapshotOf, type DeviceHealth, type Flatness, type HealthSettings, type HealthSnapshot } from '../fleet-health.ts'
import type { ReadingStore } from './store.ts'

/**
 * Fleet health's views of the store (core/fleet-health.ts), built on the store's named queries (core/store/store.ts),
 * so they work on every ReadingStore. Times are epoch ms UTC. `devices` limits an answer to those ids and their
 * sub-devices (`<id>.<sensor>`, one physical device); it is applied to the answer, as the named queries select
 * exact ids or one family. Errors: those of the store (UnavailableError, RefusedError).
 */
export type HealthStore = Pick<ReadingStore, 'lastReceived' | 'latestEvents' | 'aggregateReadings' | 'lastReadings'>

interface DeviceFilter {
  devices?: readonly string[]
}

/** Whether `deviceId` is one of `devices` or a sub-device of one; every device when `devices` is absent. */
function wanted(options: DeviceFilter): (deviceId: string) => boolean {
  if (options.devices === undefined) return () => true
  const ids = new Set(options.devices)
  return (deviceId) => ids.has(deviceId) || ids.has(baseDevice(deviceId) ?? '')
}

/**
 * Device id → receipt time (`received_ms`) of its newest stored reading: the newest by observed time, whose receipt
 * time is the latest unless a backlog arrived after it (then the backlog's own newest reading is older anyway).
 * A device whose clock lags still counts as seen when its readings arrive.
 */
export async function queryLastSeen(store: HealthStore, options: DeviceFilter = {}): Promise<Map<string, number>> {
  if (options.devices?.length === 0) return new Map()
  const keep = wanted(options)
  const seen = new Map<string, number>()
  for (const { deviceId, receivedAt } of await store.lastReceived({})) {
    if (keep(deviceId)) seen.set(deviceId, Math.max(seen.get(deviceId) ?? receivedAt, receivedAt))
  }
  return seen
}

/** Device id → its newest `online`/`offline` event (any source: decoders' status topics, the broker's connections). */
export async function queryConnections(store: HealthStore, options: DeviceFilter = {}): Promise<Map<string, { state: 'online' | 'offline'; at: number }>> {
  if (options.devices?.length === 0) return new Map()
  const keep = wanted(options)
  const newest = new Map<string, { state: 'online' | 'offline'; at: number }>()
  for (const { deviceId, kind, lastAt } of await store.latestEvents({ kinds: ['online', 'offline'] })) {
    if (!keep(deviceId) || (kind !== 'online' && kind !== 'offline')) continue
    if (lastAt >= (newest.get(deviceId)?.at ?? -Infinity)) newest.set(deviceId, { state: kind, at: lastAt })
  }
  return newest
}

/**
 * Per device and stuck-prone quantity (STUCK_QUANTITIES), over readings observed since `from`: count, spread
 * (max − min), the first and last receipt time and the newest value, for the stuck rule (core/fleet-health.ts isStuck).
 */
export async function queryFlatness(store: HealthStore, from: number, options: DeviceFilter = {}): Promise<Flatness[]> {
  if (options.devices?.length === 0) return []
  const keep = wanted(options)
  const selection = { quantities: STUCK_QUANTITIES, from }
  const [groups, newest] = await Promise.all([
    store.aggregateReadings({ ...selection, fields: ['value', 'received_ms'], perDevice: true }),
    store.lastReadings(selection),
  ])
  const newestValue = new Map(newest.map((r) => [`${r.deviceId}\0${r.quantity}`, r.value]))
  const rows: Flatness[] = []
  for (const { deviceId, quantity, stats } of groups) {
    const value = newestValue.get(`${deviceId}\0${quantity}`)
    const { count, min, max } = stats.value ?? { count: 0, min: null, max: null }
    const received = stats.received_ms
    if (deviceId === undefined || !keep(deviceId) || count === 0 || min === null || max === null || value === undefined) continue
    if (received?.min == null || received.max == null) continue
    rows.push({ deviceId, quantity, count, spread: max - min, firstAt: received.min, lastAt: received.max, value })
  }
  return rows
}

/**
 * Device id → the health the tracker last recorded: the snapshot in the detail of the newest of its `stale`,
 * `stuck` and `recovered` events (core/fleet-health.ts healthTransitions). Devices without one are left out.
 */
export async function queryRecordedHealth(store: HealthStore): Promise<Map<string, HealthSnapshot>> {
  const newest = new Map<string, { at: number; snapshot: HealthSnapshot }>()
  for (const { deviceId, lastAt, lastDetail } of await store.latestEvents({ kinds: ['stale', 'stuck', 'recovered'] })) {
    const snapshot = snapshotOf(lastDetail)
    if (snapshot === undefined) continue
    if (lastAt >= (newest.get(deviceId)?.at ?? -Infinity)) newest.set(deviceId, { at: lastAt, snapshot })
  }
  return new Map([...newest].map(([device, { snapshot }]) => [device, snapshot]))
}

/**
 * Every device's health at `now` from the store alone (`senshagen devices status`, the API): last seen, newest
 * availability report, stale and stuck as core/fleet-health.ts defines them, a device never seen counting as
 * stale. `devices` limits the answer to those ids (their sub-devices are read for their base's last seen, and
 * listed only with `subDevices`).
 */
export async function queryFleetHealth(
  store: HealthStore,
  now: number,
  settings: HealthSettings,
  options: { devices?: readonly string[]; subDevices?: boolean } = {},
): Promise<DeviceHealth[]> {
  const [lastSeen, connections, flatness] = await Promise.all([
    queryLastSeen(store, options),
    queryConnections(store, options),
    queryFlatness(store, now - settings.stuckAfterMs, options),
  ])
  const health = assessDevices({ lastSeen, connections, flatness, known: options.devices }, now, settings, -Infinity)
  if (options.devices === undefined) return health
  const listed = options.subDevices === true ? wanted(options) : (deviceId: string) => options.devices!.includes(deviceId)
  return health.filter((d) => listed(d.deviceId))
}
