import pg from 'pg'
import { ConfigError, UnavailableError } from '../errors.ts'
import type { StoreOptions } from './device-rules.ts'
import { MIGRATE_TO_POSITION_HISTORY, SqlRegistryStore, type SqlDriver } from './sql-store.ts'
import { RegistryError, type RegistryStore } from './store.ts'

/**
 * The shared registry: a PostgreSQL database (`SENSHAGEN_DEVICE_REGISTRY=postgres://user:pass@host/db`), for
 * several SensHagen instances (brokers, ingests, APIs) that must agree on devices and revocations. The same
 * tables as core/registry/sqlite.ts; epoch ms in BIGINT, `consent` BOOLEAN, ids with the "C" collation so
 * `ORDER BY id` sorts by code point whatever the database's locale (as SQLite does). Instances creating the
 * schema at once take turns on an advisory lock, and an older schema is migrated under it (version 1 → 2: the
 * position history, MIGRATE_TO_POSITION_HISTORY in core/registry/sql-store.ts).
 */

/** The schema this code writes; a database with a higher `schema_version` is refused rather than misread. */
export const POSTGRES_SCHEMA_VERSION = 2

/** Advisory lock key of the schema migration (any constant unique to SensHagen; "SHRG" in ASCII). */
const MIGRATION_LOCK = 0x53_48_52_47

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS neighbourhoods (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  municipality TEXT NOT NULL,
  center_lat DOUBLE PRECISION NOT NULL,
  center_lon DOUBLE PRECISION NOT NULL,
  radius_m DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT COLLATE "C" PRIMARY KEY,
  format TEXT COLLATE "C" NOT NULL,
  native_id TEXT COLLATE "C" NOT NULL,
  neighbourhood TEXT COLLATE "C" NOT NULL REFERENCES neighbourhoods (id),
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  coarsen TEXT NOT NULL CHECK (coarsen IN ('grid', 'neighbourhood')),
  consent BOOLEAN NOT NULL,
  consent_at BIGINT,
  sensor_models TEXT NOT NULL DEFAULT '[]',
  note TEXT,
  credential_hash TEXT NOT NULL,
  mosquitto_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revoked_at BIGINT,
  CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_active_native_id ON devices (format, native_id) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS devices_updated_at ON devices (updated_at);
CREATE TABLE IF NOT EXISTS device_positions (
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
  valid_from BIGINT NOT NULL,
  lat DOUBLE PRECISION NOT NULL,
  lon DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (device_id, valid_from)
);
CREATE TABLE IF NOT EXISTS service_accounts (
  role TEXT COLLATE "C" PRIMARY KEY CHECK (role IN ('ingest', 'importer', 'operator')),
  credential_hash TEXT NOT NULL,
  mosquitto_hash TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
`

/**
 * Opens the PostgreSQL registry at `url` (`postgres://` or `postgresql://`, libpq-style parameters such as
 * `?host=/run/postgresql` accepted by the pg package) with a pool of at most 5 connections, creating the schema
 * when missing. The database itself must exist. Errors: ConfigError for a malformed URL or a refused login or
 * missing database; UnavailableError (retriable) when the server cannot be reached; RegistryError when the
 * schema is newer than POSTGRES_SCHEMA_VERSION.
 */
export async function openPostgresRegistry(url: string, options: StoreOptions = {}): Promise<RegistryStore> {
  const source = redact(url)
  const pool = new pg.Pool({ connectionString: url, max: 5 })
  // An idle connection that breaks emits 'error' on the pool; without a listener it would end the process.
  // The next query then fails and reports it (as UnavailableError).
  pool.on('error', () => {})
  try {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
      await client.query(SCHEMA)
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_version')
      if (rows.length === 0) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [POSTGRES_SCHEMA_VERSION])
      else if (rows[0]!.version > POSTGRES_SCHEMA_VERSION) {
        throw new RegistryError(`device registry ${source} has schema version ${rows[0]!.version}; this SensHagen knows up to ${POSTGRES_SCHEMA_VERSION} (upgrade SensHagen)`)
      } else if (rows[0]!.version < POSTGRES_SCHEMA_VERSION) {
        await client.query(MIGRATE_TO_POSITION_HISTORY)
        await client.query('UPDATE schema_version SET version = $1', [POSTGRES_SCHEMA_VERSION])
      }
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    } finally {
      client.release()
    }
  } catch (error) {
    await pool.end().catch(() => {})
    if (error instanceof RegistryError) throw error
    throw translate(error, source, 'open')
  }
  return new SqlRegistryStore(postgresDriver(pool, source), options)
}

function postgresDriver(pool: pg.Pool, source: string): SqlDriver {
  const numbered = (sql: string) => {
    let n = 0
    return sql.replace(/\?/g, () => `$${++n}`)
  }
  const query = async <T>(sql: string, params: unknown[]) => {
    try {
      return await pool.query<T & pg.QueryResultRow>(numbered(sql), params)
    } catch (error) {
      throw translate(error, source, 'query')
    }
  }
  return {
    source,
    async all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      return (await query<T>(sql, params)).rows
    },
    async transaction(list): Promise<number[]> {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (error) {
        throw translate(error, source, 'query')
      }
      try {
        await client.query('BEGIN')
        const changed: number[] = []
        for (const s of list) changed.push((await client.query(numbered(s.sql), s.params ?? [])).rowCount ?? 0)
        await client.query('COMMIT')
        return changed
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        throw translate(error, source, 'query')
      } finally {
        client.release()
      }
    },
    async run(sql: string, params: unknown[] = []): Promise<number> {
      return (await query(sql, params)).rowCount ?? 0
    },
    violation(error: unknown) {
      const code = (error as { code?: unknown })?.code
      if (code === '23505') return 'unique'
      if (code === '23503') return 'foreign-key'
      return undefined
    },
    async close(): Promise<void> {
      await pool.end()
    },
  }
}

/** Connection problems (network, server starting or shutting down) are retriable; constraint errors pass through. */
function translate(error: unknown, source: string, when: 'open' | 'query'): unknown {
  const code = String((error as { code?: unknown })?.code ?? '')
  const message = (error as Error)?.message ?? String(error)
  const unreachable = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)$/.test(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || /Connection terminated/i.test(message)
  if (unreachable) return new UnavailableError(`device registry ${source} is unreachable: ${message}`, { cause: error })
  if (when === 'open') return new ConfigError(`device registry ${source} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): ${message}`, { cause: error })
  return error
}

/** The URL without its password, for messages. Errors: ConfigError when it is no URL. */
function redact(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new ConfigError(`device registry URL is malformed (SENSHAGEN_DEVICE_REGISTRY): ${(cause as Error).message}`, { cause })
  }
  parsed.password = ''
  return parsed.toString()
}
