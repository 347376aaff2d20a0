import { readFileSync } from 'node:fs'
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { SERVICE_USERNAMES } from './device-rules.ts'
import { isPostgresUrl } from './open.ts'
import { formatPath } from './registry.ts'
import { SERVICE_ROLES, type RegistryStore, type ServiceRole } from './store.ts'

/**
 * The service accounts' secrets on disk (`SENSHAGEN_SERVICE_CREDENTIALS`, default data/service-accounts.json):
 * the broker makes sure they exist and match the registry at start-up (`ensureServiceCredentials`), and the
 * clients on the same machine (ingest, `senshagen replay`, `senshagen sim`) read theirs from the file
 * (`readServiceCredentials`) unless SENSHAGEN_MQTT_USERNAME/PASSWORD are set. The file holds secrets in clear,
 * so it is written with mode 0600; the registry itself keeps only their hashes, so instances sharing a
 * PostgreSQL registry must share this file too (README "Scaling out").
 *
 * Layout: `{ "ingest": { "username": "_ingest", "password": "…" }, "importer": {…}, "operator": {…} }`.
 */

export interface ServiceCredentials {
  /** MQTT username: `_ingest`, `_importer` or `_operator`. */
  username: string
  /** The secret (43 characters base64url). */
  password: string
}

const EntrySchema = z.strictObject({ username: z.string().min(1), password: z.string().min(1) })
const FileSchema = z.strictObject({
  $comment: z.string().optional(),
  ingest: EntrySchema.optional(),
  importer: EntrySchema.optional(),
  operator: EntrySchema.optional(),
})
type CredentialsFile = z.output<typeof FileSchema>

const COMMENT =
  'Secrets of the SensHagen service accounts (SENSHAGEN_SERVICE_CREDENTIALS), written by the broker at start-up; the registry keeps only their hashes. Keep this file 0600. ' +
  'Every instance sharing a PostgreSQL registry needs this same file. New secrets: with a SQLite registry delete this file and restart the broker; with PostgreSQL also DELETE FROM service_accounts first.'

/** How long a broker that finds secrets in the registry but not in its file waits for another instance to write them there, ms. */
export const ISSUER_FILE_WAIT_MS = 3_000

/**
 * Makes sure every service role has a secret that the registry accepts, and that `file` holds it; returns the
 * credentials of every role. Reads `file` when present and keeps each entry that still authenticates. For the
 * other roles:
 * - a role the registry has no secret for is issued one (`store.issueServiceSecrets`, only while still absent:
 *   of several instances starting at once, one issues and the others wait up to `waitMs` for it to write the
 *   shared file);
 * - a role whose secret the registry holds but `file` does not (another instance issued it, the file was deleted,
 *   another registry's file): with a SQLite registry, which only processes on this machine open, the secret is
 *   replaced (`store.setServiceSecret`: deleting the file and restarting issues new secrets); with a shared
 *   PostgreSQL registry it is never replaced, since that would lock out every other instance's clients that use
 *   it: after waiting up to `waitMs` for the file, a ConfigError says to give this instance the issuer's file.
 * Writes the file (parent folders created, mode 0600, atomically by rename) only when it issued something.
 * Errors: ConfigError when the file exists but is not valid (named, with the field) or cannot be written, or
 * (PostgreSQL) lacks secrets the registry holds.
 */
export async function ensureServiceCredentials(
  store: RegistryStore,
  file: string,
  options: { waitMs?: number } = {},
): Promise<Record<ServiceRole, ServiceCredentials>> {
  const result = await usableEntries(store, readFile(file) ?? {}, SERVICE_ROLES)
  const lacking = () => SERVICE_ROLES.filter((role) => result[role] === undefined)
  if (lacking().length === 0) return result as Record<ServiceRole, ServiceCredentials>
  const held = new Set(await store.serviceRoles())
  const absent = lacking().filter((role) => !held.has(role))
  let changed = false
  for (const issued of await store.issueServiceSecrets(absent)) {
    result[issued.id as ServiceRole] = { username: issued.username, password: issued.secret }
    changed = true
  }
  const shared = isPostgresUrl(store.source)
  const lostRace = absent.some((role) => result[role] === undefined)
  if (lacking().length > 0 && (shared || lostRace)) Object.assign(result, await waitForEntries(store, file, lacking(), options.waitMs ?? ISSUER_FILE_WAIT_MS))
  const foreign = lacking()
  if (foreign.length > 0 && shared) {
    const accounts = foreign.map((role) => SERVICE_USERNAMES[role]).join(', ')
    throw new ConfigError(
      `the shared registry ${store.source} holds secrets of ${accounts} that ${file} (SENSHAGEN_SERVICE_CREDENTIALS) does not have: another instance issued them. ` +
        'Every instance sharing a registry needs the same file: copy it from that instance or point SENSHAGEN_SERVICE_CREDENTIALS at shared storage. ' +
        'Issuing new ones here would lock out every client using the current ones; to replace them on purpose, run DELETE FROM service_accounts in the registry database, start one instance and give its file to the others.',
    )
  }
  for (const role of foreign) {
    const issued = await store.setServiceSecret(role)
    result[role] = { username: issued.username, password: issued.secret }
    changed = true
  }
  if (changed) await writeCredentials(file, result as Record<ServiceRole, ServiceCredentials>)
  return result as Record<ServiceRole, ServiceCredentials>
}

