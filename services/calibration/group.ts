import type { DeviceRecord } from '../../core/registry/store.ts'

/**
 * Who takes part in a calibration, decided by the device registry (core/registry/store.ts), never by who has
 * data in InfluxDB. Two reasons:
 * - Integrity: anyone who can get points into the store (an unregistered or revoked device, a forged upload)
 *   must not steer the group factors that calibrate everyone else's readings. Sixty fake devices reporting
 *   PM2.5 ≈ 0.5 µg/m³ once pulled the factor from 1.9 to 0.31 and turned the residents' page to "very poor".
 * - Privacy: the group factors are published in every consented device's calibration report, and follow anyway
 *   from any consented device's public raw and calibrated values (f_h = raw / calibrated); the consented devices'
 *   hourly means and the reference station's are public too. With f_h = mean of the group's hourly means /
 *   reference_h, a non-consented member's hourly mean would follow as n·f_h·reference_h minus the others' sum.
 *   So a device whose owner has not consented contributes to nothing shared between devices.
 *
 * Roles:
 * - `member`: registered, not revoked, consented. Calibrated; its data forms the group's shared parameters.
 * - `calibrated-only`: registered, not revoked, not consented. Calibrated with the members' shared parameters
 *   and its own per-device fits (κ, gain, radiation offset): those stay in its report, which is not public.
 * - `unregistered`, `revoked`: not calibrated at all; their readings are named in one warning per run.
 */
export type CalibrationRole = 'member' | 'calibrated-only' | 'unregistered' | 'revoked'

/** The role of one device given its registry entry (undefined: not in the registry). */
export function calibrationRole(device: DeviceRecord | undefined): CalibrationRole {
  if (device === undefined) return 'unregistered'
  if (device.revokedAt !== undefined) return 'revoked'
  return device.consent ? 'member' : 'calibrated-only'
}

/** Device ids by role, each list sorted by id (byte order). */
export interface CalibrationGroup {
  /** Registered, active, consented: calibrated, and the only devices in shared parameters. */
  members: string[]
  /** Registered, active, not consented: calibrated, in nothing shared. */
  calibratedOnly: string[]
  /** Data in the store but no registry entry: not calibrated. */
  unregistered: string[]
  /** Registry entry revoked: not calibrated. */
  revoked: string[]
}

/**
 * Splits the devices that have data (`deviceIds`, e.g. every device with PM2.5 readings in the period) by their
 * role in `registry` (a snapshot of RegistryStore.devices(), revoked ones included). Pure.
 */
export function calibrationGroup(deviceIds: readonly string[], registry: readonly DeviceRecord[]): CalibrationGroup {
  const byId = new Map(registry.map((d) => [d.id, d]))
  const group: CalibrationGroup = { members: [], calibratedOnly: [], unregistered: [], revoked: [] }
  const list = { member: group.members, 'calibrated-only': group.calibratedOnly, unregistered: group.unregistered, revoked: group.revoked }
  for (const id of [...new Set(deviceIds)].sort(compareIds)) list[calibrationRole(byId.get(id))].push(id)
  return group
}

/** The devices of a group that are calibrated (members and calibrated-only), sorted by id. */
export function calibratedDevices(group: CalibrationGroup): string[] {
  return [...group.members, ...group.calibratedOnly].sort(compareIds)
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * PM sensor models the group method knows by name (datasheet names; matched case-insensitively as a prefix of a
 * registry `sensorModels` entry): optical sensors of different makes grow differently with humidity, so they
 * never share a group (core/calibration/methods/pm-groups.ts).
 */
export const PM_SENSOR_MODELS = ['SDS011', 'SDS021', 'SPS30', 'PMS1003', 'PMS3003', 'PMS5003', 'PMS6003', 'PMS7003', 'PMSA003', 'HM3301', 'SEN5', 'NEXTPM', 'OPC-N2', 'OPC-N3'] as const

/**
 * What the PM group method needs of a registered device: its PM sensor model (the first registry `sensorModels`
 * entry that starts with one of PM_SENSOR_MODELS, upper-cased to that name) and its exact position (private:
 * used for grouping only, never published). Absent fields are left out: such devices form one group of
 * "unknown model, same place".
 */
export function deviceSite(record: DeviceRecord | undefined): { sensorModel?: string; location?: { lat: number; lon: number } } {
  if (record === undefined) return {}
  const model = record.sensorModels.map((m) => m.toUpperCase()).flatMap((m) => PM_SENSOR_MODELS.filter((known) => m.startsWith(known)))[0]
  return { ...(model === undefined ? {} : { sensorModel: model }), ...(record.location ? { location: { lat: record.location.lat, lon: record.location.lon } } : {}) }
}
