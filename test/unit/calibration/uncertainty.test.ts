import { describe, expect, it } from 'vitest'
import { heldOutHourly, heldOutPairs } from '../../../core/calibration/held-out.ts'
import { linearCollocated } from '../../../core/calibration/methods/linear.ts'
import type { CalibrationInput, CalibrationModel } from '../../../core/calibration/methods/method.ts'
import {
  DATA_QUALITY_OBJECTIVES,
  assessUncertainty,
  assignLabel,
  betweenSamplerUncertainty,
  dailyPairs,
  dataCapture,
  expandedUncertaintyAt,
  gdeUncertainty,
  readingUncertainty,
  rmseExpandedUncertainty,
} from '../../../core/calibration/uncertainty.ts'
import { pmPairs } from './synthetic-pm.ts'

const HOUR = 3_600_000
const START = Date.UTC(2026, 0, 5)

describe('GDE 2010 9.5 expanded uncertainty', () => {
  it('matches a worked example computed by hand', () => {
    // reference x = 10 20 30 40 50, candidate y = 13 21 31 43 52; x̄ = 30, ȳ = 32
    // Sxx = 1000, Syy = 1004, Sxy = 1000 (sums of squares about the means)
    // orthogonal slope b = (Syy − Sxx + sqrt((Syy − Sxx)² + 4 Sxy²)) / (2 Sxy) = (4 + sqrt(4 000 016)) / 2000 = 1.002002
    // intercept a = ȳ − b x̄ = 32 − 30.06006 = 1.93994
    // residuals y − a − b x = 1.03986, −0.98034, −0.99954, 0.98026, −0.03994 → RSS = 4.004008, RSS/(n − 2) = 1.334669
    // at LV = 25: bias a + (b − 1)·25 = 1.98999; u_c = sqrt(1.334669 + 1.98999²) = 2.301028; U = 4.602056; W = 18.41 %
    const u = gdeUncertainty([13, 21, 31, 43, 52], [10, 20, 30, 40, 50], 25)
    expect(u.n).toBe(5)
    expect(u.slope).toBeCloseTo(1.002002, 6)
    expect(u.intercept).toBeCloseTo(1.93994, 5)
    expect(u.rss).toBeCloseTo(4.004008, 5)
    expect(u.randomVariance).toBeCloseTo(1.334669, 5)
    expect(u.biasAt).toBeCloseTo(1.98999, 5)
    expect(u.standardUncertainty).toBeCloseTo(2.301028, 5)
    expect(u.expandedUncertainty).toBeCloseTo(4.602056, 5)
    expect(u.relativeExpandedUncertainty).toBeCloseTo(0.184082, 5)
    // u(x_i) = 0.5 comes off the random term: sqrt(1.334669 − 0.25 + 1.98999²) = 2.246048 → W = 17.97 %
    expect(gdeUncertainty([13, 21, 31, 43, 52], [10, 20, 30, 40, 50], 25, 0.5).relativeExpandedUncertainty).toBeCloseTo(0.179684, 5)
    // per reading at 50: 2·sqrt(1.334669 + (1.93994 + 0.002002·50)²) = 2·sqrt(1.334669 + 2.04004²) = 2·sqrt(5.496432) = 4.688894
    expect(expandedUncertaintyAt(u, 50)).toBeCloseTo(4.688894, 5)
  })

  it('refuses bad input with the rule broken', () => {
    expect(() => gdeUncertainty([1, 2], [1, 2], 25)).toThrow('at least 3 pairs')
    expect(() => gdeUncertainty([1, 2, 3], [1, 2], 25)).toThrow('as many candidate as reference')
    expect(() => gdeUncertainty([1, Number.NaN, 3], [1, 2, 3], 25)).toThrow('candidate value 1 (NaN)')
    expect(() => gdeUncertainty([1, 2, 3], [1, 2, 4], 0)).toThrow('concentration > 0')
  })

  it('RMSE-based uncertainty, between-sampler spread and data capture', () => {
    // errors 0.5, −0.5, 1, −1 → RMSE = sqrt((0.25 + 0.25 + 1 + 1) / 4) = 0.790569 → U = 1.581139 °C
    expect(rmseExpandedUncertainty([10.5, 11.5, 13, 12], [10, 12, 12, 13])).toBeCloseTo(1.581139, 5)
    // two devices: differences 1, −2, 1 → Σd² / (2n) = 6 / 6 = 1 → u_bs = 1 (GDE 9.5.3.1)
    expect(betweenSamplerUncertainty([[10, 11], [12, 10], [7, 8]])).toBeCloseTo(1, 10)
    // three devices at one time: 1, 2, 6 → Σ(y − 3)² = 4 + 1 + 9 = 14 over 2 degrees of freedom → sqrt(7)
    expect(betweenSamplerUncertainty([[1, 2, 6], [5]])).toBeCloseTo(Math.sqrt(7), 10)
    expect(betweenSamplerUncertainty([[5]])).toBeUndefined()
    expect(dataCapture(648, 720)).toBe(0.9)
    expect(() => dataCapture(5, 0)).toThrow('expected > 0')
  })
})

