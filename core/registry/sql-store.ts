import { hashSecret, mosquittoHash, newSecret, spendVerification, verifySecret } from './credentials.ts'
import type { LatLon } from './coarsen.ts'
import { SERVICE_USERNAMES, duplicateDevice, duplicateNativeId, serviceRoleOf, unknownDevice, validateNeighbourhood, validateNewDevice, validatePositions, type StoreOptions } from './device-rules.ts'
import {
  RegistryError,
  SERVICE_ROLES,
  type DeviceFormat,
  type DevicePosition,
  type DeviceRecord,
  type IssuedCredentials,
  type NeighbourhoodEntry,
  type NewDevice,
  type Principal,
  type RegistryStore,
  type ServiceRole,
} from './store.ts'

/**
 * The RegistryStore logic both SQL implementations share, over a minimal driver: core/registry/sqlite.ts
 * (better-sqlite3) and core/registry/postgres.ts (pg). The drivers own the connection and the schema (the same
 * tables in both dialects); every statement here is plain SQL both accept, with `?` placeholders and
 * `INSERT … ON CONFLICT … DO UPDATE`. Each change is one statement or one `transaction` of statements fixed
 * beforehand, so no transaction spans an `await` of ours;
 * uniqueness (device id; native id among active devices of a format) and the neighbourhood reference are
 * enforced by the schema, so two instances sharing one PostgreSQL database cannot both win.
 */

/** What a store needs from a database. */
export interface SqlDriver {
  /** For messages: a file path, or a URL without its password. */
  readonly source: string
  /** Rows of a query; `?` placeholders bound in order (booleans as the dialect needs). */
  all<T>(sql: string, params?: unknown[]): Promise<T[]>
  /** Runs a statement; returns the number of rows changed. */
  run(sql: string, params?: unknown[]): Promise<number>
  /** Runs the statements in order in one transaction (all or none); returns the rows each changed. */
  transaction(statements: ReadonlyArray<{ sql: string; params?: unknown[] }>): Promise<number[]>
  /** Which constraint a failed statement broke, or undefined for any other error. */
  violation(error: unknown): 'unique' | 'foreign-key' | undefined
  close(): Promise<void>
}

/** A device row as both drivers return it (PostgreSQL BIGINT epoch ms arrive as strings). */
interface DeviceRow {
  id: string
  format: string
  native_id: string
  neighbourhood: string
  lat: number | null
  lon: number | null
  coarsen: string
  consent: number | boolean
  consent_at: number | string | null
  sensor_models: string
  note: string | null
  created_at: number | string
  updated_at: number | string
  revoked_at: number | string | null
}

interface NeighbourhoodRow {
  id: string
  name: string
  municipality: string
  center_lat: number
  center_lon: number
  radius_m: number
}

/** Version 1 → 2: each device's single position becomes the first entry of its history, valid from the epoch. */
export const MIGRATE_TO_POSITION_HISTORY = `INSERT INTO device_positions (device_id, valid_from, lat, lon)
  SELECT id, 0, lat, lon FROM devices WHERE lat IS NOT NULL AND lon IS NOT NULL
  ON CONFLICT (device_id, valid_from) DO NOTHING`

interface PositionRow {
  device_id: string
  valid_from: number | string
  lat: number
  lon: number
}

/** Sets a device's current lat/lon to its newest history entry (`?` = the device id, three times). */
const CURRENT_POSITION_SQL = `UPDATE devices SET
  lat = (SELECT lat FROM device_positions WHERE device_id = ? ORDER BY valid_from DESC LIMIT 1),
  lon = (SELECT lon FROM device_positions WHERE device_id = ? ORDER BY valid_from DESC LIMIT 1)
  WHERE id = ?`

const INSERT_POSITION_SQL = `INSERT INTO device_positions (device_id, valid_from, lat, lon) VALUES (?, ?, ?, ?)
  ON CONFLICT (device_id, valid_from) DO UPDATE SET lat = excluded.lat, lon = excluded.lon`

const DEVICE_COLUMNS = 'id, format, native_id, neighbourhood, lat, lon, coarsen, consent, consent_at, sensor_models, note, created_at, updated_at, revoked_at'

export class SqlRegistryStore implements RegistryStore {
  private readonly now: () => number
  private closed = false

  constructor(private readonly db: SqlDriver, options: StoreOptions = {}) {
    this.now = options.now ?? Date.now
  }

  get source(): string {
    return this.db.source
  }

  async neighbourhoods(): Promise<NeighbourhoodEntry[]> {
    const rows = await this.db.all<NeighbourhoodRow>('SELECT id, name, municipality, center_lat, center_lon, radius_m FROM neighbourhoods ORDER BY id')
    return rows.map(neighbourhoodFromRow)
  }

