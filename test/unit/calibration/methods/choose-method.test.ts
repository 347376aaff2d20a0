import { describe, expect, it } from 'vitest'
import { METHODS, chooseMethod, isMethodName } from '../../../../core/calibration/methods/index.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { HOUR, START } from './synthetic.ts'

const times = Array.from({ length: 48 }, (_, i) => START + (i + 1) * HOUR)
const sensor = (i: number) => 5 + 20 * Math.abs(Math.sin(i / 3))
const pm: CalibrationInput = {
  quantity: 'pm2_5',
  devices: ['a', 'b', 'c', 'station'].map((deviceId) => ({ deviceId, hourly: times.map((time, i) => ({ time, value: sensor(i), count: 6 })) })),
  reference: times.map((time, i) => ({ time, value: 1 + 0.5 * sensor(i), count: 0 })),
  humidity: times.map((time) => ({ time, value: 70, count: 0 })),
}

describe('chooseMethod', () => {
  it('PM: group ratio with the Köhler fallback', () => {
    const choice = chooseMethod('pm2_5', pm)
    expect(choice.method).toBe('pm-group-ratio')
    expect(choice.models.map((m) => m.method)).toEqual(['pm-group-ratio'])
    expect(choice.methodAt('a', times[0] as number)).toBe('pm-group-ratio')
    expect(choice.apply('a', times[0] as number, sensor(0))).toBeCloseTo(1 + 0.5 * sensor(0), 12)
  })

  it('PM: collocated devices get their own κ-Köhler fit with gain (humidity given), else a linear fit; the others the group ratio', () => {
    const choice = chooseMethod('pm2_5', { ...pm, collocated: ['station'] })
    expect(choice.modelFor('station').method).toBe('pm-kohler')
    expect(choice.modelFor('a').method).toBe('pm-group-ratio')
    expect(choice.methodAt('station', times[0] as number)).toBe('pm-kohler')
    expect(choice.coefficients('station')).toMatchObject({ kappa_fitted: 1, fit_hours: 48 })
    expect(choice.models.map((m) => m.method)).toEqual(['pm-kohler', 'pm-group-ratio'])
    const linear = chooseMethod('pm2_5', { ...pm, humidity: undefined, collocated: ['station'] })
    expect(linear.modelFor('station').method).toBe('linear-collocated')
    expect(linear.coefficients('station').b).toBeCloseTo(0.5, 12)
    expect(linear.apply('station', 0, 10)).toBeCloseTo(6, 12)
  })

  it('NO2: no2-rivm; a device never beside a station stays uncalibrated and says why', () => {
    const choice = chooseMethod('no2', { ...pm, quantity: 'no2' })
    expect(choice.method).toBe('no2-rivm')
    expect(choice.apply('a', times[0] as number, 10)).toBeUndefined()
    expect(choice.notes('a')).toEqual([expect.stringMatching(/^no2_uncalibrated: no start calibration beside a reference station/)])
  })

  it('temperature and humidity: radiation-offset, also for a collocated device', () => {
    const t = { ...pm, quantity: 'air_temperature' as const, humidity: undefined, collocated: ['station'] }
    expect(chooseMethod('air_temperature', t).method).toBe('radiation-offset')
    expect(chooseMethod('relative_humidity', { ...t, quantity: 'relative_humidity' }).modelFor('station').method).toBe('radiation-offset')
  })

  it('throws for other quantities and a quantity that is not the input’s', () => {
    expect(() => chooseMethod('air_pressure', { ...pm, quantity: 'air_pressure' })).toThrow('no calibration method for air_pressure')
    expect(() => chooseMethod('pm10', pm)).toThrow(/input is pm2_5/)
  })

  it('registry: every method builds a model reporting its own name and version (pm-group-ratio 3, pm-kohler 2: issue 11)', () => {
    const inputs: Record<string, CalibrationInput> = {
      'pm-group-ratio': pm,
      'pm-kohler': pm,
      'linear-collocated': { ...pm, collocated: ['station'] },
      'radiation-offset': { ...pm, quantity: 'air_temperature' },
      'no2-rivm': { ...pm, quantity: 'no2' },
    }
    for (const [name, method] of Object.entries(METHODS)) {
      const model = method(inputs[name] as CalibrationInput)
      expect(model.method).toBe(name)
      expect(model.version).toBe({ 'pm-group-ratio': '3', 'pm-kohler': '2' }[name] ?? '1')
      expect(isMethodName(name)).toBe(true)
    }
    expect(isMethodName('toString')).toBe(false)
  })
})
