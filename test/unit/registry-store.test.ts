import { spawn } from 'node:child_process'
import { pbkdf2Sync } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import mqtt from 'mqtt'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, UnavailableError } from '../../core/errors.ts'
import { hashSecret, mosquittoHash, newSecret, verifySecret } from '../../core/registry/credentials.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { openPostgresRegistry } from '../../core/registry/postgres.ts'
import { ensureServiceCredentials, readServiceCredentials } from '../../core/registry/service-credentials.ts'
import { openSqliteRegistry } from '../../core/registry/sqlite.ts'
import { RegistryError } from '../../core/registry/store.ts'
import { NEIGHBOURHOODS_FILE, NO_POSTGRES, postgresBinaries, startPostgresCluster, testRegistry, type PostgresCluster } from '../helpers/registry.ts'
import { registryContract } from './registry-contract.ts'

const folders: string[] = []
const tmp = (): string => {
  const folder = mkdtempSync(join(tmpdir(), 'senshagen-registry-test-'))
  folders.push(folder)
  return folder
}
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true })
})

const STADSHAGEN = { id: 'stadshagen', name: 'Stadshagen', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1500 }
const ARCHIEF = { id: 'archief', name: 'Archief (sensor.community, Aberdeen/Stuttgart)', municipality: 'sensor.community archive', center: { lat: 57.1497, lon: -2.0943 }, radiusM: 50_000 }

// ---- SQLite ----------------------------------------------------------------------------------------------

registryContract('SQLite file', async (options) => {
  const path = join(tmp(), 'nested', 'registry.sqlite')
  const store = await openSqliteRegistry(path, options)
  return {
    store,
    // the database file and its write-ahead log, as bytes
    raw: async () => [path, `${path}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1')).join('\n'),
    dispose: () => store.close(),
  }
})

describe('SQLite registry file', () => {
  it('is created 0600 with its folders, in WAL mode, schema version 2, and keeps its data across opens', async () => {
    const path = join(tmp(), 'a', 'b', 'registry.sqlite')
    const store = await openSqliteRegistry(path, { now: () => 42 })
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(store.source).toBe(path)
    await store.upsertNeighbourhood(STADSHAGEN)
    const { secret } = await store.addDevice({ id: 'sim-000', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
    // a second process (the broker next to the CLI) sees the change at once
    const other = await openSqliteRegistry(path)
    expect((await other.authenticate('sim-000', secret))?.username).toBe('sim-000')
    await other.close()
    await store.close()
    const again = await openSqliteRegistry(path)
    expect(await again.device('sim-000')).toMatchObject({ id: 'sim-000', createdAt: 42 })
    await again.close()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(path, { readonly: true })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 2 }])
    db.close()
  })

  it('refuses a newer schema and a file that is not a database', async () => {
    const path = join(tmp(), 'registry.sqlite')
    await (await openSqliteRegistry(path)).close()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(path)
    db.prepare('UPDATE schema_version SET version = 3').run()
    db.close()
    await expect(openSqliteRegistry(path)).rejects.toThrow(new RegistryError(`device registry ${path} has schema version 3; this SensHagen knows up to 2 (upgrade SensHagen)`))
    const junk = join(tmp(), 'junk.sqlite')
    writeFileSync(junk, 'this is no database, just some text that is long enough to fill a header of a hundred bytes or so.........')
    await expect(openSqliteRegistry(junk)).rejects.toThrow(ConfigError)
    await expect(openSqliteRegistry(junk)).rejects.toThrow(`device registry ${junk} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): file is not a database`)
  })

  it('migrates a version 1 file: each single position becomes the first history entry, valid from the epoch', async () => {
    const path = join(tmp(), 'v1.sqlite')
    const Database = (await import('better-sqlite3')).default
    const db = new Database(path)
    db.exec(readFileSync(join(import.meta.dirname, '../fixtures/registry/schema-v1.sql'), 'utf8'))
    db.close()
    const store = await openSqliteRegistry(path)
    expect(await store.positions()).toEqual([{ deviceId: 'sim-000', validFrom: 0, location: { lat: 52.5312, lon: 6.0571 } }])
    expect((await store.device('esphome-attic'))?.location).toBeUndefined()
    await store.moveDevice('sim-000', { lat: 52.5105, lon: 6.0921 }, Date.UTC(2019, 0, 17))
    await store.close()
    const after = new Database(path, { readonly: true })
    expect(after.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 2 }])
    expect(after.prepare('SELECT device_id, valid_from, lat, lon FROM device_positions ORDER BY valid_from').all()).toEqual([
      { device_id: 'sim-000', valid_from: 0, lat: 52.5312, lon: 6.0571 },
      { device_id: 'sim-000', valid_from: Date.UTC(2019, 0, 17), lat: 52.5105, lon: 6.0921 },
    ])
    after.close()
    // opening again migrates nothing twice
    const again = await openSqliteRegistry(path)
    expect((await again.positions()).length).toBe(2)
    await again.close()
  })

  it('opens in memory', async () => {
    const store = await openSqliteRegistry(':memory:')
    await store.upsertNeighbourhood(STADSHAGEN)
    expect(await store.neighbourhoods()).toEqual([STADSHAGEN])
    await store.close()
  })
})

// ---- PostgreSQL ------------------------------------------------------------------------------------------

const pgSkip = postgresBinaries() === undefined ? NO_POSTGRES : undefined
let cluster: Promise<PostgresCluster> | undefined
const postgres = (): Promise<PostgresCluster> => (cluster ??= startPostgresCluster().then((c) => c!))
afterAll(async () => {
  if (cluster !== undefined) await (await cluster).stop()
})

/** Every row of every registry table as JSON text. */
async function dumpPostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const rows: string[] = []
    for (const table of ['schema_version', 'neighbourhoods', 'devices', 'device_positions', 'service_accounts']) {
      rows.push(...(await client.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${table} t`)).rows.map((r) => r.j))
    }
    return rows.join('\n')
  } finally {
    await client.end()
  }
}

