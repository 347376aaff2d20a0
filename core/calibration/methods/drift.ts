import { median } from 'simple-statistics'
import { DAY_MS } from './method.ts'

/**
 * Drift of a PM sensor against its group: the trend of the device/group ratio over time.
 *
 * The ratio is the device's raw hourly mean over its group's robust level in the same hour, at RH < 70 % (see
 * ./group-ratio.ts); its daily medians (days with ≥ `minHoursPerDay` ratios) are regressed on time in days by
 * Theil–Sen (Theil 1950; Sen 1968, J. Am. Stat. Assoc. 63, 1379: the median of all pairwise slopes, robust to
 * up to 29 % outlying days) on ln(ratio), so the slope is a relative change per day. The change over
 * `periodDays` (default 14, the window of issue 11) is exp(slope · 14) − 1; beyond ±`threshold` (default 10 %,
 * ours: five times the spread of the estimate on a 21-day synthetic fleet with 5 % hourly noise) the device is
 * drifting. Fewer than `minDays` daily ratios (default 7) give no verdict.
 * simple-statistics has no Theil–Sen, so it is written here (median of pairwise slopes, O(days²)).
 */

export interface DriftOptions {
  /** Relative change over `periodDays` above which a device drifts; default 0.1 (10 %). */
  threshold?: number
  /** Period the change is expressed over, days; default 14. */
  periodDays?: number
  /** Minimum daily ratios for a verdict; default 7. */
  minDays?: number
  /** Minimum hourly ratios for a day to count; default 4. */
  minHoursPerDay?: number
}

export interface DriftResult {
  /** Daily ratios used. */
  days: number
  /** Theil–Sen slope of ln(ratio) per day; NaN without a verdict. */
  slopePerDay: number
  /** exp(slope · periodDays) − 1; NaN without a verdict. */
  change: number
  /** Undefined when there were too few days to tell. */
  drifting: boolean | undefined
}

/** Drift of one device from its hourly ratios `{ time (epoch ms), ratio (> 0) }` (see the module comment). */
export function detectDrift(ratios: ReadonlyArray<{ time: number; ratio: number }>, options: DriftOptions = {}): DriftResult {
  const threshold = options.threshold ?? 0.1
  const periodDays = options.periodDays ?? 14
  const byDay = new Map<number, number[]>()
  for (const { time, ratio } of ratios) {
    if (!(ratio > 0)) continue
    const day = Math.floor((time - 1) / DAY_MS)
    const list = byDay.get(day)
    if (list) list.push(Math.log(ratio))
    else byDay.set(day, [Math.log(ratio)])
  }
  const points = [...byDay].filter(([, v]) => v.length >= (options.minHoursPerDay ?? 4)).map(([day, v]) => [day, median(v)] as const)
  if (points.length < (options.minDays ?? 7)) return { days: points.length, slopePerDay: Number.NaN, change: Number.NaN, drifting: undefined }
  const slopePerDay = theilSen(points)
  const change = Math.exp(slopePerDay * periodDays) - 1
  return { days: points.length, slopePerDay, change, drifting: Math.abs(change) > threshold }
}

/** Theil–Sen slope: median of (y_j − y_i) / (x_j − x_i) over all pairs with x_i < x_j. Needs ≥ 2 distinct x. */
export function theilSen(points: ReadonlyArray<readonly [number, number]>): number {
  const slopes: number[] = []
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const [xi, yi] = points[i]!
      const [xj, yj] = points[j]!
      if (xi !== xj) slopes.push((yj - yi) / (xj - xi))
    }
  }
  if (slopes.length === 0) throw new Error('theilSen needs at least two points with different x')
  return median(slopes)
}
