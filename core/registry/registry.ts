import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'
import { DeviceIdSchema } from '../reading.ts'
import { type LatLon, type PublicLocation, distanceM, gridLocation, neighbourhoodLocation, snapToGrid } from './coarsen.ts'
import type { NeighbourhoodEntry, RegistryStore } from './store.ts'

/**
 * The public view of the device registry: which devices exist publicly, in which neighbourhood, and where
 * (coarsened). Built from the registry store (core/registry/store.ts, `SENSHAGEN_DEVICE_REGISTRY`) by
 * `publicRegistry`, or from a JSON file in the old layout (config/devices.json, config/README.md) by
 * `parseRegistry`/`loadRegistry`; `readRegistryFile` reads such a file with its private fields, for
 * `senshagen devices import`.
 *
 * The privacy rule (the municipality's): a device that is not in the registry, is revoked, or whose `consent`
 * is false, is public nowhere (API, live stream, open-data export); a public device's position is only ever
 * published coarsened (core/registry/coarsen.ts). The DeviceRegistry interface below therefore hands out
 * PublicDevice objects, which carry no exact coordinates: code outside this folder cannot publish what it
 * never gets.
 */

/** A neighbourhood as published: its centre is public (a neighbourhood, not a garden), snapped to the grid. */
export interface PublicNeighbourhood {
  id: string
  name: string
  municipality: string
  center: LatLon
  /** Approximate radius of the neighbourhood in metres (precision of `coarsen: "neighbourhood"` devices). */
  radiusM: number
}

/** A published position of a device from `validFrom` (epoch ms UTC) until the next one's `validFrom`. */
export interface PublicPosition {
  validFrom: number
  location: PublicLocation
}

/** A consented device as published. */
export interface PublicDevice {
  id: string
  neighbourhood: string
  /** The published position now (the last of `positions`): what current-position endpoints show. */
  location: PublicLocation
  /**
   * Its published position history, by validFrom, at least one entry: each exact history entry coarsened
   * (core/registry/coarsen.ts), consecutive equal ones merged (a move within one grid cell, or any move of a
   * neighbourhood-coarsened device, publishes nothing). Read it with positionAt.
   */
  positions: readonly PublicPosition[]
  coarsen: 'grid' | 'neighbourhood'
}

/**
 * The published position of `device` at `time` (epoch ms): the last entry of its history valid from `time` or
 * earlier; before its first entry, the first (its earliest known position). For export rows, bulk files and
 * SensorThings; endpoints about now use `device.location`.
 */
export function positionAt(device: Pick<PublicDevice, 'positions'>, time: number): PublicLocation {
  const positions = device.positions
  let lo = 0
  let hi = positions.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (positions[mid]!.validFrom <= time) lo = mid
    else hi = mid - 1
  }
  return positions[lo]!.location
}

export interface DeviceRegistry {
  /** Where the registry was read from (for messages). */
  readonly source: string
  neighbourhoods(): readonly PublicNeighbourhood[]
  neighbourhood(id: string): PublicNeighbourhood | undefined
  /** Consented devices, sorted by id; only those of `neighbourhood` when given. */
  publicDevices(neighbourhood?: string): readonly PublicDevice[]
  /** The consented device `id`, or undefined when it is unknown or not consented (callers must not tell which). */
  publicDevice(id: string): PublicDevice | undefined
}

const SlugSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 chars of [a-z0-9_-], starting with a letter or digit')
const LatLonSchema = z.strictObject({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
})

export const NeighbourhoodEntrySchema = z.strictObject({
  id: SlugSchema,
  name: z.string().min(1),
  municipality: z.string().min(1),
  center: LatLonSchema,
  radiusM: z.number().positive().max(50_000).default(1_000),
})

