import type { CalibrationLabel } from '../../../core/calibration/uncertainty.ts'
import { QUANTITIES, type Quantity } from '../../../core/quantities.ts'
import type { PublicDevice, PublicNeighbourhood, PublicPosition } from '../../../core/registry/registry.ts'
import { formatIsoMs } from '../../../core/time.ts'

/**
 * SensorThings API 1.1 entities (OGC 18-088 §8.2) made from public devices, as JSON with `@iot.id`,
 * `@iot.selfLink` and `<Navigation>@iot.navigationLink` (§9.2):
 * - Thing: a public device (id = device id);
 * - Location: its published position now (id = device id), GeoJSON Point, `encodingType` application/geo+json,
 *   with `properties.precisionM` — never the exact position (core/registry/coarsen.ts); each earlier published
 *   position is a Location too (id `<device>~<valid from, epoch ms>`);
 * - HistoricalLocation: one entry of the published position history (id `<device>~<valid from, epoch ms>`,
 *   `time` = valid from), linking its Thing and its Location (§8.2.3);
 * - Datastream: device × quantity (id `<device>~<quantity>`: `~` is in no device id), unit in UCUM;
 * - Sensor: a sensor model as devices report it (id = its file-name slug, `unknown` when not named);
 * - ObservedProperty: a quantity (id = quantity name), defined by its CF standard name where there is one;
 * - Observation: one reading (id `<device>~<quantity>~<epoch ms>`), result = the raw value, resultTime = the
 *   phenomenonTime (the sensor makes its result when it observes), resultQuality = the label and uncertainty of
 *   the result (`uncalibrated`, null: the raw value has no assessed uncertainty), parameters = flags and the
 *   calibrated value with its own label and expanded uncertainty (k = 2, unit of the Datastream; null when not
 *   assessed or not calibrated; core/calibration/uncertainty.ts), as GET /api/v1/readings?series=both gives them.
 * FeaturesOfInterest are not served, so no navigation link points to them.
 */

/** UCUM codes (https://ucum.org/ucum) of the canonical units, with the display symbol and name. */
export const UNITS_OF_MEASUREMENT: Record<string, { name: string; symbol: string; ucum: string }> = {
  '°C': { name: 'degree Celsius', symbol: '°C', ucum: 'Cel' },
  '%': { name: 'percent', symbol: '%', ucum: '%' },
  hPa: { name: 'hectopascal', symbol: 'hPa', ucum: 'hPa' },
  'µg/m³': { name: 'microgram per cubic metre', symbol: 'µg/m³', ucum: 'ug/m3' },
  mm: { name: 'millimetre', symbol: 'mm', ucum: 'mm' },
  'm/s': { name: 'metre per second', symbol: 'm/s', ucum: 'm/s' },
  degree: { name: 'degree (angle)', symbol: '°', ucum: 'deg' },
  cm: { name: 'centimetre', symbol: 'cm', ucum: 'cm' },
}

/** CF standard names (https://cfconventions.org/standard-names.html) where one matches the quantity. */
const CF_STANDARD_NAMES: Partial<Record<Quantity, string>> = {
  air_temperature: 'air_temperature',
  relative_humidity: 'relative_humidity',
  air_pressure: 'air_pressure',
  pm1: 'mass_concentration_of_pm1_ambient_aerosol_particles_in_air',
  pm2_5: 'mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air',
  pm10: 'mass_concentration_of_pm10_ambient_aerosol_particles_in_air',
  no2: 'mass_concentration_of_nitrogen_dioxide_in_air',
  precipitation: 'precipitation_amount',
  wind_speed: 'wind_speed',
  wind_from_direction: 'wind_from_direction',
}

export const OM_MEASUREMENT = 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement'

/** `'g-a'` as an STA key in a URL: strings are quoted, `'` doubled (§9.2.2, OData). */
export function keyOf(id: string): string {
  return `'${id.replace(/'/g, "''")}'`
}

export type Entity = Record<string, unknown>

export class StaLinks {
  /** `base`: the service root URL, e.g. `http://host:8080/sta/v1.1`; `origin`: its scheme and authority. */
  constructor(
    readonly origin: string,
    readonly base: string,
  ) {}
  self(set: string, id: string): string {
    return `${this.base}/${set}(${keyOf(id)})`
  }
  nav(set: string, id: string, names: readonly string[]): Record<string, string> {
    return Object.fromEntries(names.map((n) => [`${n}@iot.navigationLink`, `${this.self(set, id)}/${n}`]))
  }
}

export function datastreamId(device: string, quantity: Quantity): string {
  return `${device}~${quantity}`
}

export function thing(links: StaLinks, device: PublicDevice, hood: PublicNeighbourhood | undefined): Entity {
  return {
    '@iot.id': device.id,
    '@iot.selfLink': links.self('Things', device.id),
    name: device.id,
    description: `SensHagen citizen sensor in ${hood?.name ?? device.neighbourhood}`,
    properties: { neighbourhood: device.neighbourhood },
    ...links.nav('Things', device.id, ['Locations', 'HistoricalLocations', 'Datastreams']),
  }
}

