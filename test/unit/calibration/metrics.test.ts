import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rSquared } from 'simple-statistics'
import { afterAll, describe, expect, it } from 'vitest'
import { MetricsUsageError, runMetrics, splitCsvLine } from '../../../cli/commands/impl/metrics.ts'
import { computeMetrics, demingFit } from '../../../core/calibration/metrics.ts'

// Fixtures and known answers: test/fixtures/reference/collocation/SOURCES.md. The regression and error values
// there were computed in double precision and rounded to 6 decimals, so |computed − listed| ≤ 1e-6.
const DIR = new URL('../../fixtures/reference/collocation/', import.meta.url)
const DAILY_FILE = new URL('purpleair_aqs_daily90_excerpt.csv', DIR).pathname
const PREDICTED_FILE = new URL('purpleair_daily_predicted_excerpt.csv', DIR).pathname

function readCsv(path: string): Array<Record<string, string>> {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n')
  const columns = header!.split(',')
  return rows.map((row) => Object.fromEntries(row.split(',').map((cell, i) => [columns[i]!, cell])))
}

/** |actual − expected| ≤ tolerance, with the numbers in the failure message. */
function expectNear(actual: number, expected: number, tolerance: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`).toBeLessThanOrEqual(tolerance)
}

const daily = readCsv(DAILY_FILE)
const num = (row: Record<string, string>, column: string): number => Number(row[column])

describe('computeMetrics on the PurpleAir / AQS daily excerpt (SOURCES.md known answers)', () => {
  const raw = computeMetrics(daily.map((r) => ({ reference: num(r, 'conc'), sensor: num(r, 'A_B_Avg') })))

  it('has all 800 rows', () => {
    expect(daily).toHaveLength(800)
    expect(raw.n).toBe(800)
  })

  it('reproduces OLS conc ~ A_B_Avg and R²', () => {
    expectNear(raw.ols_slope, 0.441786, 1e-6, 'OLS slope')
    expectNear(raw.ols_intercept, 4.727507, 1e-6, 'OLS intercept')
    expectNear(raw.r2, 0.604988, 1e-6, 'R²')
  })

  it('reproduces the orthogonal (Deming, δ = 1) fit', () => {
    expectNear(raw.deming_slope, 0.49341, 1e-6, 'Deming slope')
    expectNear(raw.deming_intercept, 4.264711, 1e-6, 'Deming intercept')
  })

  it('reproduces the raw errors (sensor − reference)', () => {
    expectNear(raw.mbe, 0.276723, 1e-6, 'MBE')
    expectNear(raw.mae, 2.685589, 1e-6, 'MAE')
    expectNear(raw.rmse, 3.670332, 1e-6, 'RMSE')
  })

  it('reproduces the errors of the EPA correction 0.524·PA − 0.0862·RH + 5.75', () => {
    const epa = computeMetrics(
      daily.map((r) => ({ reference: num(r, 'conc'), sensor: 0.524 * num(r, 'A_B_Avg') - 0.0862 * num(r, 'humidity_a') + 5.75 })),
    )
    expectNear(epa.mbe, -3.125096, 1e-6, 'EPA MBE')
    expectNear(epa.mae, 3.149735, 1e-6, 'EPA MAE')
    expectNear(epa.rmse, 3.752629, 1e-6, 'EPA RMSE')
  })

  it('R² (squared Pearson r) equals 1 − SS_res/SS_tot of the OLS line (simple-statistics rSquared)', () => {
    const points = daily.map((r) => [num(r, 'A_B_Avg'), num(r, 'conc')])
    expectNear(raw.r2, rSquared(points, (x) => raw.ols_intercept + raw.ols_slope * x), 1e-12, 'R² two ways')
  })

  it('upstream ModelBj = 5.72 + 0.524·A_B_Avg − 0.0852·humidity_a, rows matched on (date, reference, raw sensor)', () => {
    // SOURCES.md: the predicted file holds the upstream rows that match on (Date, AQS_conc, PA_raw_conc) =
    // (DAILY, conc, A_B_Avg), in upstream order: NOT the same order as the daily excerpt.
    const predicted = readCsv(PREDICTED_FILE)
    const key = (date: string, reference: string, sensor: string) => `${date}|${reference}|${sensor}`
    const byKey = new Map(predicted.map((p) => [key(p['Date']!, p['AQS_conc']!, p['PA_raw_conc']!), p]))
    expect(byKey.size).toBe(800)
    const samePosition = daily.filter((r, i) => key(r['DAILY']!, r['conc']!, r['A_B_Avg']!) === key(predicted[i]!['Date']!, predicted[i]!['AQS_conc']!, predicted[i]!['PA_raw_conc']!))
    expect(samePosition.length).toBeLessThan(10) // matching by position would compare different days
    let worst = 0
    for (const r of daily) {
      const p = byKey.get(key(r['DAILY']!, r['conc']!, r['A_B_Avg']!))
      expect(p, `no predicted row for ${r['sensor_index']} ${r['DAILY']}`).toBeDefined()
      const modelBj = 5.72 + 0.524 * num(r, 'A_B_Avg') - 0.0852 * num(r, 'humidity_a')
      worst = Math.max(worst, Math.abs(modelBj - Number(p!['ModelBj'])))
    }
    expect(worst).toBeLessThanOrEqual(1e-9)
  })
})

describe('computeMetrics conventions', () => {
  it('regresses reference on sensor, errors are sensor − reference', () => {
    // sensor reads 1 too high everywhere: reference = −1 + 1·sensor
    const m = computeMetrics([1, 2, 4, 7].map((reference) => ({ reference, sensor: reference + 1 })))
    expect(m).toMatchObject({ n: 4, rmse: 1, mae: 1, mbe: 1, ols_slope: 1, ols_intercept: -1, deming_slope: 1, deming_intercept: -1 })
    expectNear(m.r2, 1, 1e-12, 'R²') // r = cov / (s_x s_y) carries a few ulp of rounding
  })

  it('an exact line gives the same OLS and Deming fit', () => {
    const m = computeMetrics([0, 1, 2, 5, 9].map((sensor) => ({ sensor, reference: 2 + 3 * sensor })))
    expectNear(m.ols_slope, 3, 1e-12, 'OLS slope')
    expectNear(m.ols_intercept, 2, 1e-12, 'OLS intercept')
    expectNear(m.deming_slope, 3, 1e-12, 'Deming slope')
    expectNear(m.deming_intercept, 2, 1e-12, 'Deming intercept')
    expectNear(m.r2, 1, 1e-12, 'R²')
  })

  it('MAE and RMSE differ from MBE when errors cancel', () => {
    const m = computeMetrics([
      { reference: 10, sensor: 12 },
      { reference: 20, sensor: 18 },
      { reference: 30, sensor: 30 },
    ])
    expect(m.mbe).toBe(0)
    expectNear(m.mae, 4 / 3, 1e-15, 'MAE')
    expectNear(m.rmse, Math.sqrt(8 / 3), 1e-15, 'RMSE')
  })

  it('orthogonal regression is symmetric: x on y gives the reciprocal slope (both closed-form branches)', () => {
    const x = daily.map((r) => num(r, 'A_B_Avg'))
    const y = daily.map((r) => num(r, 'conc'))
    const yOnX = demingFit(x, y)
    const xOnY = demingFit(y, x)
    expectNear(yOnX.slope * xOnY.slope, 1, 1e-12, 'slope product')
    // between the OLS slope of y on x and the reciprocal OLS slope of x on y
    const m = computeMetrics(x.map((sensor, i) => ({ sensor, reference: y[i]! })))
    expect(m.deming_slope).toBeGreaterThan(m.ols_slope)
    expect(m.deming_slope).toBeLessThan(m.ols_slope / m.r2)
  })

  it('handles a negative relation', () => {
    const m = computeMetrics([1, 2, 3, 4].map((sensor, i) => ({ sensor, reference: 10 - 2 * sensor + [0.1, -0.1, 0.1, -0.1][i]! })))
    expect(m.ols_slope).toBeLessThan(0)
    expect(m.deming_slope).toBeLessThan(0)
    expect(m.r2).toBeGreaterThan(0.99)
  })

  it('demingFit with δ ≠ 1 follows the closed form', () => {
    const x = [1, 2, 3, 4, 5]
    const y = [1.2, 1.9, 3.4, 3.8, 5.3]
    const delta = 4
    const mx = 3
    const my = y.reduce((a, b) => a + b) / 5
    const sxx = x.reduce((a, v) => a + (v - mx) ** 2, 0) / 4
    const syy = y.reduce((a, v) => a + (v - my) ** 2, 0) / 4
    const sxy = x.reduce((a, v, i) => a + (v - mx) * (y[i]! - my), 0) / 4
    const slope = (syy - delta * sxx + Math.sqrt((syy - delta * sxx) ** 2 + 4 * delta * sxy ** 2)) / (2 * sxy)
    const fit = demingFit(x, y, delta)
    expectNear(fit.slope, slope, 1e-12, 'slope')
    expectNear(fit.intercept, my - slope * mx, 1e-12, 'intercept')
  })

  it('throws a clear Error instead of returning NaN', () => {
    const pairs = (refs: number[], sensors: number[]) => refs.map((reference, i) => ({ reference, sensor: sensors[i]! }))
    expect(() => computeMetrics(pairs([1, 2], [1, 2]))).toThrow('at least 3 pairs, got 2')
    expect(() => computeMetrics([])).toThrow('at least 3 pairs, got 0')
    expect(() => computeMetrics(pairs([1, 2, 3], [5, 5, 5]))).toThrow('all 3 sensor values equal 5: zero variance')
    expect(() => computeMetrics(pairs([0.1, 0.1, 0.1], [1, 2, 3]))).toThrow('reference values equal 0.1')
    expect(() => computeMetrics(pairs([1, Number.NaN, 3], [1, 2, 3]))).toThrow('pair 1: reference value NaN is not a finite number')
    expect(() => computeMetrics(pairs([1, 2, 3], [1, 2, Infinity]))).toThrow('pair 2: sensor value Infinity')
    expect(() => computeMetrics(pairs([1, -2, 1, 0], [-1, 0, 1, 0]))).toThrow('covariance 0')
    expect(() => demingFit([1, 2, 3], [1, 2], 1)).toThrow('equal-length')
    expect(() => demingFit([1, 2, 3], [1, 2, 4], 0)).toThrow('delta must be')
  })
})

describe('runMetrics (senshagen metrics)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'senshagen-metrics-'))
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))
  const write = (name: string, text: string) => {
    const path = join(tmp, name)
    writeFileSync(path, text)
    return path
  }

  it('prints the known answers for the fixture, one `name value` per line with 6 decimals', () => {
    const notes: string[] = []
    const out = runMetrics(DAILY_FILE, { reference: 'conc', sensor: 'A_B_Avg' }, (line) => notes.push(line))
    expect(out).toBe(
      ['n 800', 'r2 0.604988', 'rmse 3.670332', 'mae 2.685589', 'mbe 0.276723', 'ols_slope 0.441786', 'ols_intercept 4.727507', 'deming_slope 0.493410', 'deming_intercept 4.264711', ''].join('\n'),
    )
    expect(notes).toEqual([])
  })

  it('prints one JSON object with full precision in --format json', () => {
    const out = runMetrics(DAILY_FILE, { reference: 'conc', sensor: 'A_B_Avg', format: 'json' })
    expect(out.endsWith('}\n')).toBe(true)
    const parsed = JSON.parse(out) as Record<string, number>
    expect(Object.keys(parsed)).toEqual(['n', 'r2', 'rmse', 'mae', 'mbe', 'ols_slope', 'ols_intercept', 'deming_slope', 'deming_intercept'])
    expect(parsed['n']).toBe(800)
    expectNear(parsed['ols_slope']!, 0.441786, 1e-6, 'OLS slope')
  })

  it('reads semicolon CSV with quotes, CRLF and a BOM; skips and counts rows without numbers', () => {
    const path = write(
      'semi.csv',
      '\uFEFFtime;"ref pm";sensor\r\n' +
        '1;10;11\r\n2;"20";22\r\n3;30;33.5\r\n' +
        '4;;40\r\n' + // empty reference
        '5;nan;50\r\n' + // not finite
        '6;60;12,5\r\n' + // decimal comma
        '7;70\r\n' + // truncated row: sensor missing
        '\r\n8;80;81\r\n',
    )
    const notes: string[] = []
    const out = runMetrics(path, { reference: 'ref pm', sensor: 'sensor' }, (line) => notes.push(line))
    expect(out.split('\n')[0]).toBe('n 4')
    expect(notes).toEqual(['skipped 4 row(s) without a number in ref pm or sensor (2 missing, 1 not_finite, 1 number_format); 4 used'])
  })

  it('an unknown column is a usage error listing the columns', () => {
    const call = () => runMetrics(DAILY_FILE, { reference: 'pm25', sensor: 'A_B_Avg' })
    expect(call).toThrow(MetricsUsageError)
    expect(call).toThrow(`--reference: no column 'pm25'; the columns are sensor_index, DAILY, conc, A_B_Avg, pm2.5_cf_1_a, pm2.5_cf_1_b, humidity_a, temp_Celsius, dewPoint, n`)
  })

  it('a duplicated column or an unknown format is a usage error', () => {
    const path = write('dup.csv', 'a,b,a\n1,2,3\n')
    expect(() => runMetrics(path, { reference: 'a', sensor: 'b' })).toThrow(new MetricsUsageError("--reference: column 'a' occurs more than once in the header"))
    expect(() => runMetrics(DAILY_FILE, { reference: 'conc', sensor: 'A_B_Avg', format: 'csv' })).toThrow(MetricsUsageError)
  })

  it('too few usable rows and unreadable files are ordinary errors (exit 1)', () => {
    const path = write('short.csv', 'r,s\n1,2\n2,3\nx,4\n')
    const few = () => runMetrics(path, { reference: 'r', sensor: 's' }, () => {})
    expect(few).toThrow('at least 3 pairs, got 2')
    expect(few).not.toThrow(MetricsUsageError)
    expect(() => runMetrics(join(tmp, 'missing.csv'), { reference: 'r', sensor: 's' })).toThrow(/ENOENT/)
    expect(() => runMetrics(write('empty.csv', ''), { reference: 'r', sensor: 's' })).toThrow('no header row')
  })

  it('splitCsvLine honours quotes', () => {
    expect(splitCsvLine('a,"b,c","d ""e""",', ',')).toEqual(['a', 'b,c', 'd "e"', ''])
    expect(splitCsvLine('1;"2;3"', ';')).toEqual(['1', '2;3'])
  })
})
