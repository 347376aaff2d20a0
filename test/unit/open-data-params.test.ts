import { describe, expect, it } from 'vitest'
import { parsePeriod } from '../../services/api/open-data/period.ts'
import { sensorTypeSlug } from '../../services/api/open-data/archive-layout.ts'
import { sourceOfDecoder } from '../../services/api/open-data/sources.ts'
import { ProblemError } from '../../services/api/problem.ts'
import { ALL_TIME, parseTimeFilter, parseTimeOrder } from '../../services/api/sta/query-options.ts'

const T = (iso: string) => Date.parse(iso)

describe('open-data periods', () => {
  it('reads UTC days and months, leap days included, and nothing else', () => {
    expect(parsePeriod('2024-01-15')).toEqual({ label: '2024-01-15', kind: 'day', from: T('2024-01-15T00:00:00Z'), to: T('2024-01-16T00:00:00Z') })
    expect(parsePeriod('2024-02')).toEqual({ label: '2024-02', kind: 'month', from: T('2024-02-01T00:00:00Z'), to: T('2024-03-01T00:00:00Z') })
    expect(parsePeriod('2024-12')?.to).toBe(T('2025-01-01T00:00:00Z'))
    expect(parsePeriod('2024-02-29')?.kind).toBe('day')
    for (const bad of ['2023-02-29', '2024-13', '2024-00', '1999-12-31', '2024-1-5', '2024-01-15T00:00Z', '']) expect(parsePeriod(bad), bad).toBeUndefined()
  })

  it('names sensor types for files and tells sensor.community data by its decoder', () => {
    expect(sensorTypeSlug('SDS011')).toBe('sds011')
    expect(sensorTypeSlug('BME280+SDS011')).toBe('bme280-sds011')
    expect(sensorTypeSlug('')).toBe('unknown')
    expect(sensorTypeSlug('../x')).toBe('x')
    expect(['sc-archive', 'sc-data-api', 'senshagen-v1', 'airrohr', null].map(sourceOfDecoder)).toEqual(['sensor-community', 'sensor-community', 'senshagen', 'senshagen', 'senshagen'])
  })
})

describe('SensorThings $filter and $orderby on phenomenonTime', () => {
  it('turns ge/gt/le/lt/eq joined by and into a half-open millisecond range', () => {
    expect(parseTimeFilter(undefined)).toEqual(ALL_TIME)
    expect(parseTimeFilter('phenomenonTime ge 2024-01-15T00:00:00Z and phenomenonTime lt 2024-01-16T00:00:00Z')).toEqual({ from: T('2024-01-15T00:00:00Z'), to: T('2024-01-16T00:00:00Z') })
    expect(parseTimeFilter('phenomenonTime gt 2024-01-15T10:00:00.000Z and phenomenonTime le 2024-01-15T11:00:00+01:00')).toEqual({ from: T('2024-01-15T10:00:00.001Z'), to: T('2024-01-15T10:00:00.001Z') })
    expect(parseTimeFilter("resultTime eq '2024-01-15T10:00:00Z'")).toEqual({ from: T('2024-01-15T10:00:00Z'), to: T('2024-01-15T10:00:00.001Z') })
  })

  it('refuses other filters and orders with a 400 naming the option', () => {
    for (const filter of ['result gt 5', 'phenomenonTime ge 2024-01-15T00:00:00Z or phenomenonTime lt 2024-01-14T00:00:00Z', 'phenomenonTime ge yesterday', "st_within(location, geography'POINT(6 52)')"]) {
      expect(() => parseTimeFilter(filter), filter).toThrowError(ProblemError)
      try {
        parseTimeFilter(filter)
      } catch (error) {
        expect((error as ProblemError).invalidParams[0]?.name).toBe('$filter')
      }
    }
    expect(parseTimeOrder('phenomenonTime desc')).toBe('desc')
    expect(parseTimeOrder('phenomenonTime')).toBe('asc')
    expect(() => parseTimeOrder('result desc')).toThrowError(/phenomenonTime/)
  })
})
