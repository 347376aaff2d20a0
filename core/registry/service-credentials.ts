import { readFileSync } from 'node:fs'
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import { SERVICE_USERNAMES } from './device-rules.ts'
import { formatPath } from './registry.ts'
import { SERVICE_ROLES, type RegistryStore, type ServiceRole } from './store.ts'

/**
 * The service accounts' secrets on disk (`SENSHAGEN_SERVICE_CREDENTIALS`, default data/service-accounts.json):
 * the broker makes sure they exist and match the registry at start-up (`ensureServiceCredentials`), and the
 * clients on the same machine (ingest, `senshagen replay`, `senshagen sim`) read theirs from the file
 * (`readServiceCredentials`) unless SENSHAGEN_MQTT_USERNAME/PASSWORD are set. The file holds secrets in clear,
 * so it is written with mode 0600; the registry itself keeps only their hashes.
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

const COMMENT = 'Secrets of the SensHagen service accounts (SENSHAGEN_SERVICE_CREDENTIALS), written by the broker at start-up; the registry keeps only their hashes. Keep this file 0600; delete it and restart the broker to issue new ones.'

/**
 * Makes sure every service role has a secret that the registry accepts, and that `file` holds it. Reads `file`
 * when present; for each role whose entry is missing, names another username, or no longer authenticates
 * (another registry, a rotated secret) it issues a new secret (`store.setServiceSecret`). Writes the file
 * (parent folders created, mode 0600, atomically by rename) only when something changed. Call it from one
 * process (the broker): two callers at once could each issue a secret and leave the file with the loser's.
 * Returns the credentials of every role. Errors: ConfigError when the file exists but is not valid (named, with
 * the field), or cannot be written.
 */
export async function ensureServiceCredentials(store: RegistryStore, file: string): Promise<Record<ServiceRole, ServiceCredentials>> {
  const current = readFile(file) ?? {}
  const checks = await Promise.all(
    SERVICE_ROLES.map(async (role) => {
      const entry = current[role]
      if (entry === undefined || entry.username !== SERVICE_USERNAMES[role]) return false
      const principal = await store.authenticate(entry.username, entry.password)
      return principal?.kind === 'service' && principal.role === role
    }),
  )
  const result = {} as Record<ServiceRole, ServiceCredentials>
  let changed = false
  for (const [i, role] of SERVICE_ROLES.entries()) {
    if (checks[i]) {
      result[role] = current[role]!
      continue
    }
    const issued = await store.setServiceSecret(role)
    result[role] = { username: issued.username, password: issued.secret }
    changed = true
  }
  if (changed) await writeCredentials(file, result)
  return result
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