export const DeviceEntrySchema = z.strictObject({
  id: DeviceIdSchema.refine((id) => !id.startsWith('neighbourhood:'), 'must not start with neighbourhood: (reserved for neighbourhood aggregates in CSV)'),
  neighbourhood: SlugSchema,
  /** Did the owner accept the terms? Required: no default, so a forgotten field never publishes a garden. */
  consent: z.boolean(),
  /** Exact position (personal data: never published). */
  location: LatLonSchema,
  coarsen: z.enum(['grid', 'neighbourhood']).default('grid'),
  /** Free text for the operator (e.g. where the consent form is kept); never published. */
  note: z.string().optional(),
})

export const RegistryFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    neighbourhoods: z.array(NeighbourhoodEntrySchema),
    devices: z.array(DeviceEntrySchema),
  })
  .superRefine((file, ctx) => {
    refineUniqueNeighbourhoods(file, ctx)
    const byId = new Map(file.neighbourhoods.map((n) => [n.id, n]))
    const devices = new Set<string>()
    file.devices.forEach((d, i) => {
      if (devices.has(d.id)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `duplicate device id '${d.id}'` })
      devices.add(d.id)
      const n = byId.get(d.neighbourhood)
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'neighbourhood'], message: `no neighbourhood '${d.neighbourhood}' in neighbourhoods` })
      } else if (d.coarsen === 'neighbourhood' && distanceM(d.location, n.center) > n.radiusM) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'location'], message: `lies outside neighbourhood '${n.id}' (more than radiusM ${n.radiusM} m from its center)` })
      }
    })
  })

export type RegistryFile = z.output<typeof RegistryFileSchema>

/** zod refinement: every `neighbourhoods[i].id` of a file is unique (`neighbourhoods[2].id: duplicate neighbourhood id 'x'`). */
export function refineUniqueNeighbourhoods(file: { neighbourhoods: Array<{ id: string }> }, ctx: z.RefinementCtx): void {
  const seen = new Set<string>()
  file.neighbourhoods.forEach((n, i) => {
    if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['neighbourhoods', i, 'id'], message: `duplicate neighbourhood id '${n.id}'` })
    seen.add(n.id)
  })
}

/** `devices[3].consent` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('') || '(root)'
}

/**
 * Parses registry JSON in the old file layout (already `JSON.parse`d) into a RegistryFile, private fields
 * included. Throws ConfigError naming `source` and every bad field (`config/devices.json: devices[3].consent:
 * Invalid input: expected boolean, received undefined`).
 */
export function parseRegistryFile(json: unknown, source: string): RegistryFile {
  const parsed = RegistryFileSchema.safeParse(json)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${source}: ${formatPath(issue.path)}: ${issue.message}`)
    throw new ConfigError(`invalid device registry:\n  ${problems.join('\n  ')}`)
  }
  return parsed.data
}

/** Parses registry JSON in the old file layout into its public view. Errors: as parseRegistryFile. */
export function parseRegistry(json: unknown, source: string): DeviceRegistry {
  const file = parseRegistryFile(json, source)
  return new StaticRegistry(file.neighbourhoods, file.devices, source)
}

/**
 * Reads a registry file in the old layout (config/devices.json) with its private fields, for an import into
 * the registry store. Errors: ConfigError (unreadable, not JSON, or invalid; the path named).
 */
export async function readRegistryFile(path: string): Promise<RegistryFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ConfigError(`device registry ${path} cannot be read: ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(`device registry ${path} is not JSON: ${(cause as Error).message}`, { cause })
  }
  return parseRegistryFile(json, path)
}

/** Reads a registry file in the old layout and returns its public view. Errors: as readRegistryFile. */
export async function loadRegistry(path: string): Promise<DeviceRegistry> {
  const file = await readRegistryFile(path)
  return new StaticRegistry(file.neighbourhoods, file.devices, path)
}

/**
 * The public view of a registry store, as it is now (a snapshot: call again to see devices added, revoked or
 * changed since): every neighbourhood, and the devices that are active (not revoked) and consented, with
 * coarsened positions. A device without a location is published at its neighbourhood's centre. Errors: those of
 * the store (UnavailableError when PostgreSQL cannot be reached).
 */
