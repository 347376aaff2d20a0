import { STUCK_QUANTITIES, assessDevices, baseDevice, snapshotOf, type DeviceHealth, type Flatness, type HealthSettings, type HealthSnapshot } from '../fleet-health.ts'
import { isQuantity } from '../quantities.ts'
import { EVENT_MEASUREMENT, READING_MEASUREMENT, influxqlString } from './schema.ts'
import type { ReadingStore } from './store.ts'

/**
 * The named queries of fleet health (core/fleet-health.ts), kept apart so they move with the store's other named
 * queries. Each is one InfluxQL statement on the schema of core/store/schema.ts; times are epoch ms UTC.
 * Errors: those of store.influxql (UnavailableError, RefusedError).
 */
type Store = Pick<ReadingStore, 'influxql'>

/** `time >= '<ISO>'` */
function since(ms: number): string {
  return `time >= ${influxqlString(new Date(ms).toISOString())}`
}

/**
 * Condition restricting `"device"` to `ids` and their sub-devices (`<id>.<sensor>`, one physical device): device
 * ids hold only [A-Za-z0-9_.:-] (core/reading.ts), so escaping the dot is all the regular expression needs.
 */
function onlyDevices(ids: readonly string[]): string {
  return `"device" =~ /^(?:${ids.map((d) => d.replace(/[^A-Za-z0-9_:-]/g, (c) => `\\${c}`)).join('|')})(?:\\..+)?$/`
}

function where(...clauses: Array<string | undefined>): string {
  const present = clauses.filter((c): c is string => c !== undefined)
  return present.length === 0 ? '' : ` WHERE ${present.join(' AND ')}`
}

/**
 * Device id → receipt time (`received_ms`) of its newest stored reading: the newest by observed time, whose receipt
 * time is the latest unless a backlog arrived after it (then the backlog's own newest reading is older anyway).
 * A device whose clock lags still counts as seen when its readings arrive. InfluxDB reads one block per series for
 * last(), so this stays cheap on a large database. `devices` limits the answer to those ids and their sub-devices.
 */
export async function queryLastSeen(store: Store, options: { devices?: readonly string[] } = {}): Promise<Map<string, number>> {
  if (options.devices?.length === 0) return new Map()
  const seen = new Map<string, number>()
  for (const series of await store.influxql(`SELECT last("received_ms") FROM ${READING_MEASUREMENT}${where(options.devices && onlyDevices(options.devices))} GROUP BY "device"`)) {
    const at = series.values[0]?.[1]
    const device = series.tags?.device
    if (device !== undefined && typeof at === 'number') seen.set(device, at)
  }
  return seen
}

/** Device id → its newest `online`/`offline` event (any source: decoders' status topics, the broker's connections). */
export async function queryConnections(store: Store, options: { devices?: readonly string[] } = {}): Promise<Map<string, { state: 'online' | 'offline'; at: number }>> {
  if (options.devices?.length === 0) return new Map()
  const filter = where(`("kind" = 'online' OR "kind" = 'offline')`, options.devices && onlyDevices(options.devices))
  const newest = new Map<string, { state: 'online' | 'offline'; at: number }>()
  for (const series of await store.influxql(`SELECT last("detail") FROM ${EVENT_MEASUREMENT}${filter} GROUP BY "device", "kind"`)) {
    const device = series.tags?.device
    const state = series.tags?.kind
    const at = series.values[0]?.[0]
    if (device === undefined || (state !== 'online' && state !== 'offline') || typeof at !== 'number') continue
    if (at >= (newest.get(device)?.at ?? -Infinity)) newest.set(device, { state, at })
  }
  return newest
}

/**
 * Per device and stuck-prone quantity (STUCK_QUANTITIES), over readings observed since `from`: count, spread
 * (max − min), the first and last receipt time and the newest value, for the stuck rule (core/fleet-health.ts isStuck).
 */
export async function queryFlatness(store: Store, from: number, options: { devices?: readonly string[] } = {}): Promise<Flatness[]> {
  if (options.devices?.length === 0) return []
  const quantities = `"quantity" =~ /^(?:${STUCK_QUANTITIES.join('|')})$/`
  const statement =
    `SELECT count("value"), spread("value"), min("received_ms"), max("received_ms"), last("value") FROM ${READING_MEASUREMENT}` +
    `${where(since(from), quantities, options.devices && onlyDevices(options.devices))} GROUP BY "device", "quantity"`
  const rows: Flatness[] = []
  for (const series of await store.influxql(statement)) {
    const [, count, spread, firstAt, lastAt, value] = series.values[0] ?? []
    const deviceId = series.tags?.device
    const quantity = series.tags?.quantity ?? ''
    if (deviceId === undefined || !isQuantity(quantity) || typeof count !== 'number' || count === 0) continue
    rows.push({ deviceId, quantity, count, spread: spread as number, firstAt: firstAt as number, lastAt: lastAt as number, value: value as number })
  }
  return rows
}

/**
 * Device id → the health the tracker last recorded: the snapshot in the detail of the newest of its `stale`,
 * `stuck` and `recovered` events (core/fleet-health.ts healthTransitions). Devices without one are left out.
 */
export async function queryRecordedHealth(store: Store): Promise<Map<string, HealthSnapshot>> {
  const newest = new Map<string, { at: number; snapshot: HealthSnapshot }>()
  const statement = `SELECT last("detail") FROM ${EVENT_MEASUREMENT} WHERE "kind" = 'stale' OR "kind" = 'stuck' OR "kind" = 'recovered' GROUP BY "device", "kind"`
  for (const series of await store.influxql(statement)) {
    const device = series.tags?.device
    const [at, detail] = series.values[0] ?? []
    const snapshot = typeof detail === 'string' ? snapshotOf(detail) : undefined
    if (device === undefined || typeof at !== 'number' || snapshot === undefined) continue
    if (at >= (newest.get(device)?.at ?? -Infinity)) newest.set(device, { at, snapshot })
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
  store: Store,
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
  const wanted = new Set(options.devices)
  return health.filter((d) => wanted.has(d.deviceId) || (options.subDevices === true && wanted.has(baseDevice(d.deviceId) ?? '')))
}