  async upsertNeighbourhood(entry: NeighbourhoodEntry): Promise<void> {
    const n = validateNeighbourhood(entry)
    await this.db.run(
      `INSERT INTO neighbourhoods (id, name, municipality, center_lat, center_lon, radius_m) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, municipality = excluded.municipality,
         center_lat = excluded.center_lat, center_lon = excluded.center_lon, radius_m = excluded.radius_m`,
      [n.id, n.name, n.municipality, n.center.lat, n.center.lon, n.radiusM],
    )
  }

  async addDevice(input: NewDevice): Promise<IssuedCredentials> {
    const hoodId = typeof input?.neighbourhood === 'string' ? input.neighbourhood : ''
    const [hoodRow] = await this.db.all<NeighbourhoodRow>('SELECT id, name, municipality, center_lat, center_lon, radius_m FROM neighbourhoods WHERE id = ?', [hoodId])
    const now = this.now()
    const d = validateNewDevice(input, hoodRow === undefined ? undefined : neighbourhoodFromRow(hoodRow), now)
    // Cheap checks first, so a refused device costs no hashing; the schema decides races (below).
    await this.refuseTaken(d.id, d.format, d.nativeId)
    const secret = newSecret()
    const [credentialHash, mqttHash] = await Promise.all([hashSecret(secret), mosquittoHash(secret)])
    try {
      // the position given at registration is the first of its history, valid from the epoch (DevicePosition)
      await this.db.transaction([
        {
          sql: `INSERT INTO devices (id, format, native_id, neighbourhood, lat, lon, coarsen, consent, consent_at, sensor_models, note,
             credential_hash, mosquitto_hash, created_at, updated_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
          params: [d.id, d.format, d.nativeId, d.neighbourhood, d.location?.lat ?? null, d.location?.lon ?? null, d.coarsen, d.consent, d.consentAt ?? null,
            JSON.stringify(d.sensorModels), d.note ?? null, credentialHash, mqttHash, now, now],
        },
        ...(d.location === undefined ? [] : [{ sql: INSERT_POSITION_SQL, params: [d.id, 0, d.location.lat, d.location.lon] }]),
      ])
    } catch (error) {
      const violation = this.db.violation(error)
      if (violation === 'unique') await this.refuseTaken(d.id, d.format, d.nativeId)
      if (violation === 'foreign-key') throw new RegistryError(`invalid device '${d.id}': neighbourhood: no neighbourhood '${d.neighbourhood}' in the registry`, { cause: error })
      throw error
    }
    return { id: d.id, username: d.id, secret }
  }

  async devices(): Promise<DeviceRecord[]> {
    return (await this.db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY id`)).map(deviceFromRow)
  }

  async device(id: string): Promise<DeviceRecord | undefined> {
    const [row] = await this.db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [id])
    return row === undefined ? undefined : deviceFromRow(row)
  }

  /** The active device with that identity; else the one revoked last (so callers can refuse it by name). */
  async deviceByNativeId(format: DeviceFormat, nativeId: string): Promise<DeviceRecord | undefined> {
    const [row] = await this.db.all<DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE format = ? AND native_id = ?
       ORDER BY CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END, revoked_at DESC LIMIT 1`,
      [format, nativeId],
    )
    return row === undefined ? undefined : deviceFromRow(row)
  }

  /** Idempotent: revoking a revoked device returns it unchanged (its revokedAt stays the first one). */
  async revoke(id: string): Promise<DeviceRecord> {
    const now = this.now()
    await this.db.run('UPDATE devices SET revoked_at = ?, updated_at = ? WHERE id = ? AND revoked_at IS NULL', [now, now, id])
    const device = await this.device(id)
    if (device === undefined) throw unknownDevice(id)
    return device
  }

  async rotateSecret(id: string): Promise<IssuedCredentials> {
    await this.activeDevice(id)
    const secret = newSecret()
    const [credentialHash, mqttHash] = await Promise.all([hashSecret(secret), mosquittoHash(secret)])
    const changed = await this.db.run('UPDATE devices SET credential_hash = ?, mosquitto_hash = ?, updated_at = ? WHERE id = ? AND revoked_at IS NULL', [
      credentialHash,
      mqttHash,
      this.now(),
      id,
    ])
    if (changed === 0) await this.activeDevice(id) // revoked while hashing: say so
    return { id, username: id, secret }
  }

  async moveDevice(id: string, location: LatLon, validFrom: number = this.now()): Promise<DeviceRecord> {
    const device = await this.device(id)
    if (device === undefined) throw unknownDevice(id)
    if (device.revokedAt !== undefined) throw new RegistryError(`device '${id}' is revoked (a revoked device does not move; register a new id)`)
    return this.record(device, [{ validFrom, location }])
  }

  async recordPositions(id: string, observed: ReadonlyArray<{ validFrom: number; location: LatLon }>): Promise<DeviceRecord> {
    const device = await this.device(id)
    if (device === undefined) throw unknownDevice(id)
    return this.record(device, observed)
  }

  async positions(id?: string): Promise<DevicePosition[]> {
    const rows = await this.db.all<PositionRow>(
      `SELECT device_id, valid_from, lat, lon FROM device_positions${id === undefined ? '' : ' WHERE device_id = ?'} ORDER BY device_id, valid_from`,
      id === undefined ? [] : [id],
    )
    return rows.map((r) => ({ deviceId: r.device_id, validFrom: Number(r.valid_from), location: { lat: Number(r.lat), lon: Number(r.lon) } }))
  }

  async changedSince(sinceMs: number): Promise<DeviceRecord[]> {
    return (await this.db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE updated_at > ? ORDER BY id`, [sinceMs])).map(deviceFromRow)
  }

  /** The issued credentials' `id` is the role (`ingest`), the username its account (`_ingest`). */
  async setServiceSecret(role: ServiceRole): Promise<IssuedCredentials> {
    if (!SERVICE_ROLES.includes(role)) throw new RegistryError(`no service role '${String(role)}' (roles: ${SERVICE_ROLES.join(', ')})`)
    const secret = newSecret()
    const [credentialHash, mqttHash] = await Promise.all([hashSecret(secret), mosquittoHash(secret)])
    await this.db.run(
      `INSERT INTO service_accounts (role, credential_hash, mosquitto_hash, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (role) DO UPDATE SET credential_hash = excluded.credential_hash, mosquitto_hash = excluded.mosquitto_hash, updated_at = excluded.updated_at`,
      [role, credentialHash, mqttHash, this.now()],
    )
    return { id: role, username: SERVICE_USERNAMES[role], secret }
  }

  /**
   * One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`: PostgreSQL makes a second inserter wait on the
   * first one's uncommitted rows and then skips them, SQLite has one writer at a time, so concurrent callers
   * asking for the same roles in the same order never split them.
   */
  async issueServiceSecrets(roles: readonly ServiceRole[]): Promise<IssuedCredentials[]> {
    const unknown = roles.find((role) => !SERVICE_ROLES.includes(role))
    if (unknown !== undefined) throw new RegistryError(`no service role '${String(unknown)}' (roles: ${SERVICE_ROLES.join(', ')})`)
    const wanted = SERVICE_ROLES.filter((role) => roles.includes(role)) // one order for every caller
    if (wanted.length === 0) return []
    const now = this.now()
    const issued = await Promise.all(
      wanted.map(async (role) => {
        const secret = newSecret()
        const [credentialHash, mqttHash] = await Promise.all([hashSecret(secret), mosquittoHash(secret)])
        return { role, secret, params: [role, credentialHash, mqttHash, now] }
      }),
    )
    const inserted = await this.db.all<{ role: ServiceRole }>(
      `INSERT INTO service_accounts (role, credential_hash, mosquitto_hash, updated_at) VALUES ${issued.map(() => '(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (role) DO NOTHING RETURNING role`,
      issued.flatMap((i) => i.params),
    )
    const won = new Set(inserted.map((row) => row.role))
    return issued.filter((i) => won.has(i.role)).map((i) => ({ id: i.role, username: SERVICE_USERNAMES[i.role], secret: i.secret }))
  }

  async serviceRoles(): Promise<ServiceRole[]> {
    const rows = await this.db.all<{ role: ServiceRole }>('SELECT role FROM service_accounts')
    const present = new Set(rows.map((r) => r.role))
    return SERVICE_ROLES.filter((role) => present.has(role))
  }

  /**
   * One scrypt verification whatever the answer: an unknown username spends it on a throwaway hash, a revoked
   * device on its own. After a match the row is read again, so a secret rotated or a device revoked during the
   * (≈ 50 ms) verification does not slip through.
   */
  async authenticate(username: string, secret: string): Promise<Principal | undefined> {
    if (typeof username !== 'string' || typeof secret !== 'string') return spendVerification('').then(() => undefined) // e.g. no password at all
    const role = serviceRoleOf(username)
    if (role !== undefined) {
      const hash = async () => (await this.db.all<{ credential_hash: string }>('SELECT credential_hash FROM service_accounts WHERE role = ?', [role]))[0]?.credential_hash
      const stored = await hash()
      if (stored === undefined) return spendVerification(secret).then(() => undefined)
      if (!(await verifySecret(secret, stored)) || (await hash()) !== stored) return undefined
      return { kind: 'service', username, role }
    }
    const row = async () => (await this.db.all<DeviceRow & { credential_hash: string }>(`SELECT ${DEVICE_COLUMNS}, credential_hash FROM devices WHERE id = ?`, [username]))[0]
    const before = await row()
    if (before === undefined) return spendVerification(secret).then(() => undefined)
    if (!(await verifySecret(secret, before.credential_hash))) return undefined
    const after = await row()
    if (after === undefined || after.credential_hash !== before.credential_hash || after.revoked_at !== null) return undefined
    return { kind: 'device', username, device: deviceFromRow(after) }
  }

  /** Active devices sorted by id, then the service accounts (`_importer`, `_ingest`, `_operator`) that have a secret. */
  async mosquittoPasswordEntries(): Promise<Array<{ username: string; hash: string }>> {
    const devices = await this.db.all<{ id: string; mosquitto_hash: string }>('SELECT id, mosquitto_hash FROM devices WHERE revoked_at IS NULL ORDER BY id')
    const services = await this.db.all<{ role: ServiceRole; mosquitto_hash: string }>('SELECT role, mosquitto_hash FROM service_accounts ORDER BY role')
    return [...devices.map((d) => ({ username: d.id, hash: d.mosquitto_hash })), ...services.map((s) => ({ username: SERVICE_USERNAMES[s.role], hash: s.mosquitto_hash }))]
  }

  /** Closes the connection (pool); a second call does nothing. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.db.close()
  }

  /** Throws when the id is registered or an active device of the format already has that native id. */
  private async refuseTaken(id: string, format: DeviceFormat, nativeId: string): Promise<void> {
    const [taken] = await this.db.all<{ id: string }>('SELECT id FROM devices WHERE id = ?', [id])
    if (taken !== undefined) throw duplicateDevice(id)
    const [owner] = await this.db.all<{ id: string }>('SELECT id FROM devices WHERE format = ? AND native_id = ? AND revoked_at IS NULL', [format, nativeId])
    if (owner !== undefined) throw duplicateNativeId(format, nativeId, owner.id)
  }

  /** Writes validated history entries and the device's current lat/lon (its newest entry's) in one transaction. */
  private async record(device: DeviceRecord, observed: ReadonlyArray<{ validFrom: number; location: LatLon }>): Promise<DeviceRecord> {
    const [hoodRow] = await this.db.all<NeighbourhoodRow>('SELECT id, name, municipality, center_lat, center_lon, radius_m FROM neighbourhoods WHERE id = ?', [device.neighbourhood])
    const entries = validatePositions(device, hoodRow === undefined ? undefined : neighbourhoodFromRow(hoodRow), observed)
    if (entries.length === 0) return device
    await this.db.transaction([
      ...entries.map((p) => ({ sql: INSERT_POSITION_SQL, params: [device.id, p.validFrom, p.location.lat, p.location.lon] })),
      { sql: CURRENT_POSITION_SQL, params: [device.id, device.id, device.id] },
    ])
    return (await this.device(device.id))!
  }

  private async activeDevice(id: string): Promise<DeviceRecord> {
    const device = await this.device(id)
    if (device === undefined) throw unknownDevice(id)
    if (device.revokedAt !== undefined) throw new RegistryError(`device '${id}' is revoked (revoked devices get no new secret; register a new id)`)
    return device
  }
}

/** A stored row as a DeviceRecord; optional fields absent (not undefined-valued) when NULL. */
function deviceFromRow(row: DeviceRow): DeviceRecord {
  const device: DeviceRecord = {
    id: row.id,
    format: row.format as DeviceFormat,
    nativeId: row.native_id,
    neighbourhood: row.neighbourhood,
    coarsen: row.coarsen as DeviceRecord['coarsen'],
    consent: row.consent === true || row.consent === 1,
    sensorModels: JSON.parse(row.sensor_models) as string[],
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
  if (row.lat !== null && row.lon !== null) device.location = { lat: Number(row.lat), lon: Number(row.lon) }
  if (row.consent_at !== null) device.consentAt = Number(row.consent_at)
  if (row.note !== null) device.note = row.note
  if (row.revoked_at !== null) device.revokedAt = Number(row.revoked_at)
  return device
}

function neighbourhoodFromRow(row: NeighbourhoodRow): NeighbourhoodEntry {
  return { id: row.id, name: row.name, municipality: row.municipality, center: { lat: Number(row.center_lat), lon: Number(row.center_lon) }, radiusM: Number(row.radius_m) }
}
