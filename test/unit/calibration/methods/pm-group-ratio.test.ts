import { describe, expect, it } from 'vitest'
import { groupFactors, pmGroupRatio } from '../../../../core/calibration/methods/group-ratio.ts'
import { kohlerGrowth } from '../../../../core/calibration/methods/kohler.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { HOUR, START, hourly, pmScenario, rmse, series } from './synthetic.ts'

const T = START + 10 * HOUR // a constructed hour, ending at T

function oneHour(values: number[], reference: number, humidity?: number): CalibrationInput {
  return {
    quantity: 'pm2_5',
    devices: values.map((value, i) => ({ deviceId: `d${i}`, hourly: [{ time: T, value, count: 6 }] })),
    reference: [{ time: T, value: reference, count: 0 }],
    ...(humidity === undefined ? {} : { humidity: [{ time: T, value: humidity, count: 0 }] }),
  }
}

describe('pm-group-ratio on a constructed hour', () => {
  it('f = median of the group / reference, calibrated = raw / f (one hour: too few for a scale, so scale 1)', () => {
    const model = pmGroupRatio(oneHour([10, 12, 14, 16, 18], 7))
    expect(model.coefficients('d0')).toMatchObject({ factor_times: [T], factors: [2], clipped_hours: 0, statistic: 1, scale: 1 })
    expect(model.notes('d0')).toEqual([expect.stringMatching(/^no_scale: fewer than 12 hours/)])
    expect(model.apply('d2', T - 30 * 60_000, 14)).toBe(7)
    expect(model.apply('d4', T - 30 * 60_000, 18)).toBe(9)
    expect(model.methodAt?.('d0', T - 1)).toBe('pm-group-ratio')
  })

  it('calibrates each reading with its own hour: (T − 1 h, T]', () => {
    const model = pmGroupRatio(oneHour([10, 12, 14, 16, 18], 7))
    expect(model.apply('d0', T, 14)).toBe(7)
    expect(model.apply('d0', T - HOUR + 1, 14)).toBe(7)
    expect(model.apply('d0', T - HOUR, 14)).toBeUndefined() // belongs to the hour before
    expect(model.apply('d0', T + 1, 14)).toBeUndefined()
  })

  it('the median (default) resists one faulty sensor; a value beyond ×/÷ 2 of the median is left out of any statistic', () => {
    const input = oneHour([10, 12, 14, 16, 100], 7)
    expect(groupFactors(input)[0]).toMatchObject({ factor: 13 / 7, groupSize: 4 }) // median of 10, 12, 14, 16
    expect(groupFactors(input, { statistic: 'mean' })[0]?.factor).toBeCloseTo(13 / 7, 12)
    expect(groupFactors(input, { statistic: 'mean', outlierRatio: 1e9 })[0]?.factor).toBeCloseTo(30.4 / 7, 12) // RIVM's mean, unguarded
    expect(groupFactors(oneHour([10, 12, 14, 16, 26], 7), { statistic: 'trimmed-mean' })[0]?.factor).toBeCloseTo(14 / 7, 12) // drops 10 and 26
  })

  it('clips f to [0.2, 5] and gives no factor below 1 µg/m³ or with fewer than 3 devices', () => {
    const clipped = pmGroupRatio(oneHour([100, 100, 100], 1))
    expect(clipped.coefficients('d0')).toMatchObject({ factors: [5], clipped_hours: 1 })
    expect(clipped.apply('d0', T, 100)).toBe(20)
    expect(groupFactors(oneHour([0.1, 0.1, 0.1], 10))[0]?.factor).toBe(0.2)
    expect(groupFactors(oneHour([10, 12, 14], 0.5))).toEqual([])
    expect(groupFactors(oneHour([10, 12], 7))).toEqual([])
    expect(pmGroupRatio(oneHour([10, 12], 7)).apply('d0', T, 10)).toBeUndefined() // no humidity, no fallback
    expect(groupFactors(oneHour([10, 12], 7), { minGroupSize: 2 })[0]?.factor).toBeCloseTo(11 / 7, 12)
  })

  it('falls back to κ-Köhler with the default κ when the group is too small and humidity is given', () => {
    const model = pmGroupRatio(oneHour([10, 12], 7, 80))
    expect(model.methodAt?.('d0', T)).toBe('pm-kohler')
    expect(model.apply('d0', T, 10)).toBeCloseTo(10 / kohlerGrowth(0.3, 80), 12)
    expect(model.coefficients('d0')).toMatchObject({ factors: [], gain: 1, kappa: 0.3, kappa_fitted: 0, fallback_times: [T] })
    expect(model.notes('d0')).toEqual([expect.stringMatching(/^no_group: 2 device\(s\) of model unknown within 10 km/), 'kappa_default'])
    expect(pmGroupRatio(oneHour([10, 12], 7, 80), { fallback: false }).apply('d0', T, 10)).toBeUndefined()
  })

  it('refuses other quantities, bad options and series off the hourly grid', () => {
    expect(() => pmGroupRatio({ ...oneHour([1, 2, 3], 2), quantity: 'air_temperature' })).toThrow(/pm2_5 and pm10, not air_temperature/)
    expect(() => pmGroupRatio(oneHour([1, 2, 3], 2), { clip: [5, 0.2] })).toThrow(RangeError)
    expect(() => pmGroupRatio(oneHour([1, 2, 3], 2), { minGroupSize: 0 })).toThrow(RangeError)
    expect(() => pmGroupRatio({ ...oneHour([1, 2, 3], 2), reference: [{ time: T + 1, value: 2, count: 0 }] })).toThrow(/not the end of a whole UTC hour/)
  })
})

