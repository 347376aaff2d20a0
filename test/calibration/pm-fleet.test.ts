import { linearRegression, mean } from 'simple-statistics'
import { beforeAll, describe, expect, it } from 'vitest'
import { assessDevices } from '../../core/calibration/assess.ts'
import { gdeUncertainty } from '../../core/calibration/uncertainty.ts'
import { pmGroupRatio } from '../../core/calibration/methods/group-ratio.ts'
import type { CalibrationInput, CalibrationModel } from '../../core/calibration/methods/method.ts'
import { DAY, FLEET, FLEET_DAYS, FLEET_START, HOUR, fleetInput, pmFleet, type PmFleet } from './synthetic/pm.ts'

/**
 * Issue 11 items 2 and 7 (PM): the calibration of a synthetic fleet with a known truth (./synthetic/pm.ts),
 * judged against each garden's true PM2.5. Per-device numbers are printed (console.table) for the report.
 */

interface DeviceScore {
  device: string
  rawRmse: number
  calRmse: number
  /** Calibrated RMSE over the hours without the `humid` flag. */
  calRmseDry: number
  /** OLS slope of calibrated on truth, hours without the `humid` flag. */
  slope: number
  /** Same over every hour. */
  slopeAll: number
  /** Daily means: relative RMSE against the truth. */
  dailyRelRmse: number
  /** GDE 2010 expanded relative uncertainty of daily means at 25 µg/m³ (see reu). */
  reu: number
}

const hourEnd = (t: number) => Math.ceil(t / HOUR) * HOUR
const rmse = (pairs: Array<[number, number]>) => Math.sqrt(mean(pairs.map(([a, b]) => (a - b) ** 2)))

/**
 * Expanded relative uncertainty of calibrated daily means against the true daily means at the PM2.5 limit
 * value, by the product's GDE 2010 §9.5 implementation (core/calibration/uncertainty.ts gdeUncertainty, LV 25
 * µg/m³ daily, EU 2024/2881; u(x) = 0 as the truth is exact).
 */
function reu(daily: Array<[number, number]>, lv = 25): number {
  return gdeUncertainty(daily.map(([c]) => c), daily.map(([, t]) => t), lv).relativeExpandedUncertainty
}

function score(fleet: PmFleet, model: CalibrationModel, device: string): DeviceScore {
  const truth = fleet.truth.get(device)!
  const hours = new Map<number, { raw: number[]; cal: number[]; humid: boolean }>()
  for (const r of fleet.readings.get(device)!) {
    const value = model.apply(device, r.observedAt, r.value)
    expect(value, `${device} at ${new Date(r.observedAt).toISOString()}`).toBeDefined()
    const end = hourEnd(r.observedAt)
    const h = hours.get(end) ?? hours.set(end, { raw: [], cal: [], humid: false }).get(end)!
    h.raw.push(r.value)
    h.cal.push(value!)
    h.humid ||= (model.flagsAt?.(device, r.observedAt) ?? []).includes('humid')
  }
  const rows = [...hours].map(([end, h]) => ({ end, truth: truth.get(end)!, raw: mean(h.raw), cal: mean(h.cal), humid: h.humid }))
  const days = new Map<number, Array<{ truth: number; cal: number }>>()
  for (const row of rows) {
    const day = Math.floor((row.end - 1 - FLEET_START) / DAY)
    days.set(day, [...(days.get(day) ?? []), row])
  }
  const daily = [...days.values()].map((list) => [mean(list.map((r) => r.cal)), mean(list.map((r) => r.truth))] as [number, number])
  const dry = rows.filter((r) => !r.humid)
  return {
    device,
    rawRmse: rmse(rows.map((r) => [r.raw, r.truth])),
    calRmse: rmse(rows.map((r) => [r.cal, r.truth])),
    calRmseDry: rmse(dry.map((r) => [r.cal, r.truth])),
    slope: linearRegression(dry.map((r) => [r.truth, r.cal])).m,
    slopeAll: linearRegression(rows.map((r) => [r.truth, r.cal])).m,
    dailyRelRmse: rmse(daily) / mean(daily.map(([, t]) => t)),
    reu: reu(daily),
  }
}

/**
 * The label each device earns on held-out data against the reference (seed 11; W in this run 6–38 %): s6
 * drifts 1.0 → 1.45, so a scale fitted on the other two weeks misses its held-out week (W ≈ 65 %) and it is
 * `experimental`; s7 (×10) has its own gain corrected, so it is `indicative` like the rest.
 */
