import type { Reading } from '../../../core/reading.ts'
import { gaussian, prng } from '../../unit/calibration/methods/synthetic.ts'

/**
 * A seeded synthetic fleet of garden weather stations with a known truth, for the temperature and humidity
 * calibration (issue 11 item 7). Everything is generated, nothing is fitted: the tests compare calibrated values
 * with `truth`, never with what the code under test computes.
 *
 * - 21 days from 2026-06-01 00:00Z, readings every 5 minutes at hh:02:30, hh:07:30, … (never on an hour boundary).
 * - Rural truth (the KNMI station, "Heino"): a diurnal cycle (min ≈ 04 UTC, max ≈ 13 UTC) whose amplitude
 *   shrinks with cloud, on a day-to-day random walk. Cloud and wind (FH, m/s at 10 m) change per hour (AR(1)).
 * - Global radiation: clear-sky irradiance from the solar elevation at 52.5° N, 6.1° E (declination +22°, a
 *   simplified solar position: solar noon at 11:36 UTC), reduced by cloud after Kasten & Czeplak (1980):
 *   Q = Q_clear · (1 − 0.75 · cloud^3.4).
 * - Gardens: rural truth + a night-time heat island (`island` °C at full strength in calm, clear nights, zero
 *   while the sun is up; Oke 1982) + a small daytime difference of the garden itself (`dayDifference`, ±0.15 °C).
 *   Humidity: the rural vapour pressure, at the garden temperature (Magnus formula, WMO CIMO Guide Annex 4.B).
 * - Sensors: garden truth + `offset` + radiation error `radiation` · Q/(FH + 1) (°C per W/m² per m/s) + noise
 *   σ 0.1 °C; humidity from the same vapour pressure at the sensor's (heated) temperature + `rhOffset` + σ 1 %.
 * - One faulty sensor (`garden-8`, `faulty`): its element wanders, an hourly AR(1) error of σ 2.5 °C / 10 % RH.
 * - The KNMI hourly reference as the script API would send it (`knmiText`): T and U spot values at the end of
 *   the hour (0.1 °C, %), FH hourly mean (0.1 m/s), Q hourly sum (J/cm²), station 278.
 */

export const HOUR = 3_600_000
export const STEP = 5 * 60_000
export const START = Date.UTC(2026, 5, 1)
export const DAYS = 21
export const END = START + DAYS * 24 * HOUR
export const STATION = '278'
export const SITE = { lat: 52.53, lon: 6.06 }

export interface Garden {
  deviceId: string
  /** Heat island at full strength, °C. */
  island: number
  /** The garden's own constant difference from the rural station by day and night, °C. */
  dayDifference: number
  /** Sensor offset, °C. */
  offset: number
  /** Radiation error coefficient, °C per (W/m² per m/s). */
  radiation: number
  /** Humidity offset, %. */
  rhOffset: number
  faulty: boolean
  position: { lat: number; lon: number }
}

export const GARDENS: readonly Garden[] = [
  { island: 1.2, dayDifference: 0.1, offset: 0.4, radiation: 0.004, rhOffset: 3 },
  { island: 1.6, dayDifference: -0.1, offset: -0.3, radiation: 0.006, rhOffset: -2 },
  { island: 1.0, dayDifference: 0, offset: 0.2, radiation: 0.002, rhOffset: 1 },
  { island: 1.8, dayDifference: 0.15, offset: -0.5, radiation: 0.005, rhOffset: -4 },
  { island: 1.4, dayDifference: -0.15, offset: 0.6, radiation: 0.003, rhOffset: 2 },
  { island: 1.1, dayDifference: 0.05, offset: 0, radiation: 0.007, rhOffset: 0 },
  { island: 1.5, dayDifference: -0.05, offset: -0.2, radiation: 0.004, rhOffset: 5 },
  { island: 1.3, dayDifference: 0, offset: 0.3, radiation: 0.005, rhOffset: -1 },
].map((g, i) => ({ ...g, deviceId: `garden-${i + 1}`, faulty: i === 7, position: { lat: SITE.lat + 0.004 * (i % 4), lon: SITE.lon + 0.006 * Math.floor(i / 4) } }))

/** Saturation vapour pressure over water, hPa, at t °C (Magnus, WMO CIMO Guide 2018 Annex 4.B). */
export function saturationVapourPressure(t: number): number {
  return 6.112 * Math.exp((17.62 * t) / (243.12 + t))
}

/** Clear-sky global radiation at time t (epoch ms), W/m²: 1000 · sin(solar elevation), 0 below the horizon. */
export function clearSky(t: number): number {
  const hours = (t - START) / HOUR
  const hourAngle = ((((hours % 24) + 24) % 24) - 11.6) * 15 * (Math.PI / 180)
  const lat = (52.5 * Math.PI) / 180
  const dec = (22 * Math.PI) / 180
  const sinElevation = Math.sin(lat) * Math.sin(dec) + Math.cos(lat) * Math.cos(dec) * Math.cos(hourAngle)
  return Math.max(0, 1000 * sinElevation)
}

export interface WeatherFleet {
  /** Hourly drivers by hour index h (the hour [START + h·1 h, START + (h + 1)·1 h)). */
  cloud: number[]
  wind: number[]
  /** Truth at time t. */
  rural(t: number): { t: number; rh: number; q: number; fh: number }
  garden(g: Garden, t: number): { t: number; rh: number }
  readings: Reading[]
  /** KNMI uurgegevens text (script-API layout) of station 278 for the 21 days. */
  knmiText: string
}

