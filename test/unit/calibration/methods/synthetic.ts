import { hourlyMeans } from '../../../../core/calibration/align.ts'
import type { HourlyValue } from '../../../../core/calibration/types.ts'
import type { Quantity } from '../../../../core/quantities.ts'
import type { Reading } from '../../../../core/reading.ts'

/**
 * Seeded synthetic data for the calibration-method tests, where the truth is known. Readings every 10 minutes
 * at :05, :15, …, :55 (never on the hour boundary), so each falls unambiguously in the hour ending at the next
 * full hour; hourly means through core/calibration/align.ts like the worker.
 */

export const HOUR = 3_600_000
export const START = Date.UTC(2024, 0, 1) // hour ends from START + 1 h

/** mulberry32 (Tommy Ettinger, public domain): a small seeded PRNG returning [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal from a uniform PRNG (Box–Muller). */
export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

export function reading(deviceId: string, quantity: Quantity, observedAt: number, value: number): Reading {
  return { deviceId, quantity, value, unit: '', observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'test', flags: [] }
}

/** Reading times of the hour ending at `end`: end − 55 min, …, end − 5 min. */
export function readingTimes(end: number): number[] {
  return [55, 45, 35, 25, 15, 5].map((m) => end - m * 60_000)
}

export function hourly(readings: Reading[]): HourlyValue[] {
  return hourlyMeans(readings, { expectedIntervalMs: 600_000 })
}

export function rmse(pairs: Array<[number, number]>): number {
  return Math.sqrt(pairs.reduce((s, [a, b]) => s + (a - b) ** 2, 0) / pairs.length)
}

export interface PmScenario {
  hours: number[]
  truth: Map<number, number>
  rh: Map<number, number>
  readings: Map<string, Reading[]>
  gains: number[]
}

/**
 * PM2.5: truth per hour 3…21 µg/m³, RH per hour ≈ 55–95 % (humid at night), `devices` sensors with gain
 * 0.9…1.1 and raw = truth × gain × (1 + 2·(RH/100)^4) × (1 + 0.03·N(0, 1)), over `days` days.
 */
export function pmScenario(seed: number, devices: number, days: number): PmScenario {
  const noise = gaussian(prng(seed))
  const gains = Array.from({ length: devices }, (_, i) => (devices === 1 ? 1 : 0.9 + (0.2 * i) / (devices - 1)))
  const hours = Array.from({ length: days * 24 }, (_, i) => START + (i + 1) * HOUR)
  const truth = new Map<number, number>()
  const rh = new Map<number, number>()
  hours.forEach((end, i) => {
    truth.set(end, 12 + 6 * Math.sin((2 * Math.PI * i) / 53) + 3 * Math.sin((2 * Math.PI * i) / 17))
    const hod = new Date(end - HOUR).getUTCHours()
    rh.set(end, Math.min(98, Math.max(30, 75 + 20 * Math.cos((2 * Math.PI * (hod - 4)) / 24) + 2 * noise())))
  })
  const readings = new Map<string, Reading[]>()
  gains.forEach((gain, d) => {
    const list: Reading[] = []
    for (const end of hours) {
      const growth = 1 + 2 * ((rh.get(end) as number) / 100) ** 4
      for (const t of readingTimes(end)) list.push(reading(`pm-${d}`, 'pm2_5', t, (truth.get(end) as number) * gain * growth * (1 + 0.03 * noise())))
    }
    readings.set(`pm-${d}`, list)
  })
  return { hours, truth, rh, readings, gains }
}

export function series(map: Map<number, number>): HourlyValue[] {
  return [...map].map(([time, value]) => ({ time, value, count: 0 }))
}

/** Air temperature truth at `t` (°C): 12 + 5·sin diurnal (peak ≈ 15 UTC) + 2·sin(day / 5 days). */
export function temperatureTruth(t: number): number {
  const hod = (t % 86_400_000) / HOUR
  return 12 + 5 * Math.sin((2 * Math.PI * (hod - 9)) / 24) + 2 * Math.sin((2 * Math.PI * (t - START)) / (5 * 86_400_000))
}
