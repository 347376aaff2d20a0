import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'
import { DeviceIdSchema } from '../reading.ts'
import { type LatLon, type PublicLocation, distanceM, gridLocation, neighbourhoodLocation, snapToGrid } from './coarsen.ts'

/**
 * The device registry: which devices exist publicly, in which neighbourhood, and whether their owners accepted
 * the terms. A JSON file (`SENSHAGEN_DEVICE_REGISTRY`, default `config/devices.json`; layout in
 * config/README.md), parsed once at start-up.
 *
 * The privacy rule (the municipality's): a device that is not in the registry, or whose `consent` is false,
 * is public nowhere (API, live stream, open-data export); a public device's position is only ever published
 * coarsened (core/registry/coarsen.ts). The DeviceRegistry interface below therefore hands out PublicDevice
 * objects, which carry no exact coordinates: code outside this folder cannot publish what it never gets.
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

/** A consented device as published. */
export interface PublicDevice {
  id: string
  neighbourhood: string
  location: PublicLocation
  coarsen: 'grid' | 'neighbourhood'
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
    const seen = new Set<string>()
    file.neighbourhoods.forEach((n, i) => {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['neighbourhoods', i, 'id'], message: `duplicate neighbourhood id '${n.id}'` })
      seen.add(n.id)
    })
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

/** `devices[3].consent` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('') || '(root)'
}

/**
 * Parses registry JSON (already `JSON.parse`d) into a DeviceRegistry. Throws ConfigError naming `source` and
 * every bad field (`config/devices.json: devices[3].consent: Invalid input: expected boolean, received undefined`).
 */
export function parseRegistry(json: unknown, source: string): DeviceRegistry {
  const parsed = RegistryFileSchema.safeParse(json)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${source}: ${formatPath(issue.path)}: ${issue.message}`)
    throw new ConfigError(`invalid device registry:\n  ${problems.join('\n  ')}`)
  }
  return new StaticRegistry(parsed.data, source)
}

/** Reads and parses the registry file. Errors: ConfigError (unreadable, not JSON, or invalid; the path named). */
export async function loadRegistry(path: string): Promise<DeviceRegistry> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ConfigError(`device registry ${path} cannot be read (SENSHAGEN_DEVICE_REGISTRY): ${(cause as Error).message}`, { cause })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(`device registry ${path} is not JSON: ${(cause as Error).message}`, { cause })
  }
  return parseRegistry(json, path)
}

class StaticRegistry implements DeviceRegistry {
  private readonly hoods: PublicNeighbourhood[]
  private readonly hoodById: Map<string, PublicNeighbourhood>
  private readonly devices: PublicDevice[]
  private readonly deviceById: Map<string, PublicDevice>

  constructor(file: RegistryFile, readonly source: string) {
    this.hoods = file.neighbourhoods.map((n) => ({ id: n.id, name: n.name, municipality: n.municipality, center: snapToGrid(n.center), radiusM: n.radiusM }))
    this.hoodById = new Map(this.hoods.map((n) => [n.id, n]))
    const entryById = new Map(file.neighbourhoods.map((n) => [n.id, n]))
    this.devices = file.devices
      .filter((d) => d.consent === true)
      .map((d): PublicDevice => {
        const n = entryById.get(d.neighbourhood)!
        const location = d.coarsen === 'neighbourhood' ? neighbourhoodLocation(n.center, n.radiusM) : gridLocation(d.location)
        return { id: d.id, neighbourhood: d.neighbourhood, location, coarsen: d.coarsen }
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
