import {
  assessDevices,
  countStates,
  healthTransitions,
  HEALTH_SOURCE,
  snapshotOf,
  type DeviceHealth,
  type DeviceStateCounts,
  type Flatness,
  type HealthSettings,
  type HealthSnapshot,
} from '../../core/fleet-health.ts'
import type { Logger } from '../../core/logger.ts'
import { countDropped } from '../../core/metrics.ts'
import { OutageLog } from '../../core/retry.ts'
import type { DeviceEvent } from '../../core/reading.ts'
import { queryConnections, queryFlatness, queryLastSeen, queryRecordedHealth, type HealthStore } from '../../core/store/health-queries.ts'
import type { ReadingStore } from '../../core/store/store.ts'

export interface FleetHealthOptions {
  store: HealthStore & Pick<ReadingStore, 'write'>
  settings: HealthSettings & {
    /** Interval of the periodic check, ms. */
    checkMs: number
  }
  logger: Logger
  /** Told every transition once it is stored (services/health/webhook.ts). */
  onTransition?: (event: DeviceEvent) => void
  /** Registered devices: reported even before their first reading (stale once staleAfterMs passed since start). */
  knownDevices?: () => Promise<Iterable<string>>
  /** Receipt time of a device's newest reading acknowledged in this process (core/metrics.ts lastSeenAt), fresher than the store. */
  seenHere?: (deviceId: string) => number | undefined
  /** Clock, epoch ms. */
  now?: () => number
}

/** `sourceFormat` of a connection change announced from the store: a status topic, a will, or another instance's broker. */
export const STORED_REPORT = 'stored-report'

/** Connection events waiting for the store, at most; past it new ones are dropped (error log, senshagen_dropped_total). */
const MAX_PENDING = 10_000

/** How long a /metrics scrape waits for the stored availability reports, ms (Prometheus's default scrape timeout is 10 s). */
const REFRESH_WAIT_MS = 1_000

/**
 * The fleet-health tracker (core/fleet-health.ts says what it derives). It runs where the embedded broker runs
 * (`senshagen up`, `senshagen broker`; services/health/main.ts) and keeps its state in the store, so a restart
 * forgets nothing: `start` reads back last seen, the newest availability reports and the health it last
 * recorded, then checks every `checkMs`.
 *
 * - `connection` takes the broker's connects and disconnects (services/health/presence.ts): a change of state
 *   is recorded at once as an `online`/`offline` event (`source` fleet-health, detail `{"via":"mqtt",…}`).
 * - `check` reads what the ingest stored since (readings' receipt times, status-topic and will events, flat
 *   series), and records `stale`, `stuck` and `recovered` transitions (healthTransitions); a change of
 *   connection the decoders already stored is only announced.
 *
 * Every transition is written once (device event), then handed to `onTransition`. A failed write is retried at
 * the next check: transitions are derived again from the store, and connection
 * events wait in a bounded queue; an outage is logged at warn once (OutageLog). Nothing here is on the ingest's path.
 */
export class FleetHealthTracker {
  private readonly now: () => number
  private readonly startedAt: number
  private recorded = new Map<string, HealthSnapshot>()
  private connections = new Map<string, { state: 'online' | 'offline'; at: number }>()
  private lastSeen = new Map<string, number>()
  private flatness: Flatness[] = []
  private known: string[] = []
  private readonly pending: DeviceEvent[] = []
  private timer: NodeJS.Timeout | undefined
  /** Store outages, logged at warn once per episode (core/retry.ts). */
  private readonly outage: OutageLog
  private checking: Promise<void> | undefined
  private refreshing: Promise<void> | undefined

  constructor(private readonly options: FleetHealthOptions) {
    this.now = options.now ?? Date.now
    this.startedAt = this.now()
    this.outage = new OutageLog(options.logger, 'fleet health (InfluxDB)')
  }

  /** Reads the state back from the store, checks once, then every checkMs. Errors: the store's (UnavailableError). */
  async start(): Promise<void> {
    const { store } = this.options
    const [lastSeen, recorded, connections] = await Promise.all([queryLastSeen(store), queryRecordedHealth(store), queryConnections(store)])
    ;[this.lastSeen, this.recorded] = [lastSeen, recorded]
    // connection changes reported while the store was read are newer than what it holds
    for (const [id, report] of connections) if (!this.connections.has(id)) this.connections.set(id, report)
    await this.check()
    this.timer = setInterval(() => void this.check(), this.options.settings.checkMs)
  }

  /** A connect (`online`) or disconnect (`offline`) of `deviceId` at `at`; recorded when it changes the state. */
  connection(deviceId: string, state: 'online' | 'offline', at: number, detail: Record<string, unknown>): void {
    if (this.connections.get(deviceId)?.state === state) return
    this.connections.set(deviceId, { state, at })
    if (this.pending.length >= MAX_PENDING) {
      countDropped('health_event_not_stored')
      this.options.logger.error({ deviceId, state }, 'LOST: fleet-health event queue full, connection change not recorded')
      return
    }
    this.pending.push({ deviceId, kind: state, at, topic: '', sourceFormat: HEALTH_SOURCE, detail: JSON.stringify(detail) })
    void this.flush()
  }