/** Id of a history entry's HistoricalLocation and Location: `<device>~<valid from, epoch ms>`. */
export function historyId(device: string, entry: PublicPosition): string {
  return `${device}~${entry.validFrom}`
}

/** The device's published position now, or, given `entry`, that entry of its published history. */
export function location(links: StaLinks, device: PublicDevice, entry?: PublicPosition): Entity {
  const id = entry === undefined ? device.id : historyId(device.id, entry)
  const at = entry?.location ?? device.location
  return {
    '@iot.id': id,
    '@iot.selfLink': links.self('Locations', id),
    name: `published position of ${device.id}${entry === undefined ? '' : ` from ${formatIsoMs(entry.validFrom)}`}`,
    description: device.coarsen === 'grid' ? 'centre of the grid cell holding the device' : 'centre of the neighbourhood of the device',
    encodingType: 'application/geo+json',
    location: { type: 'Point', coordinates: [at.lon, at.lat] },
    properties: { precisionM: at.precisionM },
    ...links.nav('Locations', id, ['Things']),
  }
}

export function historicalLocation(links: StaLinks, device: PublicDevice, entry: PublicPosition): Entity {
  const id = historyId(device.id, entry)
  return {
    '@iot.id': id,
    '@iot.selfLink': links.self('HistoricalLocations', id),
    time: formatIsoMs(entry.validFrom),
    ...links.nav('HistoricalLocations', id, ['Thing', 'Locations']),
  }
}

export function datastream(links: StaLinks, device: PublicDevice, quantity: Quantity): Entity {
  const id = datastreamId(device.id, quantity)
  const unit = UNITS_OF_MEASUREMENT[QUANTITIES[quantity].unit]!
  return {
    '@iot.id': id,
    '@iot.selfLink': links.self('Datastreams', id),
    name: `${QUANTITIES[quantity].description} at ${device.id}`,
    description: `${quantity} (${QUANTITIES[quantity].unit}) measured by ${device.id}, raw values`,
    unitOfMeasurement: { name: unit.name, symbol: unit.symbol, definition: `http://www.opengis.net/def/uom/UCUM/0/${encodeURIComponent(unit.ucum)}` },
    observationType: OM_MEASUREMENT,
    properties: { quantity, ucum: unit.ucum },
    ...links.nav('Datastreams', id, ['Thing', 'Sensor', 'ObservedProperty', 'Observations']),
  }
}

export function sensor(links: StaLinks, id: string, model: string): Entity {
  return {
    '@iot.id': id,
    '@iot.selfLink': links.self('Sensors', id),
    name: model,
    description: id === 'unknown' ? 'sensor model not reported by the device' : `sensor model ${model}, as the devices report it`,
    encodingType: 'text/plain',
    metadata: model,
    ...links.nav('Sensors', id, ['Datastreams']),
  }
}

export function observedProperty(links: StaLinks, quantity: Quantity): Entity {
  const cf = CF_STANDARD_NAMES[quantity]
  return {
    '@iot.id': quantity,
    '@iot.selfLink': links.self('ObservedProperties', quantity),
    name: QUANTITIES[quantity].description,
    definition: cf ? `http://vocab.nerc.ac.uk/standard_name/${cf}/` : `urn:senshagen:quantity:${quantity}`,
    description: `${QUANTITIES[quantity].description} (SensHagen quantity ${quantity}, canonical unit ${QUANTITIES[quantity].unit})`,
    ...links.nav('ObservedProperties', quantity, ['Datastreams']),
  }
}

export interface ObservationFacts {
  device: string
  quantity: Quantity
  /** Epoch ms UTC. */
  time: number
  value: number
  calibrated: number | null
  /** Of `calibrated`: expanded uncertainty (k = 2, null when not assessed) and label (`uncalibrated` without one). */
  calibratedUncertainty: number | null
  calibrationLabel: CalibrationLabel
  flags: string[]
}

export function observationId(o: Pick<ObservationFacts, 'device' | 'quantity' | 'time'>): string {
  return `${datastreamId(o.device, o.quantity)}~${o.time}`
}

export function observation(links: StaLinks, o: ObservationFacts): Entity {
  const id = observationId(o)
  const time = formatIsoMs(o.time)
  return {
    '@iot.id': id,
    '@iot.selfLink': links.self('Observations', id),
    phenomenonTime: time,
    resultTime: time,
    result: o.value,
    resultQuality: { label: 'uncalibrated', uncertainty: null },
    parameters: { flags: o.flags, calibrated: o.calibrated, calibrated_uncertainty: o.calibratedUncertainty, calibration_label: o.calibrationLabel },
    ...links.nav('Observations', id, ['Datastream']),
  }
}
