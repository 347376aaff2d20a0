import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HOUR_MS, expectedReadingsPerHour, hourEnding, hourlyMeans, medianIntervalMs, pairHourly } from '../../../core/calibration/align.ts'
import type { HourlyValue } from '../../../core/calibration/types.ts'
import type { Reading } from '../../../core/reading.ts'

const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number): string => new Date(ms).toISOString()

function reading(observedAt: number, value: number, flags: string[] = [], deviceId = 'sc-5331'): Reading {
  return {
    deviceId,
    quantity: 'pm2_5',
    value,
    unit: 'µg/m³',
    observedAt,
    receivedAt: observedAt,
    timeSource: 'device',
    sourceFormat: 'test',
    flags,
  }
}

/** `count` readings `stepMs` apart, the first at `start`, value = index. */
function series(start: number, stepMs: number, count: number): Reading[] {
  return Array.from({ length: count }, (_, i) => reading(start + i * stepMs, i))
}

describe('hour ending T covers (T − 1 h, T], UTC', () => {
  it('puts 12:59:59.999Z and 13:00:00.000Z in the hour ending 13:00Z, 13:00:00.001Z in the hour ending 14:00Z', () => {
    expect(iso(hourEnding(at('2024-05-01T12:59:59.999Z')))).toBe('2024-05-01T13:00:00.000Z')
    expect(iso(hourEnding(at('2024-05-01T13:00:00.000Z')))).toBe('2024-05-01T13:00:00.000Z')
    expect(iso(hourEnding(at('2024-05-01T13:00:00.001Z')))).toBe('2024-05-01T14:00:00.000Z')
    expect(iso(hourEnding(at('2024-05-01T12:00:00.001Z')))).toBe('2024-05-01T13:00:00.000Z')
  })

  it('groups readings by that rule in hourlyMeans', () => {
    const readings = [reading(at('2024-05-01T12:59:59.999Z'), 1), reading(at('2024-05-01T13:00:00.000Z'), 2), reading(at('2024-05-01T13:00:00.001Z'), 10)]
    expect(hourlyMeans(readings, { completeness: 0, expectedIntervalMs: 60_000 })).toEqual([
      { time: at('2024-05-01T13:00:00Z'), value: 1.5, count: 2 },
      { time: at('2024-05-01T14:00:00Z'), value: 10, count: 1 },
    ])
  })
})