const EXPECTED_LABELS: Record<string, string> = {
  s1: 'indicative', s2: 'indicative', s3: 'indicative', s4: 'indicative', s5: 'indicative', s6: 'experimental', s7: 'indicative',
  's-far': 'indicative', p1: 'indicative', p2: 'indicative', p3: 'indicative', p4: 'indicative',
}

describe('PM2.5 on the synthetic fleet (12 devices, 2 models, 21 days; seed 11)', () => {
  const fleet = pmFleet(11)
  const input: CalibrationInput = fleetInput(fleet)
  let model: CalibrationModel
  let scores: Map<string, DeviceScore>

  beforeAll(() => {
    model = pmGroupRatio(input)
    scores = new Map(FLEET.map((d) => [d.id, score(fleet, model, d.id)]))
    console.table([...scores.values()].map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(3)) : v]))))
  })

  it('calibrated RMSE against the garden truth is at most the raw RMSE for every device', () => {
    for (const s of scores.values()) expect(s.calRmse, s.device).toBeLessThanOrEqual(s.rawRmse)
  })

  it('every device but the ×10 one ends with a slope against the truth within 0.8–1.25 (the ×10 sensor pulls nobody)', () => {
    for (const s of scores.values()) if (s.device !== 's7') expect(s.slope, s.device).toBeGreaterThanOrEqual(0.8), expect(s.slope, s.device).toBeLessThanOrEqual(1.25)
    expect(model.notes('s7')).toEqual([expect.stringMatching(/^gain_outlier: reads \d+\.\d\d× its group at RH < 70 %/)])
    expect(model.coefficients('s7').scale).toBeGreaterThan(5)
    expect(model.coefficients('s7').gain_outlier).toBe(1)
    expect(FLEET.filter((d) => d.id !== 's7').map((d) => model.coefficients(d.id).gain_outlier)).toEqual(FLEET.slice(1).map(() => 0))
  })

  it('mixed models do not bias each other: each model\'s mean slope is within 0.95–1.05, in separate groups', () => {
    for (const model_ of ['SDS011', 'SPS30']) {
      const ids = FLEET.filter((d) => d.sensorModel === model_ && d.id !== 's7' && d.id !== 's-far').map((d) => d.id)
      expect(mean(ids.map((id) => scores.get(id)!.slope)), model_).toBeGreaterThan(0.95)
      expect(mean(ids.map((id) => scores.get(id)!.slope)), model_).toBeLessThan(1.05)
    }
    expect(model.coefficients('s1').group_size).toBe(7)
    expect(model.coefficients('p1').group_size).toBe(4)
    expect(model.coefficients('s1').factors).not.toEqual(model.coefficients('p1').factors)
  })

  it('flags `humid` in every fog hour, and only where RH ≥ 95 % or the factor was clipped', () => {
    const rh = new Map(fleet.humidity.map((h) => [h.time, h.value]))
    for (const device of ['s1', 'p2', 's-far']) {
      const clipped = new Set<number>()
      const c = model.coefficients(device)
      const factors = c.factors as number[]
      ;(c.factor_times as number[]).forEach((t, i) => (factors[i] === c.clip_max || factors[i] === c.clip_min) && clipped.add(t))
      const flagged = fleet.hours.filter((end) => model.flagsAt!(device, end - 30 * 60_000).includes('humid'))
      for (const fog of fleet.fogHours) expect(flagged, `${device} fog hour ${new Date(fog).toISOString()}`).toContain(fog)
      for (const end of flagged) expect(rh.get(end)! >= 95 || clipped.has(end), `${device} ${new Date(end).toISOString()}`).toBe(true)
    }
  })

  it('detects the drifting sensor (s6) and no other', () => {
    expect(model.coefficients('s6').drifting).toBe(1)
    expect(model.coefficients('s6').drift_change_14d).toBeGreaterThan(0.2)
    expect(model.notes('s6').some((n) => n.startsWith('drift: '))).toBe(true)
    for (const d of FLEET) if (d.id !== 's6' && d.id !== 's-far') expect(model.coefficients(d.id).drifting, d.id).toBe(0)
  })

  it('a device 32 km away has no group and falls back to κ-Köhler with a fitted gain', () => {
    expect(model.notes('s-far')).toEqual([expect.stringMatching(/^no_group: 1 device\(s\) of model SDS011 within 10 km/), expect.stringMatching(/^reference_far: the reference is 46\.0 km/)])
    expect(model.methodAt!('s-far', fleet.hours[30]! - 1)).toBe('pm-kohler')
    expect(model.coefficients('s-far').kappa_fitted).toBe(1)
    expect(model.methodAt!('s1', fleet.hours[30]! - 1)).toBe('pm-group-ratio')
  })

  it('the κ-Köhler fallback with a gain leaves no RH-dependent residual (audit: +17 % at RH 40–60 %, −26 % at 90–95 %)', () => {
    const rh = new Map(fleet.humidity.map((h) => [h.time, h.value]))
    const truth = fleet.truth.get('s-far')!
    const bin = (lo: number, hi: number) => {
      const ratios = fleet.readings.get('s-far')!.filter((r) => rh.get(hourEnd(r.observedAt))! >= lo && rh.get(hourEnd(r.observedAt))! < hi)
        .map((r) => model.apply('s-far', r.observedAt, r.value)! / truth.get(hourEnd(r.observedAt))!)
      expect(ratios.length, `RH ${lo}–${hi}`).toBeGreaterThan(60)
      return ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!
    }
    const dry = bin(40, 60)
    const humid = bin(90, 95)
    console.log(`s-far calibrated/truth medians: RH 40–60 % ${dry.toFixed(3)}, RH 90–95 % ${humid.toFixed(3)}`)
    expect(Math.abs(dry - 1)).toBeLessThan(0.05)
    expect(Math.abs(humid - 1)).toBeLessThan(0.05)
  })

  it('daily means: the GDE 2010 REU at 25 µg/m³ against the truth is ≤ 50 % for every device with gain 0.7–1.3', () => {
    // s7 (gain 10.5) and s6 (drifting to 1.45) are outside 0.7–1.3; s6 is asserted too, it stays within
    for (const s of scores.values()) if (s.device !== 's7') expect(s.reu, s.device).toBeLessThanOrEqual(0.5)
  })

  it('labels from held-out data (core/calibration/assess.ts): indicative exactly where W ≤ 50 % and capture ≥ 90 %', () => {
    const assessed = assessDevices(input, (i) => pmGroupRatio(i), { from: FLEET_START, to: FLEET_START + FLEET_DAYS * DAY })
    const rows = FLEET.map(({ id }) => {
      const u = assessed.get(id)!.uncertainty
      return { device: id, label: u.label, W: u.relativeExpandedUncertainty, capture: u.dataCapture, n: u.n }
    })
    console.table(rows)
    for (const r of rows) {
      expect(r.n, r.device).toBe(FLEET_DAYS)
      expect(r.label, r.device).toBe(r.W !== null && r.W <= 0.5 && r.capture >= 0.9 ? 'indicative' : 'experimental')
    }
    expect(Object.fromEntries(rows.map((r) => [r.device, r.label]))).toEqual(EXPECTED_LABELS)
  })
})

