import { describe, expect, it } from 'vitest'
import { knmiHourCode, knmiTime, parseKnmiHourly } from '../../../core/reference/knmi.ts'
import type { ReferenceObservation } from '../../../core/reference/reference.ts'
import { KNMI_TEXT } from './fixtures.ts'

const HOUR = 3_600_000
const at = (iso: string) => Date.parse(iso)
const of = (observations: ReferenceObservation[], quantity: string) => observations.filter((o) => o.quantity === quantity)

/** uurgeg_260_2000-01_excerpt.txt: real KNMI zip-archive text (CRLF), 744 rows = 31 days × HH 1..24. */
describe('parseKnmiHourly on the real De Bilt January 2000 excerpt', () => {
  const parsed = parseKnmiHourly(KNMI_TEXT)

  it('reads every row without problems; the zip header lists no stations', () => {
    expect(KNMI_TEXT).toContain('\r\n')
    expect(parsed.rows).toBe(744)
    expect(parsed.problems).toEqual([])
    expect(parsed.stations).toEqual([])
  })

  it('`260,20000101,1` is the hour ending 2000-01-01T01:00Z: T 4.9 °C and U 96 % as spot values', () => {
    const first = parsed.observations.filter((o) => o.time === at('2000-01-01T01:00:00Z'))
    expect(first).toEqual(
      expect.arrayContaining([
        { station: '260', source: 'knmi', quantity: 'air_temperature', value: 4.9, time: at('2000-01-01T01:00:00Z'), periodMs: 0, flags: [] },
        { station: '260', source: 'knmi', quantity: 'relative_humidity', value: 96, time: at('2000-01-01T01:00:00Z'), periodMs: 0, flags: [] },
        { station: '260', source: 'knmi', quantity: 'wind_speed', value: 3, time: at('2000-01-01T01:00:00Z'), periodMs: HOUR, flags: [] },
        { station: '260', source: 'knmi', quantity: 'wind_from_direction', value: 200, time: at('2000-01-01T01:00:00Z'), periodMs: 600_000, flags: [] },
        { station: '260', source: 'knmi', quantity: 'precipitation', value: 0, time: at('2000-01-01T01:00:00Z'), periodMs: HOUR, flags: [] },
        { station: '260', source: 'knmi', quantity: 'global_radiation', value: 0, time: at('2000-01-01T01:00:00Z'), periodMs: HOUR, flags: [] },
      ]),
    )
    expect(first).toHaveLength(6)
  })

  it('Q (J/cm² per hour) becomes the hour\'s mean global radiation in W/m²: `260,20000101,12` Q 15 → 41.67 W/m²', () => {
    const noon = of(parsed.observations, 'global_radiation').find((o) => o.time === at('2000-01-01T12:00:00Z'))!
    expect(noon.value).toBeCloseTo(41.667, 3) // 15 J/cm² = 150 000 J/m² over 3600 s
    expect(of(parsed.observations, 'global_radiation')).toHaveLength(744)
  })

  it('`260,20000131,24` is 2000-02-01T00:00Z, T 9.5 °C', () => {
    const last = of(parsed.observations, 'air_temperature').at(-1)!
    expect(last).toMatchObject({ time: at('2000-02-01T00:00:00Z'), value: 9.5 })
  })

  it('one observation per row for T, U, RH and FH; DD 990 (variable, 40×) and 0 (calm, 1×) give none', () => {
    for (const q of ['air_temperature', 'relative_humidity', 'precipitation', 'wind_speed']) expect(of(parsed.observations, q)).toHaveLength(744)
    expect(of(parsed.observations, 'wind_from_direction')).toHaveLength(703)
    expect(parsed.missing).toBe(41)
    expect(of(parsed.observations, 'wind_from_direction').find((o) => o.time === at('2000-01-10T06:00:00Z'))).toBeUndefined()
  })

  it('RH −1 (< 0.05 mm) is stored as 0 mm flagged trace; other hours in 0.1 mm', () => {
    const rain = of(parsed.observations, 'precipitation')
    expect(rain.filter((o) => o.flags.includes('trace'))).toHaveLength(143)
    expect(rain.find((o) => o.time === at('2000-01-01T04:00:00Z'))).toMatchObject({ value: 0, flags: ['trace'] })
    expect(rain.find((o) => o.time === at('2000-01-01T05:00:00Z'))).toMatchObject({ value: 0.4, flags: [] })
    expect(rain.reduce((sum, o) => sum + o.value, 0)).toBeCloseTo(41.2, 9)
  })

  it('keeps negative temperatures unflagged and skips P (sea-level pressure, not station level)', () => {
    expect(of(parsed.observations, 'air_temperature').find((o) => o.time === at('2000-01-24T07:00:00Z'))).toMatchObject({ value: -7.5, flags: [] })
    expect(of(parsed.observations, 'air_pressure')).toEqual([])
  })
})