describe('hourlyMeans completeness', () => {
  // 60 s device: 60 expected per hour, 0.75 × 60 = 45 needed
  const hourEnd = at('2024-05-01T13:00:00Z')
  const hourOf = (count: number, end = hourEnd) => series(end - HOUR_MS + 60_000, 60_000, count)

  it('keeps an hour with exactly completeness × expected readings and drops one with a reading less', () => {
    const readings = [...hourOf(45), ...hourOf(44, hourEnd + HOUR_MS)]
    const hours = hourlyMeans(readings, { expectedIntervalMs: 60_000 })
    expect(hours).toEqual([{ time: hourEnd, value: 22, count: 45 }]) // mean of 0…44
  })

  it('defaults to 0.75', () => {
    expect(hourlyMeans(hourOf(45), { expectedIntervalMs: 60_000 })).toHaveLength(1)
    expect(hourlyMeans(hourOf(44), { expectedIntervalMs: 60_000 })).toHaveLength(0)
    expect(hourlyMeans(hourOf(44), { expectedIntervalMs: 60_000, completeness: 44 / 60 })).toHaveLength(1)
  })

  it('does not lose an hour to floating point at the boundary (0.55 × 100 = 55.00000000000001)', () => {
    expect(0.55 * (HOUR_MS / 36_000)).toBeGreaterThan(55)
    const readings = series(hourEnd - HOUR_MS + 36_000, 36_000, 55)
    expect(hourlyMeans(readings, { completeness: 0.55, expectedIntervalMs: 36_000 })).toEqual([{ time: hourEnd, value: 27, count: 55 }])
    expect(hourlyMeans(readings.slice(0, 54), { completeness: 0.55, expectedIntervalMs: 36_000 })).toEqual([])
  })

  it('leaves flagged readings out of the mean and the count', () => {
    const withFlags = (flagged: number) =>
      hourOf(60).map((r, i) => (i < flagged ? { ...r, value: 1000, flags: ['implausible'] } : r))
    expect(hourlyMeans(withFlags(15), { expectedIntervalMs: 60_000 })).toEqual([{ time: hourEnd, value: (15 + 59) / 2, count: 45 }])
    expect(hourlyMeans(withFlags(16), { expectedIntervalMs: 60_000 })).toEqual([])
    // any flag counts, not only `implausible`
    const rh = hourOf(3).map((r, i) => (i === 0 ? { ...r, flags: ['rh_above_100'] } : r))
    expect(hourlyMeans(rh, { completeness: 0, expectedIntervalMs: 60_000 })).toEqual([{ time: hourEnd, value: 1.5, count: 2 }])
  })

  it('defaults the interval to the median gap: a 148 s sensor.community series expects 24.3 per hour', () => {
    const start = at('2024-05-01T00:00:30Z')
    // jitter of ±2 s around 148 s, as a real airrohr shows; the median stays 148 s
    const jitter = [0, 2, -2, 0, 1, -1]
    const times: number[] = []
    for (let i = 0, t = start; i < 600; i++, t += 148_000 + jitter[i % jitter.length]! * 1000) times.push(t)
    const readings = times.map((t, i) => reading(t, i))
    expect(medianIntervalMs(readings)).toBe(148_000)
    expect(expectedReadingsPerHour(readings)).toBeCloseTo(24.3, 1)
    expect(expectedReadingsPerHour(readings)).toBe(3600 / 148)
    // 0.75 × 24.32 = 18.24: an hour with 19 readings is kept, one with 18 dropped
    const hour3 = at('2024-05-01T03:00:00Z')
    const hour5 = at('2024-05-01T05:00:00Z')
    const inHour = (t: number, end: number) => hourEnding(t) === end
    const keep = (end: number, n: number) => {
      const mine = readings.filter((r) => inHour(r.observedAt, end))
      return new Set(mine.slice(0, n))
    }
    const keep3 = keep(hour3, 19)
    const keep5 = keep(hour5, 18)
    const thinned = readings.filter((r) => (inHour(r.observedAt, hour3) ? keep3.has(r) : inHour(r.observedAt, hour5) ? keep5.has(r) : true))
    expect(medianIntervalMs(thinned)).toBe(148_000)
    const hours = hourlyMeans(thinned)
    expect(hours.find((h) => h.time === hour3)?.count).toBe(19)
    expect(hours.find((h) => h.time === hour5)).toBeUndefined()
    expect(hours.find((h) => h.time === at('2024-05-01T04:00:00Z'))?.count).toBeGreaterThanOrEqual(24)
  })

  it('the median gap ignores repeated times and outages', () => {
    const t0 = at('2024-05-01T00:00:00Z')
    const readings = [0, 60, 60, 120, 180, 240, 3600, 3660].map((s) => reading(t0 + s * 1000, s))
    expect(medianIntervalMs(readings)).toBe(60_000)
  })

  it('returns hours oldest first whatever the input order', () => {
    const readings = series(at('2024-05-01T00:00:00Z'), 600_000, 24).reverse()
    const hours = hourlyMeans(readings, { completeness: 1 })
    expect(hours.map((h) => h.time)).toEqual([1, 2, 3].map((h) => at(`2024-05-01T0${h}:00:00Z`)))
    // the reading at exactly 00:00Z belongs to the hour ending 00:00Z, which has only 1 of 6
    expect(hours.every((h) => h.count === 6)).toBe(true)
  })

  it('rejects mixed series, bad options and an interval it cannot infer', () => {
    const t = at('2024-05-01T00:00:00Z')
    expect(hourlyMeans([])).toEqual([])
    expect(() => hourlyMeans([reading(t, 1), reading(t + 1000, 2, [], 'sc-1')])).toThrow('one device and quantity')
    expect(() => hourlyMeans([reading(t, 1)], { completeness: 1.5 })).toThrow(RangeError)
    expect(() => hourlyMeans([reading(t, 1)], { completeness: Number.NaN })).toThrow('completeness must be within')
    expect(() => hourlyMeans([reading(t, 1)], { expectedIntervalMs: 0 })).toThrow('expectedIntervalMs must be a finite number > 0')
    expect(() => hourlyMeans([reading(t, 1), reading(t, 2)])).toThrow('from 1 distinct observation time(s); pass expectedIntervalMs')
    expect(hourlyMeans([reading(t, 1)], { expectedIntervalMs: HOUR_MS })).toEqual([{ time: t, value: 1, count: 1 }])
  })
})