registryContract(
  'PostgreSQL',
  async (options) => {
    const url = await (await postgres()).createDatabase()
    const store = await openPostgresRegistry(url, options)
    return { store, raw: () => dumpPostgres(url), dispose: () => store.close() }
  },
  pgSkip,
)

describe.skipIf(pgSkip !== undefined)(`PostgreSQL registry${pgSkip === undefined ? '' : ` (${pgSkip})`}`, () => {
  it('names its source without the password, creates the schema once when instances open together, keeps data across opens', async () => {
    const url = await (await postgres()).createDatabase()
    const [a, b] = await Promise.all([openPostgresRegistry(url), openPostgresRegistry(url)])
    expect(a.source).toBe(url.replace(/:pw[a-z0-9]+@/, '@'))
    expect(a.source).not.toMatch(/pw[a-z0-9]+/)
    await a.upsertNeighbourhood(STADSHAGEN)
    const { secret } = await a.addDevice({ id: 'tasmota-shed', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
    expect(await b.authenticate('tasmota-shed', secret)).toMatchObject({ kind: 'device', username: 'tasmota-shed' })
    await Promise.all([a.close(), b.close()])
    const again = await openPostgresRegistry(url)
    expect((await again.devices()).map((d) => d.id)).toEqual(['tasmota-shed'])
    expect(await dumpPostgres(url)).toContain('{"version":2}')
    await again.close()
  })

  it('migrates a version 1 database: each single position becomes the first history entry, valid from the epoch', async () => {
    const url = await (await postgres()).createDatabase()
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    // the version 1 tables as core/registry/postgres.ts made them, with two devices
    await client.query(readFileSync(join(import.meta.dirname, '../fixtures/registry/schema-v1.postgres.sql'), 'utf8'))
    await client.end()
    const [a, b] = await Promise.all([openPostgresRegistry(url), openPostgresRegistry(url)])
    expect(await a.positions()).toEqual([{ deviceId: 'sim-000', validFrom: 0, location: { lat: 52.5312, lon: 6.0571 } }])
    await b.moveDevice('sim-000', { lat: 52.5105, lon: 6.0921 }, Date.UTC(2019, 0, 17))
    expect((await a.positions('sim-000')).map((p) => p.validFrom)).toEqual([0, Date.UTC(2019, 0, 17)])
    expect((await a.device('sim-000'))?.location).toEqual({ lat: 52.5105, lon: 6.0921 })
    expect(await dumpPostgres(url)).toContain('{"version":2}')
    await Promise.all([a.close(), b.close()])
  })

  it('issues each service secret once when instances ask at the same moment', async () => {
    const url = await (await postgres()).createDatabase()
    const stores = await Promise.all([openPostgresRegistry(url), openPostgresRegistry(url), openPostgresRegistry(url)])
    const issued = await Promise.all(stores.map((store) => store.issueServiceSecrets(['ingest', 'importer', 'operator'])))
    expect(issued.map((list) => list.length).sort()).toEqual([0, 0, 3]) // one instance issued all three, none split them
    for (const { username, secret } of issued.flat()) expect(await stores[0]!.authenticate(username, secret)).toMatchObject({ kind: 'service', username })
    await Promise.all(stores.map((store) => store.close()))
  })

  it('service credentials: instances starting at once with one file agree; one with a file of its own is refused, never replaces the secrets', async () => {
    const url = await (await postgres()).createDatabase()
    const folder = tmp()
    const shared = join(folder, 'shared', 'service-accounts.json')
    const [a, b] = await Promise.all([openPostgresRegistry(url), openPostgresRegistry(url)])
    const [first, second] = await Promise.all([ensureServiceCredentials(a, shared), ensureServiceCredentials(b, shared)])
    expect(second).toEqual(first)
    expect(readServiceCredentials(shared, 'importer')).toEqual(first.importer)
    for (const role of ['ingest', 'importer', 'operator'] as const) {
      expect(await a.authenticate(first[role].username, first[role].password)).toStrictEqual({ kind: 'service', username: `_${role}`, role })
    }
    // a second machine that did not get the file: refused with what to do, and the first machine's secrets still work
    const own = join(folder, 'own', 'service-accounts.json')
    const refused = await ensureServiceCredentials(b, own, { waitMs: 200 }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(ConfigError)
    expect((refused as Error).message).toBe(
      `the shared registry ${b.source} holds secrets of _ingest, _importer, _operator that ${own} (SENSHAGEN_SERVICE_CREDENTIALS) does not have: another instance issued them. ` +
        'Every instance sharing a registry needs the same file: copy it from that instance or point SENSHAGEN_SERVICE_CREDENTIALS at shared storage. ' +
        'Issuing new ones here would lock out every client using the current ones; to replace them on purpose, run DELETE FROM service_accounts in the registry database, start one instance and give its file to the others.',
    )
    expect(existsSync(own)).toBe(false)
    expect(await a.authenticate('_importer', first.importer.password)).toMatchObject({ kind: 'service', role: 'importer' })
    // with a copy of the file it starts and changes nothing
    mkdirSync(dirname(own))
    copyFileSync(shared, own)
    expect(await ensureServiceCredentials(b, own)).toEqual(first)
    await Promise.all([a.close(), b.close()])
  })

  it('reports an unreachable server as retriable', async () => {
    const c = await postgres()
    const closedPort = c.url('x').replace(/:\d+\//, ':9/')
    const error = await openPostgresRegistry(closedPort).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnavailableError)
    expect((error as UnavailableError).retriable).toBe(true)
    expect((error as Error).message).toMatch(/^device registry postgres:\/\/postgres@127\.0\.0\.1:9\/x is unreachable: connect ECONNREFUSED/)
  })

  it('is what openRegistryStore opens for a postgres:// URL, seeded with the configured neighbourhoods', async () => {
    const url = await (await postgres()).createDatabase()
    const store = await openRegistryStore({ url: url.replace(/^postgres:/, 'postgresql:'), neighbourhoodsFile: NEIGHBOURHOODS_FILE, serviceCredentialsFile: join(tmp(), 's.json') })
    expect(await store.neighbourhoods()).toEqual([ARCHIEF, STADSHAGEN])
    expect(store.source).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/registry_/)
    await store.close()
  })
})

// ---- opening by configuration, service credentials, the test helper ---------------------------------------

describe('openRegistryStore', () => {
  it('opens a SQLite path and seeds the neighbourhoods of config/neighbourhoods.json; a reopen updates, never duplicates', async () => {
    const folder = tmp()
    const config = { url: join(folder, 'registry.sqlite'), neighbourhoodsFile: NEIGHBOURHOODS_FILE, serviceCredentialsFile: join(folder, 's.json') }
    const store = await openRegistryStore(config)
    expect(await store.neighbourhoods()).toEqual([ARCHIEF, STADSHAGEN])
    await store.close()
    const edited = join(folder, 'hoods.json')
    writeFileSync(edited, JSON.stringify({ neighbourhoods: [{ ...STADSHAGEN, radiusM: 2000 }] }))
    const again = await openRegistryStore({ ...config, neighbourhoodsFile: edited })
    expect(await again.neighbourhoods()).toEqual([ARCHIEF, { ...STADSHAGEN, radiusM: 2000 }])
    await again.close()
  })

  it('names the file and field of a bad neighbourhoods file, before touching the registry', async () => {
    const folder = tmp()
    const file = join(folder, 'hoods.json')
    const url = join(folder, 'registry.sqlite')
    const open = () => openRegistryStore({ url, neighbourhoodsFile: file, serviceCredentialsFile: join(folder, 's.json') })
    writeFileSync(file, JSON.stringify({ neighbourhoods: [{ ...STADSHAGEN, radiusM: 60_000 }, { ...ARCHIEF, nmae: 'x' }, STADSHAGEN] }))
    await expect(open()).rejects.toThrow(ConfigError)
    await expect(open()).rejects.toThrow(
      `invalid neighbourhoods file:\n  ${file}: neighbourhoods[0].radiusM: Too big: expected number to be <=50000\n  ${file}: neighbourhoods[1]: Unrecognized key: "nmae"`,
    )
    writeFileSync(file, JSON.stringify({ neighbourhoods: [STADSHAGEN, STADSHAGEN] }))
    await expect(open()).rejects.toThrow(`invalid neighbourhoods file:\n  ${file}: neighbourhoods[1].id: duplicate neighbourhood id 'stadshagen'`)
    writeFileSync(file, '{ not json')
    await expect(open()).rejects.toThrow(`neighbourhoods file ${file} is not JSON`)
    await expect(openRegistryStore({ url, neighbourhoodsFile: join(folder, 'missing.json'), serviceCredentialsFile: '' })).rejects.toThrow(
      `neighbourhoods file ${join(folder, 'missing.json')} cannot be read (SENSHAGEN_NEIGHBOURHOODS): ENOENT`,
    )
    expect(existsSync(url)).toBe(false)
  })
})

describe('service credentials file', () => {
  it('issues every role once, writes 0600, and changes nothing while they still authenticate', async () => {
    const folder = tmp()
    const file = join(folder, 'data', 'service-accounts.json')
    const store = await openRegistryStore({ url: join(folder, 'registry.sqlite'), neighbourhoodsFile: NEIGHBOURHOODS_FILE, serviceCredentialsFile: file })
    expect(readServiceCredentials(file, 'ingest')).toBeUndefined() // before the broker ran
    const first = await ensureServiceCredentials(store, file)
    expect(Object.keys(first)).toEqual(['ingest', 'importer', 'operator'])
    expect(first.ingest).toEqual({ username: '_ingest', password: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
    expect(first.importer.username).toBe('_importer')
    expect(first.operator.username).toBe('_operator')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readServiceCredentials(file, 'importer')).toEqual(first.importer)
    expect(await store.authenticate('_operator', first.operator.password)).toEqual({ kind: 'service', username: '_operator', role: 'operator' })
    const written = readFileSync(file, 'utf8')
    const mtime = statSync(file).mtimeMs
    expect(await ensureServiceCredentials(store, file)).toEqual(first)
    expect(readFileSync(file, 'utf8')).toBe(written)
    expect(statSync(file).mtimeMs).toBe(mtime)
    // a secret replaced in the registry (a manual rotation): with SQLite, which only this machine opens, only that
    // role is issued anew (a shared PostgreSQL registry refuses instead: see the PostgreSQL tests)
    await store.setServiceSecret('importer')
    chmodSync(file, 0o644)
    const second = await ensureServiceCredentials(store, file)
    expect(second.ingest).toEqual(first.ingest)
    expect(second.operator).toEqual(first.operator)
    expect(second.importer.password).not.toBe(first.importer.password)
    expect(await store.authenticate('_importer', second.importer.password)).toEqual({ kind: 'service', username: '_importer', role: 'importer' })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    await store.close()
  })

  it('names a malformed file instead of overwriting it', async () => {
    const file = join(tmp(), 'service-accounts.json')
    writeFileSync(file, JSON.stringify({ ingest: { username: '_ingest' } }))
    expect(() => readServiceCredentials(file, 'ingest')).toThrow(
      `invalid service credentials (delete the file and restart the broker to issue new secrets):\n  ${file}: ingest.password: Invalid input: expected string, received undefined`,
    )
    writeFileSync(file, 'nope')
    expect(() => readServiceCredentials(file, 'ingest')).toThrow(ConfigError)
  })
})

describe('testRegistry helper', () => {
  it('registers devices, issues service secrets and gives the environment of an isolated stack', async () => {
    const registry = await testRegistry([
      { id: 'sim-000', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
      { id: 'sc-5331', neighbourhood: 'archief', consent: true, location: { lat: 57.138, lon: -2.077 } },
    ])
    expect(registry.env).toEqual({ SENSHAGEN_DEVICE_REGISTRY: registry.url, SENSHAGEN_NEIGHBOURHOODS: NEIGHBOURHOODS_FILE, SENSHAGEN_SERVICE_CREDENTIALS: registry.serviceCredentialsFile })
    expect([...registry.secrets.keys()]).toEqual(['sim-000', 'sc-5331'])
    expect((await registry.store.authenticate('sc-5331', registry.secrets.get('sc-5331')!))?.username).toBe('sc-5331')
    expect(readServiceCredentials(registry.serviceCredentialsFile, 'importer')).toEqual(registry.service.importer)
    expect((await registry.store.neighbourhoods()).map((n) => n.id)).toEqual(['archief', 'stadshagen'])
    await registry.close()
    expect(existsSync(registry.url)).toBe(false)
  })
})

// ---- credentials ------------------------------------------------------------------------------------------

describe('credentials', () => {
  it('hashes with scrypt N=16384 r=8 p=1 and a fresh salt, verifying only the same secret', async () => {
    const secret = newSecret()
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(newSecret()).not.toBe(secret)
    const hash = await hashSecret(secret)
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(await hashSecret(secret)).not.toBe(hash)
    expect(await verifySecret(secret, hash)).toBe(true)
    expect(await verifySecret(`${secret}.`, hash)).toBe(false)
    // malformed or absurd stored values are false, not exceptions
    for (const bad of ['', 'scrypt', hash.replace('scrypt$', 'bcrypt$'), hash.replace('$16384$', '$1000$'), hash.replace('$16384$', '$2147483648$'), '$7$101$abc$def']) {
      expect(await verifySecret(secret, bad)).toBe(false)
    }
  })

  it('matches an RFC 7914 test vector when the stored string names those parameters', async () => {
    // RFC 7914 §12, third vector: P="pleaseletmein", S="SodiumChloride", N=16384, r=8, p=1, dkLen=64
    const salt = Buffer.from('SodiumChloride').toString('base64url')
    const hash = Buffer.from(
      '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
      'hex',
    ).toString('base64url')
    expect(await verifySecret('pleaseletmein', `scrypt$16384$8$1$${salt}$${hash}`)).toBe(true)
    expect(await verifySecret('pleaseletmeout', `scrypt$16384$8$1$${salt}$${hash}`)).toBe(false)
  })

  it('writes Mosquitto $7$ hashes that an independent PBKDF2-SHA512 reproduces', async () => {
    const hash = await mosquittoHash('s3cret')
    const [, , iterations, salt, digest] = hash.split('$')
    expect(iterations).toBe('20000')
    expect(Buffer.from(salt!, 'base64')).toHaveLength(12)
    expect(pbkdf2Sync('s3cret', Buffer.from(salt!, 'base64'), 20_000, 64, 'sha512').toString('base64')).toBe(digest)
  })

  it.skipIf(!existsSync('/usr/sbin/mosquitto'))('are accepted by a real Mosquitto 2 broker: the right secret connects, a wrong one is refused', async () => {
    const folder = tmp()
    chmodSync(folder, 0o755) // Mosquitto started as root drops to its own user, which must read the files
    const registry = await testRegistry([{ id: 'tasmota-shed', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } }], folder)
    const lines = (await registry.store.mosquittoPasswordEntries()).map((e) => `${e.username}:${e.hash}`)
    const passwords = join(folder, 'passwords')
    writeFileSync(passwords, `${lines.join('\n')}\n`, { mode: 0o644 })
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    writeFileSync(join(folder, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwords}\npersistence false\n`, { mode: 0o644 })
    const broker = spawn('/usr/sbin/mosquitto', ['-c', join(folder, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    broker.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()))
    try {
      const connect = async (username: string, password: string) => {
        for (let attempt = 0; attempt < 50; attempt++) {
          const outcome = await new Promise<string>((resolve) => {
            const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username, password, reconnectPeriod: 0, connectTimeout: 2_000, clientId: `t-${Math.random().toString(36).slice(2)}` })
            client.once('connect', () => client.end(true, () => resolve('connected')))
            client.once('error', (error) => client.end(true, () => resolve((error as { code?: number }).code === 5 || /Not authorized/i.test(error.message) ? 'refused' : `error: ${error.message}`)))
          })
          if (!outcome.startsWith('error: connect ECONNREFUSED')) return outcome
          await new Promise((resolve) => setTimeout(resolve, 100)) // broker still starting
        }
        return 'broker never listened'
      }
      expect(await connect('tasmota-shed', registry.secrets.get('tasmota-shed')!), log).toBe('connected')
      expect(await connect('_ingest', registry.service.ingest.password), log).toBe('connected')
      expect(await connect('tasmota-shed', registry.service.ingest.password), log).toBe('refused')
      expect(await connect('nobody', registry.secrets.get('tasmota-shed')!), log).toBe('refused')
    } finally {
      broker.kill()
      await registry.close()
    }
  })
})
