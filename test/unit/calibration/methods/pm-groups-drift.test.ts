import { describe, expect, it } from 'vitest'
import { detectDrift, theilSen } from '../../../../core/calibration/methods/drift.ts'
import { pmGroups } from '../../../../core/calibration/methods/pm-groups.ts'
import type { CalibrationInput } from '../../../../core/calibration/methods/method.ts'
import { deviceSite } from '../../../../services/calibration/group.ts'
import type { DeviceRecord } from '../../../../core/registry/store.ts'

const at = (lat: number, lon: number) => ({ lat, lon })

describe('pmGroups: same model within 10 km, reference within 30 km', () => {
  const device = (deviceId: string, sensorModel?: string, location?: { lat: number; lon: number }) => ({
    deviceId,
    hourly: [],
    ...(sensorModel ? { sensorModel } : {}),
    ...(location ? { location } : {}),
  })
  const input: CalibrationInput = {
    quantity: 'pm2_5',
    devices: [
      device('a', 'SDS011', at(52.53, 6.06)),
      device('b', 'SDS011', at(52.56, 6.1)), // 4.2 km from a
      device('c', 'SPS30', at(52.53, 6.06)),
      device('d', 'SDS011', at(52.25, 6.16)), // 31.9 km from a
      device('e'),
      device('f'),
    ],
    reference: [],
    referenceLocation: at(52.654144, 6.017571), // NL10818
  }

  it('splits by model and distance; devices without model or place form one group', () => {
    const groups = pmGroups(input)
    expect(groups.map((g) => [g.id, g.deviceIds, g.referenceNear])).toEqual([
      ['SDS011#1', ['a', 'b'], true],
      ['SDS011#2', ['d'], false],
      ['SPS30#1', ['c'], true],
      ['unknown#1', ['e', 'f'], true],
    ])
    expect(groups[2]!.referenceKm).toBeCloseTo(14.1, 1) // Stadshagen to NL10818: 14.1 km (research §1)
    expect(groups[3]!.referenceKm).toBeUndefined()
    expect(pmGroups(input, { radiusKm: 50 }).map((g) => g.deviceIds)).toEqual([['a', 'b', 'd'], ['c'], ['e', 'f']])
    expect(pmGroups(input, { radiusKm: 3 }).map((g) => g.deviceIds)[0]).toEqual(['a'])
  })
})

describe('detectDrift (Theil–Sen of ln(device/group) per day)', () => {
  it('theilSen is the median of pairwise slopes and resists one wild point', () => {
    expect(theilSen([[0, 0], [1, 1], [2, 2], [3, 3], [4, 40]])).toBe(1) // six slopes of 1 among ten
    expect(() => theilSen([[1, 1]])).toThrow(/two points/)
  })

  const ratios = (perDay: (day: number) => number, days = 21) =>
    Array.from({ length: days * 24 }, (_, i) => ({ time: (i + 1) * 3_600_000, ratio: perDay(i / 24) }))

  it('a ratio growing 2 %/day drifts (+32 % per 14 days); a flat one does not; < 7 days has no verdict', () => {
    const growing = detectDrift(ratios((d) => Math.exp(0.02 * d)))
    expect(growing.drifting).toBe(true)
    expect(growing.change).toBeCloseTo(Math.exp(0.28) - 1, 2)
    expect(detectDrift(ratios(() => 1.2))).toMatchObject({ drifting: false, change: 0, days: 21 })
    expect(detectDrift(ratios(() => 1, 6)).drifting).toBeUndefined()
    expect(detectDrift(ratios((d) => Math.exp(0.005 * d))).drifting).toBe(false) // 7 % per 14 days < 10 %
    expect(detectDrift(ratios((d) => Math.exp(0.005 * d)), { threshold: 0.05 }).drifting).toBe(true)
  })
})

describe('deviceSite: PM model and position from the registry', () => {
  const record = (sensorModels: string[], location?: { lat: number; lon: number }) => ({ sensorModels, ...(location ? { location } : {}) }) as DeviceRecord
  it('picks the first known PM sensor (case-insensitive prefix), and the exact position', () => {
    expect(deviceSite(record(['BME280', 'sds011-v2', 'SPS30'], at(52.5, 6)))).toEqual({ sensorModel: 'SDS011', location: at(52.5, 6) })
    expect(deviceSite(record(['BME280']))).toEqual({})
    expect(deviceSite(undefined)).toEqual({})
  })
})
