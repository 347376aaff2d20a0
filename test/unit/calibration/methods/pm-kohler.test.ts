import { describe, expect, it } from 'vitest'
import { DEFAULT_KAPPA, fitKappa, kohlerGrowth, pmKohler } from '../../../../core/calibration/methods/kohler.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { HOUR, START, gaussian, prng } from './synthetic.ts'

describe('kohlerGrowth (Crilley et al. 2018, eq. 6)', () => {
  it('matches the known values for κ = 0.3 to 1e-6', () => {
    expect(Math.abs(kohlerGrowth(0.3, 50) - 1.181818)).toBeLessThan(1e-6)
    expect(Math.abs(kohlerGrowth(0.3, 80) - 1.727273)).toBeLessThan(1e-6)
    expect(Math.abs(kohlerGrowth(0.3, 90) - 2.636364)).toBeLessThan(1e-6)
    expect(Math.abs(kohlerGrowth(0.3, 95) - 4.454545)).toBeLessThan(1e-6)
  })

  it('clamps RH to [0, 95] %, is 1 for dry air or κ = 0, and refuses non-finite input', () => {
    expect(kohlerGrowth(0.3, 99)).toBe(kohlerGrowth(0.3, 95))
    expect(kohlerGrowth(0.3, 120)).toBe(kohlerGrowth(0.3, 95))
    expect(kohlerGrowth(0.3, 0)).toBe(1)
    expect(kohlerGrowth(0.3, -5)).toBe(1)
    expect(kohlerGrowth(0, 90)).toBe(1)
    expect(() => kohlerGrowth(Number.NaN, 50)).toThrow(RangeError)
  })
})

describe('fitKappa', () => {
  const random = gaussian(prng(7))
  const hours = Array.from({ length: 200 }, (_, i) => {
    const rh = 40 + 55 * ((i * 37) % 100) / 100
    const reference = 5 + 20 * ((i * 53) % 100) / 100
    return { rh, reference, raw: reference * kohlerGrowth(0.42, rh) }
  })

  it('recovers κ and gain on noiseless data; hours above 95 % RH are left out of the fit', () => {
    const fit = fitKappa(hours)
    expect(fit.fitted).toBe(true)
    expect(fit.gain).toBeCloseTo(1, 6)
    expect(fitKappa(hours.map((h) => ({ ...h, raw: h.raw * 0.8 })), { maxRh: 90 })).toMatchObject({ hours: hours.filter((h) => h.rh <= 90).length })
    expect(fitKappa(hours.map((h) => ({ ...h, raw: h.raw * 0.8 })), { maxRh: 90 }).gain).toBeCloseTo(1.25, 6)
    expect(fit.hours).toBe(200)
    expect(fit.kappa).toBeCloseTo(0.42, 6)
  })

  it('stays close with 5 % noise and keeps κ within [0, 1]', () => {
    expect(fitKappa(hours.map((h) => ({ ...h, raw: h.raw * (1 + 0.05 * random()) }))).kappa).toBeCloseTo(0.42, 1)
    const tenfold = fitKappa(hours.map((h) => ({ ...h, raw: h.raw * 10 })))
    expect(tenfold.kappa).toBeCloseTo(0.42, 6) // the gain takes the ×10, κ stays (issue 11: κ no longer absorbs gain)
    expect(tenfold.gain).toBeCloseTo(0.1, 6)
    const dry = fitKappa(hours.map((h) => ({ ...h, raw: h.reference / 2 })))
    expect(dry.kappa).toBe(0)
    expect(dry.gain).toBeCloseTo(2, 6)
  })

  it('uses the default κ with fewer than 24 hours', () => {
    expect(fitKappa(hours.slice(0, 23))).toEqual({ kappa: DEFAULT_KAPPA, gain: 1, fitted: false, hours: 23 })
    expect(fitKappa(hours.slice(0, 5), { minFitHours: 5 }).fitted).toBe(true)
  })
})

describe('pm-kohler model', () => {
  const times = Array.from({ length: 48 }, (_, i) => START + (i + 1) * HOUR)
  const rh = (i: number) => 50 + 45 * Math.abs(Math.sin(i / 5))
  const ref = (i: number) => 8 + (i % 7)
  const input: CalibrationInput = {
    quantity: 'pm10',
    devices: [
      { deviceId: 'a', hourly: times.map((time, i) => ({ time, value: ref(i) * kohlerGrowth(0.6, rh(i)), count: 6 })) },
      { deviceId: 'short', hourly: times.slice(0, 10).map((time, i) => ({ time, value: ref(i) * 2, count: 6 })) },
    ],
    reference: times.map((time, i) => ({ time, value: ref(i), count: 0 })),
    humidity: times.slice(0, 40).map((time, i) => ({ time, value: rh(i), count: 0 })),
  }

  it('fits κ per device, calibrates with the humidity of the reading’s hour', () => {
    const model = pmKohler(input)
    expect(model.method).toBe('pm-kohler')
    expect(model.coefficients('a')).toMatchObject({ kappa_fitted: 1, fit_hours: 40, max_rh: 95 })
    expect(model.coefficients('a').kappa).toBeCloseTo(0.6, 6)
    expect(model.apply('a', (times[3] as number) - 20 * 60_000, ref(3) * kohlerGrowth(0.6, rh(3)))).toBeCloseTo(ref(3), 9)
    expect(model.notes('a')).toEqual([])
  })

  it('defaults κ for devices it cannot fit and cannot calibrate hours without humidity', () => {
    const model = pmKohler(input)
    expect(model.coefficients('short')).toMatchObject({ gain: 1, kappa: 0.3, kappa_fitted: 0, fit_hours: 10 })
    expect(model.notes('short')).toEqual(['kappa_default'])
    expect(model.notes('unknown')).toEqual(['kappa_default'])
    expect(model.apply('a', times[45] as number, 10)).toBeUndefined()
    expect(model.methodAt?.('a', times[45] as number)).toBeUndefined()
    expect(pmKohler(input, { fit: false }).coefficients('a').kappa).toBe(0.3)
  })

  it('refuses non-PM quantities, missing humidity and bad options', () => {
    expect(() => pmKohler({ ...input, quantity: 'no2' })).toThrow(/not no2/)
    expect(() => pmKohler({ ...input, humidity: undefined })).toThrow(/humidity/)
    expect(() => pmKohler(input, { defaultKappa: 2 })).toThrow(RangeError)
  })
})
