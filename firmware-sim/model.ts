import type { NativePayloadV1 } from '../core/native-payload.ts'
import { gaussian, keyedRandom, smoothNoise, uniform } from './random.ts'

/**
 * Weather and air-quality model of one neighbourhood (default: Stadshagen, Zwolle, NL, late autumn) for the
 * firmware simulator. A shared regional "truth" (what a reference station would measure) plus per-device
 * offsets and noise (what a BME280 + SDS011 garden sensor reports).
 *
 * Everything is a pure function of (options incl. seed, deviceIndex, time): no state, no `Math.random`, so a
 * reading can be recomputed at any time and tests can check it. Units are the canonical ones of
 * core/quantities.ts: °C, %, hPa, µg/m³. Times are epoch milliseconds (UTC); diurnal shapes use local
 * *solar* time (UTC + longitude × 4 min/°, equation of time ignored, ≤ 16 min).
 *
 * Sources and assumptions of the constants:
 * - Diurnal temperature: Parton & Logan (1981), "A model for diurnal variation in soil and air temperature",
 *   Agric. Meteorol. 23:205–216 — sine by day with the maximum `PL_A` = 1.86 h after solar noon, exponential
 *   decay at night with `PL_B` = 2.2 (their fit for air at 150 cm), minimum at sunrise. The night curve is
 *   normalised so it reaches the next day's minimum exactly (no jump at sunrise).
 * - Sunrise: solar declination δ = −23.44°·cos(2π(doy + 10)/365) and hour angle acos(−tan φ tan δ)
 *   (a cosine form of Cooper 1969); no refraction, so sunrise is ~5 min late.
 * - Defaults (late November; order of magnitude from KNMI De Bilt 1991–2020 November normals, not fitted):
 *   mean 6 °C, mean daily range 4.5 °C (overcast days ~2.5 °C, clear days ~8 °C), mean sea-level pressure 1013 hPa with
 *   synoptic swings of ±6 hPa (sd) over ~2 days. Stadshagen lies ~0 m NAP, so station ≈ sea-level pressure.
 * - Relative humidity from temperature and dew point with the Magnus formula, a = 17.625, b = 243.04 °C
 *   (Alduchov & Eskridge 1996). The dew point follows the day's minimum (a 0.2–1.5 °C depression, small on
 *   clear calm nights: dew and fog) and rises by 0.35 × the diurnal warming (assumption, gives the
 *   ~85–98 % dawn / ~70–80 % afternoon RH typical of a Dutch November).
 * - Pressure tide: semidiurnal S2, 1.16·cos³φ·sin(2θ + 158°) hPa (Haurwitz 1956), ≈ 0.26 hPa at 52.5° N.
 * - PM2.5: regional background 6 µg/m³ (Luchtmeetnet rural/suburban stations in Overijssel, autumn,
 *   order of magnitude), higher at night when the mixing layer is shallow (×1.25) than in the afternoon
 *   (×0.75) and on clear, high-pressure (stagnant) days. Wood-stove / inversion episodes (assumption):
 *   on ~30 % of evenings (more when clear and calm) starting 17–20 h, rising over 1.5 h to +15…60 µg/m³,
 *   then decaying with an e-folding time of 2–5 h; each device sees 0.5–1.5× of it (distance to stoves).
 * - Sensors: BME280 (Bosch datasheet: ±1 °C, ±3 %RH, ±1 hPa absolute; resolution 0.01 °C, 0.008 %RH,
 *   0.0018 hPa) — simulated as per-device offsets sd 0.3 °C, 2 %RH, 0.3 hPa (+ mounting height 0–10 m at
 *   0.12 hPa/m) and per-reading noise sd 0.05 °C, 0.3 %RH, 0.02 hPa. SDS011 (Nova Fitness datasheet:
 *   ±15 %, ±10 µg/m³, 0.3 µg/m³ resolution, reported in 0.1 steps): per-device gain sd 10 %, 5 % + 0.3 µg/m³
 *   per-reading noise, and over-reading in humid air from particle growth (×1.5 at 100 %RH, none below
 *   75 %; cf. Jayaratne et al. 2018, AMT 11:4883, for optical low-cost PM sensors). PM10 = PM2.5 × 1.3…2.0 (device ratio 1.4–1.8 ± 0.1).
 */

