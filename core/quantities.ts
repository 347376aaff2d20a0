/**
 * The quantity vocabulary: every quantity SensHagen stores, its canonical unit and its physical range.
 *
 * This table is data: adding a quantity is one row here, nothing else. Names follow the CF standard-name
 * style (`air_temperature`, `relative_humidity`, `wind_from_direction`); PM names use the particle cut-off
 * in µm (`pm2_5` = PM2.5).
 *
 * `min`/`max` are the *physical* range a reading must lie in to be stored at all (a value outside it is a
 * decoding or unit error, not weather). Sources for the bounds:
 * - air_temperature −80…70 °C: below the lowest and above the highest temperature ever recorded at the surface
 *   (WMO Weather and Climate Extremes Archive: −89.2 °C Vostok is Antarctic plateau only, 56.7 °C Death Valley).
 * - air_pressure 300…1100 hPa: station-level pressure from the summit of Everest (≈ 337 hPa) to above the
 *   highest sea-level pressure ever recorded (1084.8 hPa, WMO archive). A value in Pa (≈ 101 325) or kPa
 *   (≈ 101) falls outside and is caught as a unit error.
 * - pm*: 0…2000 µg/m³, the upper end of the Nova Fitness SDS011 datasheet range is 999.9 µg/m³ for PM2.5 and
 *   1999.9 µg/m³ for PM10; larger values cannot come from the sensors we ingest.
 * - no2: 0…2000 µg/m³ (highest Dutch hourly value ever reported by RIVM is a few hundred µg/m³).
 * - precipitation 0…500 mm per reading (world record 1-day rainfall is 1825 mm; a garden gauge reports per
 *   interval, so 500 mm is generous).
 * - wind_speed 0…113 m/s (highest surface gust ever recorded, Barrow Island 1996, 113 m/s).
 * - wind_from_direction 0…360 degree (meteorological convention: direction the wind comes from).
 * - water_level −500…1000 cm relative to the sensor's zero (street flooding sensors).
 * - global_radiation 0…1500 W/m²: above the solar constant (1361 W/m², WMO CIMO Guide 2018 ch. 7), so any
 *   hourly mean of global (surface downwelling shortwave) radiation fits; KNMI `Q` is converted to it.
 * - relative_humidity 0…110 %: capacitive sensors report up to a few percent above 100 in fog (Meet je Stad
 *   data shows 107.875 %); values above 100 are stored and flagged `rh_above_100` (not `implausible`). soil_moisture 0…100 %.
 *
 * `plausible` bounds (flag `implausible`, not rejection) follow Dutch records: KNMI −27.4 °C (1942) and 40.7 °C
 * (2019); lowest NL pressure 954.2 hPa; RIVM hourly PM2.5 and NO2 maxima stay far below 500 and 400 µg/m³.
 */
export const QUANTITIES = {
  air_temperature: { unit: '°C', min: -80, max: 70, plausible: [-30, 45], description: 'Air temperature' },
  relative_humidity: { unit: '%', min: 0, max: 110, plausible: [0, 110], description: 'Relative humidity' },
  air_pressure: { unit: 'hPa', min: 300, max: 1100, plausible: [940, 1060], description: 'Air pressure at station level' },
  pm1: { unit: 'µg/m³', min: 0, max: 2000, plausible: [0, 500], description: 'Particulate matter < 1 µm' },
  pm2_5: { unit: 'µg/m³', min: 0, max: 2000, plausible: [0, 500], description: 'Particulate matter < 2.5 µm' },
  pm4: { unit: 'µg/m³', min: 0, max: 2000, plausible: [0, 1000], description: 'Particulate matter < 4 µm' },
  pm10: { unit: 'µg/m³', min: 0, max: 2000, plausible: [0, 1000], description: 'Particulate matter < 10 µm' },
  no2: { unit: 'µg/m³', min: 0, max: 2000, plausible: [0, 400], description: 'Nitrogen dioxide' },
  precipitation: { unit: 'mm', min: 0, max: 500, plausible: [0, 100], description: 'Precipitation amount' },
  wind_speed: { unit: 'm/s', min: 0, max: 113, plausible: [0, 50], description: 'Wind speed' },
  wind_from_direction: { unit: 'degree', min: 0, max: 360, plausible: [0, 360], description: 'Direction the wind comes from' },
  water_level: { unit: 'cm', min: -500, max: 1000, plausible: [-100, 300], description: 'Water level (street flooding sensors)' },
  soil_moisture: { unit: '%', min: 0, max: 100, plausible: [0, 100], description: 'Volumetric soil moisture' },
  global_radiation: { unit: 'W/m²', min: 0, max: 1500, plausible: [0, 1200], description: 'Global radiation (surface downwelling shortwave)' },
} as const satisfies Record<string, QuantityInfo>

export interface QuantityInfo {
  /** Canonical unit every stored value of this quantity is in. */
  unit: string
  /** Lowest physically possible value, inclusive, in `unit`. */
  min: number
  /** Highest physically possible value, inclusive, in `unit`. */
  max: number
  /**
   * Values outside [plausible[0], plausible[1]] are stored but flagged `implausible` (core/quality.ts): possible
   * physically, not in the Dutch climate or for a garden sensor.
   */
  plausible: readonly [number, number]
  description: string
}

export type Quantity = keyof typeof QUANTITIES

export const QUANTITY_NAMES = Object.keys(QUANTITIES) as [Quantity, ...Quantity[]]

export function isQuantity(name: string): name is Quantity {
  return Object.hasOwn(QUANTITIES, name)
}

export function quantityInfo(quantity: Quantity): QuantityInfo {
  return QUANTITIES[quantity]
}
