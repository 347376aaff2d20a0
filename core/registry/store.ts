import { SensHagenError } from '../errors.ts'
import type { LatLon } from './coarsen.ts'

/**
 * The device registry as the source of truth (issue 8): devices with their owners' consent, exact (private)
 * positions and credentials, the service accounts, and the configured neighbourhoods. One interface, two
 * implementations: embedded SQLite (core/registry/sqlite.ts, the default: `SENSHAGEN_DEVICE_REGISTRY` is a
 * file path) and PostgreSQL (core/registry/postgres.ts: a `postgres://` URL, which several instances can share).
 * Every method is async so that both fit; `test/unit/registry-contract.ts` runs the same suite against both.
 *
 * Secrets are never stored: only a scrypt hash (core/registry/credentials.ts) and, for operators who run
 * Mosquitto instead of our broker, a PBKDF2-SHA512 hash in Mosquitto's own `$7$` password-file format.
 * A secret is returned exactly once, by `addDevice`, `rotateSecret`, `setServiceSecret` and `issueServiceSecrets`.
 */

/** How a device's data arrives; decides its MQTT topics (core/registry/topic-rights.ts) and its HTTP mechanism. */
export const DEVICE_FORMATS = ['native', 'tasmota', 'esphome', 'ttn', 'meetjestad', 'airrohr', 'opensensemap', 'wow', 'wu', 'ecowitt', 'sensor.community'] as const
export type DeviceFormat = (typeof DEVICE_FORMATS)[number]

/** The roles of non-device accounts; what each may do is in core/registry/topic-rights.ts and the README. */
export const SERVICE_ROLES = ['ingest', 'importer', 'operator'] as const
export type ServiceRole = (typeof SERVICE_ROLES)[number]

/** A neighbourhood as configured (config/neighbourhoods.json); its centre is public, snapped to the grid. */
export interface NeighbourhoodEntry {
  id: string
  name: string
  municipality: string
  center: LatLon
  /** Approximate radius in metres (precision of `coarsen: "neighbourhood"` devices). */
  radiusM: number
}

/** One device as the registry holds it. Everything here is private; core/registry/registry.ts decides what is public. */
export interface DeviceRecord {
  /** The device id as stored (`sim-000`, `tasmota-shed`, `ttn:app:dev`); also its MQTT username. */
  id: string
  format: DeviceFormat
  /**
   * The device's identity in its own firmware: Tasmota topic, ESPHome node, TTN `app/device`, airrohr chip id,
   * WOW site id, WU station id, Ecowitt path token owner, openSenseMap box id, sensor.community sensor id.
   * Derived from the id when not given (`tasmota-shed` → `shed`).
   */
  nativeId: string
  neighbourhood: string
  /** Exact position now (the newest entry of its history, `RegistryStore.positions`): personal data, never published. */
  location?: LatLon
  coarsen: 'grid' | 'neighbourhood'
  consent: boolean
  /** When consent was given (epoch ms), undefined when consent is false. */
  consentAt?: number
  sensorModels: string[]
  /** Free text for the operator (where the consent form is kept); never published. */
  note?: string
  /** Epoch ms. */
  createdAt: number
  /** Epoch ms of the last change (added, secret rotated, revoked, edited). */
  updatedAt: number
  /** Epoch ms; a revoked device can neither connect nor push, and counts nowhere public. */
  revokedAt?: number
}

/**
 * One entry of a device's position history: from `validFrom` (epoch ms UTC) until the next entry's `validFrom`,
 * the device stood at `location` (exact: personal data, never published). Before its first entry a device is
 * taken to stand at the first entry's position (its earliest known one). The position given at registration
 * is valid from the epoch (0), so readings replayed from before the registration have a position.
 */
export interface DevicePosition {
  deviceId: string
  validFrom: number
  location: LatLon
}

/** What `addDevice` needs; the rest is derived (format `native`, nativeId from the id, coarsen `grid`). */
export interface NewDevice {
  id: string
  neighbourhood: string
  consent: boolean
  format?: DeviceFormat
  nativeId?: string
  location?: LatLon
  coarsen?: 'grid' | 'neighbourhood'
  sensorModels?: string[]
  note?: string
  /** Defaults to now when consent is true. */
  consentAt?: number
}

