import { RefusedError } from '../errors.ts'
import type { Quantity } from '../quantities.ts'
import { isRecord } from './common.ts'
import type { ReferenceStation } from './reference.ts'

/** Mean Earth radius R1 = 6371.0088 km (IUGG; Moritz, "Geodetic Reference System 1980"), for haversine distances. */
export const EARTH_RADIUS_KM = 6371.0088

/** Stadshagen, Zwolle: the neighbourhood SensHagen's sensors are in (WGS84 degrees). */
export const STADSHAGEN = { lat: 52.53, lon: 6.06 } as const

/**
 * Offline snapshot of the Luchtmeetnet stations nearest to Stadshagen (research reference-data.md §1, from
 * the `/stations/{number}` coordinates). `quantities` is empty = NOT KNOWN: the snapshot does not record
 * components, and nearestStation treats an unknown list as a candidate for any quantity. LuchtmeetnetSource
 * .stations() returns the live list with components.
 */
export const LUCHTMEETNET_STATIONS: readonly ReferenceStation[] = [
  { id: 'NL10818', source: 'luchtmeetnet', name: 'Barsbeek-De Veenen', lat: 52.654144, lon: 6.017571, quantities: [] },
  { id: 'NL10807', source: 'luchtmeetnet', name: 'Hellendoorn-Luttenbergerweg', lat: 52.38833, lon: 6.402919, quantities: [] },
  { id: 'NL10617', source: 'luchtmeetnet', name: 'Biddinghuizen-Kuilweg', lat: 52.423214, lon: 5.59338, quantities: [] },
]

/** KNMI hourly column → quantity, as used for the per-station booleans of the hydropandas metadata. */
const KNMI_FLAG_COLUMNS: ReadonlyArray<[string, Quantity]> = [
  ['T', 'air_temperature'],
  ['U', 'relative_humidity'],
  ['RH', 'precipitation'],
  ['FH', 'wind_speed'],
  ['DD', 'wind_from_direction'],
]

/**
 * KNMI stations with hourly data that are still open, generated from hydropandas `knmi_meteostation.json`
 * (ArtesiaWater/hydropandas commit 8ae27d94, MIT; the metadata comes from KNMI): id, name, lat, lon and the
 * hourly columns the station reports (T, U, RH, FH, DD). Stations with an end date (210 Valkenburg,
 * 265 Soesterberg, 311 Hoofdplaat) are left out. Regenerate with knmiStationsFromHydropandas.
 */
