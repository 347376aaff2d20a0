import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { ConfigError } from '../errors.ts'
import type { StoreOptions } from './device-rules.ts'
import { MIGRATE_TO_POSITION_HISTORY, SqlRegistryStore, type SqlDriver } from './sql-store.ts'
import { RegistryError, type RegistryStore } from './store.ts'

/**
 * The embedded registry: one SQLite file (better-sqlite3 12), the default (`SENSHAGEN_DEVICE_REGISTRY=
 * data/registry.sqlite`). WAL mode, so the broker, the ingest, the API and the CLI can open the same file at
 * once (one writer at a time; others wait up to BUSY_TIMEOUT_MS). The file holds exact positions and
 * credential hashes, so it is created 0600 (SQLite gives its -wal and -shm files the same mode).
 */

/** The schema this code writes; a file with a higher `schema_version` is refused rather than misread. */
export const SQLITE_SCHEMA_VERSION = 2

const BUSY_TIMEOUT_MS = 5_000

/**
 * Epoch ms in INTEGER columns; `sensor_models` a JSON array as TEXT; `consent` 0/1. Device ids are never
 * reused (primary key over revoked ones too); a native identity is unique among the active devices of a format
 * (a partial index), so two devices never share a firmware's topics. `device_positions` is each device's
 * position history (DevicePosition in core/registry/store.ts); `devices.lat/lon` repeat its newest entry.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS neighbourhoods (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  municipality TEXT NOT NULL,
  center_lat REAL NOT NULL,
  center_lon REAL NOT NULL,
  radius_m REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  format TEXT NOT NULL,
  native_id TEXT NOT NULL,
  neighbourhood TEXT NOT NULL REFERENCES neighbourhoods (id),
  lat REAL,
  lon REAL,
  coarsen TEXT NOT NULL CHECK (coarsen IN ('grid', 'neighbourhood')),
  consent INTEGER NOT NULL CHECK (consent IN (0, 1)),
  consent_at INTEGER,
  sensor_models TEXT NOT NULL DEFAULT '[]',
  note TEXT,
  credential_hash TEXT NOT NULL,
  mosquitto_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revoked_at INTEGER,
  CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_active_native_id ON devices (format, native_id) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS devices_updated_at ON devices (updated_at);
CREATE TABLE IF NOT EXISTS device_positions (
  device_id TEXT NOT NULL REFERENCES devices (id),
  valid_from INTEGER NOT NULL,
  lat REAL NOT NULL,
  lon REAL NOT NULL,
  PRIMARY KEY (device_id, valid_from)
);
CREATE TABLE IF NOT EXISTS service_accounts (
  role TEXT PRIMARY KEY CHECK (role IN ('ingest', 'importer', 'operator')),
  credential_hash TEXT NOT NULL,
  mosquitto_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`

/**
 * Opens (creating when missing: parent folders, file mode 0600, schema) the SQLite registry at `path`;
 * `':memory:'` gives a private in-memory one (tests). Errors: ConfigError when the file cannot be opened or is
 * not a database (the path and SENSHAGEN_DEVICE_REGISTRY named); RegistryError when its schema is newer than
 * SQLITE_SCHEMA_VERSION. An older schema is migrated in the same transaction (version 1 had no position history).
 */
export async function openSqliteRegistry(path: string, options: StoreOptions = {}): Promise<RegistryStore> {
  let db: Database.Database
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true })
      closeSync(openSync(path, 'a', 0o600))
    }
    db = new Database(path)
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
  } catch (cause) {
    throw new ConfigError(`device registry ${path} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): ${(cause as Error).message}`, { cause })
  }
  try {
    db.transaction(() => {
      db.exec(SCHEMA)
      const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined
      if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SQLITE_SCHEMA_VERSION)
      else if (row.version > SQLITE_SCHEMA_VERSION) {
        throw new RegistryError(`device registry ${path} has schema version ${row.version}; this SensHagen knows up to ${SQLITE_SCHEMA_VERSION} (upgrade SensHagen)`)
      } else if (row.version < SQLITE_SCHEMA_VERSION) {
        db.exec(MIGRATE_TO_POSITION_HISTORY)
        db.prepare('UPDATE schema_version SET version = ?').run(SQLITE_SCHEMA_VERSION)
      }
    }).immediate()
  } catch (cause) {
    db.close()
    if (cause instanceof RegistryError) throw cause
    throw new ConfigError(`device registry ${path} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): ${(cause as Error).message}`, { cause })
  }
  return new SqlRegistryStore(sqliteDriver(db, path), options)
}

function sqliteDriver(db: Database.Database, source: string): SqlDriver {
  // better-sqlite3 binds numbers, strings, bigints, buffers and null only.
  const bind = (params: unknown[]) => params.map((p) => (p === true ? 1 : p === false ? 0 : p))
  const statements = new Map<string, Database.Statement>()
  const prepare = (sql: string) => {
    let statement = statements.get(sql)
    if (statement === undefined) statements.set(sql, (statement = db.prepare(sql)))
    return statement
  }
  return {
    source,
    async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      return prepare(sql).all(...bind(params)) as T[]
    },
    async run(sql: string, params: unknown[] = []): Promise<number> {
      return prepare(sql).run(...bind(params)).changes
    },
    async transaction(list): Promise<number[]> {
      return db.transaction(() => list.map((s) => prepare(s.sql).run(...bind(s.params ?? [])).changes))()
    },
    violation(error: unknown) {
      const code = (error as { code?: unknown })?.code
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') return 'unique'
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key'
      return undefined
    },
    async close(): Promise<void> {
      db.close()
    },
  }
}