/** Who authenticated: a registered, active device, or a service account. */
export type Principal = { kind: 'device'; username: string; device: DeviceRecord } | { kind: 'service'; username: string; role: ServiceRole }

/** A secret as handed out once: MQTT username (device id or service account name) and secret (the password). */
export interface IssuedCredentials {
  id: string
  username: string
  secret: string
}

/** A registry request that cannot be done (unknown device, duplicate id, unknown neighbourhood, bad field): not retriable. */
export class RegistryError extends SensHagenError {}

export interface RegistryStore {
  /** Where the registry lives, for messages (`data/registry.sqlite`, `postgres://host/db` without password). */
  readonly source: string

  neighbourhoods(): Promise<NeighbourhoodEntry[]>
  /** Adds or updates a neighbourhood (by id). */
  upsertNeighbourhood(entry: NeighbourhoodEntry): Promise<void>

  /** Registers a device and returns its secret (once). Errors: RegistryError (duplicate id, unknown neighbourhood, bad field). */
  addDevice(device: NewDevice): Promise<IssuedCredentials>
  /** Every device, revoked ones included, sorted by id. */
  devices(): Promise<DeviceRecord[]>
  device(id: string): Promise<DeviceRecord | undefined>
  /** The device of `format` whose native identity is `nativeId` (e.g. airrohr chip id), or undefined. */
  deviceByNativeId(format: DeviceFormat, nativeId: string): Promise<DeviceRecord | undefined>
  /** Revokes a device for good (its credentials stop working). Errors: RegistryError (unknown id). */
  revoke(id: string): Promise<DeviceRecord>
  /** A new secret for the device; the old one stops working. Errors: RegistryError (unknown or revoked id). */
  rotateSecret(id: string): Promise<IssuedCredentials>
  /**
   * Records that device `id` stands at `location` from `validFrom` (epoch ms, default now) on: a new entry of its
   * position history, replacing one with the same `validFrom`. The device's `location` becomes its newest
   * entry's. Changes no credentials or topic rights, so `updatedAt` stays (a broker has nothing to close).
   * Errors: RegistryError (unknown or revoked id; lat/lon out of range; validFrom not a whole number ≥ 0; for
   * `coarsen: neighbourhood`, a location outside its neighbourhood's radiusM).
   */
  moveDevice(id: string, location: LatLon, validFrom?: number): Promise<DeviceRecord>
  /**
   * Records positions observed by a source with its own positions (the sensor.community archive gives lat/lon
   * on every row): each `(validFrom, location)` is an entry, replacing one with the same `validFrom`; runs of
   * one position in time order are collapsed to their first. Revoked devices are accepted (their past is
   * history too). Errors: RegistryError as moveDevice.
   */
  recordPositions(id: string, observed: ReadonlyArray<{ validFrom: number; location: LatLon }>): Promise<DeviceRecord>
  /** Position histories, by device id then validFrom; only `id`'s when given. Exact positions: never publish. */
  positions(id?: string): Promise<DevicePosition[]>
  /** Devices changed (rotated, revoked, edited) after `sinceMs`, for a broker that must close their connections. */
  changedSince(sinceMs: number): Promise<DeviceRecord[]>

  /** Sets (or replaces) a service account's secret and returns it (once). */
  setServiceSecret(role: ServiceRole): Promise<IssuedCredentials>
  /**
   * Gives a secret to each of `roles` that has none yet, in one statement, and returns the ones it issued (once).
   * A role that already has a secret keeps it and is left out: when instances sharing the registry start at the
   * same moment, one of them issues every role and the others issue none (they cannot learn those secrets here;
   * core/registry/service-credentials.ts has them read the issuer's file). Errors: RegistryError (unknown role).
   */
  issueServiceSecrets(roles: readonly ServiceRole[]): Promise<IssuedCredentials[]>
  /** The roles that have a secret. */
  serviceRoles(): Promise<ServiceRole[]>

  /**
   * Checks a username/secret pair against the stored hash (constant time). Returns undefined for an unknown
   * user, a wrong secret or a revoked device: callers must not tell which.
   */
  authenticate(username: string, secret: string): Promise<Principal | undefined>

  /** Mosquitto password-file lines (`user:$7$…`), one per active device and service account (core/registry/mosquitto.ts). */
  mosquittoPasswordEntries(): Promise<Array<{ username: string; hash: string }>>

  close(): Promise<void>
}
