import { describe, expect, it } from 'vitest'
import { NO2_NOT_COLLOCATED_NOTE, no2Rivm } from '../../../../core/calibration/methods/no2.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { HOUR, START, gaussian, prng, rmse } from './synthetic.ts'

/**
 * An electrochemical NO2 sensor (known truth): raw = 0.8 · local NO2 + baseline, the baseline drifting from 5 to
 * 19 µg/m³ over 28 days. Days 0–6 it stands beside the reference station (local = reference); from day 7 in a
 * garden whose NO2 is the reference's + 8 µg/m³ in the daytime (06–20 UTC) and equal at night.
 */
const DAYS = 28
const noise = gaussian(prng(2))
const hours = Array.from({ length: DAYS * 24 }, (_, i) => START + (i + 1) * HOUR)
const hod = (end: number) => new Date(end - HOUR).getUTCHours()
const reference = new Map(hours.map((end, i) => [end, 12 + 10 * Math.max(0, Math.sin((Math.PI * (hod(end) - 5)) / 14)) + 6 * Math.sin(i / 40) + noise()]))
const moved = START + 7 * 24 * HOUR
const local = new Map(hours.map((end) => [end, reference.get(end)! + (end > moved && hod(end) >= 6 && hod(end) < 20 ? 8 : 0)]))
const raw = new Map(hours.map((end, i) => [end, 0.8 * local.get(end)! + 5 + (14 * i) / hours.length + 0.5 * noise()]))
const series = (m: Map<number, number>) => [...m].map(([time, value]) => ({ time, value, count: 0 }))

const input: CalibrationInput = {
  quantity: 'no2',
  devices: [
    { deviceId: 'kit', hourly: series(raw) },
    { deviceId: 'garden-only', hourly: series(raw) },
    { deviceId: 'short', hourly: series(raw).slice(0, 30) },
  ],
  reference: series(reference),
  collocated: ['kit', 'short'],
}

describe('no2-rivm (start calibration beside the station, then night-time calibration)', () => {
  const model = no2Rivm(input, { collocation: { kit: { from: START, to: moved } } })

  it('start calibration recovers the sensor\'s response over the collocation (b = 1 / 0.8)', () => {
    const c = model.coefficients('kit')
    expect(c.n).toBe(7 * 24)
    expect(c.b).toBeCloseTo(1.25, 1)
    expect(model.methodAt?.('kit', moved)).toBe('no2-rivm')
  })

  it('after the move, the night-time offsets follow the drifting baseline: RMSE below raw and below the start calibration alone', () => {
    const after = hours.filter((t) => t > moved + 7 * 24 * HOUR)
    const startOnly = no2Rivm(input, { collocation: { kit: { from: START, to: moved } }, minNightHours: 1e9 })
    const err = (f: (t: number) => number) => rmse(after.map((t) => [f(t), local.get(t)!]))
    const calibrated = err((t) => model.apply('kit', t, raw.get(t)!)!)
    const withoutNight = err((t) => startOnly.apply('kit', t, raw.get(t)!)!)
    console.log(`NO2 after the move: raw RMSE ${err((t) => raw.get(t)!).toFixed(2)}, start only ${withoutNight.toFixed(2)}, with night-time calibration ${calibrated.toFixed(2)} µg/m³`)
    expect(calibrated).toBeLessThan(err((t) => raw.get(t)!))
    expect(calibrated).toBeLessThan(0.6 * withoutNight)
    expect((model.coefficients('kit').offsets as number[]).length).toBeGreaterThan(15)
  })

  it('a device never beside a station, or too briefly, stays uncalibrated with its reason', () => {
    expect(model.apply('garden-only', moved, 20)).toBeUndefined()
    expect(model.notes('garden-only')).toEqual([NO2_NOT_COLLOCATED_NOTE])
    expect(model.apply('short', moved, 20)).toBeUndefined()
    expect(model.notes('short')).toEqual(['no2_uncalibrated: only 30 hours beside the reference station; the start calibration needs ≥ 72 with a varying signal'])
    expect(model.coefficients('short')).toEqual({ n: 30 })
  })

  it('refuses other quantities and bad options', () => {
    expect(() => no2Rivm({ ...input, quantity: 'pm2_5' })).toThrow('no2-rivm calibrates no2, not pm2_5')
    expect(() => no2Rivm(input, { minPairs: 1 })).toThrow(RangeError)
  })
})
