import { describe, expect, it } from 'vitest'
import { crowdQc, crowdQcNotes } from '../../../core/calibration/crowdqc.ts'
import { hourlyReference } from '../../../services/calibration/series.ts'

const HOUR = 3_600_000
const T0 = Date.UTC(2026, 5, 1)
const times = Array.from({ length: 48 }, (_, i) => T0 + (i + 1) * HOUR)
/** A diurnal cycle, °C, and a small per-device wobble so no two devices are equal. */
const cycle = (i: number) => 16 + 5 * Math.sin((2 * Math.PI * i) / 24)
const near = (k: number) => ({ lat: 52.53 + 0.002 * k, lon: 6.06 })
const device = (k: number, value: (i: number) => number, position: { lat: number; lon: number } | null = near(k)) => ({
  deviceId: `d${k}`,
  hourly: times.map((time, i) => ({ time, value: value(i) + 0.05 * Math.sin(i * (k + 1)), count: 12 })),
  ...(position === null ? {} : { position }),
})
const six = [0, 1, 2, 3, 4, 5].map((k) => device(k, cycle))

describe('crowdQc (CrowdQC+ m1–m5 as flags)', () => {
  it('a consistent fleet gets no flag', () => {
    const qc = crowdQc('air_temperature', six)
    for (const d of six) {
      expect(qc.summary(d.deviceId)).toMatchObject({ flags: [], m2Hours: 0, m3Hours: 0, m5Hours: 0, hours: 48 })
      expect(qc.summary(d.deviceId).m4Correlation).toBeGreaterThan(0.99)
    }
  })

  it('m1: a device without position, and three devices on one position, are flagged; two on one are not', () => {
    const devices = [device(0, cycle, null), device(1, cycle, near(9)), device(2, cycle, near(9)), device(3, cycle, near(7)), device(4, cycle, near(7)), device(5, cycle, near(7))]
    const qc = crowdQc('air_temperature', devices)
    expect(devices.map((d) => qc.summary(d.deviceId).flags.includes('qc_m1_metadata'))).toEqual([true, false, false, true, true, true])
  })

  it('m2: hourly means outside the plausible range (−30…45 °C) are flagged per hour', () => {
    const hot = device(6, (i) => (i === 10 ? 47 : cycle(i)))
    const qc = crowdQc('air_temperature', [...six, hot])
    expect(qc.summary('d6').m2Hours).toBe(1)
    expect(qc.flagsAt('d6', times[10]!)).toContain('qc_m2_extreme')
    expect(qc.flagsAt('d6', times[11]!)).not.toContain('qc_m2_extreme')
  })

  it('m3 and m5: a device 3 °C too warm by night is an outlier in those hours; over 20 % of hours flags the device', () => {
    const warm = device(6, (i) => cycle(i) + (i % 24 < 12 ? 3 : 0))
    const qc = crowdQc('air_temperature', [...six, warm])
    const s = qc.summary('d6')
    expect(s.m3Hours).toBe(24)
    expect(s.m5Hours).toBe(24)
    expect(s.flags).toEqual(['qc_m3_outlier_share'])
    expect(qc.flagsAt('d6', times[0]!)).toEqual(['qc_m3_outlier', 'qc_m3_outlier_share', 'qc_m5_buddy'])
    expect(qc.flagsAt('d6', times[12]!)).toEqual(['qc_m3_outlier_share'])
    expect(qc.summary('d0').flags).toEqual([])
  })

  it('m5 needs five buddies within 3 km: a far-away device has none to compare with', () => {
    const far = { ...device(6, (i) => cycle(i) + 3), position: { lat: 52.6, lon: 6.06 } } // ≈ 7.8 km north
    const qc = crowdQc('air_temperature', [...six, far])
    expect(qc.summary('d6').m5Hours).toBe(0)
    expect(qc.summary('d6').m3Hours).toBe(48)
  })

  it('m4: a device uncorrelated with the fleet median (r < 0.9) is flagged, with a note naming r and the rule', () => {
    const noisy = device(6, (i) => 16 + 5 * Math.sin(i * 2.3))
    const qc = crowdQc('air_temperature', [...six, noisy])
    const s = qc.summary('d6')
    expect(s.m4Correlation).toBeLessThan(0.9)
    expect(s.flags).toContain('qc_m4_correlation')
    expect(crowdQcNotes(s).find((n) => n.startsWith('qc_m4_correlation'))).toMatch(/^qc_m4_correlation: r = -?0\.\d{3} with the fleet median, below 0.9 \(CrowdQC m4\)$/)
  })

  it('members only make the statistics: a non-member reading × 10 changes no member\'s flags', () => {
    const members = six.map((d) => d.deviceId)
    const base = crowdQc('air_temperature', [...six, device(6, cycle)], { members })
    const wild = crowdQc('air_temperature', [...six, device(6, (i) => 10 * cycle(i))], { members })
    for (const id of members) expect(wild.summary(id)).toEqual(base.summary(id))
    expect(wild.summary('d6').flags).toContain('qc_m3_outlier_share')
  })

  it('throws for an unchecked device and a bad option', () => {
    expect(() => crowdQc('air_temperature', six).summary('nobody')).toThrow('crowdQc: device nobody was not checked')
    expect(() => crowdQc('air_temperature', six, { outlierShare: 2 })).toThrow('option outlierShare must be in [0, 1], got 2')
  })
})

describe('hourlyReference (KNMI spot values to hourly means)', () => {
  it('a spot value at the end of the hour becomes the mean of the two bounding spot values; hourly means stay', () => {
    const spot = (time: number, value: number) => ({ station: '278', source: 'knmi' as const, quantity: 'air_temperature' as const, value, time, periodMs: 0, flags: [] })
    const mean = (time: number, value: number) => ({ station: '278', source: 'knmi' as const, quantity: 'global_radiation' as const, value, time, periodMs: HOUR, flags: [] })
    expect(hourlyReference([spot(T0, 10), spot(T0 + HOUR, 12), spot(T0 + 3 * HOUR, 15)])).toEqual([{ time: T0 + HOUR, value: 11, count: 0 }])
    expect(hourlyReference([mean(T0, 100), mean(T0 + HOUR, 300)])).toEqual([{ time: T0, value: 100, count: 0 }, { time: T0 + HOUR, value: 300, count: 0 }])
  })
})