export interface ModelOptions {
  seed: number
  latitudeDeg: number
  longitudeDeg: number
  /** Mean air temperature over days, °C. */
  meanTemperatureC: number
  /** Mean daily Tmax − Tmin over days, °C (scaled per day by cloudiness). */
  diurnalRangeC: number
  /** Mean sea-level (≈ station) pressure, hPa. */
  meanPressureHpa: number
  /** Regional PM2.5 background median, µg/m³. */
  pm25BackgroundUgM3: number
  /** Chance of a wood-stove / inversion episode on an average evening, 0…1. */
  episodeProbabilityPerDay: number
  /** Chance that one sensor (BME280 or SDS011) gives no value in one reading (null in the payload), 0…1. */
  sensorFailureRate: number
}

/** Stadshagen, Zwolle (52.53° N, 6.07° E), late November. See the module comment for the sources. */
export const STADSHAGEN_LATE_AUTUMN: Omit<ModelOptions, 'seed'> = {
  latitudeDeg: 52.53,
  longitudeDeg: 6.07,
  meanTemperatureC: 6,
  diurnalRangeC: 4.5,
  meanPressureHpa: 1013,
  pm25BackgroundUgM3: 6,
  episodeProbabilityPerDay: 0.3,
  sensorFailureRate: 0,
}

export function modelOptions(options: Partial<ModelOptions> & { seed: number }): ModelOptions {
  return { ...STADSHAGEN_LATE_AUTUMN, ...options }
}

/** The regional truth at one time (unrounded, no sensor error). */
export interface RegionalTruth {
  airTemperatureC: number
  dewPointC: number
  /** 0…100 %. */
  relativeHumidityPct: number
  airPressureHpa: number
  pm25BackgroundUgM3: number
  /** Extra PM2.5 of the current episode(s) at a device with exposure 1, µg/m³; 0 outside episodes. */
  pm25EpisodeUgM3: number
  /** Today's clear-sky fraction 0 (overcast) … 1 (clear, calm). */
  clearSky: number
}

/** What one simulated device reports: canonical quantity name → value, or null when its sensor failed. */
export interface DeviceReadings {
  air_temperature: number | null
  relative_humidity: number | null
  air_pressure: number | null
  pm2_5: number | null
  pm10: number | null
}

export const SENSOR_MODEL = 'BME280+SDS011'

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const PL_A = 1.86 // h, lag of the maximum after solar noon (Parton & Logan 1981, air at 150 cm)
const PL_B = 2.2 // night decay coefficient (same source)
const MAGNUS_A = 17.625
const MAGNUS_B = 243.04 // °C

// Random streams: each physical process draws from its own stream so adding one never shifts another.
const S = { pressure: 1, tempAnomaly: 2, cloud: 3, dewDepression: 4, dewNoise: 5, pmBackground: 6, episode: 7, device: 8, reading: 9 } as const

/** Device id for index `i`: `sim-000`, `sim-001`, … (prefix configurable). */
export function deviceIdFor(index: number, prefix = 'sim-'): string {
  return `${prefix}${String(index).padStart(3, '0')}`
}

interface DayParams {
  sunrise: number // solar hours
  sunset: number
  tmin: number // °C at sunrise
  tmax: number // °C at solar noon + PL_A
  dewPoint: number // °C at sunrise
  clear: number
}

function synopticPressure(o: ModelOptions, timeMs: number): number {
  return 6 * smoothNoise(o.seed, S.pressure, timeMs, 2 * DAY_MS) // hPa anomaly
}

/** Parameters of solar day `d` (days since 1970-01-01 in local solar time). */
function dayParams(o: ModelOptions, d: number): DayParams {
  const noonMs = d * DAY_MS + 12 * HOUR_MS - o.longitudeDeg * 240_000
  const date = new Date(d * DAY_MS)
  const doy = (d * DAY_MS - Date.UTC(date.getUTCFullYear(), 0, 1)) / DAY_MS + 1
  const rad = Math.PI / 180
  const declination = -23.44 * rad * Math.cos((2 * Math.PI * (doy + 10)) / 365)
  const cosH = -Math.tan(o.latitudeDeg * rad) * Math.tan(declination)
  const dayLength = Math.min(20, Math.max(4, (2 * Math.acos(Math.max(-1, Math.min(1, cosH)))) / rad / 15))
  const clear = clamp(0.3 + synopticPressure(o, noonMs) / 20 + 0.2 * gaussian(o.seed, S.cloud, d), 0, 1)
  const range = o.diurnalRangeC * (0.55 + 1.25 * clear)
  const mean = o.meanTemperatureC + 2 * smoothNoise(o.seed, S.tempAnomaly, noonMs, DAY_MS) - 1.5 * (clear - 0.3)
  const tmin = mean - range / 2
  const depression = 0.2 + 1.3 * (1 - clear) * uniform(o.seed, S.dewDepression, d)
  return { sunrise: 12 - dayLength / 2, sunset: 12 + dayLength / 2, tmin, tmax: mean + range / 2, dewPoint: tmin - depression, clear }
}