/** Builds the fleet for `seed` (default 11). Deterministic. */
export function weatherFleet(seed = 11): WeatherFleet {
  const hours = DAYS * 24
  const random = prng(seed)
  const normal = gaussian(random)
  const cloud: number[] = []
  const wind: number[] = []
  let c = 0.5
  let w = 0.3
  for (let h = 0; h < hours; h++) {
    c = Math.min(1, Math.max(0, 0.5 + 0.9 * (c - 0.5) + 0.15 * normal()))
    w = 0.85 * w + 0.35 * normal()
    cloud.push(c)
    wind.push(Math.min(9, Math.max(0.5, 3.2 + 1.6 * w)))
  }
  const dayMean: number[] = []
  let m = 16
  for (let d = 0; d <= DAYS; d++) dayMean.push((m += 0.8 * normal()))

  const hourIndex = (t: number) => Math.min(hours - 1, Math.max(0, Math.floor((t - START) / HOUR)))
  const rural = (t: number) => {
    const h = hourIndex(t)
    const fraction = (t - START) / HOUR / 24
    const day = Math.min(DAYS - 1, Math.max(0, Math.floor(fraction)))
    const clearness = 1 - 0.6 * cloud[h]!
    const phase = 2 * Math.PI * (fraction - 0.375) // maximum 13 UTC, minimum 01 UTC … 04 UTC
    const temperature = dayMean[day]! + (fraction - day) * (dayMean[day + 1]! - dayMean[day]!) + 5 * clearness * Math.sin(phase)
    const dewPoint = dayMean[day]! - 4 + 2 * cloud[h]!
    const e = saturationVapourPressure(Math.min(dewPoint, temperature))
    const q = clearSky(t) * (1 - 0.75 * cloud[h]! ** 3.4)
    return { t: temperature, rh: (100 * e) / saturationVapourPressure(temperature), e, q, fh: wind[h]! }
  }
  const garden = (g: Garden, t: number) => {
    const r = rural(t)
    const night = Math.max(0, 1 - clearSky(t) / 100)
    const strength = (1 - 0.6 * cloud[hourIndex(t)]!) / (1 + r.fh / 4)
    const temperature = r.t + g.dayDifference + g.island * night * strength * 1.8
    return { t: temperature, rh: (100 * r.e) / saturationVapourPressure(temperature) }
  }

  const readings: Reading[] = []
  const base = { unit: '', timeSource: 'device' as const, sourceFormat: 'senshagen-v1', sensorModel: 'SHT31', flags: [] }
  for (const g of GARDENS) {
    const faultT: number[] = []
    const faultRh: number[] = []
    let ft = 0
    let frh = 0
    for (let h = 0; h < hours; h++) {
      faultT.push((ft = 0.8 * ft + 0.6 * 2.5 * normal()))
      faultRh.push((frh = 0.8 * frh + 0.6 * 10 * normal()))
    }
    for (let t = START + STEP / 2; t < END; t += STEP) {
      const r = rural(t)
      const truth = garden(g, t)
      const heated = truth.t + g.offset + (g.radiation * r.q) / (r.fh + 1) + 0.1 * normal() + (g.faulty ? faultT[hourIndex(t)]! : 0)
      const rh = (100 * r.e) / saturationVapourPressure(heated - g.offset) + g.rhOffset + normal() + (g.faulty ? faultRh[hourIndex(t)]! : 0)
      readings.push({ ...base, deviceId: g.deviceId, quantity: 'air_temperature', value: round(heated, 2), unit: '°C', observedAt: t, receivedAt: t })
      readings.push({ ...base, deviceId: g.deviceId, quantity: 'relative_humidity', value: round(Math.min(100, Math.max(1, rh)), 1), unit: '%', observedAt: t, receivedAt: t })
    }
  }
  return { cloud, wind, rural, garden, readings, knmiText: knmiText(rural) }
}

/** KNMI uurgegevens text for the fleet's period (see the module comment). */
function knmiText(rural: (t: number) => { t: number; rh: number; q: number; fh: number }): string {
  const lines = ['# STN         LON(east)   LAT(north)  ALT(m)      NAME', '# 278         6.259       52.435      3.60        Heino', '#', '# STN,YYYYMMDD,   HH,   FH,    T,    Q,    U']
  for (let end = START + HOUR; end <= END; end += HOUR) {
    let q = 0
    for (let t = end - HOUR + 30_000; t < end; t += 60_000) q += rural(t).q * 60 // J/m² per minute step
    const at = rural(end)
    const day = new Date(end - 1)
    const hh = end % (24 * HOUR) === 0 ? 24 : new Date(end).getUTCHours()
    const ymd = day.toISOString().slice(0, 10).replace(/-/g, '')
    const fields = [STATION, ymd, hh, Math.round(rural(end - 1).fh * 10), Math.round(at.t * 10), Math.round(q / 10_000), Math.round(at.rh)]
    lines.push(fields.map((f) => String(f).padStart(5)).join(','))
  }
  return `${lines.join('\n')}\n`
}

function round(value: number, decimals: number): number {
  return Number(value.toFixed(decimals))
}

/** Mean of f over the readings' times in the hour ending at `end` (the sensors' 12 samples). */
export function hourlyTruth(end: number, f: (t: number) => number): number {
  let sum = 0
  for (let t = end - HOUR + STEP / 2; t < end; t += STEP) sum += f(t)
  return sum / (HOUR / STEP)
}
