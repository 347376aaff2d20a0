import { describe, expect, it } from 'vitest'
import { chooseMethod } from '../../../core/calibration/methods/index.ts'
import type { CalibrationInput } from '../../../core/calibration/methods/method.ts'
import { loadConfig } from '../../../core/config.ts'
import { methodOptionsOf } from '../../../services/calibration/calibrator.ts'
import { calibratorOptions } from '../../../services/calibration/main.ts'

/** Three SDS011 devices 2.2–4.4 km apart, 12.8–16.3 km from NL10818 (positions of Stadshagen, Zwolle). */
const input: CalibrationInput = {
  quantity: 'pm2_5',
  devices: [
    { deviceId: 'a', sensorModel: 'SDS011', location: { lat: 52.53, lon: 6.06 }, hourly: [] },
    { deviceId: 'b', sensorModel: 'SDS011', location: { lat: 52.55, lon: 6.06 }, hourly: [] },
    { deviceId: 'c', sensorModel: 'SDS011', location: { lat: 52.53, lon: 6.12 }, hourly: [] },
  ],
  reference: [],
  referenceLocation: { lat: 52.654144, lon: 6.017571 },
}

const notesWith = (env: Record<string, string>) => {
  const options = methodOptionsOf(calibratorOptions(loadConfig(env)))
  // without hourly data every device is also `no_scale`; only the grouping's notes matter here
  return chooseMethod('pm2_5', input, options).notes('a').filter((n) => /^(no_group|reference_far)/.test(n))
}

describe('calibration settings: refit interval and PM grouping (core/config.ts)', () => {
  it('defaults: refit every 24 h, groups within 10 km with the reference within 30 km', () => {
    const { calibration } = loadConfig({})
    expect(calibration.refitHours).toBe(24)
    expect(calibration.pmGroups).toEqual({ radiusKm: 10, maxReferenceKm: 30 })
    expect(notesWith({})).toEqual([])
  })

  it('SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM reaches the grouping: at 3 km device a has 1 companion, too few for a group', () => {
    expect(calibratorOptions(loadConfig({ SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM: '3' })).pmGroups).toEqual({ radiusKm: 3, maxReferenceKm: 30 })
    expect(notesWith({ SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM: '3' })).toEqual(['no_group: 2 device(s) of model SDS011 within 3 km; calibrated by κ-Köhler against the reference'])
  })

  it('SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM reaches the grouping: at 12 km the reference is too far for the group', () => {
    expect(notesWith({ SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM: '12' })).toEqual([expect.stringMatching(/^reference_far: the reference is 13\.\d km from the group; calibrated by κ-Köhler$/)])
    expect(notesWith({ SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM: '14' })).toEqual([])
  })

  it('bad values are refused with the variable named', () => {
    expect(() => loadConfig({ SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM: '0' })).toThrow(/SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM: Too small/)
    expect(() => loadConfig({ SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM: 'far' })).toThrow(/SENSHAGEN_CALIBRATION_REFERENCE_MAX_KM: .*number/)
    expect(() => loadConfig({ SENSHAGEN_CALIBRATION_REFIT_HOURS: '0' })).toThrow(/SENSHAGEN_CALIBRATION_REFIT_HOURS: Too small/)
    expect(() => loadConfig({ SENSHAGEN_CALIBRATION_REFIT_HOURS: '1.5' })).toThrow(/SENSHAGEN_CALIBRATION_REFIT_HOURS: .*expected int/)
  })
})
