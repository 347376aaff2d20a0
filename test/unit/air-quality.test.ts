import { describe, expect, it } from 'vitest'
import { classifyLki, classifyTemperature, lkiIndex, seasonAt, stookAdvice } from '../../services/api/air-quality.ts'
import { searchPlaces } from '../../services/api/routes/basemap.ts'

// Limits written out from RIVM report 2014-0050 (as in CRAN con2lki 0.1.0), not recomputed from the code's table.
describe('LKI (RIVM Luchtkwaliteitsindex)', () => {
  it('puts PM2.5 hourly means in the published bands; a limit belongs to the higher index', () => {
    const cases: Array<[number, number]> = [[0, 1], [9.9, 1], [10, 2], [14.9, 2], [15, 3], [20, 4], [29.9, 4], [30, 5], [40, 6], [50, 7], [70, 8], [90, 9], [100, 10], [139.9, 10], [140, 11], [999, 11]]
    for (const [value, index] of cases) expect([value, lkiIndex('pm2_5', value)]).toEqual([value, index])
  })
  it('uses the PM10/NO2 limits 10, 20, 30, 45, 60, 75, 100, 125, 150, 200', () => {
    expect([9, 10, 44, 45, 74, 75, 199, 200].map((v) => lkiIndex('pm10', v))).toEqual([1, 2, 4, 5, 6, 7, 10, 11])
    expect([19, 20, 100].map((v) => lkiIndex('no2', v))).toEqual([2, 3, 8])
  })
  it('names the five classes: goed 1–3, matig 4–6, onvoldoende 7–8, slecht 9–10, zeer slecht 11', () => {
    expect([5, 20, 50, 90, 150].map((v) => classifyLki('pm2_5', v))).toEqual([
      { index: 1, class: 'good', advice: 'lki_good' },
      { index: 4, class: 'moderate', advice: 'lki_moderate' },
      { index: 7, class: 'insufficient', advice: 'lki_insufficient' },
      { index: 9, class: 'poor', advice: 'lki_poor' },
      { index: 11, class: 'very_poor', advice: 'lki_very_poor' },
    ])
  })
})

describe('season-aware temperature advice', () => {
  const december = Date.parse('2026-12-01T11:00:00Z')
  const july = Date.parse('2026-07-15T11:00:00Z')
  it('never says "no heat stress" in December: 1.3 °C on 1 December is cold', () => {
    expect(seasonAt(december)).toBe('cold')
    expect(classifyTemperature(1.3, december)).toEqual({ class: 'cold', advice: 'cold_cold' })
    expect(classifyTemperature(-2, december)).toEqual({ class: 'frost', advice: 'cold_frost' })
    expect(classifyTemperature(12, december)).toEqual({ class: 'mild', advice: 'cold_mild' })
  })
  it('gives the heat plan classes in summer, and at 27 °C or more in any season', () => {
    expect(seasonAt(july)).toBe('warm')
    expect(classifyTemperature(22, july)).toEqual({ class: 'normal', advice: 'heat_normal' })
    expect(classifyTemperature(27, july)).toEqual({ class: 'warm', advice: 'heat_warm' })
    expect(classifyTemperature(30, july)).toEqual({ class: 'hot', advice: 'heat_hot' })
    expect(classifyTemperature(27.5, december)).toEqual({ class: 'warm', advice: 'heat_warm' })
  })
  it('switches season on Dutch local dates: 30 April 23:30 local is cold, 1 May 00:30 local is warm', () => {
    expect(seasonAt(Date.parse('2026-04-30T21:30:00Z'))).toBe('cold')
    expect(seasonAt(Date.parse('2026-04-30T22:30:00Z'))).toBe('warm')
  })
})

describe('wood-burning advice (Stookwijzer criteria)', () => {
  it('is red at wind force 2 or less, or from LKI 7 of PM2.5; orange from LKI 4; else yellow', () => {
    expect(stookAdvice(5, 3.3)).toEqual({ code: 'red', reason: 'wind', missing: [] })
    expect(stookAdvice(55, 8)).toEqual({ code: 'red', reason: 'air', missing: [] })
    expect(stookAdvice(25, 8)).toEqual({ code: 'orange', reason: 'air', missing: [] })
    expect(stookAdvice(5, 3.4)).toEqual({ code: 'yellow', reason: 'none', missing: [] })
  })
  it('gives no code when an input is missing, unless the known one already gives red', () => {
    expect(stookAdvice(5, null)).toEqual({ code: null, reason: 'missing', missing: ['wind'] })
    expect(stookAdvice(25, null)).toEqual({ code: null, reason: 'missing', missing: ['wind'] }) // orange could be red at low wind
    expect(stookAdvice(null, 8)).toEqual({ code: null, reason: 'missing', missing: ['pm2_5'] })
    expect(stookAdvice(null, null)).toEqual({ code: null, reason: 'missing', missing: ['wind', 'pm2_5'] })
    expect(stookAdvice(55, null)).toEqual({ code: 'red', reason: 'air', missing: ['wind'] })
    expect(stookAdvice(null, 2)).toEqual({ code: 'red', reason: 'wind', missing: ['pm2_5'] })
  })
})

describe('street and postcode search', () => {
  const places = [
    { name: 'Stadshagenallee', kind: 'street' as const, lat: 52.53, lon: 6.06 },
    { name: 'Frans Halsstraat', kind: 'street' as const, lat: 52.52, lon: 6.08 },
    { name: '8043 AB', kind: 'postcode' as const, lat: 52.531, lon: 6.061 },
  ]
  it('matches a word start without case, and a postcode with or without its space', () => {
    expect(searchPlaces(places, 'stads').map((p) => p.name)).toEqual(['Stadshagenallee'])
    expect(searchPlaces(places, 'HALS').map((p) => p.name)).toEqual(['Frans Halsstraat'])
    expect(searchPlaces(places, '8043ab').map((p) => p.name)).toEqual(['8043 AB'])
    expect(searchPlaces(places, '8043 a').map((p) => p.name)).toEqual(['8043 AB'])
    expect(searchPlaces(places, 'allee')).toEqual([])
  })
})