export async function publicRegistry(store: RegistryStore): Promise<DeviceRegistry> {
  const [neighbourhoods, devices, positions] = await Promise.all([store.neighbourhoods(), store.devices(), store.positions()])
  const history = new Map<string, Array<{ validFrom: number; location: LatLon }>>()
  for (const p of positions) {
    const list = history.get(p.deviceId) ?? []
    list.push({ validFrom: p.validFrom, location: p.location })
    history.set(p.deviceId, list)
  }
  return new StaticRegistry(
    neighbourhoods,
    devices.filter((d) => d.revokedAt === undefined).map((d) => ({ ...d, history: history.get(d.id) })),
    store.source,
  )
}

/** What the public view needs of a device (the old file's entry and the store's record both fit). */
interface DeviceFacts {
  id: string
  neighbourhood: string
  consent: boolean
  location?: LatLon
  /** Exact position history by validFrom; absent or empty: `location` from the epoch on. */
  history?: ReadonlyArray<{ validFrom: number; location: LatLon }>
  coarsen: 'grid' | 'neighbourhood'
}

/** The published history of a device: each exact entry coarsened, consecutive equal ones merged. */
function publishedPositions(d: DeviceFacts, hood: NeighbourhoodEntry): PublicPosition[] {
  const coarsen = d.location === undefined ? 'neighbourhood' : d.coarsen
  const publish = (location: LatLon | undefined): PublicLocation =>
    coarsen === 'neighbourhood' || location === undefined ? neighbourhoodLocation(hood.center, hood.radiusM) : gridLocation(location)
  const exact = d.history !== undefined && d.history.length > 0 ? d.history : [{ validFrom: 0, location: d.location }]
  const published: PublicPosition[] = []
  for (const entry of exact) {
    const location = publish(entry.location)
    const last = published.at(-1)?.location
    if (last === undefined || last.lat !== location.lat || last.lon !== location.lon || last.precisionM !== location.precisionM) published.push({ validFrom: entry.validFrom, location })
  }
  return published
}

class StaticRegistry implements DeviceRegistry {
  private readonly hoods: PublicNeighbourhood[]
  private readonly hoodById: Map<string, PublicNeighbourhood>
  private readonly devices: PublicDevice[]
  private readonly deviceById: Map<string, PublicDevice>

  /** Keeps consented devices whose neighbourhood is listed; callers leave out revoked ones. */
  constructor(neighbourhoods: readonly NeighbourhoodEntry[], devices: readonly DeviceFacts[], readonly source: string) {
    this.hoods = neighbourhoods.map((n) => ({ id: n.id, name: n.name, municipality: n.municipality, center: snapToGrid(n.center), radiusM: n.radiusM }))
    this.hoodById = new Map(this.hoods.map((n) => [n.id, n]))
    const entryById = new Map(neighbourhoods.map((n) => [n.id, n]))
    this.devices = devices
      .filter((d) => d.consent === true && entryById.has(d.neighbourhood))
      .map((d): PublicDevice => {
        const positions = publishedPositions(d, entryById.get(d.neighbourhood)!)
        const coarsen = d.location === undefined ? 'neighbourhood' : d.coarsen
        return { id: d.id, neighbourhood: d.neighbourhood, location: positions.at(-1)!.location, positions, coarsen }
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    this.deviceById = new Map(this.devices.map((d) => [d.id, d]))
  }

  neighbourhoods(): readonly PublicNeighbourhood[] {
    return this.hoods
  }

  neighbourhood(id: string): PublicNeighbourhood | undefined {
    return this.hoodById.get(id)
  }

  publicDevices(neighbourhood?: string): readonly PublicDevice[] {
    return neighbourhood === undefined ? this.devices : this.devices.filter((d) => d.neighbourhood === neighbourhood)
  }

  publicDevice(id: string): PublicDevice | undefined {
    return this.deviceById.get(id)
  }
}
