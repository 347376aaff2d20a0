import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatIsoMs, parseCliTime, parseIsoTimestamp } from '../../core/time.ts'

describe('parseIsoTimestamp', () => {
  it('reads explicit zones and truncates fractions to milliseconds', () => {
    expect(parseIsoTimestamp('2017-10-07T12:29:51Z')).toEqual({ ok: true, ms: Date.UTC(2017, 9, 7, 12, 29, 51) })
    expect(parseIsoTimestamp('2019-11-03T19:34:28+01:00')).toEqual({ ok: true, ms: Date.UTC(2019, 10, 3, 18, 34, 28) })
    expect(parseIsoTimestamp('2016-07-14T13:02:46.949036+00:00')).toEqual({ ok: true, ms: Date.UTC(2016, 6, 14, 13, 2, 46, 949) })
    expect(parseIsoTimestamp('2020-02-12T15:15:46.014773143Z')).toEqual({ ok: true, ms: Date.UTC(2020, 1, 12, 15, 15, 46, 14) })
    expect(parseIsoTimestamp('2024-01-15 10:28:30-0230')).toEqual({ ok: true, ms: Date.UTC(2024, 0, 15, 12, 58, 30) })
  })

  it('refuses a time without a zone unless the source convention says UTC', () => {
    expect(parseIsoTimestamp('2017-10-07T12:29:51')).toEqual({ ok: false, rule: 'time_zone', message: 'must carry a zone (Z or ±hh:mm)' })
    expect(parseIsoTimestamp('2017-10-07T12:29:51', { assumeZone: 'UTC' })).toEqual({ ok: true, ms: Date.UTC(2017, 9, 7, 12, 29, 51) })
  })

  it('refuses malformed and impossible dates', () => {
    for (const text of ['', 'yesterday', '2017-10-07', '2017-13-01T00:00:00Z', '2017-02-30T00:00:00Z', '2017-10-07T24:00:00Z', '2017-10-07T12:60:00Z']) {
      expect(parseIsoTimestamp(text).ok, text).toBe(false)
    }
  })

  it('reads the canonical UTC form (its fast path) exactly as the general form, valid or not', () => {
    expect(parseIsoTimestamp('2024-02-29T23:59:59.9Z')).toEqual({ ok: true, ms: Date.UTC(2024, 1, 29, 23, 59, 59, 900) })
    expect(parseIsoTimestamp('2000-02-29T00:00:00.123456789Z')).toEqual({ ok: true, ms: Date.UTC(2000, 1, 29, 0, 0, 0, 123) })
    for (const text of ['2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2024-04-31T00:00:00Z', '2024-01-01T00:00:00.Z', '2024-01-01T00:00:00.1234567890Z']) {
      expect(parseIsoTimestamp(text).ok, text).toBe(false)
    }
    // a leading space skips the fast path (the general parse trims it), so each string is read both ways
    const two = (n: number) => fc.integer({ min: 0, max: n }).map((v) => String(v).padStart(2, '0'))
    const text = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), two(19), two(39), two(29), two(69), two(69), fc.option(fc.stringMatching(/^[0-9]{0,10}$/)), fc.constantFrom('Z', 'z', '+00:00', ''))
      .map(([y, mo, d, h, mi, s, fraction, zone]) => `${String(y).padStart(4, '0')}-${mo}-${d}T${h}:${mi}:${s}${fraction === null ? '' : `.${fraction}`}${zone}`)
    fc.assert(fc.property(text, (t) => {
      expect(parseIsoTimestamp(t), t).toEqual(parseIsoTimestamp(` ${t}`))
    }), { numRuns: 5_000 })
  })

  it('does not depend on the machine time zone', () => {
    // process.env.TZ is read by V8 per call on Linux; the parser never asks for local time anyway
    const before = process.env.TZ
    process.env.TZ = 'Europe/Amsterdam'
    try {
      expect(parseIsoTimestamp('2017-10-07T12:29:51', { assumeZone: 'UTC' })).toEqual({ ok: true, ms: 1507379391000 })
      expect(formatIsoMs(1507379391000)).toBe('2017-10-07T12:29:51.000Z')
    } finally {
      process.env.TZ = before
    }
  })
})

describe('parseCliTime', () => {
  const now = Date.UTC(2026, 10, 29, 12, 0, 0)
  it('accepts ISO, dates, now and relative times', () => {
    expect(parseCliTime('2017-10-07T12:29:51Z', '--from', now)).toBe(1507379391000)
    expect(parseCliTime('2017-10-07', '--from', now)).toBe(Date.UTC(2017, 9, 7))
    expect(parseCliTime('now', '--to', now)).toBe(now)
    expect(parseCliTime('-6h', '--from', now)).toBe(now - 6 * 3_600_000)
    expect(parseCliTime('-2d', '--from', now)).toBe(now - 2 * 86_400_000)
  })
  it('names the option in its error', () => {
    expect(() => parseCliTime('2017-10-07T12:29:51', '--from', now)).toThrow("--from: '2017-10-07T12:29:51' must carry a zone (Z or ±hh:mm)")
    expect(() => parseCliTime('soon', '--to', now)).toThrow(/^--to: 'soon'/)
  })
})
