import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseArchiveHeader, parseArchiveRow } from '../../core/decoders/sc-archive.ts'
import { parseDataApiJson } from '../../core/decoders/sc-data-api.ts'
import { parseLenientJson } from '../../core/lenient-json.ts'
import { parseNumber, parseNumberWithUnit } from '../../core/number.ts'
import { QualityFlagger } from '../../core/quality.ts'
import type { Reading } from '../../core/reading.ts'
import { parseLocalTimestamp } from '../../core/time.ts'

describe('the one number parser (core/number.ts decision table)', () => {
  it.each([
    [12.3, { ok: true, value: 12.3 }],
    ['12.30', { ok: true, value: 12.3, text: '12.30' }],
    [' -4 ', { ok: true, value: -4, text: '-4' }],
    ['+1.5', { ok: true, value: 1.5, text: '+1.5' }],
    ['1e3', { ok: true, value: 1000, text: '1e3' }],
    ['.5', { ok: true, value: 0.5, text: '.5' }],
    [null, { ok: false, rule: 'missing', message: 'no value reported' }],
    ['', { ok: false, rule: 'missing', message: 'no value reported (empty string)' }],
    ['   ', { ok: false, rule: 'missing', message: 'no value reported (empty string)' }],
    [Number.NaN, { ok: false, rule: 'not_finite', message: 'must be a finite number' }],
    ['nan', { ok: false, rule: 'not_finite', message: "'nan' is not a finite number" }],
    ['-NaN', { ok: false, rule: 'not_finite', message: "'-NaN' is not a finite number" }],
    ['Infinity', { ok: false, rule: 'not_finite', message: "'Infinity' is not a finite number" }],
    ['1e999', { ok: false, rule: 'not_finite', message: "'1e999' overflows a float" }],
    ['12,5', { ok: false, rule: 'number_format', message: "'12,5' uses a comma; decimal commas are locale-dependent and not accepted" }],
    ['1.234,5', { ok: false, rule: 'number_format', message: "'1.234,5' uses a comma; decimal commas are locale-dependent and not accepted" }],
    ['12 µg/m³', { ok: false, rule: 'number_with_unit', message: "'12 µg/m³' carries a unit in the value" }],
    ['-59 dBm', { ok: false, rule: 'number_with_unit', message: "'-59 dBm' carries a unit in the value" }],
    ['0x1F', { ok: false, rule: 'schema', message: "'0x1F' is not a number" }],
    ['twelve', { ok: false, rule: 'schema', message: "'twelve' is not a number" }],
    [true, { ok: false, rule: 'schema', message: 'must be a number, got boolean' }],
    [[1], { ok: false, rule: 'schema', message: 'must be a number, got array' }],
  ])('%j → %j', (input, expected) => {
    expect(parseNumber(input)).toEqual(expected)
  })

  it('splits a value with its unit where the source puts units into values', () => {
    expect(parseNumberWithUnit('30.11 °C')).toEqual({ ok: true, value: 30.11, text: '30.11', unit: '°C' })
    expect(parseNumberWithUnit('3.384V')).toEqual({ ok: true, value: 3.384, text: '3.384', unit: 'V' })
    expect(parseNumberWithUnit('8.4')).toEqual({ ok: true, value: 8.4, text: '8.4' })
  })

  it('never accepts a non-finite value and never turns an empty string into 0 (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double(), fc.constant(''), fc.constantFrom('nan', 'inf', '-inf', 'NaN')), (input) => {
        const result = parseNumber(input)
        if (result.ok) expect(Number.isFinite(result.value)).toBe(true)
        if (typeof input === 'string' && input.trim() === '') expect(result).toMatchObject({ ok: false, rule: 'missing' })
        if (!result.ok) expect(result.message.length).toBeGreaterThan(0)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('lenient JSON pre-parse', () => {
  it('quotes bare nan/inf in value position only, leaving strings alone', () => {
    expect(parseLenientJson('{"a":nan,"b":"nan: x","c":[1, -inf],"d":NaN}')).toEqual({ ok: true, value: { a: 'nan', b: 'nan: x', c: [1, '-inf'], d: 'NaN' }, repaired: true })
    expect(parseLenientJson('{"a":1}')).toEqual({ ok: true, value: { a: 1 }, repaired: false })
    expect(parseLenientJson('{"a":nanny}')).toMatchObject({ ok: false })
  })

  it('never throws and agrees with JSON.parse on valid JSON (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const result = parseLenientJson(text)
        let strict: unknown
        try {
          strict = JSON.parse(text)
        } catch {
          return
        }
        expect(result).toEqual({ ok: true, value: strict, repaired: false })
      }),
      { numRuns: 1000 },
    )
  })
})