describe('local wood smoke in two gardens does not shift the others', () => {
  it('the other devices\' calibrated values in smoke hours move < 2 % with and without the smoke', () => {
    const withSmoke = pmFleet(11)
    const without = pmFleet(11, { smoke: false })
    const a = pmGroupRatio(fleetInput(withSmoke))
    const b = pmGroupRatio(fleetInput(without))
    const shifts: number[] = []
    const levels: number[] = []
    for (const d of FLEET) {
      if (d.smoky) continue
      for (const r of withSmoke.readings.get(d.id)!) {
        if (!withSmoke.smokeHours.has(hourEnd(r.observedAt))) continue
        shifts.push(a.apply(d.id, r.observedAt, r.value)! - b.apply(d.id, r.observedAt, r.value)!)
        levels.push(b.apply(d.id, r.observedAt, r.value)!)
      }
    }
    expect(shifts.length).toBeGreaterThan(400)
    console.log(`smoke hours: mean shift ${mean(shifts).toFixed(3)} µg/m³ at a mean level ${mean(levels).toFixed(2)}`)
    expect(Math.abs(mean(shifts))).toBeLessThan(0.02 * mean(levels))
    // the RIVM mean of the group (the old default) lets the smoke through: that is what the median prevents
    const old = pmGroupRatio(fleetInput(withSmoke), { statistic: 'mean', outlierRatio: 1e9 })
    const oldShift = mean(FLEET.filter((d) => !d.smoky).flatMap((d) => withSmoke.readings.get(d.id)!.filter((r) => withSmoke.smokeHours.has(hourEnd(r.observedAt))).map((r) => old.apply(d.id, r.observedAt, r.value)! - b.apply(d.id, r.observedAt, r.value)!)))
    expect(oldShift).toBeLessThan(-Math.abs(mean(shifts)))
  })
})
