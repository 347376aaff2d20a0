import { hourlyMeans } from '../../../core/calibration/align.ts'
import { kohlerGrowth } from '../../../core/calibration/methods/kohler.ts'
import type { HourlyValue } from '../../../core/calibration/types.ts'
import type { Reading } from '../../../core/reading.ts'
import { gaussian, prng } from '../../unit/calibration/methods/synthetic.ts'

/**
 * A seeded synthetic PM2.5 fleet with a known truth, for the calibration tests (issue 11 item 7). Nothing here is
 * measured data; every number is chosen to reproduce the errors the audit found:
 *
 * - 21 days, hourly truth from 2026-01-05T00:00Z; readings every 10 min at :05 … :55 (hourly means through
 *   core/calibration/align.ts like the worker).
 * - Regional PM2.5 (µg/m³): 9 + two multi-day episodes (peaks ≈ +14 on day 5, +20 on day 14) + a diurnal
 *   ±3 + AR(1) noise, floored at 2. Each garden's local truth is the regional truth plus its wood smoke.
 * - Relative humidity (%): 74 + 16·cos(2π(h − 4)/24) + noise, kept in [35, 94]; fog in the hours 02–06 UTC of
 *   days 3, 9, 15 and 18 (RH 97–99, 20 hours).
 * - Sensor error: raw = gain(t) · local truth · C(κ_model, RH) · (1 + 5 % noise) + 0.3 µg/m³ noise, with the
 *   κ-Köhler growth C (Crilley et al. 2018) of κ 0.4 for the SDS011-like model and 0.15 for the SPS30-like
 *   one, RH up to 99 % (no ceiling: fog makes readings explode, as in the field).
 * - Devices (within 3 km of Stadshagen 52.53 N 6.06 E unless said): SDS011-like s1–s5 gains 0.7, 0.85, 1.0,
 *   1.15, 1.3; s6 drifts from 1.0 to 1.45 (linear over the 21 days); s7 reads ×10 (gain 10.5); s-far 32 km
 *   away (gain 1.1, no group); SPS30-like p1–p4 gains 0.75, 0.9, 1.0, 1.25. Wood smoke (+ up to 25 µg/m³,
 *   17–22 UTC on 8 evenings) in the gardens of s3 and p3.
 * - Reference station like RIVM NL10818 (52.654 N, 6.018 E, 14 km): regional truth with 3 % and 0.3 µg/m³
 *   noise, rounded to 0.1; reference RH like KNMI 278 U: the fleet's RH rounded to 1 %.
 */

export const HOUR = 3_600_000
export const DAY = 86_400_000
export const FLEET_START = Date.UTC(2026, 0, 5)
export const FLEET_DAYS = 21
export const REFERENCE_LOCATION = { lat: 52.654144, lon: 6.017571 }
export const FOG_DAYS = [3, 9, 15, 18]
export const SMOKE_EVENINGS = [1, 3, 4, 7, 10, 12, 16, 19]

export interface FleetDevice {
  id: string
  sensorModel: 'SDS011' | 'SPS30'
  location: { lat: number; lon: number }
  /** Gain at time t (epoch ms). */
  gain: (t: number) => number
  smoky: boolean
}

const SDS_KAPPA = 0.4
const SPS_KAPPA = 0.15

const at = (dLat: number, dLon: number) => ({ lat: 52.53 + dLat, lon: 6.06 + dLon })
const constant = (g: number) => () => g

export const FLEET: readonly FleetDevice[] = [
  { id: 's1', sensorModel: 'SDS011', location: at(0.005, -0.01), gain: constant(0.7), smoky: false },
  { id: 's2', sensorModel: 'SDS011', location: at(-0.004, 0.012), gain: constant(0.85), smoky: false },
  { id: 's3', sensorModel: 'SDS011', location: at(0.01, 0.005), gain: constant(1.0), smoky: true },
  { id: 's4', sensorModel: 'SDS011', location: at(-0.01, -0.008), gain: constant(1.15), smoky: false },
  { id: 's5', sensorModel: 'SDS011', location: at(0.012, 0.015), gain: constant(1.3), smoky: false },
  { id: 's6', sensorModel: 'SDS011', location: at(-0.012, 0.02), gain: (t) => 1 + (0.45 * (t - FLEET_START)) / (FLEET_DAYS * DAY), smoky: false },
  { id: 's7', sensorModel: 'SDS011', location: at(0.002, 0.002), gain: constant(10.5), smoky: false },
  { id: 's-far', sensorModel: 'SDS011', location: { lat: 52.25, lon: 6.16 }, gain: constant(1.1), smoky: false },
  { id: 'p1', sensorModel: 'SPS30', location: at(0.006, -0.02), gain: constant(0.75), smoky: false },
  { id: 'p2', sensorModel: 'SPS30', location: at(-0.008, 0.004), gain: constant(0.9), smoky: false },
  { id: 'p3', sensorModel: 'SPS30', location: at(0.015, -0.005), gain: constant(1.0), smoky: true },
  { id: 'p4', sensorModel: 'SPS30', location: at(-0.015, -0.015), gain: constant(1.25), smoky: false },
]

