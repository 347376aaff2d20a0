import { describe, expect, it } from 'vitest'
import { hourOfDayBias } from '../../../../core/calibration/methods/hour-of-day-bias.ts'
import { type CalibrationInput, hourOfDay } from '../../../../core/calibration/methods/method.ts'
import type { Reading } from '../../../../core/reading.ts'
import { HOUR, START, gaussian, hourly, prng, reading, readingTimes, rmse, temperatureTruth } from './synthetic.ts'

const DAYS = 14
const hours = Array.from({ length: DAYS * 24 }, (_, i) => START + (i + 1) * HOUR)
const noise = gaussian(prng(42))

/** Readings of one device: value = f(t) at :05…:55 of every hour. */
function device(deviceId: string, f: (t: number) => number): Reading[] {
  return hours.flatMap((end) => readingTimes(end).map((t) => reading(deviceId, 'air_temperature', t, f(t))))
}

const sunBias = (t: number) => {
  const h = new Date(t).getUTCHours()
  return h >= 8 && h <= 16 ? 2 : 0
}
const devices = {
  sunny: device('sunny', (t) => temperatureTruth(t) + sunBias(t) + 0.1 * noise()),
  good: device('good', (t) => temperatureTruth(t) + 0.3 + 0.1 * noise()),
  indoor: device('indoor', () => 20 + 0.2 * noise()),
  drifting: device('drifting', (t) => temperatureTruth(t) + ((t - START) / 86_400_000) * 0.15 + 0.1 * noise()),
}
// reference: KNMI-like hourly values; here the hourly mean of the truth, so the only bias is the sensor's
const reference = hours.map((end) => ({ time: end, value: readingTimes(end).reduce((s, t) => s + temperatureTruth(t), 0) / 6, count: 0 }))
const input: CalibrationInput = {
  quantity: 'air_temperature',
  devices: Object.entries(devices).map(([deviceId, readings]) => ({ deviceId, hourly: hourly(readings) })),
  reference,
}

describe('hour-of-day-bias', () => {
  it('uses the UTC hour the hour starts in', () => {
    expect(hourOfDay(Date.UTC(2024, 0, 1, 9))).toBe(8) // hour ending 09:00 = 08:00–09:00
    expect(hourOfDay(Date.UTC(2024, 0, 2, 0))).toBe(23)
  })

  it('removes a +2 °C daytime bias (8–16 UTC): RMSE after ≤ 0.5 × before, and flags sun_exposed', () => {
    const model = hourOfDayBias(input)
    const before: Array<[number, number]> = []
    const after: Array<[number, number]> = []
    for (const r of devices.sunny) {
      before.push([r.value, temperatureTruth(r.observedAt)])
      after.push([model.apply('sunny', r.observedAt, r.value) as number, temperatureTruth(r.observedAt)])
    }
    expect(rmse(after)).toBeLessThanOrEqual(0.5 * rmse(before))
    expect(rmse(after)).toBeLessThan(0.2)
    const { hours_of_day, bias } = model.coefficients('sunny') as Record<string, number[]>
    expect(hours_of_day).toEqual(Array.from({ length: 24 }, (_, h) => h))
    expect(bias?.[12]).toBeCloseTo(2, 1)
    expect(bias?.[3]).toBeCloseTo(0, 1)
    expect(model.notes('sunny')).toEqual(['sun_exposed'])
    expect(model.coefficients('sunny').day_night_bias).toBeCloseTo(2, 1)
  })

  it('calibrates a reading with the bias of its own hour', () => {
    const model = hourOfDayBias(input)
    const bias = (model.coefficients('sunny').bias as number[])
    const day = Date.UTC(2024, 0, 5)
    expect(model.apply('sunny', day + 8 * HOUR + 30 * 60_000, 20)).toBeCloseTo(20 - (bias[8] as number), 12)
    expect(model.apply('sunny', day + 9 * HOUR, 20)).toBeCloseTo(20 - (bias[8] as number), 12) // 09:00:00 ends hour 8
    expect(model.apply('sunny', day + 9 * HOUR + 1, 20)).toBeCloseTo(20 - (bias[9] as number), 12)
  })

  it('flags a flat indoor-like series as indoor (and unreliable), a drifting one as drifting, a good one not at all', () => {
    const model = hourOfDayBias(input)
    expect(model.notes('indoor')).toEqual(expect.arrayContaining(['indoor', 'unreliable']))
    expect(model.notes('indoor')).not.toContain('sun_exposed')
    expect(model.notes('drifting')).toEqual(['drifting'])
    expect(model.coefficients('drifting').drift_per_7_days).toBeCloseTo(1.05, 1)
    expect(model.notes('good')).toEqual([])
    expect(model.coefficients('good').r).toBeGreaterThan(0.99)
  })

  it('cannot calibrate an hour of day seen on fewer than 3 days, nor an unknown device', () => {
    const short = hourOfDayBias({ ...input, devices: [{ deviceId: 'x', hourly: reference.slice(0, 26).map((h) => ({ ...h, value: h.value + 1 })) }] })
    expect(short.coefficients('x').hours_of_day).toEqual([])
    expect(short.apply('x', reference[0]?.time as number, 10)).toBeUndefined()
    expect(short.notes('x')).toEqual([]) // 26 pairs: assessed, r = 1, no drift assessment with 2 days
    const two = hourOfDayBias({ ...input, devices: [{ deviceId: 'x', hourly: reference.slice(0, 26).map((h) => ({ ...h, value: h.value + 1 })) }] }, { minDaysPerHour: 1 })
    expect(two.apply('x', reference[0]?.time as number, 10)).toBeCloseTo(9, 12)
    expect(hourOfDayBias(input).apply('nobody', reference[0]?.time as number, 10)).toBeUndefined()
  })

  it('clamps calibrated relative humidity to [0, 100] %', () => {
    const rhHours = hours.slice(0, 72)
    const model = hourOfDayBias({
      quantity: 'relative_humidity',
      devices: [{ deviceId: 'rh', hourly: rhHours.map((time) => ({ time, value: 91, count: 6 })) }],
      reference: rhHours.map((time) => ({ time, value: 95, count: 0 })),
    })
    expect(model.apply('rh', rhHours[5] as number, 99)).toBe(100)
    expect(model.apply('rh', rhHours[5] as number, 80)).toBe(84)
    expect(model.notes('rh')).toEqual(['unreliable']) // a constant series has no correlation
  })

  it('refuses other quantities', () => {
    expect(() => hourOfDayBias({ ...input, quantity: 'pm2_5' })).toThrow(/air_temperature and relative_humidity, not pm2_5/)
  })
})
