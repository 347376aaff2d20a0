import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { escapeXml, niceTicks, scatterSvg, timeSeriesSvg, timeTicks } from '../../../core/calibration/plots.ts'
import { INDICATIVE_LABEL, buildReport, fileSafeName, writeReport } from '../../../core/calibration/report.ts'
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
  it('has method, reference, ISO period, coefficients, metrics, notes and the indicative label, and survives JSON', () => {
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
      label: INDICATIVE_LABEL,
    })
    expect(report.label).toBe('indicative, not equivalent to reference measurements')
    expect(report.metrics.before.rmse).toBe(6)
    expect(report.metrics.after.r2).toBeNull()
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
    expect(buildReport({ ...result, referenceDistanceKm: undefined }, [], []).reference.distanceKm).toBeNull()
  })
})

describe('plots', () => {
  it('scatter: accessible SVG with one circle per paired hour, the 1:1 line, OLS lines and a legend', () => {
    const svg = scatterSvg(series, labels)
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg).toContain('role="img"')
    expect(svg).toMatch(/<title id="scatter-title">[^<]*ttn:app:dev-1[^<]*NL10818<\/title>/)
    expect(svg).toMatch(/<desc id="scatter-desc">[^<]*45 raw points[^<]*43 calibrated points/)
    expect(svg.match(/<circle class="raw"/g)).toHaveLength(45)
    expect(svg.match(/<circle class="calibrated"/g)).toHaveLength(43)
    expect(svg).toContain('class="one-to-one"')
    expect(svg).toContain('class="ols-raw"')
    expect(svg).toContain('class="ols-calibrated"')
    expect(svg).toContain('(µg/m³)')
    expect(svg).toContain('raw (n = 45)')
    expect(balanced(svg)).toBe(true)
  })

  it('scatter without data is still a valid plot', () => {
    const svg = scatterSvg([], labels)
    expect(svg).not.toContain('<circle')
    expect(svg).toContain('class="one-to-one"')
    expect(balanced(svg)).toBe(true)
  })

  it('time series: three lines, broken at missing hours', () => {
    const svg = timeSeriesSvg(series, labels)
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg).toContain('role="img"')
    expect(svg).toContain('<title id="timeseries-title">')
    for (const key of ['raw', 'calibrated', 'reference']) expect(svg).toContain(`<path class="${key}"`)
    const path = (key: string) => svg.match(new RegExp(`<path class="${key}" d="([^"]*)"`))?.[1] ?? ''
    expect(path('raw').match(/[ML]/g)).toHaveLength(48)
    expect(path('raw').match(/M/g)).toHaveLength(1)
    expect(path('reference').match(/M/g)).toHaveLength(3) // gaps at hours 10–11 and 30
    expect(path('calibrated').match(/[ML]/g)).toHaveLength(46)
    expect(balanced(svg)).toBe(true)
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
    expect(await readFile(paths.scatter, 'utf8')).toBe(scatterSvg(series, labels))
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