const KNMI_ROWS: ReadonlyArray<[string, string, number, number, string]> = [
  ['209', "IJmond", 52.465, 4.518, 'FH,DD'],
  ['215', "Voorschoten", 52.139583, 4.436401, 'T,U,RH,FH,DD'],
  ['225', "IJmuiden", 52.46224287, 4.55490068, 'T,U,FH,DD'],
  ['235', "De Kooy", 52.924184, 4.779343, 'T,U,RH,FH,DD'],
  ['240', "Schiphol", 52.307192, 4.763603, 'T,U,RH,FH,DD'],
  ['242', "Vlieland", 53.253198, 4.940386, 'T,U,FH,DD'],
  ['248', "Wijdenes", 52.63243067, 5.17347397, 'FH,DD'],
  ['249', "Berkhout", 52.642635, 4.978732, 'T,U,RH,FH,DD'],
  ['251', "Hoorn Terschelling", 53.391216, 5.345758, 'T,U,RH,FH,DD'],
  ['257', "Wijk aan zee", 52.505325, 4.602925, 'T,U,RH'],
  ['258', "Houtribdijk", 52.64818, 5.400333, 'FH,DD'],
  ['260', "De Bilt", 52.099178, 5.176537, 'T,U,RH,FH,DD'],
  ['267', "Stavoren", 52.896575, 5.38343, 'T,U,RH,FH,DD'],
  ['269', "Lelystad", 52.447681, 5.509901, 'T,U,RH,FH,DD'],
  ['270', "Leeuwarden", 53.219827, 5.758255, 'T,U,RH,FH,DD'],
  ['273', "Marknesse", 52.701889, 5.887449, 'T,U,RH,FH,DD'],
  ['275', "Deelen", 52.060531, 5.887025, 'T,U,RH,FH,DD'],
  ['277', "Lauwersoog", 53.408304, 6.196049, 'T,U,RH,FH,DD'],
  ['278', "Heino", 52.433868, 6.261717, 'T,U,RH,FH,DD'],
  ['279', "Hoogeveen", 52.748954, 6.57301, 'T,U,RH,FH,DD'],
  ['280', "Eelde", 53.123866, 6.584808, 'T,U,RH,FH,DD'],
  ['283', "Hupsel", 52.067594, 6.65674, 'T,U,RH,FH,DD'],
  ['285', "Huibertgat", 53.575, 6.399, 'FH,DD'],
  ['286', "Nieuw Beerta", 53.194357, 7.149431, 'T,U,RH,FH,DD'],
  ['290', "Twenthe", 52.273079, 6.890994, 'T,U,RH,FH,DD'],
  ['308', "Cadzand", 51.379905, 3.37907, 'FH,DD'],
  ['310', "Vlissingen", 51.441276, 3.595904, 'T,U,RH,FH,DD'],
  ['312', "Oosterschelde", 51.768, 3.622, 'FH,DD'],
  ['313', "Vlakte van de Raan", 51.505, 3.242, 'FH,DD'],
  ['315', "Hansweert", 51.445723, 3.997481, 'FH,DD'],
  ['316', "Schaar", 51.657, 3.694, 'FH,DD'],
  ['319', "Westdorpe", 51.224917, 3.861493, 'T,U,RH,FH,DD'],
  ['323', "Wilhelminadorp", 51.525971, 3.883658, 'T,U,RH,FH,DD'],
  ['324', "Stavenisse", 51.595332, 4.005941, 'FH,DD'],
  ['330', "Hoek van Holland", 51.99099, 4.121812, 'T,U,RH,FH,DD'],
  ['331', "Tholen", 51.478597, 4.192468, 'FH,DD'],
  ['340', "Woensdrecht", 51.447729, 4.341987, 'T,U,RH,FH,DD'],
  ['343', "Rotterdam Geulhaven", 51.891845, 4.312645, 'T,U,FH,DD'],
  ['344', "Rotterdam", 51.959365, 4.442414, 'T,U,RH,FH,DD'],
  ['348', "Cabauw mast", 51.969926, 4.927059, 'T,U,RH,FH,DD'],
  ['350', "Gilze-Rijen", 51.564887, 4.935114, 'T,U,RH,FH,DD'],
  ['356', "Herwijnen", 51.858073, 5.145225, 'T,U,RH,FH,DD'],
  ['370', "Eindhoven", 51.449723, 5.377032, 'T,U,RH,FH,DD'],
  ['375', "Volkel", 51.658452, 5.706596, 'T,U,RH,FH,DD'],
  ['377', "Ell", 51.196646, 5.762634, 'T,U,RH,FH,DD'],
  ['380', "Maastricht", 50.905427, 5.76183, 'T,U,RH,FH,DD'],
  ['391', "Arcen", 51.49730626, 6.19610678, 'T,U,RH,FH,DD'],
]

export const KNMI_STATIONS: readonly ReferenceStation[] = KNMI_ROWS.map(([id, name, lat, lon, columns]) => ({
  id,
  source: 'knmi',
  name,
  lat,
  lon,
  quantities: KNMI_FLAG_COLUMNS.filter(([column]) => columns.split(',').includes(column)).map(([, q]) => q),
}))

/**
 * Stations from hydropandas `knmi_meteostation.json` (pandas "column" JSON: `{lat: {"278": 52.43…}, lon: …,
 * name: …, tmax: {…: "2016-05-04" | null}, T: {…: true}, …}`): those reporting at least one of the hourly
 * columns T, U, RH, FH, DD; closed ones (a `tmax` date) only with `includeClosed`. Never throws: entries
 * without coordinates are skipped.
 */
