import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { biasSvg, calibrationPlots, escapeXml, niceTicks, scatterSvg, timeSeriesSvg, timeTicks } from '../../../core/calibration/plots.ts'
import { LABEL_TEXT, buildReport, fileSafeName, writeReport } from '../../../core/calibration/report.ts'
import { assessUncertainty } from '../../../core/calibration/uncertainty.ts'
import type { CalibrationResult, Metrics } from '../../../core/calibration/types.ts'

const HOUR = 3_600_000
const FROM = Date.UTC(2024, 0, 1)
const metrics = (rmse: number): Metrics => ({ n: 40, r2: 0.8, rmse, mae: rmse * 0.8, mbe: 1, ols_slope: 0.9, ols_intercept: 0.5, deming_slope: 0.95, deming_intercept: 0.2 })
const result: CalibrationResult = {
  deviceId: 'ttn:app:dev-1',
  quantity: 'pm2_5',
  method: 'pm-group-ratio',
  version: '1',
  referenceStation: 'NL10818',
  referenceDistanceKm: 14.1,
  from: FROM,
  to: FROM + 2 * 86_400_000,
  coefficients: { factors: [1.5, Number.NaN], clipped_hours: 0 },
  before: metrics(6),
  after: { ...metrics(2), r2: Number.NaN },
}
// 48 hours: raw everywhere, calibrated on 46, reference on 45 (hours 10, 11, 30 missing; one gap)
const series = Array.from({ length: 48 }, (_, i) => {
  const reference = 10 + 5 * Math.sin(i / 4)
  return {
    time: FROM + (i + 1) * HOUR,
    raw: reference * 1.6 + 1,
    ...(i === 20 || i === 21 ? {} : { calibrated: reference + 0.3 * Math.cos(i) }),
    ...(i === 10 || i === 11 || i === 30 ? {} : { reference }),
  }
})
const labels = { deviceId: result.deviceId, quantity: result.quantity, referenceStation: result.referenceStation, method: result.method }

/** Minimal well-formedness check: every opened element is closed in order. */
function balanced(svg: string): boolean {
  const stack: string[] = []
  for (const [, close, name, selfClose] of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (selfClose) continue
    if (close) {
      if (stack.pop() !== name) return false
    } else stack.push(name as string)
  }
  return stack.length === 0
}

describe('buildReport', () => {
  it('has method, reference, ISO period, coefficients, metrics, notes and a label that follows the numbers, and survives JSON', () => {
    const report = buildReport(result, series, ['kappa_default', 'kappa_default', 'unreliable'])
    expect(report).toMatchObject({
      deviceId: 'ttn:app:dev-1',
      quantity: 'pm2_5',
      unit: 'µg/m³',
      method: 'pm-group-ratio',
      version: '1',
      reference: { station: 'NL10818', distanceKm: 14.1 },
      period: { from: '2024-01-01T00:00:00.000Z', to: '2024-01-03T00:00:00.000Z' },
      coefficients: { factors: [1.5, null], clipped_hours: 0 },
      notes: ['kappa_default', 'unreliable'],
      hours: { raw: 48, calibrated: 46, reference: 45 },
      label: 'experimental', // calibrated, but no uncertainty assessed
      uncertainty: null,
    })
    expect(report.labelText).toBe(LABEL_TEXT.experimental)
    expect(report.metrics.before.rmse).toBe(6)
    expect(report.metrics.after.r2).toBeNull()
    expect(report.metrics.heldOut).toBeNull()
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
    expect(buildReport({ ...result, referenceDistanceKm: undefined }, [], []).reference.distanceKm).toBeNull()
    expect(buildReport(result, series.map(({ time, raw }) => ({ time, raw })), []).label).toBe('uncalibrated')
  })

  it('carries the held-out metrics and the GDE uncertainty; indicative only when the objective is met', () => {
    // 12 days of held-out hours, calibrated = 1.1 × reference (W at 25 = 2·(0.1·25)/25 = 20 % plus the scatter's share)
    const ref = (i: number) => 10 + (i % 24) + 2 * Math.floor(i / 24)
    const pairs = Array.from({ length: 12 * 24 }, (_, i) => ({ time: FROM + (i + 1) * HOUR, reference: ref(i), calibrated: 1.1 * ref(i) + ((i * 7) % 5) - 2 }))
    const good = buildReport({ ...result, heldOut: { before: metrics(6), after: metrics(2) }, uncertainty: assessUncertainty('pm2_5', pairs, 0.95) }, series, [])
    expect(good.label).toBe('indicative')
    expect(good.metrics.heldOut?.after.rmse).toBe(2)
    expect(good.uncertainty).toMatchObject({ averaging: 'day', n: 12, objective: { limitValue: 25, relativeUncertainty: 0.5, minDataCapture: 0.9 }, dataCapture: 0.95, reasons: [] })
    // the slope alone gives 2·0.1·25/25 = 20 %; the fitted intercept and the day-to-day scatter move it a little
    expect(good.uncertainty!.relativeExpandedUncertainty!).toBeGreaterThan(0.17)
    expect(good.uncertainty!.relativeExpandedUncertainty!).toBeLessThan(0.25)
    const lowCapture = buildReport({ ...result, uncertainty: assessUncertainty('pm2_5', pairs, 0.8) }, series, [])
    expect(lowCapture.label).toBe('experimental')
    expect(lowCapture.uncertainty!.reasons).toEqual(['data_capture_low: 80 % < 90 %'])
  })
})