/**
 * Temperature at `hour` (solar, may be < 0 or ≥ 24 relative to day `d`'s midnight) on the Parton–Logan curve
 * between `day` and the next day; returns °C and the diurnal warming above the coming minimum (°C).
 */
function partonLogan(day: DayParams, next: DayParams, hour: number): { t: number; warming: number } {
  const y = day.sunset - day.sunrise
  if (hour < day.sunset) {
    const s = Math.sin((Math.PI * (hour - day.sunrise)) / (y + 2 * PL_A))
    return { t: day.tmin + (day.tmax - day.tmin) * s, warming: (day.tmax - day.tmin) * s }
  }
  const tSunset = day.tmin + (day.tmax - day.tmin) * Math.sin((Math.PI * y) / (y + 2 * PL_A))
  const z = 24 + next.sunrise - day.sunset
  const f = (Math.exp((-PL_B * (hour - day.sunset)) / z) - Math.exp(-PL_B)) / (1 - Math.exp(-PL_B))
  return { t: next.tmin + (tSunset - next.tmin) * f, warming: Math.max(0, (tSunset - next.tmin) * f) }
}

/** Extra PM2.5 of the episode that may start on solar day `d`, at `hour` hours after that day's midnight. */
function episodeOf(o: ModelOptions, d: number, clear: number, hour: number): number {
  const draw = keyedRandom(o.seed, S.episode, d)
  if (draw() >= Math.min(0.95, o.episodeProbabilityPerDay * (0.5 + 1.67 * clear))) return 0
  const start = 17 + 3 * draw()
  const peak = 15 + 45 * draw()
  const decayH = 2 + 3 * draw()
  const riseH = 1.5
  const n = hour - start
  if (n <= 0) return 0
  if (n < riseH) return (peak * (1 - Math.cos((Math.PI * n) / riseH))) / 2
  return peak * Math.exp(-(n - riseH) / decayH)
}

/** The regional truth at `timeMs` (epoch ms). */
export function regionalTruth(o: ModelOptions, timeMs: number): RegionalTruth {
  const solarMs = timeMs + o.longitudeDeg * 240_000
  const d = Math.floor(solarMs / DAY_MS)
  const hour = (solarMs - d * DAY_MS) / HOUR_MS
  const prev = dayParams(o, d - 1)
  const today = dayParams(o, d)
  const next = dayParams(o, d + 1)

  const beforeSunrise = hour < today.sunrise
  const { t, warming } = beforeSunrise ? partonLogan(prev, today, hour + 24) : partonLogan(today, next, hour)
  const [from, to, fromH, toH] = beforeSunrise
    ? [prev, today, prev.sunrise - 24, today.sunrise]
    : [today, next, today.sunrise, next.sunrise + 24]
  const baseDew = from.dewPoint + ((to.dewPoint - from.dewPoint) * (hour - fromH)) / (toH - fromH)
  const dewPointC = Math.min(t, baseDew + 0.35 * warming) + 0.4 * smoothNoise(o.seed, S.dewNoise, timeMs, 3 * HOUR_MS)

  const lat = (o.latitudeDeg * Math.PI) / 180
  const tide = 1.16 * Math.cos(lat) ** 3 * Math.sin(((2 * hour * 15 + 158) * Math.PI) / 180)
  const airPressureHpa = o.meanPressureHpa + synopticPressure(o, timeMs) + tide

  const dayRange = Math.max(0.1, today.tmax - today.tmin)
  const mixing = 1.25 - 0.5 * clamp(warming / dayRange, 0, 1)
  const stagnation = 0.8 + 0.8 * today.clear
  const pm25BackgroundUgM3 =
    o.pm25BackgroundUgM3 * Math.exp(0.35 * smoothNoise(o.seed, S.pmBackground, timeMs, DAY_MS)) * mixing * stagnation
  let pm25EpisodeUgM3 = 0
  for (let back = 0; back <= 2; back++) {
    const day = back === 0 ? today : back === 1 ? prev : dayParams(o, d - 2)
    pm25EpisodeUgM3 += episodeOf(o, d - back, day.clear, hour + 24 * back)
  }

  return {
    airTemperatureC: t,
    dewPointC,
    relativeHumidityPct: relativeHumidity(t, dewPointC),
    airPressureHpa,
    pm25BackgroundUgM3,
    pm25EpisodeUgM3,
    clearSky: today.clear,
  }
}

