import { z } from 'zod'
import { distanceM } from '../../core/registry/coarsen.ts'
import type { PublicDevice } from '../../core/registry/registry.ts'

/**
 * Spatial filters and GeoJSON for public devices. Every test is made on the *published* position (the grid-cell
 * centre or the neighbourhood centre, core/registry/coarsen.ts), never the exact one, so a filter cannot be used to
 * narrow a garden down below its published precision.
 */

/** West, south, east, north in degrees (RFC 7946 §5: `minLon,minLat,maxLon,maxLat`). */
export interface BoundingBox {
  west: number
  south: number
  east: number
  north: number
}

/** A circle around a point: centre in degrees, radius in metres. */
export interface Circle {
  lat: number
  lon: number
  radiusM: number
}

/** Largest radius a `radius_m` may ask for: 50 km, about the Zwolle region; larger would be a list of every device. */
export const MAX_RADIUS_M = 50_000

function numbers(text: string, count: number): number[] | undefined {
  const parts = text.split(',')
  if (parts.length !== count || parts.some((p) => !/^\s*-?\d+(\.\d+)?\s*$/.test(p))) return undefined
  return parts.map(Number)
}

/** `bbox=minLon,minLat,maxLon,maxLat` (RFC 7946 §5 order); a box across the antimeridian is refused. */
export const BboxParam = z
  .string()
  .transform((text, ctx): BoundingBox => {
    const n = numbers(text, 4)
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be four decimal numbers minLon,minLat,maxLon,maxLat (RFC 7946 §5)' })
      return z.NEVER
    }
    const [west, south, east, north] = n as [number, number, number, number]
    if ([west, east].some((x) => x < -180 || x > 180) || [south, north].some((y) => y < -90 || y > 90)) {
      ctx.addIssue({ code: 'custom', message: 'longitudes must lie in -180…180 and latitudes in -90…90' })
      return z.NEVER
    }
    if (west > east || south > north) {
      ctx.addIssue({ code: 'custom', message: 'minLon must not exceed maxLon, nor minLat maxLat (boxes across the antimeridian are not supported)' })
      return z.NEVER
    }
    return { west, south, east, north }
  })
  .describe('minLon,minLat,maxLon,maxLat in degrees (RFC 7946 §5); devices whose published position lies inside or on the edge')

/** `near=lat,lon`: latitude first, as people say it (`radius_m` gives the radius). */
export const NearParam = z
  .string()
  .transform((text, ctx) => {
    const n = numbers(text, 2)
    if (n === undefined || n[0]! < -90 || n[0]! > 90 || n[1]! < -180 || n[1]! > 180) {
      ctx.addIssue({ code: 'custom', message: 'must be lat,lon in degrees (latitude -90…90 first, then longitude -180…180)' })
      return z.NEVER
    }
    return { lat: n[0]!, lon: n[1]! }
  })
  .describe('lat,lon in degrees: with radius_m, devices whose published position lies within radius_m of this point')

export const RadiusParam = z.coerce.number().positive().max(MAX_RADIUS_M).describe(`metres, up to ${MAX_RADIUS_M}; required with near`)

export function insideBox(device: PublicDevice, box: BoundingBox): boolean {
  const { lat, lon } = device.location
  return lon >= box.west && lon <= box.east && lat >= box.south && lat <= box.north
}

/** Great-circle distance of the published position from the centre ≤ radius (haversine, core/registry/coarsen.ts). */
export function insideCircle(device: PublicDevice, circle: Circle): boolean {
  return distanceM(device.location, circle) <= circle.radiusM
}

export const GEOJSON_MEDIA_TYPE = 'application/geo+json'

/** An RFC 7946 Point feature: `coordinates` are [longitude, latitude] (§3.1.1), the published position. */
export interface PointFeature<P> {
  type: 'Feature'
  id: string
  geometry: { type: 'Point'; coordinates: [number, number] }
  properties: P
}

export function pointFeature<P>(id: string, position: { lat: number; lon: number }, properties: P): PointFeature<P> {
  return { type: 'Feature', id, geometry: { type: 'Point', coordinates: [position.lon, position.lat] }, properties }
}

/** Zod model of a FeatureCollection of points (RFC 7946 §3.3) with the given properties. */
export function featureCollectionSchema(properties: z.ZodType) {
  return z
    .object({
      type: z.literal('FeatureCollection'),
      features: z.array(
        z.object({
          type: z.literal('Feature'),
          id: z.string(),
          geometry: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]).describe('[longitude, latitude], WGS84') }),
          properties,
        }),
      ),
    })
    .describe('RFC 7946 GeoJSON FeatureCollection')
}