describe('parseKnmiHourly variants and bad input', () => {
  const lines = KNMI_TEXT.split('\r\n')
  const columnLine = lines.findIndex((l) => l.startsWith('# STN,'))

  it('reads the script-API layout: # before every header line, a station block, LF endings', () => {
    // Built from the real file: the API layout is documented (fixtures SOURCES.md), no real API sample exists.
    const header = lines.slice(0, columnLine).map((l) => `# ${l}`)
    const stationBlock = ['# STN         LON(east)   LAT(north)  ALT(m)      NAME', '# 260         5.180       52.100      1.90        De Bilt', '#']
    const text = [...stationBlock, ...header, ...lines.slice(columnLine)].join('\n')
    const parsed = parseKnmiHourly(text)
    expect(parsed.stations).toEqual([{ id: '260', source: 'knmi', name: 'De Bilt', lat: 52.1, lon: 5.18, quantities: ['air_temperature', 'relative_humidity', 'precipitation', 'wind_speed', 'wind_from_direction', 'global_radiation'] }])
    expect(parsed.observations).toEqual(parseKnmiHourly(KNMI_TEXT).observations)
  })

  it('accepts the older T10 column name', () => {
    const text = KNMI_TEXT.replace('T10N,', ' T10,')
    expect(parseKnmiHourly(text).observations).toHaveLength(parseKnmiHourly(KNMI_TEXT).observations.length)
  })

  it('reports bad rows and keeps the good ones; never throws', () => {
    const good = lines[columnLine + 2]!
    const text = [lines[columnLine], good, '  260,20000132,    1,  200', good.replace(/,\s+49,/, ',  abc,'), good.replace('20000101,    1', '20000101,   25'), 'garbage'].join('\n')
    const parsed = parseKnmiHourly(text)
    expect(parsed.problems.map((p) => p.where)).toEqual(['line 3', 'line 4', 'line 5', 'line 6'])
    expect(parsed.problems[1]!.message).toMatch(/T must be a whole number/)
    expect(parsed.observations.filter((o) => o.quantity === 'air_temperature')).toHaveLength(1)
    for (const junk of ['', 'hello', '{"data": []}', '\u0000\u0001', 'STN,YYYYMMDD,HH\n1,2']) expect(() => parseKnmiHourly(junk)).not.toThrow()
    expect(parseKnmiHourly('hello').problems[0]!.where).toBe('header')
  })

  it('converts between hour codes and end-of-hour times', () => {
    expect(knmiTime('20000131', '24')).toBe(at('2000-02-01T00:00:00Z'))
    expect(knmiTime('20000101', '0')).toBeUndefined()
    expect(knmiTime('20000230', '1')).toBeUndefined()
    expect(knmiHourCode(at('2000-02-01T00:00:00Z'))).toBe('2000013124')
    expect(knmiHourCode(at('2000-01-01T01:00:00Z'))).toBe('2000010101')
  })
})
