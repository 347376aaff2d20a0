import { describe, expect, it } from 'vitest'
import { parseLuchtmeetnetMeasurements, parseLuchtmeetnetStationDetail } from '../../../core/reference/luchtmeetnet.ts'
import { parseSamenMetenObservations, parseSamenMetenStation, samenMetenProperty } from '../../../core/reference/samenmeten.ts'
import { LML_EMPTY_TEXT, LML_PAGE2_TEXT, SM_TEXT } from './fixtures.ts'

const HOUR = 3_600_000
const at = (iso: string) => Date.parse(iso)

describe('parseLuchtmeetnetMeasurements (real NL49012 page-2 excerpt)', () => {
  const page = parseLuchtmeetnetMeasurements(LML_PAGE2_TEXT)

  it('reads all 49 records and the pagination, without problems', () => {
    expect(page.problems).toEqual([])
    expect(page.records).toHaveLength(49)
    expect(page).toMatchObject({ lastPage: 2, currentPage: 2, missing: 0 })
  })

  it('first NO record: 16.6 µg/m³ stamped 2026-02-10T19:00Z = the hour 18–19Z', () => {
    expect(page.records[0]).toEqual({ station: 'NL49012', formula: 'NO', value: 16.6, time: at('2026-02-10T19:00:00Z'), periodMs: HOUR, flags: [] })
  })

  it('keeps O3 −0.5 (18:00Z) as published, flagged negative', () => {
    expect(page.records.find((r) => r.formula === 'O3' && r.time === at('2026-02-10T18:00:00Z'))).toMatchObject({ value: -0.5, flags: ['negative'] })
  })

  it('maps PM25, PM10 and NO2 to quantities; ignores the other formulas', () => {
    expect(page.observations.find((o) => o.quantity === 'pm2_5' && o.time === at('2026-02-10T19:00:00Z'))).toEqual({ station: 'NL49012', source: 'luchtmeetnet', quantity: 'pm2_5', value: 13.0, time: at('2026-02-10T19:00:00Z'), periodMs: HOUR, flags: [] })
    expect(new Set(page.observations.map((o) => o.quantity))).toEqual(new Set(['pm2_5', 'pm10', 'no2']))
    const mapped = page.records.filter((r) => ['PM25', 'PM10', 'NO2'].includes(r.formula))
    expect(page.observations).toHaveLength(mapped.length)
    expect(Object.keys(page.ignored).sort()).toEqual(['BCWB', 'CO', 'FN', 'NO', 'O3'])
  })

  it('the real empty response is no data and no problem', () => {
    expect(parseLuchtmeetnetMeasurements(LML_EMPTY_TEXT)).toMatchObject({ observations: [], problems: [], lastPage: 0 })
  })

  it('null values are counted as missing; a record without start/end is one hour; bad input gives problems', () => {
    const parsed = parseLuchtmeetnetMeasurements({
      data: [
        { station_number: 'NL1', formula: 'PM10', value: null, timestamp_measured: '2026-02-10T19:00:00+00:00' },
        { station_number: 'NL1', formula: 'PM10', value: 5, timestamp_measured: '2026-02-10T20:00:00+01:00' },
        { station_number: 'NL1', formula: 'PM10', value: '5', timestamp_measured: '2026-02-10T19:00:00+00:00' },
        { station_number: 'NL1', formula: 'PM10', value: 5, timestamp_measured: '2026-02-10 19:00' },
        42,
      ],
    })
    expect(parsed.missing).toBe(1)
    expect(parsed.observations).toEqual([{ station: 'NL1', source: 'luchtmeetnet', quantity: 'pm10', value: 5, time: at('2026-02-10T19:00:00Z'), periodMs: HOUR, flags: [] }])
    expect(parsed.problems.map((p) => p.where)).toEqual(['data[2]', 'data[3]', 'data[4]'])
    for (const junk of ['', 'not json', '[]', 'null', '{"data": 1}']) expect(parseLuchtmeetnetMeasurements(junk).problems).toHaveLength(1)
  })

  it('reads a station detail: GeoJSON [lon, lat] and components', () => {
    const detail = parseLuchtmeetnetStationDetail('NL10818', { data: { location: 'Barsbeek-De Veenen', components: ['NO2', 'O3', 'PM25'], geometry: { type: 'point', coordinates: [6.017571, 52.654144] } } })
    expect(detail.station).toEqual({ id: 'NL10818', source: 'luchtmeetnet', name: 'Barsbeek-De Veenen', lat: 52.654144, lon: 6.017571, quantities: ['no2', 'pm2_5'] })
    expect(parseLuchtmeetnetStationDetail('NL1', { data: {} }).station).toBeUndefined()
  })
})

