import type { HeldOutPair } from '../../../core/calibration/uncertainty.ts'
import { gaussian, prng } from './methods/synthetic.ts'

export { gaussian, prng }

/**
 * A small seeded PM2.5 generator for the uncertainty tests (the full synthetic fleet is
 * test/calibration/synthetic/pm.ts): hourly reference values with a daily cycle and slow episodes, 3–37 µg/m³ (above the group ratio's 1 µg/m³ floor),
 * and a "calibrated sensor" = gain · reference + N(0, noise²). Same seed, same numbers.
 */
export interface PmPairsOptions {
  seed: number
  days: number
  /** Multiplicative error left after calibration (1 = none). */
  gain: number
  /** Standard deviation of the hourly random error, µg/m³. */
  noise: number
  /** First hour's end, epoch ms UTC; default 2026-01-05T01:00Z. */
  start?: number
}

/** Hourly reference PM2.5, µg/m³, for hour i (a daily cycle on top of multi-day episodes). */
export function referencePm(i: number): number {
  return 20 + 6 * Math.sin((2 * Math.PI * i) / 24) + 8 * Math.sin((2 * Math.PI * i) / (24 * 4.5)) + 3 * Math.cos((2 * Math.PI * i) / (24 * 9))
}

/** `days` × 24 hourly pairs of a calibrated sensor and the reference. */
export function pmPairs(options: PmPairsOptions): HeldOutPair[] {
  const gauss = gaussian(prng(options.seed))
  const start = options.start ?? Date.UTC(2026, 0, 5, 1)
  return Array.from({ length: options.days * 24 }, (_, i) => {
    const reference = referencePm(i)
    return { time: start + i * 3_600_000, reference, calibrated: Math.max(0, options.gain * reference + options.noise * gauss()) }
  })
}