describe('plots', () => {
  const summary = { ...labels, summary: 'indicative · U = 6.1 µg/m³ (24.4 %) at 25 µg/m³' }
  const texts = (svg: string, cls: string) => [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>(.*?)</text>`, 'g'))].map((m) => m[1]!.replace(/<[^>]+>/g, ''))

  it('scatter: raw and calibrated in separate panels on their own scales, with n, R², RMSE, MBE, 1:1, OLS and Deming', () => {
    const svg = scatterSvg(series, summary)
    expect(svg).toContain('role="img"')
    expect(texts(svg, 'plot-title')).toEqual(['ttn:app:dev-1 · Particulate matter &lt; 2.5 µm: reference against sensor', 'reference station NL10818 · method pm-group-ratio', 'indicative · U = 6.1 µg/m³ (24.4 %) at 25 µg/m³'])
    expect(svg.match(/data-panel="(raw|calibrated)"/g)).toEqual(['data-panel="raw"', 'data-panel="calibrated"'])
    const titles = texts(svg, 'panel-title')
    expect(titles[0]).toMatch(/^raw: n = 45, R² = 1, RMSE = \d+(\.\d+)?, MBE = \d+(\.\d+)? µg\/m³$/)
    expect(titles[1]).toMatch(/^calibrated: n = 43, R² = 0\.\d+, RMSE = 0\.\d+, MBE = -?0\.\d+ µg\/m³$/)
    expect(svg.match(/<circle class="raw"/g)).toHaveLength(45)
    expect(svg.match(/<circle class="calibrated"/g)).toHaveLength(43)
    for (const cls of ['one-to-one', 'ols-raw', 'deming-raw', 'ols-calibrated', 'deming-calibrated']) expect(svg).toContain(`class="${cls}"`)
    // own scales: the raw panel reaches 1.6 × 15 + 1 = 25 µg/m³, the calibrated one only about 15
    const yTicks = (panel: string) => svg.split(`data-panel="${panel}"`)[1]!.split('</g>')[0]!.match(/text-anchor="end" stroke="none">([\d.]+)</g)!.map((t) => Number(t.slice(t.indexOf('>') + 1, -1)))
    expect(Math.max(...yTicks('raw'))).toBeGreaterThanOrEqual(25)
    expect(Math.max(...yTicks('calibrated'))).toBeLessThan(25)
    expect(balanced(svg)).toBe(true)
  })

  it('says so in words where a series has no reference overlap, never "reference (n = 0)"', () => {
    const none = series.map(({ time, raw, calibrated }) => ({ time, raw, calibrated }))
    for (const svg of [scatterSvg(none, labels), timeSeriesSvg(none, labels), biasSvg(none, { ...labels, quantity: 'air_temperature' })]) {
      expect(texts(svg, 'no-data')[0]).toBe('no reference overlap:no hour of ttn:app:dev-1 has a value of NL10818,so there is nothing to compare')
      expect(svg).not.toContain('n = 0)')
      expect(balanced(svg)).toBe(true)
    }
    expect(scatterSvg(none, labels)).not.toContain('<circle')
  })

  it('time series: raw and calibrated panels with the reference, an RH panel for PM, lines broken at missing hours', () => {
    const svg = timeSeriesSvg(series.map((p, i) => ({ ...p, humidity: 60 + (i % 30) })), summary)
    expect(svg.match(/data-panel="(\w+)"/g)).toEqual(['data-panel="raw"', 'data-panel="calibrated"', 'data-panel="humidity"'])
    expect(texts(svg, 'panel-title')[2]).toBe('relative humidity at the reference (48 h): PM sensors read high in humid air')
    const path = (key: string) => svg.match(new RegExp(`<path class="${key}" d="([^"]*)"`))?.[1] ?? ''
    expect(path('raw').match(/[ML]/g)).toHaveLength(48)
    expect(path('raw').match(/M/g)).toHaveLength(1)
    expect(path('reference').match(/M/g)).toHaveLength(3) // gaps at hours 10–11 and 30
    expect(path('calibrated').match(/[ML]/g)).toHaveLength(46)
    expect(path('humidity').match(/[ML]/g)).toHaveLength(48)
    expect(timeSeriesSvg(series, labels)).not.toContain('data-panel="humidity"') // no humidity values: no panel
    expect(balanced(svg)).toBe(true)
  })

  it('temperature: a bias plot by hour of day and against radiation', () => {
    // sensor 2 °C warm at hour 12 UTC and 0.5 °C elsewhere; radiation 500 W/m² at hour 12
    const t = Array.from({ length: 72 }, (_, i) => ({ time: FROM + (i + 1) * HOUR, reference: 5, raw: i % 24 === 12 ? 7 : 5.5, calibrated: 5.1, radiation: i % 24 === 12 ? 500 : 0 }))
    const plots = calibrationPlots(t, { ...labels, quantity: 'air_temperature', referenceStation: '278' })
    expect(Object.keys(plots)).toEqual(['scatter', 'timeseries', 'bias'])
    const svg = plots.bias!
    expect(svg.match(/data-panel="([\w-]+)"/g)).toEqual(['data-panel="hour-of-day"', 'data-panel="radiation"'])
    const raw = svg.match(/<path class="raw" d="([^"]*)"/)![1]!.split(/[ML]/).filter(Boolean).map((p) => p.trim().split(' ').map(Number))
    expect(raw).toHaveLength(24)
    const ys = raw.map(([, y]) => y!)
    expect(ys.filter((y) => y === Math.min(...ys))).toHaveLength(1) // one hour (12) stands out: the highest bias, smallest y
    expect(raw.findIndex(([, y]) => y === Math.min(...ys))).toBe(12)
    expect(svg.match(/<circle class="raw"/g)).toHaveLength(72)
    expect(calibrationPlots(t, labels).bias).toBeUndefined() // PM: no bias plot
    expect(texts(biasSvg(t.map(({ radiation: _, ...p }) => p), { ...labels, quantity: 'air_temperature' }), 'no-data')).toEqual(['no global radiation (KNMI Q) in this series'])
  })

  it('helpers: nice ticks, UTC time ticks, XML escaping', () => {
    expect(niceTicks(0.3, 9.2)).toEqual({ ticks: [0, 2, 4, 6, 8, 10], min: 0, max: 10 })
    expect(niceTicks(5, 5).ticks.length).toBeGreaterThan(1)
    expect(timeTicks(FROM, FROM + 2 * 86_400_000)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => FROM + i * 6 * HOUR))
    expect(escapeXml(`<a & "b">`)).toBe('&lt;a &amp; &quot;b&quot;&gt;')
  })
})

