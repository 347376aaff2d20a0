import type { Config } from '../../../core/config.ts'
import type { DeviceHealth } from '../../../core/fleet-health.ts'
import { queryFleetHealth, type HealthStore } from '../../../core/store/health-queries.ts'
import { iso } from './output.ts'

/** One row of `senshagen devices status --offline --format json`; times ISO-8601 UTC with ms, null when unknown. */
export interface OfflineRow {
  device: string
  connection: DeviceHealth['connection']
  connectionSince: string | null
  stale: boolean
  lastSeen: string | null
  stuck: string[]
}

/**
 * `senshagen devices status --offline`: the devices that are offline (newest availability report) or stale (no
 * reading for SENSHAGEN_STALE_AFTER_MS), from the store alone (core/store/health-queries.ts queryFleetHealth), so
 * it answers whether or not a tracker runs. Operator view: every device, public or not. `device` limits it to
 * that device and its sub-devices. Sorted by last seen, oldest (never seen) first.
 */
export async function offlineDevices(store: HealthStore, health: Config['health'], now: number, device?: string): Promise<OfflineRow[]> {
  const devices = await queryFleetHealth(store, now, health, device === undefined ? {} : { devices: [device], subDevices: true })
  return devices
    .filter((d) => d.connection === 'offline' || d.stale)
    .sort((a, b) => (a.lastSeen ?? -Infinity) - (b.lastSeen ?? -Infinity) || a.deviceId.localeCompare(b.deviceId))
    .map((d) => ({
      device: d.deviceId,
      connection: d.connection,
      connectionSince: d.connectionSince === undefined ? null : iso(d.connectionSince),
      stale: d.stale,
      lastSeen: d.lastSeen === undefined ? null : iso(d.lastSeen),
      stuck: d.stuck,
    }))
}

/** Text: `<device>  <offline|online|unknown> since <ISO>|-  stale|-  last seen <ISO>|never  [stuck <quantities>]`, one line each, as a table. */
export function offlineText(rows: readonly OfflineRow[]): string {
  return rows
    .map((r) =>
      [
        r.device,
        r.connectionSince === null ? r.connection : `${r.connection} since ${r.connectionSince}`,
        r.stale ? 'stale' : 'fresh',
        `last seen ${r.lastSeen ?? 'never'}`,
        ...(r.stuck.length > 0 ? [`stuck ${r.stuck.join(',')}`] : []),
      ].join('  '),
    )
    .map((line) => `${line}\n`)
    .join('')
}