describe('pm-group-ratio on synthetic humidity-biased sensors (seeded)', () => {
  function input(devices: number) {
    const scenario = pmScenario(20240101, devices, 21)
    const calibrationInput: CalibrationInput = {
      quantity: 'pm2_5',
      devices: [...scenario.readings].map(([deviceId, readings]) => ({ deviceId, hourly: hourly(readings) })),
      reference: series(scenario.truth),
      humidity: series(scenario.rh),
    }
    return { scenario, calibrationInput }
  }

  function errors(scenario: ReturnType<typeof pmScenario>, calibrate: (deviceId: string, t: number, v: number) => number | undefined) {
    const before: Array<[number, number]> = []
    const after: Array<[number, number]> = []
    for (const [deviceId, readings] of scenario.readings) {
      for (const r of readings) {
        const truth = scenario.truth.get(Math.ceil(r.observedAt / HOUR) * HOUR) as number
        before.push([r.value, truth])
        const value = calibrate(deviceId, r.observedAt, r.value)
        expect(value, `${deviceId} at ${r.observedAt}`).toBeDefined()
        after.push([value as number, truth])
      }
    }
    return { before: rmse(before), after: rmse(after) }
  }

  it('5 devices: the group ratio at least halves the RMSE against the truth', () => {
    const { scenario, calibrationInput } = input(5)
    const model = pmGroupRatio(calibrationInput)
    expect((model.coefficients('pm-0').factors as number[]).length).toBe(scenario.hours.length)
    expect(model.coefficients('pm-0').fallback_times).toEqual([])
    const { before, after } = errors(scenario, model.apply)
    expect(after).toBeLessThanOrEqual(0.5 * before)
    expect(after).toBeLessThan(0.1 * before) // gains ±10 % remain, the humidity growth is gone
  })

  it('a factor equals the median of the devices\' scaled hourly means over the truth for that hour', () => {
    const { scenario, calibrationInput } = input(5)
    const hour = scenario.hours[100] as number
    const model = pmGroupRatio(calibrationInput)
    const scaled = calibrationInput.devices.map((d) => {
      const { scale_days, scales } = model.coefficients(d.deviceId) as Record<string, number[]>
      const scale = scales![scale_days!.indexOf(Math.floor((hour - 1) / 86_400_000) * 86_400_000)]!
      return (d.hourly.find((h) => h.time === hour)?.value as number) / scale
    })
    const { factor_times, factors } = model.coefficients('pm-0') as Record<string, number[]>
    const expected = scaled.sort((a, b) => a - b)[2]! / (scenario.truth.get(hour) as number)
    expect(factors?.[factor_times?.indexOf(hour) as number]).toBeCloseTo(expected, 12)
  })

  it('corrects each device\'s own gain (0.9…1.1): calibrated/truth medians within 2 % of 1 for every device', () => {
    const { scenario, calibrationInput } = input(5)
    const model = pmGroupRatio(calibrationInput)
    for (const [deviceId, readings] of scenario.readings) {
      const ratios = readings.map((r) => (model.apply(deviceId, r.observedAt, r.value) as number) / (scenario.truth.get(Math.ceil(r.observedAt / HOUR) * HOUR) as number))
      const median = ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)] as number
      expect(Math.abs(median - 1), deviceId).toBeLessThan(0.02)
    }
  })

  it('2 devices: every hour falls back to κ-Köhler with a fitted κ, and the error still drops', () => {
    const { scenario, calibrationInput } = input(2)
    const model = pmGroupRatio(calibrationInput)
    const coefficients = model.coefficients('pm-1')
    expect(coefficients.factors).toEqual([])
    expect(coefficients.fallback_times).toEqual(scenario.hours)
    expect(coefficients.kappa_fitted).toBe(1)
    expect(coefficients.kappa).toBeGreaterThan(0)
    expect(coefficients.kappa).toBeLessThanOrEqual(1)
    for (const hour of scenario.hours) expect(model.methodAt?.('pm-1', hour - 1)).toBe('pm-kohler')
    const t = scenario.hours[5] as number
    expect(model.apply('pm-1', t, 20)).toBeCloseTo(((coefficients.gain as number) * 20) / kohlerGrowth(coefficients.kappa as number, scenario.rh.get(t) as number), 12)
    const { before, after } = errors(scenario, model.apply)
    expect(after).toBeLessThan(0.5 * before)
  })
})