/** The entries of `current` among `roles` that the registry accepts for their role. */
async function usableEntries(store: RegistryStore, current: CredentialsFile, roles: readonly ServiceRole[]): Promise<Partial<Record<ServiceRole, ServiceCredentials>>> {
  const usable: Partial<Record<ServiceRole, ServiceCredentials>> = {}
  await Promise.all(
    roles.map(async (role) => {
      const entry = current[role]
      if (entry === undefined || entry.username !== SERVICE_USERNAMES[role]) return
      const principal = await store.authenticate(entry.username, entry.password)
      if (principal?.kind === 'service' && principal.role === role) usable[role] = { username: entry.username, password: entry.password }
    }),
  )
  return usable
}

/** Re-reads `file` every 100 ms for up to `waitMs` until it holds usable entries of every one of `roles`; returns those found. */
async function waitForEntries(store: RegistryStore, file: string, roles: ServiceRole[], waitMs: number): Promise<Partial<Record<ServiceRole, ServiceCredentials>>> {
  const deadline = Date.now() + waitMs
  let seen = ''
  let found: Partial<Record<ServiceRole, ServiceCredentials>> = {}
  for (;;) {
    const current = readFile(file) ?? {}
    const text = JSON.stringify(current)
    if (text !== seen) {
      seen = text
      found = await usableEntries(store, current, roles)
      if (roles.every((role) => found[role] !== undefined)) return found
    }
    if (Date.now() >= deadline) return found
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * The credentials of `role` from `file`, or undefined when the file does not exist or has no entry for the role
 * (the broker has not run yet). Synchronous, for clients wiring their MQTT options. Errors: ConfigError when the
 * file exists but cannot be read or is not valid.
 */
export function readServiceCredentials(file: string, role: ServiceRole): ServiceCredentials | undefined {
  return readFile(file)?.[role]
}

function readFile(file: string): CredentialsFile | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`service credentials ${file} cannot be read (SENSHAGEN_SERVICE_CREDENTIALS): ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(`service credentials ${file} is not JSON (delete it and restart the broker to issue new secrets): ${(cause as Error).message}`, { cause })
  }
  const parsed = FileSchema.safeParse(json)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${file}: ${formatPath(issue.path)}: ${issue.message}`)
    throw new ConfigError(`invalid service credentials (delete the file and restart the broker to issue new secrets):\n  ${problems.join('\n  ')}`)
  }
  return parsed.data
}

async function writeCredentials(file: string, credentials: Record<ServiceRole, ServiceCredentials>): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  try {
    await mkdir(dirname(file), { recursive: true })
    await writeFile(temporary, `${JSON.stringify({ $comment: COMMENT, ...credentials }, null, 2)}\n`, { mode: 0o600, flag: 'w' })
    await chmod(temporary, 0o600) // an old temporary file keeps its mode on 'w'
    await rename(temporary, file)
  } catch (cause) {
    throw new ConfigError(`service credentials ${file} cannot be written (SENSHAGEN_SERVICE_CREDENTIALS): ${(cause as Error).message}`, { cause })
  }
}

/**
 * The MQTT login of a client command (the ingest, `replay`, `sim`): SENSHAGEN_MQTT_USERNAME/PASSWORD when set,
 * otherwise the `role` service account from config.registry.serviceCredentialsFile (written by the broker at its
 * first start), otherwise none: `{}`, which only an external broker that allows anonymous clients accepts.
 * Errors: ConfigError when the credentials file exists but is not valid.
 */
export function clientCredentials(config: Pick<Config, 'mqtt' | 'registry'>, role: ServiceRole): { username?: string; password?: string } {
  if (config.mqtt.username !== undefined) return { username: config.mqtt.username, password: config.mqtt.password }
  const service = readServiceCredentials(config.registry.serviceCredentialsFile, role)
  return service ? { username: service.username, password: service.password } : {}
}