describe('parseSamenMetenObservations (real datastream 2819 excerpt)', () => {
  const series = { station: 'samenmeten:datastream:2819', quantity: 'pm2_5' as const }

  it('reads 31 hourly observations, first 4.03 at 2019-09-09T00:00Z, max 21.53 at 2019-09-10T05:00Z; no nextLink', () => {
    const page = parseSamenMetenObservations(SM_TEXT, series)
    expect(page.problems).toEqual([])
    expect(page.nextLink).toBeUndefined()
    expect(page.observations).toHaveLength(31)
    expect(page.observations[0]).toEqual({ ...series, source: 'samenmeten', value: 4.03, time: at('2019-09-09T00:00:00Z'), periodMs: HOUR, flags: [] })
    const max = page.observations.reduce((a, b) => (b.value > a.value ? b : a))
    expect(max).toMatchObject({ value: 21.53, time: at('2019-09-10T05:00:00Z') })
    for (let i = 1; i < 31; i++) expect(page.observations[i]!.time - page.observations[i - 1]!.time).toBe(HOUR)
  })

  it('phenomenonTime as the START of the hour moves every time one hour later', () => {
    const page = parseSamenMetenObservations(SM_TEXT, { ...series, phenomenonTime: 'start' })
    expect(page.observations[0]!.time).toBe(at('2019-09-09T01:00:00Z'))
  })

  it('flags a calibrated (_kal) series; an interval phenomenonTime uses its end and length', () => {
    const page = parseSamenMetenObservations(
      { value: [{ phenomenonTime: '2019-09-09T00:00:00Z/2019-09-09T01:00:00Z', result: -1 }, { phenomenonTime: '2019-09-09T01:00:00Z', result: null }], '@iot.nextLink': 'http://x/next' },
      { ...series, calibrated: true, phenomenonTime: 'start' },
    )
    expect(page.observations).toEqual([{ ...series, source: 'samenmeten', value: -1, time: at('2019-09-09T01:00:00Z'), periodMs: HOUR, flags: ['negative', 'calibrated'] }])
    expect(page).toMatchObject({ missing: 1, nextLink: 'http://x/next' })
  })

  it('reports bad entries, never throws', () => {
    const page = parseSamenMetenObservations({ value: [{ phenomenonTime: 'yesterday', result: 1 }, { phenomenonTime: '2019-09-09T00:00:00Z', result: 'x' }, 7] }, series)
    expect(page.problems.map((p) => p.where)).toEqual(['value[0]', 'value[1]', 'value[2]'])
    for (const junk of ['', '{', '{"value": {}}', 'null']) expect(parseSamenMetenObservations(junk, series).problems).toHaveLength(1)
  })

  it('parses station ids and property names', () => {
    expect(parseSamenMetenStation('samenmeten:123')).toEqual({ kind: 'thing', id: '123' })
    expect(parseSamenMetenStation('samenmeten:datastream:2819')).toEqual({ kind: 'datastream', id: '2819' })
    expect(parseSamenMetenStation('2819')).toBeUndefined()
    expect(samenMetenProperty('pm25_kal')).toEqual({ quantity: 'pm2_5', calibrated: true })
    expect(samenMetenProperty('pm10')).toEqual({ quantity: 'pm10', calibrated: false })
    expect(samenMetenProperty('temp')).toBeUndefined()
  })
})
