import { z } from 'zod'
import { DeviceEntrySchema, NeighbourhoodEntrySchema, formatPath } from './registry.ts'
import { distanceM } from './coarsen.ts'
import { DEVICE_FORMATS, RegistryError, SERVICE_ROLES, type DeviceFormat, type DeviceRecord, type NeighbourhoodEntry, type NewDevice, type ServiceRole } from './store.ts'

/**
 * The rules every RegistryStore implementation (core/registry/sql-store.ts over SQLite and PostgreSQL) applies:
 * the validation of a new device and of a neighbourhood, the identity derived from a device id, the service
 * account usernames, and the texts of the refusals both give.
 */

/** Options of every store implementation. */
export interface StoreOptions {
  /** Clock in epoch ms (tests pass a fixed one); default Date.now. */
  now?: () => number
}

/**
 * MQTT usernames of the service accounts. A leading underscore can never be a device id (DeviceIdSchema in
 * core/reading.ts starts with a letter or digit), so no device can register under a service's name.
 */
export const SERVICE_USERNAMES: Readonly<Record<ServiceRole, string>> = { ingest: '_ingest', importer: '_importer', operator: '_operator' }

/** The role whose username is `username` (`_ingest` → `ingest`), or undefined. */
export function serviceRoleOf(username: string): ServiceRole | undefined {
  return SERVICE_ROLES.find((role) => SERVICE_USERNAMES[role] === username)
}

/**
 * Device id prefixes the decoders produce (core/decoders/*: `tasmota-<topic>`, `esphome-<prefix>`,
 * `ttn:<app>:<device>`, `airrohr-<X-Sensor>`, `osem-<box>`, `wow-<site>`, `wu-<station>`, `ecowitt-<token owner>`,
 * `mjs-<id>`, `sc-<sensor>`) with the format they imply.
 */
const PREFIX_FORMATS: ReadonlyArray<[prefix: string, format: DeviceFormat]> = [
  ['tasmota-', 'tasmota'],
  ['esphome-', 'esphome'],
  ['ttn:', 'ttn'],
  ['airrohr-', 'airrohr'],
  ['osem-', 'opensensemap'],
  ['wow-', 'wow'],
  ['wu-', 'wu'],
  ['ecowitt-', 'ecowitt'],
  ['mjs-', 'meetjestad'],
  ['sc-', 'sensor.community'],
]

/**
 * Format and native identity of a device when not given: the format from the id's prefix (`sc-5331` →
 * `sensor.community`; `sim-000` and any other id → `native`), the native id by stripping the prefix of the
 * format (`tasmota-shed` → `shed`, `ttn:app:dev` → `app/dev`), else the id itself.
 */
export function deriveIdentity(id: string, format?: DeviceFormat, nativeId?: string): { format: DeviceFormat; nativeId: string } {
  const resolved = format ?? PREFIX_FORMATS.find(([prefix]) => id.startsWith(prefix))?.[1] ?? 'native'
  if (nativeId !== undefined) return { format: resolved, nativeId }
  const prefix = PREFIX_FORMATS.find(([, f]) => f === resolved)?.[0]
  if (prefix === undefined || !id.startsWith(prefix) || id.length === prefix.length) return { format: resolved, nativeId: id }
  const rest = id.slice(prefix.length)
  return { format: resolved, nativeId: resolved === 'ttn' ? rest.replace(':', '/') : rest }
}

/**
 * A native identity ends up in MQTT topic filters (core/registry/topic-rights.ts), so it must be one plain topic
 * level: no `+`, `#`, `/`, `$` or NUL that would widen the device's rights. TTN's is `<app>/<device>`.
 */
const NATIVE_ID = /^[A-Za-z0-9_.:-]{1,100}$/
const TTN_NATIVE_ID = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/

/** `addDevice` input: the old registry file's device entry (DeviceEntrySchema), plus the new fields. */
const NewDeviceSchema = DeviceEntrySchema.extend({
  location: DeviceEntrySchema.shape.location.optional(),
  coarsen: z.enum(['grid', 'neighbourhood']).optional(),
  format: z.enum(DEVICE_FORMATS).optional(),
  nativeId: z.string().optional(),
  sensorModels: z.array(z.string().min(1).max(100)).max(32).default([]),
  consentAt: z.number().int().min(0).optional(),
})

/** A validated new device: everything of DeviceRecord but the timestamps the store sets. */
export type ValidDevice = Omit<DeviceRecord, 'createdAt' | 'updatedAt' | 'revokedAt'>

/**
 * Checks a new device with the rules of the old registry file (DeviceEntrySchema: id syntax and the reserved
 * `neighbourhood:` prefix, lat/lon ranges, coarsening within the neighbourhood's radiusM) plus those of the
 * store (a known neighbourhood, a native id that fits in a topic, consentAt only with consent, grid coarsening
 * only with a location). `hood` is the stored neighbourhood the device names, undefined when there is none.
 * Defaults: format and nativeId from the id (deriveIdentity), coarsen `grid` with a location and `neighbourhood`
 * without one, consentAt `now` when consent is true. Errors: RegistryError naming the device, field and rule
 * (`invalid device 'x': location.lat: Too big: expected number to be <=90`).
 */