  /**
   * One check (serialized: a call during a running check waits for it): reads the store, records the transitions.
   * Never throws: a store error is logged at warn and the check is tried again next time.
   */
  check(): Promise<void> {
    this.checking ??= this.runCheck().finally(() => (this.checking = undefined))
    return this.checking
  }

  /** Every device's health now, with last seen as fresh as this process knows it. */
  devices(): DeviceHealth[] {
    const lastSeen = new Map(this.lastSeen)
    for (const id of new Set([...lastSeen.keys(), ...this.known])) {
      const here = this.options.seenHere?.(id)
      if (here !== undefined && here > (lastSeen.get(id) ?? -Infinity)) lastSeen.set(id, here)
    }
    const devices = assessDevices({ lastSeen, connections: this.connections, flatness: this.flatness, known: this.known }, this.now(), this.options.settings, this.startedAt)
    // a device never seen that an earlier run recorded as stale stays so (its clock did not restart with ours)
    for (const d of devices) if (d.lastSeen === undefined && this.recorded.get(d.deviceId)?.stale) d.stale = true
    return devices
  }

  /**
   * For senshagen_devices: online, offline, never_connected, stale (countStates); of the registered devices when
   * `knownDevices` is given (a revoked or never registered device in the store is not counted), else of every device.
   */
  counts(): DeviceStateCounts {
    if (!this.options.knownDevices) return countStates(this.devices())
    const known = new Set(this.known)
    return countStates(this.devices().filter((d) => known.has(d.deviceId)))
  }

  /**
   * counts() after reading the newest availability reports back from the store (senshagen_devices at scrape
   * time): a status-topic `online` another process stored (the demo's simulator publishes through the importer
   * account, so the broker sees no device connect) counts at once, as `senshagen devices status` shows it,
   * not only after the next check (checkMs, 60 s by default). Changes read here are announced as a check would.
   * Never throws: a store error, or no answer within REFRESH_WAIT_MS, leaves the counts as this process last knew
   * them (the check logs the outage).
   */
  async freshCounts(): Promise<DeviceStateCounts> {
    this.refreshing ??= queryConnections(this.options.store)
      .then((connections) => {
        for (const event of this.mergeConnections(connections)) this.options.onTransition?.(event)
      })
      .catch(() => {})
      .finally(() => (this.refreshing = undefined))
    // a scrape waits at most REFRESH_WAIT_MS: with InfluxDB down, /metrics must still answer (with the last counts)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.refreshing, new Promise<void>((resolve) => (timer = setTimeout(resolve, REFRESH_WAIT_MS)))])
    clearTimeout(timer)
    return this.counts()
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.checking
    await this.flush()
  }

  private async runCheck(): Promise<void> {
    const { store, settings, logger } = this.options
    const now = this.now()
    try {
      await this.flush()
      const [seen, connections, flatness, known] = await Promise.all([
        queryLastSeen(store),
        queryConnections(store),
        queryFlatness(store, now - settings.stuckAfterMs),
        this.options.knownDevices?.().then((ids) => [...ids]),
      ])
      for (const [id, at] of seen) if (at > (this.lastSeen.get(id) ?? -Infinity)) this.lastSeen.set(id, at)
      this.flatness = flatness
      if (known) this.known = known
      const announced = this.mergeConnections(connections)
      const transitions = healthTransitions(this.recorded, this.devices(), now, settings, this.startedAt)
      if (transitions.length > 0) await store.write({ readings: [], rejections: [], events: transitions })
      for (const event of transitions) {
        this.recorded.set(event.deviceId, snapshotOf(event.detail)!)
        logger.info({ deviceId: event.deviceId, kind: event.kind, detail: event.detail }, 'fleet health transition')
      }
      for (const event of [...announced, ...transitions]) this.options.onTransition?.(event)
      this.outage.recovered()
    } catch (error) {
      this.outage.failed({ err: error }, 'fleet-health check failed, tried again at the next check')
    }
  }

  /** Takes the stored reports newer than this process's; returns the changes of state to announce (STORED_REPORT). */
  private mergeConnections(connections: ReadonlyMap<string, { state: 'online' | 'offline'; at: number }>): DeviceEvent[] {
    const announced: DeviceEvent[] = []
    for (const [id, report] of connections) {
      const mine = this.connections.get(id)
      if (mine !== undefined && mine.at >= report.at) continue
      if (mine?.state !== report.state) announced.push({ deviceId: id, kind: report.state, at: report.at, topic: '', sourceFormat: STORED_REPORT, detail: '{}' })
      this.connections.set(id, report)
    }
    return announced
  }

  /** Writes the waiting connection events; on failure they stay queued for the next check. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return
    const events = this.pending.splice(0)
    try {
      await this.options.store.write({ readings: [], rejections: [], events })
    } catch (error) {
      this.pending.unshift(...events)
      this.outage.failed({ err: error, waiting: this.pending.length }, 'fleet-health events not stored yet, tried again at the next check')
      return
    }
    for (const event of events) this.options.onTransition?.(event)
  }
}
