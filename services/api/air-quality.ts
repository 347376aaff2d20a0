/**
 * Plain-language classes for the residents' page. The API returns stable keys (`class: 'good'`,
 * `advice: 'pm_good'`); the page translates them.
 *
 * PM2.5: the European Air Quality Index (EAQI) bands for hourly PM2.5 in µg/m³, as the European Environment
 * Agency publishes them on https://airindex.eea.europa.eu/AQI/index.html: good 0–10, fair 10–20, moderate
 * 20–25, poor 25–50, very poor 50–75, extremely poor 75–800. A value on a boundary belongs to the lower band
 * (10.0 is good). The EEA's advice per band (general population / sensitive groups) is what the advice keys
 * stand for; the page words them. Caveat for the page: the EAQI is meant for reference stations; garden
 * sensors are at best indicative (core/calibration/uncertainty.ts CalibrationLabel). The EEA revises the index from time
 * to time: check the bands against that page when they change; they are this one table.
 *
 * Heat: the Dutch Nationaal Hitteplan (RIVM, https://www.rivm.nl/hitte/nationaal-hitteplan) starts when KNMI
 * expects at least four days in a row with a maximum of 27 °C or more in De Bilt; KNMI calls a day with a
 * maximum of 30 °C or more a tropical day ("tropische dag", KNMI klimaatbegrippen). We apply those thresholds to
 * the current hourly mean as a hint, not a heat-plan declaration: ≥ 30 °C `hot`, ≥ 27 °C `warm`, below
 * 0 °C `frost` (KNMI "vorstdag": minimum below 0 °C), otherwise `normal`.
 */

export interface Classification {
  class: string
  advice: string
}

/** [upper bound inclusive, class]: the EAQI PM2.5 hourly bands. */
export const PM25_BANDS: ReadonlyArray<readonly [number, string]> = [
  [10, 'good'],
  [20, 'fair'],
  [25, 'moderate'],
  [50, 'poor'],
  [75, 'very_poor'],
  [Infinity, 'extremely_poor'],
]

/** EAQI class of an hourly PM2.5 mean (µg/m³); advice key `pm_<class>`. */
export function classifyPm25(value: number): Classification {
  const band = PM25_BANDS.find(([upper]) => value <= upper)![1]
  return { class: band, advice: `pm_${band}` }
}

export const HEAT_THRESHOLDS = { warmC: 27, hotC: 30, frostC: 0 } as const

/** Heat class of an hourly mean air temperature (°C); advice key `heat_<class>`. */
export function classifyTemperature(value: number): Classification {
  const c = value >= HEAT_THRESHOLDS.hotC ? 'hot' : value >= HEAT_THRESHOLDS.warmC ? 'warm' : value < HEAT_THRESHOLDS.frostC ? 'frost' : 'normal'
  return { class: c, advice: `heat_${c}` }
}
