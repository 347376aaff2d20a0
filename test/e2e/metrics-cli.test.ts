import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const FIXTURE = new URL('../fixtures/reference/collocation/purpleair_aqs_daily90_excerpt.csv', import.meta.url).pathname

/**
 * `senshagen metrics` as a researcher runs it on any CSV: the known answers of
 * test/fixtures/reference/collocation/SOURCES.md (computed there in double precision) to 1e-6.
 */
describe('senshagen metrics', () => {
  it('prints the known answers for the PurpleAir/AQS excerpt, as text and as JSON', async () => {
    const text = (await run('node', ['bin/senshagen.js', 'metrics', FIXTURE, '--reference', 'conc', '--sensor', 'A_B_Avg'])).stdout
    const values = Object.fromEntries(text.trim().split('\n').map((line) => line.split(/\s+/) as [string, string]))
    expect(values.n).toBe('800')
    const known = { r2: 0.604988, rmse: 3.670332, mae: 2.685589, mbe: 0.276723, ols_slope: 0.441786, ols_intercept: 4.727507, deming_slope: 0.49341, deming_intercept: 4.264711 }
    for (const [name, value] of Object.entries(known)) expect(Math.abs(Number(values[name]) - value), name).toBeLessThanOrEqual(1e-6)
    const json = JSON.parse((await run('node', ['bin/senshagen.js', 'metrics', FIXTURE, '--reference', 'conc', '--sensor', 'A_B_Avg', '--format', 'json'])).stdout)
    expect(Object.keys(json)).toEqual(['n', 'r2', 'rmse', 'mae', 'mbe', 'ols_slope', 'ols_intercept', 'deming_slope', 'deming_intercept'])
    for (const [name, value] of Object.entries(known)) expect(Math.abs(json[name] - value), name).toBeLessThanOrEqual(1e-6)
  })

  it('names the columns it has when asked for one it has not (exit 2)', async () => {
    const failure = await run('node', ['bin/senshagen.js', 'metrics', FIXTURE, '--reference', 'nope', '--sensor', 'A_B_Avg']).then(() => undefined, (error: { code: number; stderr: string }) => error)
    expect(failure?.code).toBe(2)
    expect(failure?.stderr).toContain('conc')
  })
})
