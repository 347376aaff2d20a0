import { describe, expect, it } from 'vitest'
import { groupFactors, pmGroupRatio } from '../../../core/calibration/methods/group-ratio.ts'
import { chooseMethod } from '../../../core/calibration/methods/index.ts'
import type { CalibrationInput } from '../../../core/calibration/methods/method.ts'
import type { DeviceRecord } from '../../../core/registry/store.ts'
import { calibratedDevices, calibrationGroup, calibrationRole } from '../../../services/calibration/group.ts'

const T = Date.UTC(2026, 0, 12, 10) // end of a constructed hour

function record(id: string, consent: boolean, revokedAt?: number): DeviceRecord {
  return {
    id,
    format: 'native',
    nativeId: id,
    neighbourhood: 'stadshagen',
    coarsen: 'grid',
    consent,
    sensorModels: [],
    createdAt: 0,
    updatedAt: 0,
    ...(revokedAt === undefined ? {} : { revokedAt }),
  }
}

/** One hour, reference 6 µg/m³: devices a, b, c (10, 12, 14) and the non-member x with `x`. */
function input(x: number, groupMembers?: string[]): CalibrationInput {
  return {
    quantity: 'pm2_5',
    devices: [
      { deviceId: 'a', hourly: [{ time: T, value: 10, count: 12 }] },
      { deviceId: 'b', hourly: [{ time: T, value: 12, count: 12 }] },
      { deviceId: 'c', hourly: [{ time: T, value: 14, count: 12 }] },
      { deviceId: 'x', hourly: [{ time: T, value: x, count: 12 }] },
    ],
    reference: [{ time: T, value: 6, count: 0 }],
    ...(groupMembers === undefined ? {} : { groupMembers }),
  }
}

describe('calibration roles from the registry', () => {
  it('member = registered, active, consented; calibrated-only = no consent; revoked and unregistered are out', () => {
    expect(calibrationRole(record('a', true))).toBe('member')
    expect(calibrationRole(record('a', false))).toBe('calibrated-only')
    expect(calibrationRole(record('a', true, 1))).toBe('revoked')
    expect(calibrationRole(record('a', false, 1))).toBe('revoked')
    expect(calibrationRole(undefined)).toBe('unregistered')
  })

  it('splits the devices with data, sorted, ignoring registered devices without data', () => {
    const registry = [record('m-2', true), record('m-1', true), record('p-1', false), record('r-1', true, 5), record('idle', true)]
    const group = calibrationGroup(['fake-b', 'm-2', 'r-1', 'p-1', 'fake-a', 'm-1', 'm-1'], registry)
    expect(group).toEqual({ members: ['m-1', 'm-2'], calibratedOnly: ['p-1'], unregistered: ['fake-a', 'fake-b'], revoked: ['r-1'] })
    expect(calibratedDevices(group)).toEqual(['m-1', 'm-2', 'p-1'])
  })
})

describe('groupMembers: only members shape the group factors', () => {
  it('without groupMembers every device is in the factor (the old behaviour, which let x in)', () => {
    expect(groupFactors(input(20))).toEqual([{ time: T, factor: 13 / 6, unclipped: 13 / 6, groupSize: 4 }]) // median(10, 12, 14, 20) / 6
  })

  it('with groupMembers the factor is the members\' median / reference, whatever x reads', () => {
    for (const x of [0.5, 100, 1000]) {
      expect(groupFactors(input(x, ['a', 'b', 'c']))).toEqual([{ time: T, factor: 2, unclipped: 2, groupSize: 3 }])
    }
  })

  it('a non-member is calibrated with the members\' factor and its value changes nothing else', () => {
    const model = pmGroupRatio(input(100, ['a', 'b', 'c']))
    expect(model.apply('x', T, 100)).toBe(50)
    expect(model.apply('a', T, 10)).toBe(5)
    expect(model.coefficients('x')).toEqual(model.coefficients('a'))
    expect(pmGroupRatio(input(7, ['a', 'b', 'c'])).coefficients('a')).toEqual(model.coefficients('a'))
  })

  it('too few members: no factor, even when non-members would make the group big enough', () => {
    expect(groupFactors(input(100, ['a', 'b']))).toEqual([])
    expect(chooseMethod('pm2_5', input(100, ['a', 'b'])).apply('a', T, 10)).toBeUndefined()
  })

  it('refuses a member that is not among the devices', () => {
    expect(() => groupFactors(input(100, ['a', 'b', 'nobody']))).toThrow('group member nobody is not one of the calibration input\'s devices')
  })
})