export interface PmFleet {
  /** Hour ends, epoch ms. */
  hours: number[]
  regional: Map<number, number>
  rh: Map<number, number>
  /** Per device: its garden's true hourly PM2.5 (regional + smoke). */
  truth: Map<string, Map<number, number>>
  /** Per device: raw readings (10-min). */
  readings: Map<string, Reading[]>
  reference: HourlyValue[]
  humidity: HourlyValue[]
  fogHours: Set<number>
  /** Hour ends with smoke in the smoky gardens. */
  smokeHours: Set<number>
}

/** The fleet for `seed`; `smoke: false` leaves the wood smoke out (same noise otherwise). */
export function pmFleet(seed = 11, options: { smoke?: boolean; devices?: readonly FleetDevice[] } = {}): PmFleet {
  const random = prng(seed)
  const normal = gaussian(random)
  const hours = Array.from({ length: FLEET_DAYS * 24 }, (_, i) => FLEET_START + (i + 1) * HOUR)
  const regional = new Map<number, number>()
  const rh = new Map<number, number>()
  const fogHours = new Set<number>()
  const smokeHours = new Set<number>()
  let ar = 0
  for (const end of hours) {
    const day = (end - HOUR - FLEET_START) / DAY
    const hod = new Date(end - HOUR).getUTCHours()
    ar = 0.9 * ar + 0.8 * normal()
    const episodes = 14 * Math.exp(-(((day - 5) / 1.5) ** 2)) + 20 * Math.exp(-(((day - 14) / 2) ** 2))
    regional.set(end, Math.max(2, 9 + episodes + 3 * Math.sin((2 * Math.PI * (hod - 14)) / 24) + ar))
    const fog = FOG_DAYS.includes(Math.floor(day)) && hod >= 2 && hod <= 6
    if (fog) fogHours.add(end)
    rh.set(end, fog ? 97 + 2 * random() : Math.min(94, Math.max(35, 74 + 16 * Math.cos((2 * Math.PI * (hod - 4)) / 24) + 3 * normal())))
    if (SMOKE_EVENINGS.includes(Math.floor(day)) && hod >= 17 && hod <= 22) smokeHours.add(end)
  }
  const truth = new Map<string, Map<number, number>>()
  const readings = new Map<string, Reading[]>()
  for (const device of options.devices ?? FLEET) {
    const local = new Map<number, number>()
    const list: Reading[] = []
    const kappa = device.sensorModel === 'SDS011' ? SDS_KAPPA : SPS_KAPPA
    for (const end of hours) {
      const hod = new Date(end - HOUR).getUTCHours()
      const smoke = device.smoky && options.smoke !== false && smokeHours.has(end) ? 25 * Math.sin((Math.PI * (hod - 16)) / 7) : 0
      const value = regional.get(end)! + smoke
      local.set(end, value)
      const hourNoise = 1 + 0.05 * normal()
      for (const minutes of [55, 45, 35, 25, 15, 5]) {
        const t = end - minutes * 60_000
        const raw = device.gain(t) * value * kohlerGrowth(kappa, rh.get(end)!, 99.5) * hourNoise * (1 + 0.02 * normal()) + 0.3 * normal()
        list.push(reading(device, t, Math.max(0, Math.round(raw * 10) / 10)))
      }
    }
    truth.set(device.id, local)
    readings.set(device.id, list)
  }
  const reference = hours.map((time) => ({ time, value: Math.max(0, Math.round(regional.get(time)! * (1 + 0.03 * normal()) * 10 + 3 * normal()) / 10), count: 0 }))
  const humidity = hours.map((time) => ({ time, value: Math.round(rh.get(time)!), count: 0 }))
  return { hours, regional, rh, truth, readings, reference, humidity, fogHours, smokeHours }
}

function reading(device: FleetDevice, observedAt: number, value: number): Reading {
  return { deviceId: device.id, quantity: 'pm2_5', value, unit: 'µg/m³', observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'test', sensorModel: device.sensorModel, flags: [] }
}

/** The fleet as a calibration input (hourly means like the worker), with models and positions. */
export function fleetInput(fleet: PmFleet, devices: readonly FleetDevice[] = FLEET) {
  return {
    quantity: 'pm2_5' as const,
    devices: devices.map((d) => ({
      deviceId: d.id,
      sensorModel: d.sensorModel,
      location: d.location,
      hourly: hourlyMeans(fleet.readings.get(d.id)!, { expectedIntervalMs: 600_000 }),
    })),
    reference: fleet.reference,
    humidity: fleet.humidity,
    referenceLocation: REFERENCE_LOCATION,
  }
}