export function validateNewDevice(input: NewDevice, hood: NeighbourhoodEntry | undefined, now: number): ValidDevice {
  const parsed = NewDeviceSchema.safeParse(input)
  const label = typeof input?.id === 'string' ? `'${input.id}'` : '(no id)'
  if (!parsed.success) {
    throw new RegistryError(`invalid device ${label}: ${parsed.error.issues.map(describeIssue).join('; ')}`)
  }
  const d = parsed.data
  const problems: string[] = []
  const { format, nativeId } = deriveIdentity(d.id, d.format, d.nativeId)
  if (!(format === 'ttn' ? TTN_NATIVE_ID : NATIVE_ID).test(nativeId)) {
    const rule = format === 'ttn' ? '<application>/<device>, each 1-100 chars of [A-Za-z0-9_.-]' : '1-100 chars of [A-Za-z0-9_.:-]'
    problems.push(`nativeId: '${nativeId}' must be ${rule} (it becomes part of MQTT topic filters)`)
  }
  const coarsen = d.coarsen ?? (d.location === undefined ? 'neighbourhood' : 'grid')
  if (coarsen === 'grid' && d.location === undefined) problems.push("coarsen: 'grid' needs a location (without one the device is published at its neighbourhood's centre: coarsen 'neighbourhood')")
  if (!d.consent && d.consentAt !== undefined) problems.push('consentAt: must be absent when consent is false')
  if (hood === undefined) {
    problems.push(`neighbourhood: no neighbourhood '${d.neighbourhood}' in the registry`)
  } else if (coarsen === 'neighbourhood' && d.location !== undefined && distanceM(d.location, hood.center) > hood.radiusM) {
    problems.push(`location: lies outside neighbourhood '${hood.id}' (more than radiusM ${hood.radiusM} m from its center)`)
  }
  if (problems.length > 0) throw new RegistryError(`invalid device ${label}: ${problems.join('; ')}`)
  const device: ValidDevice = { id: d.id, format, nativeId, neighbourhood: d.neighbourhood, coarsen, consent: d.consent, sensorModels: d.sensorModels }
  if (d.location !== undefined) device.location = d.location
  if (d.consent) device.consentAt = d.consentAt ?? now
  if (d.note !== undefined) device.note = d.note
  return device
}

const PositionSchema = z.strictObject({
  validFrom: z.number().int().min(0).max(8.64e15, 'must be a time within the ECMAScript Date range'),
  location: DeviceEntrySchema.shape.location,
})

/**
 * Checks positions for `device`'s history (RegistryStore.moveDevice/recordPositions): lat/lon in range, validFrom
 * whole epoch ms ≥ 0, and for `coarsen: neighbourhood` each location within `hood`'s radiusM (else the published
 * neighbourhood centre would lie). Returns them by validFrom, runs of one position collapsed to their first.
 * Errors: RegistryError naming the device, entry and rule (`cannot move 'x': [0].location.lat: Too big: …`).
 */
export function validatePositions(device: DeviceRecord, hood: NeighbourhoodEntry | undefined, observed: ReadonlyArray<{ validFrom: number; location: { lat: number; lon: number } }>): Array<{ validFrom: number; location: { lat: number; lon: number } }> {
  const problems: string[] = []
  const valid: Array<{ validFrom: number; location: { lat: number; lon: number } }> = []
  observed.forEach((entry, i) => {
    const parsed = PositionSchema.safeParse(entry)
    const where = observed.length === 1 ? '' : `[${i}].`
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => `${where}${describeIssue(issue)}`))
      return
    }
    const p = parsed.data
    if (device.coarsen === 'neighbourhood' && hood !== undefined && distanceM(p.location, hood.center) > hood.radiusM) {
      problems.push(`${where}location: lies outside neighbourhood '${hood.id}' (more than radiusM ${hood.radiusM} m from its center; the device is published at that centre)`)
      return
    }
    valid.push({ validFrom: p.validFrom, location: { lat: p.location.lat, lon: p.location.lon } })
  })
  if (problems.length > 0) throw new RegistryError(`cannot record positions of '${device.id}': ${problems.join('; ')}`)
  valid.sort((a, b) => a.validFrom - b.validFrom)
  return valid.filter((p, i) => {
    const before = valid[i - 1]
    return before === undefined || before.location.lat !== p.location.lat || before.location.lon !== p.location.lon
  })
}

/** Checks a neighbourhood (NeighbourhoodEntrySchema; radiusM defaults to 1000). Errors: RegistryError naming the field. */
export function validateNeighbourhood(entry: NeighbourhoodEntry): NeighbourhoodEntry {
  const parsed = NeighbourhoodEntrySchema.safeParse(entry)
  if (!parsed.success) {
    const label = typeof entry?.id === 'string' ? `'${entry.id}'` : '(no id)'
    throw new RegistryError(`invalid neighbourhood ${label}: ${parsed.error.issues.map(describeIssue).join('; ')}`)
  }
  return parsed.data
}

/** The error for an id that is already registered (revoked ones included: ids are never reused). */
export function duplicateDevice(id: string): RegistryError {
  return new RegistryError(`device '${id}' already exists (ids are never reused, also after revoke)`)
}

/** The error for a native identity another active device of the same format already has (they would share topics). */
export function duplicateNativeId(format: DeviceFormat, nativeId: string, owner: string): RegistryError {
  return new RegistryError(`nativeId: '${nativeId}' is already the identity of active ${format} device '${owner}' (two devices would share its topics)`)
}

export function unknownDevice(id: string): RegistryError {
  return new RegistryError(`no device '${id}' in the registry`)
}

/** `location.lat: Too big…`; an issue of the whole object (an unknown key) without the `(root)` path. */
function describeIssue(issue: { path: readonly PropertyKey[]; message: string }): string {
  return issue.path.length === 0 ? issue.message : `${formatPath(issue.path)}: ${issue.message}`
}