describe('writeReport', () => {
  let dir: string | undefined
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('writes <dir>/<device>/<quantity>.json and two SVGs under file-safe names', async () => {
    dir = await mkdtemp(join(tmpdir(), 'senshagen-report-'))
    const report = buildReport(result, series, [])
    const paths = await writeReport(dir, report, series)
    expect(await readdir(dir)).toEqual(['ttn~3Aapp~3Adev-1'])
    expect((await readdir(join(dir, 'ttn~3Aapp~3Adev-1'))).sort()).toEqual(['pm2_5-scatter.svg', 'pm2_5-timeseries.svg', 'pm2_5.json'])
    expect(JSON.parse(await readFile(paths.json, 'utf8'))).toEqual(report)
    expect(await readFile(paths.scatter, 'utf8')).toBe(scatterSvg(series, { ...labels, summary: 'experimental' }))
    expect(paths.bias).toBeUndefined()
    await writeReport(dir, report, { scatter: '<svg/>', timeseries: '<svg/>' })
    expect(await readFile(paths.timeseries, 'utf8')).toBe('<svg/>')
  })

  it('fileSafeName escapes reversibly', () => {
    expect(fileSafeName('sc-12345')).toBe('sc-12345')
    expect(fileSafeName('ttn:a:b')).toBe('ttn~3Aa~3Ab')
    expect(fileSafeName('ttn_a_b')).not.toBe(fileSafeName('ttn:a:b'))
    expect(fileSafeName('../x')).toBe('~2E.~2Fx')
    expect(fileSafeName('a~b')).toBe('a~7Eb')
    expect(() => fileSafeName('')).toThrow()
  })
})
