import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { ConfigError } from '../errors.ts'
import type { StoreOptions } from './device-rules.ts'
import { NeighbourhoodEntrySchema, formatPath, refineUniqueNeighbourhoods } from './registry.ts'
import type { NeighbourhoodEntry, RegistryStore } from './store.ts'

/** The neighbourhoods file (`SENSHAGEN_NEIGHBOURHOODS`, config/neighbourhoods.json): unknown keys refused. */
const NeighbourhoodsFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    neighbourhoods: z.array(NeighbourhoodEntrySchema),
  })
  .superRefine(refineUniqueNeighbourhoods)

/** True for a registry setting that names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

/**
 * Opens the registry the configuration names (`SENSHAGEN_DEVICE_REGISTRY`): a `postgres://` or `postgresql://`
 * URL opens PostgreSQL (core/registry/postgres.ts), anything else is a SQLite file path (core/registry/sqlite.ts,
 * created when missing). Then adds or updates every neighbourhood of `config.neighbourhoodsFile`
 * (`SENSHAGEN_NEIGHBOURHOODS`), so a fresh registry already knows them; the file is read before the store is
 * opened. Errors: ConfigError naming the file and field (`config/neighbourhoods.json: neighbourhoods[1].radiusM:
 * Too big…`) or the registry that cannot be opened; UnavailableError when PostgreSQL cannot be reached.
 */
export async function openRegistryStore(config: Config['registry'], options: StoreOptions = {}): Promise<RegistryStore> {
  const neighbourhoods = await readNeighbourhoodsFile(config.neighbourhoodsFile)
  const store = isPostgresUrl(config.url)
    ? await (await import('./postgres.ts')).openPostgresRegistry(config.url, options)
    : await (await import('./sqlite.ts')).openSqliteRegistry(config.url, options)
  try {
    for (const n of neighbourhoods) await store.upsertNeighbourhood(n)
  } catch (error) {
    await store.close()
    throw error
  }
  return store
}

/**
 * Reads and checks a neighbourhoods file: `{ "neighbourhoods": [ {id, name, municipality, center: {lat, lon},
 * radiusM?} ] }` (radiusM in metres, default 1000). Errors: ConfigError naming the file and every bad field.
 */
export async function readNeighbourhoodsFile(path: string): Promise<NeighbourhoodEntry[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ConfigError(`neighbourhoods file ${path} cannot be read (SENSHAGEN_NEIGHBOURHOODS): ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(`neighbourhoods file ${path} is not JSON: ${(cause as Error).message}`, { cause })
  }
  const parsed = NeighbourhoodsFileSchema.safeParse(json)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${path}: ${formatPath(issue.path)}: ${issue.message}`)
    throw new ConfigError(`invalid neighbourhoods file:\n  ${problems.join('\n  ')}`)
  }
  return parsed.data.neighbourhoods
}