describe('no shift around the Europe/Amsterdam DST changes (TZ=Europe/Amsterdam)', () => {
  const saved = process.env.TZ
  beforeAll(() => {
    process.env.TZ = 'Europe/Amsterdam'
  })
  afterAll(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })

  for (const change of ['2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z']) {
    it(`hours around ${change} are whole UTC hours with 60 readings each`, () => {
      const t = at(change)
      // the local clock really jumps here, so the zone setting is in effect
      expect(new Date(t - 1).getTimezoneOffset()).not.toBe(new Date(t + 1).getTimezoneOffset())
      // 60 s readings in (t − 2 h, t + 2 h]
      const readings = series(t - 2 * HOUR_MS + 60_000, 60_000, 240)
      const hours = hourlyMeans(readings)
      expect(hours.map((h) => iso(h.time))).toEqual([-1, 0, 1, 2].map((k) => iso(t + k * HOUR_MS)))
      expect(hours.map((h) => h.count)).toEqual([60, 60, 60, 60])
      expect(hours.map((h) => h.value)).toEqual([29.5, 89.5, 149.5, 209.5])

      const reference: HourlyValue[] = [-1, 0, 1, 2, 3].map((k) => ({ time: t + k * HOUR_MS, value: 100 + k, count: 0 }))
      expect(pairHourly(hours, reference).map((p) => [iso(p.time), p.reference])).toEqual([-1, 0, 1, 2].map((k) => [iso(t + k * HOUR_MS), 100 + k]))

      process.env.TZ = 'UTC'
      try {
        expect(hourlyMeans(readings)).toEqual(hours)
      } finally {
        process.env.TZ = 'Europe/Amsterdam'
      }
    })
  }
})

describe('pairHourly', () => {
  const h = (iso: string, value: number): HourlyValue => ({ time: at(iso), value, count: 1 })

  it('joins on equal end-of-hour times, oldest first, dropping hours in only one series', () => {
    const device = [h('2024-05-01T03:00:00Z', 13), h('2024-05-01T01:00:00Z', 11), h('2024-05-01T02:00:00Z', 12)]
    const reference = [h('2024-05-01T02:00:00Z', 2), h('2024-05-01T03:00:00Z', 3), h('2024-05-01T04:00:00Z', 4), { time: at('2024-05-01T01:00:00Z') + 1, value: 1, count: 0 }]
    expect(pairHourly(device, reference)).toEqual([
      { time: at('2024-05-01T02:00:00Z'), sensor: 12, reference: 2 },
      { time: at('2024-05-01T03:00:00Z'), sensor: 13, reference: 3 },
    ])
    expect(pairHourly([], reference)).toEqual([])
  })

  it('refuses a series with an hour twice', () => {
    const twice = [h('2024-05-01T02:00:00Z', 1), h('2024-05-01T02:00:00Z', 2)]
    expect(() => pairHourly(twice, [])).toThrow('device series has hour 2024-05-01T02:00:00.000Z twice')
    expect(() => pairHourly([], twice)).toThrow('reference series has hour')
  })
})
