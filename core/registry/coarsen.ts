/**
 * Location coarsening: the only way a device position leaves the registry (core/registry/registry.ts).
 *
 * A sensor sits in somebody's garden; its exact position is personal data (the municipality's rule) and is
 * never published. Public coordinates are one of:
 *
 * - **grid** (the default and the finest ever published): the centre of the cell of a fixed grid of
 *   0.002° latitude × 0.003° longitude that contains the device. Cells are anchored at 0° N 0° E, so cell
 *   edges lie on multiples of 0.002° / 0.003° and centres on odd multiples of 0.001° latitude and 0.0015°
 *   longitude (52.531, 6.0585). Size: 0.002° × 111.2 km/° = 222 m north–south everywhere; 0.003° ×
 *   111.2 km/° × cos(latitude) = 203 m east–west at 52.5° N (Zwolle), 182 m at 57° N (Aberdeen). The true
 *   position lies within half the cell diagonal of the published one: ≈ 151 m in Zwolle (`precisionM`).
 *   A garden typically shares its cell with dozens of houses in a Dutch residential street.
 * - **neighbourhood** (`"coarsen": "neighbourhood"` on the device in the registry): the neighbourhood's
 *   centre, itself snapped to the grid, with the neighbourhood's `radiusM` as precision. For households that
 *   want more than the grid gives.
 *
 * Everything is computed in integer micro-degrees, so floating-point error never moves a point across a cell
 * edge and published numbers print exactly (`52.531`, not `52.531000000000006`).
 *
 * Distances use the mean Earth radius 6 371 008.8 m (IUGG), as core/reference/stations.ts does.
 */

export interface LatLon {
  /** Degrees north, WGS84, −90…90. */
  lat: number
  /** Degrees east, WGS84, −180…180. */
  lon: number
}

/** A position as published: a grid cell centre, and how far the true position may lie from it (metres). */
export interface PublicLocation extends LatLon {
  precisionM: number
}

/** The grid: cell size in degrees (latitude × longitude). Never make it finer: that is the privacy floor. */
export const GRID = { latDeg: 0.002, lonDeg: 0.003 } as const

const MICRO = 1_000_000
const CELL_LAT_MICRO = 2_000
const CELL_LON_MICRO = 3_000
const METRES_PER_DEGREE = (6_371_008.8 * Math.PI) / 180

function snapAxis(degrees: number, cellMicro: number): number {
  const micro = Math.round(degrees * MICRO)
  const cell = Math.floor(micro / cellMicro)
  return (cell * cellMicro + cellMicro / 2) / MICRO
}

/** The centre of the grid cell containing `point` (cells are half-open: [edge, next edge)). */
export function snapToGrid(point: LatLon): LatLon {
  return { lat: snapAxis(point.lat, CELL_LAT_MICRO), lon: snapAxis(point.lon, CELL_LON_MICRO) }
}

function isCentreOnAxis(degrees: number, cellMicro: number): boolean {
  const micro = Math.round(degrees * MICRO)
  if (Math.abs(degrees * MICRO - micro) > 1e-6) return false
  const offset = (((micro - cellMicro / 2) % cellMicro) + cellMicro) % cellMicro
  return offset === 0
}

/** True when (lat, lon) is exactly a grid cell centre: what every public coordinate must be. */
export function isGridCentre(lat: number, lon: number): boolean {
  return isCentreOnAxis(lat, CELL_LAT_MICRO) && isCentreOnAxis(lon, CELL_LON_MICRO)
}

/** Half the diagonal of the grid cell centred at latitude `lat`, in whole metres rounded up (≈ 151 at 52.5° N). */
export function gridPrecisionM(lat: number): number {
  const northSouth = (GRID.latDeg / 2) * METRES_PER_DEGREE
  const eastWest = (GRID.lonDeg / 2) * METRES_PER_DEGREE * Math.cos((lat * Math.PI) / 180)
  return Math.ceil(Math.hypot(northSouth, eastWest))
}

/** The published location of a device coarsened to the grid. */
export function gridLocation(point: LatLon): PublicLocation {
  const centre = snapToGrid(point)
  return { ...centre, precisionM: gridPrecisionM(centre.lat) }
}

/** The published location of a device coarsened to its neighbourhood: the grid-snapped centre, `radiusM` precision. */
export function neighbourhoodLocation(centre: LatLon, radiusM: number): PublicLocation {
  const snapped = snapToGrid(centre)
  return { ...snapped, precisionM: Math.max(Math.ceil(radiusM), gridPrecisionM(snapped.lat)) }
}

/** Great-circle distance in metres (haversine). */
export function distanceM(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLon = (b.lon - a.lon) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2
  return 2 * (METRES_PER_DEGREE * (180 / Math.PI)) * Math.asin(Math.min(1, Math.sqrt(h)))
}
