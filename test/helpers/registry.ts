import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { openRegistryStore } from '../../core/registry/open.ts'
import { ensureServiceCredentials, type ServiceCredentials } from '../../core/registry/service-credentials.ts'
import type { NewDevice, RegistryStore, ServiceRole } from '../../core/registry/store.ts'

/** The repository's neighbourhoods (stadshagen, archief): what a fresh registry knows. */
export const NEIGHBOURHOODS_FILE = fileURLToPath(new URL('../../config/neighbourhoods.json', import.meta.url))

export interface TestRegistry {
  store: RegistryStore
  /** The SQLite file (SENSHAGEN_DEVICE_REGISTRY). */
  url: string
  neighbourhoodsFile: string
  /** Written 0600 with the service accounts' secrets, as the broker does at start-up. */
  serviceCredentialsFile: string
  /** Each registered device's secret, by device id (also its MQTT username). */
  secrets: Map<string, string>
  service: Record<ServiceRole, ServiceCredentials>
  /** SENSHAGEN_DEVICE_REGISTRY, SENSHAGEN_NEIGHBOURHOODS, SENSHAGEN_SERVICE_CREDENTIALS: pass to isolatedEnv. */
  env: Record<string, string>
  /** Closes the store and removes the folder when the helper made it. */
  close(): Promise<void>
}

/**
 * A real SQLite registry in a fresh temporary folder (or in `dir`), knowing the stadshagen and archief
 * neighbourhoods of config/neighbourhoods.json, with `devices` registered and the service accounts' secrets
 * issued and written to `service-accounts.json` beside it. Child processes and in-process services open the
 * same file through `env`.
 */
export async function testRegistry(devices: NewDevice[] = [], dir?: string): Promise<TestRegistry> {
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'senshagen-registry-'))
  const url = join(folder, 'registry.sqlite')
  const serviceCredentialsFile = join(folder, 'service-accounts.json')
  const store = await openRegistryStore({ url, neighbourhoodsFile: NEIGHBOURHOODS_FILE, serviceCredentialsFile })
  try {
    const secrets = new Map<string, string>()
    // Hashing runs on libuv's thread pool, so registering in parallel is about twice as fast on two cores.
    const issued = await Promise.allSettled(devices.map((device) => store.addDevice(device)))
    for (const result of issued) {
      if (result.status === 'rejected') throw result.reason
      secrets.set(result.value.id, result.value.secret)
    }
    const service = await ensureServiceCredentials(store, serviceCredentialsFile)
    return {
      store,
      url,
      neighbourhoodsFile: NEIGHBOURHOODS_FILE,
      serviceCredentialsFile,
      secrets,
      service,
      env: { SENSHAGEN_DEVICE_REGISTRY: url, SENSHAGEN_NEIGHBOURHOODS: NEIGHBOURHOODS_FILE, SENSHAGEN_SERVICE_CREDENTIALS: serviceCredentialsFile },
      async close() {
        await store.close()
        if (dir === undefined) rmSync(folder, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await store.close()
    if (dir === undefined) rmSync(folder, { recursive: true, force: true })
    throw error
  }
}

/** The message a PostgreSQL test shows when it cannot run here. */
export const NO_POSTGRES = 'skipped: no PostgreSQL server binaries (apt-get install postgresql)'

/** Debian's server binaries (`/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl), newest version first, or undefined. */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => join(root, v, 'bin')).find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl')))
}

export interface PostgresCluster {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<database>` */
  url(database: string): string
  /** Creates a database with a random name and returns its URL. */
  createDatabase(): Promise<string>
  stop(): Promise<void>
}

const run = promisify(execFile)

/**
 * A throwaway PostgreSQL cluster of Debian's server binaries: data and socket folders in a fresh temporary
 * folder, a free port on 127.0.0.1 only, password login (scram-sha-256) as `postgres`, fsync off. initdb refuses
 * to run as root, so as root the server runs as the `postgres` OS user (runuser). Undefined when the binaries
 * are missing (callers skip with NO_POSTGRES). `stop()` stops the server and removes the folder.
 */
export async function startPostgresCluster(): Promise<PostgresCluster | undefined> {
  const bin = postgresBinaries()
  if (bin === undefined) return undefined
  const folder = mkdtempSync(join(tmpdir(), 'senshagen-pg-'))
  const data = join(folder, 'data')
  const password = `pw${Math.random().toString(36).slice(2)}`
  writeFileSync(join(folder, 'pwfile'), `${password}\n`)
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]).then((r) => r.map((x) => Number(x.stdout.trim())))
    chownSync(folder, uid!, gid!)
    chownSync(join(folder, 'pwfile'), uid!, gid!)
  }
  const exec = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args))
  const port = await freePort()
  try {
    await exec('initdb', ['-D', data, '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${join(folder, 'pwfile')}`, '-E', 'UTF8', '--locale=C', '--no-sync'])
    const serverOptions = `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`
    await exec('pg_ctl', ['-D', data, '-l', join(folder, 'server.log'), '-w', '-t', '60', '-o', serverOptions, 'start'])
  } catch (error) {
    rmSync(folder, { recursive: true, force: true })
    throw error
  }
  const url = (database: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`
  return {
    url,
    async createDatabase() {
      const name = `registry_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
      const client = new pg.Client({ connectionString: url('postgres') })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return url(name)
    },
    async stop() {
      try {
        await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      } finally {
        rmSync(folder, { recursive: true, force: true })
      }
    },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