/** Magnus formula (Alduchov & Eskridge 1996): RH in % from air temperature and dew point in °C, clipped 0…100. */
export function relativeHumidity(airTemperatureC: number, dewPointC: number): number {
  const ratio = Math.exp((MAGNUS_A * dewPointC) / (MAGNUS_B + dewPointC) - (MAGNUS_A * airTemperatureC) / (MAGNUS_B + airTemperatureC))
  return clamp(100 * ratio, 0, 100)
}

/** Fixed traits of device `index`: calibration offsets, siting, PM exposure. */
function deviceTraits(o: ModelOptions, index: number) {
  const draw = keyedRandom(o.seed, S.device, index)
  const normal = () => Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw())
  return {
    temperatureOffsetC: 0.3 * normal(),
    humidityOffsetPct: 2 * normal(),
    pressureOffsetHpa: 0.3 * normal() - 0.12 * 10 * draw(), // mounting height 0–10 m
    pmGain: Math.exp(0.1 * normal()),
    episodeExposure: 0.5 + draw(),
    pm10Ratio: 1.4 + 0.4 * draw(),
  }
}

/** Readings of device `index` at `timeMs`, rounded to sensor resolution (0.01 °C/%/hPa, 0.1 µg/m³). */
export function deviceReadings(o: ModelOptions, index: number, timeMs: number): DeviceReadings {
  const truth = regionalTruth(o, timeMs)
  const dev = deviceTraits(o, index)
  const noise = (k: number) => gaussian(o.seed, S.reading, index, timeMs, k)
  const t = truth.airTemperatureC + dev.temperatureOffsetC + 0.05 * noise(1)
  const rh = clamp(relativeHumidity(t, truth.dewPointC) + dev.humidityOffsetPct + 0.3 * noise(2), 0, 100)
  const p = truth.airPressureHpa + dev.pressureOffsetHpa + 0.02 * noise(3)
  const growth = 1 + 0.5 * Math.max(0, (truth.relativeHumidityPct - 75) / 25) ** 2
  const mass = (truth.pm25BackgroundUgM3 + dev.episodeExposure * truth.pm25EpisodeUgM3) * dev.pmGain * growth
  const pm25 = Math.max(0, mass * (1 + 0.05 * noise(4)) + 0.3 * noise(5))
  const pm10 = pm25 * clamp(dev.pm10Ratio + 0.1 * noise(6), 1.3, 2)
  const failed = (k: number) => o.sensorFailureRate > 0 && uniform(o.seed, S.reading, index, timeMs, 100 + k) < o.sensorFailureRate
  const bmeFailed = failed(1)
  const sdsFailed = failed(2)
  return {
    air_temperature: bmeFailed ? null : round(t, 2),
    relative_humidity: bmeFailed ? null : round(rh, 2),
    air_pressure: bmeFailed ? null : round(p, 2),
    pm2_5: sdsFailed ? null : round(pm25, 1),
    pm10: sdsFailed ? null : round(pm10, 1), // rounding is monotonic, so pm10 ≥ pm2_5 survives it
  }
}

/** The native payload v1 (core/native-payload.ts) device `index` publishes at `timeMs`. */
export function simPayload(o: ModelOptions, index: number, timeMs: number, deviceIdPrefix = 'sim-'): NativePayloadV1 {
  return {
    v: 1,
    device: deviceIdFor(index, deviceIdPrefix),
    time: new Date(timeMs).toISOString(),
    sensor: SENSOR_MODEL,
    readings: { ...deviceReadings(o, index, timeMs) },
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}

function round(x: number, decimals: number): number {
  const f = 10 ** decimals
  return Math.round(x * f) / f + 0 // + 0 turns -0 into 0
}