describe('file decoders never crash (property)', () => {
  const header = parseArchiveHeader('sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2')
  it('archive rows: a record or a rejection with a reason', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.constant(''), fc.constant('2017-10-07T12:29:51'), fc.double().map(String)), { maxLength: 14 }), (cells) => {
        const result = parseArchiveRow(header, cells.join(';'), 2)
        if (!result.ok) expect(result.rejection.message.length).toBeGreaterThan(0)
        else expect(result.record.deviceId).toMatch(/^sc-\d+$/)
      }),
      { numRuns: 1000 },
    )
  })
  it('data-API JSON: records or rejections with reasons', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        const { records, rejections } = parseDataApiJson(text)
        for (const r of rejections) expect(r.message.length).toBeGreaterThan(0)
        for (const r of records) expect(Number.isInteger(r.observedAt)).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('device-local time across the DST changes (Europe/Amsterdam)', () => {
  it.each([
    ['2024-03-31T01:59:59', Date.UTC(2024, 2, 31, 0, 59, 59)], // CET, last second before the change
    ['2024-03-31T03:00:00', Date.UTC(2024, 2, 31, 1, 0, 0)], // CEST, first second after
    ['2024-10-27T01:59:59', Date.UTC(2024, 9, 26, 23, 59, 59)], // CEST
    ['2024-10-27T03:00:00', Date.UTC(2024, 9, 27, 2, 0, 0)], // CET
  ])('%s', (text, utc) => {
    expect(parseLocalTimestamp(text, 'Europe/Amsterdam')).toEqual({ ok: true, ms: utc })
  })
  it('refuses the hour the spring change skips', () => {
    expect(parseLocalTimestamp('2024-03-31T02:15:00', 'Europe/Amsterdam')).toMatchObject({ ok: false, rule: 'time_zone' })
  })
})

describe('quality flags', () => {
  const reading = (quantity: Reading['quantity'], value: number, minute: number, sensorModel?: string): Reading => ({
    deviceId: 'd', quantity, value, unit: '', observedAt: Date.UTC(2026, 0, 1) + minute * 60_000, receivedAt: 0, timeSource: 'device', sourceFormat: 't', flags: [], ...(sensorModel ? { sensorModel } : {}),
  })
  it('flags implausible values, RH above 100 and PM2.5 above PM10 within a message', () => {
    const flagger = new QualityFlagger()
    const message = [reading('air_temperature', 47, 0), reading('relative_humidity', 101.5, 0), reading('pm2_5', 30, 0), reading('pm10', 20, 0)]
    flagger.flag(message)
    expect(message.map((r) => r.flags)).toEqual([['implausible'], ['rh_above_100'], ['pm25_gt_pm10'], ['pm25_gt_pm10']])
  })
  it('flags a stuck value after 6 readings over an hour, and a spike', () => {
    const flagger = new QualityFlagger()
    const series = [0, 15, 30, 45, 60, 75].map((m) => reading('air_temperature', 12.5, m))
    for (const r of series) flagger.flag([r])
    expect(series.map((r) => r.flags)).toEqual([[], [], [], [], [], ['stuck']])
    const jump = reading('air_temperature', 19, 80)
    flagger.flag([jump])
    expect(jump.flags).toEqual(['spike'])
  })
  it('keeps the history of at most maxSeries series, forgetting the least recently seen first', () => {
    const flagger = new QualityFlagger(2)
    const at = (deviceId: string, value: number, minute: number) => ({ ...reading('air_temperature', value, minute), deviceId, flags: [] })
    flagger.flag([at('a', 10, 0)])
    flagger.flag([at('b', 10, 0)])
    flagger.flag([at('a', 10, 1)]) // a seen again: b is now the least recently seen
    flagger.flag([at('c', 10, 0)]) // a third series: b is forgotten
    const aJump = at('a', 30, 2)
    flagger.flag([aJump])
    expect(aJump.flags).toEqual(['spike'])
    const bJump = at('b', 30, 2) // b's history starts again: nothing to compare with; c, now the least recent, goes
    flagger.flag([bJump])
    expect(bJump.flags).toEqual([])
    const aAgain = at('a', 10, 3) // a was kept
    flagger.flag([aAgain])
    expect(aAgain.flags).toEqual(['spike'])
    const cJump = at('c', 30, 3) // c was forgotten
    flagger.flag([cJump])
    expect(cJump.flags).toEqual([])
  })
})
