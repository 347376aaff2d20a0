import { describe, expect, it } from 'vitest'
import { linearCollocated } from '../../../../core/calibration/methods/linear.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { HOUR, START } from './synthetic.ts'

const times = Array.from({ length: 48 }, (_, i) => START + (i + 1) * HOUR)
const sensor = (i: number) => 5 + 20 * Math.abs(Math.sin(i / 3)) + (i % 5)

function input(extra: Partial<CalibrationInput> = {}): CalibrationInput {
  return {
    quantity: 'pm2_5',
    devices: [
      { deviceId: 'at-station', hourly: times.map((time, i) => ({ time, value: sensor(i), count: 6 })) },
      { deviceId: 'elsewhere', hourly: times.map((time, i) => ({ time, value: sensor(i), count: 6 })) },
      { deviceId: 'brief', hourly: times.slice(0, 10).map((time, i) => ({ time, value: sensor(i), count: 6 })) },
    ],
    reference: times.map((time, i) => ({ time, value: 1 + 0.5 * sensor(i), count: 0 })),
    collocated: ['at-station', 'brief'],
    ...extra,
  }
}

describe('linear-collocated', () => {
  it('recovers a = 1, b = 0.5 exactly on noiseless data', () => {
    const model = linearCollocated(input())
    const { a, b, n } = model.coefficients('at-station') as Record<string, number>
    expect(a).toBeCloseTo(1, 12)
    expect(b).toBeCloseTo(0.5, 12)
    expect(n).toBe(48)
    expect(model.apply('at-station', times[0] as number, 10)).toBeCloseTo(6, 12)
    expect(model.notes('at-station')).toEqual([])
    expect(model.methodAt?.('at-station', 0)).toBe('linear-collocated')
  })

  it('leaves devices that are not collocated or have too few pairs uncalibrated, with a note', () => {
    const model = linearCollocated(input())
    expect(model.apply('elsewhere', times[0] as number, 10)).toBeUndefined()
    expect(model.notes('elsewhere')).toEqual(['not_collocated'])
    expect(model.coefficients('brief')).toEqual({ n: 10 })
    expect(model.notes('brief')).toEqual(['insufficient_pairs'])
    expect(linearCollocated(input(), { minPairs: 10 }).coefficients('brief').b).toBeCloseTo(0.5, 12)
  })

  it('clamps to the physical range: calibrated PM is never negative', () => {
    const model = linearCollocated(input({ reference: times.map((time, i) => ({ time, value: -4 + 0.5 * sensor(i), count: 0 })) }))
    expect(model.apply('at-station', times[0] as number, 2)).toBe(0)
  })

  it('does not fit a constant sensor', () => {
    const flat = input({ devices: [{ deviceId: 'at-station', hourly: times.map((time) => ({ time, value: 3, count: 6 })) }] })
    expect(linearCollocated(flat).notes('at-station')).toEqual(['insufficient_pairs'])
  })
})