export function knmiStationsFromHydropandas(json: unknown, options: { includeClosed?: boolean } = {}): ReferenceStation[] {
  if (!isRecord(json) || !isRecord(json.name) || !isRecord(json.lat) || !isRecord(json.lon)) return []
  const column = (name: string): Record<string, unknown> => (isRecord(json[name]) ? (json[name] as Record<string, unknown>) : {})
  const stations: ReferenceStation[] = []
  for (const [id, name] of Object.entries(json.name)) {
    const lat = json.lat[id]
    const lon = json.lon[id]
    if (typeof lat !== 'number' || typeof lon !== 'number') continue
    const tmax = column('tmax')[id]
    if (typeof tmax === 'string' && !options.includeClosed) continue
    const quantities = KNMI_FLAG_COLUMNS.filter(([c]) => column(c)[id] === true).map(([, q]) => q)
    if (quantities.length === 0) continue
    stations.push({ id, source: 'knmi', name: typeof name === 'string' ? name : id, lat, lon, quantities })
  }
  return stations
}

/**
 * Great-circle distance in km between two WGS84 points (degrees), haversine formula on a sphere of radius
 * EARTH_RADIUS_KM. Error against the ellipsoid stays below 0.5 %, far less than what matters when picking a
 * station.
 */
export function distanceKm(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLon = (b.lon - a.lon) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)))
}

export interface NearestStation {
  station: ReferenceStation
  /** Great-circle distance from the point, km. */
  distanceKm: number
  /** True when the station came from the override, not from the distance ranking. */
  overridden: boolean
}

/**
 * The station to compare a sensor at `point` with for `quantity`: the configured `override` (a station id)
 * when given, else the nearest station (distanceKm) that measures the quantity. A station whose `quantities`
 * list is empty is treated as unknown and stays a candidate (offline snapshots); a station whose list is
 * known and lacks the quantity is passed over. Ties go to the earlier station in `stations`.
 *
 * Returns undefined when no station qualifies. Throws RefusedError when `override` names no station in
 * `stations` (a configuration error that must not silently fall back to another station).
 */
export function nearestStation(
  stations: readonly ReferenceStation[],
  point: { lat: number; lon: number },
  quantity: Quantity,
  override?: string,
): NearestStation | undefined {
  if (override !== undefined && override !== '') {
    const station = stations.find((s) => s.id === override)
    if (station === undefined) throw new RefusedError(`override station '${override}' is not among the ${stations.length} known stations`)
    return { station, distanceKm: distanceKm(point, station), overridden: true }
  }
  let best: NearestStation | undefined
  for (const station of stations) {
    if (station.quantities.length > 0 && !station.quantities.includes(quantity)) continue
    const km = distanceKm(point, station)
    if (best === undefined || km < best.distanceKm) best = { station, distanceKm: km, overridden: false }
  }
  return best
}

/**
 * Distance in km from `site` to each of `ids` that is in the static snapshots (LUCHTMEETNET_STATIONS,
 * KNMI_STATIONS, or `stations` when given); ids not found are left out. For reports ("reference 14.1 km away").
 */
export function stationDistances(site: { lat: number; lon: number }, ids: readonly string[], stations: readonly ReferenceStation[] = [...LUCHTMEETNET_STATIONS, ...KNMI_STATIONS]): Record<string, number> {
  const distances: Record<string, number> = {}
  for (const id of ids) {
    const station = stations.find((s) => s.id === id)
    if (station) distances[id] = distanceKm(site, station)
  }
  return distances
}

/** Every station ordered by distance from `point` that measures (or may measure) `quantity`, nearest first. */
export function stationsByDistance(stations: readonly ReferenceStation[], point: { lat: number; lon: number }, quantity: Quantity): Array<{ station: ReferenceStation; distanceKm: number }> {
  return stations
    .filter((s) => s.quantities.length === 0 || s.quantities.includes(quantity))
    .map((station) => ({ station, distanceKm: distanceKm(point, station) }))
    .sort((a, b) => a.distanceKm - b.distanceKm)
}