describe('labels', () => {
  const pm = DATA_QUALITY_OBJECTIVES.pm2_5!
  it('indicative only where W ≤ 50 % and capture ≥ 90 %, with the reason otherwise', () => {
    expect(assignLabel(pm, 0.5, 0.9)).toBe('indicative')
    const reasons: string[] = []
    expect(assignLabel(pm, 0.51, 0.95, reasons)).toBe('experimental')
    expect(reasons).toEqual(['uncertainty_above_objective: W = 51 % > 50 % at 25'])
    const capture: string[] = []
    expect(assignLabel(pm, 0.2, 0.89, capture)).toBe('experimental')
    expect(capture).toEqual(['data_capture_low: 89 % < 90 %'])
    expect(assignLabel(pm, null, 1)).toBe('experimental')
    expect(assignLabel(DATA_QUALITY_OBJECTIVES.no2!, 0.3, 1)).toBe('experimental') // NO2: 25 %
  })

  it('PM: daily held-out means of a good sensor are indicative, a noisy one experimental; T/RH are experimental with U in °C', () => {
    const good = assessUncertainty('pm2_5', pmPairs({ seed: 1, days: 21, gain: 1.02, noise: 2 }), 0.97)
    expect(good.label).toBe('indicative')
    expect(good.averaging).toBe('day')
    expect(good.n).toBe(21)
    expect(good.relativeExpandedUncertainty!).toBeLessThan(0.5)
    const noisy = assessUncertainty('pm2_5', pmPairs({ seed: 2, days: 21, gain: 1.8, noise: 4 }), 0.97)
    expect(noisy.label).toBe('experimental')
    expect(noisy.reasons[0]).toMatch(/^uncertainty_above_objective: W = \d+(\.\d)? % > 50 % at 25$/)
    const short = assessUncertainty('pm2_5', pmPairs({ seed: 3, days: 5, gain: 1, noise: 1 }), 1)
    expect(short.label).toBe('experimental')
    expect(short.reasons[0]).toBe('too_few_pairs: 5 held-out daily means, an uncertainty needs 10')
    const t = assessUncertainty('air_temperature', [10.5, 11.5, 13, 12, 10.5, 11.5, 13, 12, 10.5, 11.5].map((c, i) => ({ time: START + i * HOUR, calibrated: c, reference: [10, 12, 12, 13][i % 4]! })), 1)
    expect(t.label).toBe('experimental')
    // errors 0.5 −0.5 1 −1 0.5 −0.5 1 −1 0.5 −0.5: mean square (6·0.25 + 4·1) / 10 = 0.55 → U = 2·sqrt(0.55) = 1.483240
    expect(t.expandedUncertainty).toBeCloseTo(1.48324, 5)
    expect(readingUncertainty(t, 20)).toBeCloseTo(1.48324, 5)
    expect(readingUncertainty(good, 25)).toBeGreaterThan(0)
  })

  it('daily means need 18 paired hours (2008/50/EC Annex XI)', () => {
    const hours = Array.from({ length: 24 + 17 }, (_, i) => ({ time: START + (i + 1) * HOUR, calibrated: i < 24 ? 10 : 30, reference: 8 }))
    expect(dailyPairs(hours)).toEqual([{ time: START, calibrated: 10, reference: 8 }])
  })
})

describe('held-out evaluation', () => {
  // 21 days of hourly values of one collocated device reading 1.5 × the reference + 2
  const reference = Array.from({ length: 21 * 24 }, (_, i) => ({ time: START + (i + 1) * HOUR, value: 10 + 8 * Math.sin(i / 5) + (i % 7), count: 0 }))
  const device = (f: (r: number, i: number) => number) => reference.map((r, i) => ({ time: r.time, value: f(r.value, i), count: 12 }))
  const input = (f: (r: number, i: number) => number): CalibrationInput => ({ quantity: 'pm2_5', devices: [{ deviceId: 'a', hourly: device(f) }], reference, collocated: ['a'] })

  /** A "method" that memorises the reference of every hour it was fitted on and passes other hours through. */
  const memorise = (i: CalibrationInput): CalibrationModel => {
    const seen = new Set(i.devices[0]!.hourly.map((h) => h.time))
    const ref = new Map(i.reference.map((r) => [r.time, r.value]))
    return { method: 'memorise', version: '1', apply: (_d, t, v) => (seen.has(t) ? ref.get(t) : v), coefficients: () => ({}), notes: () => [] }
  }

  it('is really held out: a model perfect on its own data is not perfect on the held-out hours', () => {
    const fleet = input((r) => 1.5 * r + 2)
    const inSample = memorise(fleet)
    expect(fleet.devices[0]!.hourly.every((h) => inSample.apply('a', h.time, h.value) === reference.find((r) => r.time === h.time)!.value)).toBe(true)
    const rows = heldOutHourly(fleet, memorise).get('a')!
    expect(rows).toHaveLength(21 * 24) // every hour predicted once, by a fit without its block
    expect(rows.every((r) => r.calibrated === r.raw)).toBe(true) // none of them from the memory
    const assessed = assessUncertainty('pm2_5', heldOutPairs(rows), 1)
    expect(assessed.label).toBe('experimental')
    expect(assessed.gde!.slope).toBeCloseTo(1.5, 6)
  })

  it('a linear calibration of a stable sensor holds on held-out weeks; a sensor whose gain changes in week 3 does not', () => {
    const stable = heldOutHourly(input((r) => 1.5 * r + 2), (i) => linearCollocated(i)).get('a')!
    expect(stable).toHaveLength(21 * 24)
    for (const r of stable) expect(r.calibrated).toBeCloseTo(r.reference!, 6)
    const drifting = heldOutHourly(input((r, i) => (i < 14 * 24 ? 1.5 : 2.5) * r), (i) => linearCollocated(i)).get('a')!
    const week3 = drifting.filter((r) => r.time > START + 14 * 24 * HOUR)
    // fitted on weeks 1–2 (gain 1.5), week 3 reads 2.5 × reference: calibrated = 2.5 r / 1.5 = 1.667 r
    for (const r of week3) expect(r.calibrated / r.reference!).toBeCloseTo(2.5 / 1.5, 6)
    expect(() => heldOutHourly(input((r) => r), memorise, { folds: 1 })).toThrow('folds must be an integer ≥ 2')
  })
})
