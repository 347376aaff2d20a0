import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CalibrationFitStore, influxFitStore } from '../../core/calibration/fits.ts'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { calibratePeriod, type CalibratorOptions, type SeriesResult, fitCounts, runCounts } from '../../services/calibration/calibrator.ts'
import { FLEET, FLEET_DAYS, FLEET_START, HOUR, pmFleet } from '../calibration/synthetic/pm.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry } from '../helpers/registry.ts'

const logger = createLogger('warn')
const DAY = 24 * HOUR
/** First run's end: two days before the fleet's end, so that a run 25 hours later still has data. */
const T1 = FLEET_START + (FLEET_DAYS - 2) * DAY
/** The worker's apply window (SENSHAGEN_CALIBRATION_WINDOW_H default). */
const APPLY = 48 * HOUR
const FIT_DAYS = 21

/** A store that records the time span of every read it serves (epoch ms) and every line written. */
function recording(store: InfluxReadingStore) {
  const reads: Array<{ call: string; from: number }> = []
  const lines: string[] = []
  const spy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const query = args[0] as { from?: number } | undefined
        if (['queryReadings', 'countReadings', 'readingRows', 'referenceObservations'].includes(String(key))) reads.push({ call: String(key), from: query?.from ?? -Infinity })
        if (key === 'writeLines') lines.push(...(args[0] as string[]))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  }) as ReadingStore
  return { spy, reads, lines, earliest: () => Math.min(...reads.map((r) => r.from)), reset: () => void (reads.length = lines.length = 0) }
}

/**
 * Fit and apply separate in time (issue 11, services/calibration/calibrator.ts): the worker stores each fit in
 * InfluxDB `calibration_fits` and, within SENSHAGEN_CALIBRATION_REFIT_HOURS of its window's end, applies it to the
 * apply window without reading the fit window again. On the synthetic PM fleet (test/calibration/synthetic/pm.ts,
 * 12 devices, 21 days, real InfluxDB 1.6.7): the second run at the same hour reads nothing older than the apply
 * window and writes exactly the calibrated values of the first; a run 25 hours later refits; --refit forces it.
 */
describe('calibration fits stored and reused (real InfluxDB 1.6.7)', () => {
  const fleet = pmFleet(11)
  const database = uniqueId('calrefit')
  const reportsDir = mkdtempSync(join(tmpdir(), 'senshagen-calrefit-'))
  let store: InfluxReadingStore
  let fits: CalibrationFitStore
  let registry: Awaited<ReturnType<typeof testRegistry>>
  let rec: ReturnType<typeof recording>
  let options: CalibratorOptions
  const runs: Array<{ results: SeriesResult[]; earliest: number; written: Map<string, number> }> = []

  /** One run ending at `to` over the apply window; the earliest time it read and the calibrated values it wrote. */
  async function run(to: number, refit = false) {
    rec.reset()
    const started = performance.now()
    const results = await calibratePeriod(rec.spy, registry.store, options, { from: to - APPLY, to, quantities: ['pm2_5'], refit }, logger)
    const written = new Map<string, number>()
    for (const line of rec.lines) {
      const match = /^reading,device=(\S+),quantity=pm2_5 .*\bcalibrated=([^,\s]+).* (\d+)$/.exec(line)
      if (match) written.set(`${match[1]} ${match[3]}`, Number(match[2]))
    }
    runs.push({ results, earliest: rec.earliest(), written })
    console.log(`run to ${new Date(to).toISOString()}${refit ? ' --refit' : ''}: ${JSON.stringify(fitCounts(results))}, ${rec.reads.length} reads from ${new Date(rec.earliest()).toISOString()}, ${(performance.now() - started).toFixed(0)} ms`)
  }

  beforeAll(async () => {
    registry = await testRegistry(FLEET.map((d) => ({ id: d.id, neighbourhood: 'stadshagen', consent: true, sensorModels: [d.sensorModel], location: d.location })))
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const readings: Reading[] = [...fleet.readings.values()].flat()
    for (let i = 0; i < readings.length; i += 5000) await store.write({ readings: readings.slice(i, i + 5000), rejections: [] })
    const reference: ReferenceObservation[] = []
    for (const [i, end] of fleet.hours.entries()) {
      reference.push({ station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: fleet.reference[i]!.value, time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'relative_humidity', value: fleet.humidity[i]!.value, time: end, periodMs: HOUR, flags: [] })
    }
    await writeReferenceObservations(store, reference)
    fits = influxFitStore(store)
    rec = recording(store)
    options = { pmStation: 'NL10818', weatherStation: '278', collocated: [], completeness: 0.75, reportsDir, fitDays: FIT_DAYS, fitStore: fits, refitHours: 24 }
    await run(T1) // 0: no stored fit: fits on 21 days
    await run(T1) // 1: same hour: reuses
    await run(T1 + 25 * HOUR) // 2: the fit's window ended 25 h before: refits
    await run(T1, true) // 3: forced
  }, 600_000)

  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
    rmSync(reportsDir, { recursive: true, force: true })
  })

  it('first run: no stored fit, so it reads the 21-day fit window, fits all 12 devices and stores one fit each', async () => {
    const [first] = runs
    expect(fitCounts(first!.results)).toEqual({ fitted: 12, reused: 0 })
    expect(first!.earliest).toBeLessThanOrEqual(T1 - FIT_DAYS * DAY)
    const stored = await fits.latest('pm2_5', T1, 24 * HOUR)
    expect([...stored.keys()].sort()).toEqual(FLEET.map((d) => d.id).sort())
    const s1 = stored.get('s1')!
    expect(s1).toMatchObject({ method: 'pm-group-ratio', window: { from: T1 - FIT_DAYS * DAY, to: T1 } })
    expect(s1.n).toBeGreaterThan(19 * 24 * 0.9)
    expect(s1.parameters['pm-group-ratio']?.scales).toHaveLength(19)
    expect(s1.uncertainty?.label).toBe(s1.label)
    expect(['indicative', 'experimental']).toContain(s1.label)
  })

  it('second run within the refit interval reads only the apply window and writes identical calibrated values', () => {
    const [first, second] = runs
    expect(fitCounts(second!.results)).toEqual({ fitted: 0, reused: 12, reusedFittedAt: first!.results[0]!.fit!.fittedAt })
    // the reference query starts an hour before (spot values); readings an hour before the window's first hour
    expect(second!.earliest).toBeGreaterThanOrEqual(T1 - APPLY - 2 * HOUR)
    expect(runCounts(second!.results)).toEqual(runCounts(first!.results))
    expect(second!.written.size).toBe(runCounts(first!.results).written)
    expect(second!.written.size).toBeGreaterThan(12 * 40 * 3)
    expect(second!.written).toEqual(first!.written)
    expect(second!.results.map((r) => r.uncertainty)).toEqual(first!.results.map((r) => r.uncertainty))
  })

  it('a run 25 hours later (refit interval 24 h) refits on the 21 days before its own end', async () => {
    const [, , third] = runs
    expect(fitCounts(third!.results)).toEqual({ fitted: 12, reused: 0 })
    expect(third!.earliest).toBeLessThanOrEqual(T1 + 25 * HOUR - FIT_DAYS * DAY)
    expect((await fits.latest('pm2_5', T1 + 25 * HOUR, HOUR)).get('s1')?.window.to).toBe(T1 + 25 * HOUR)
  })

  it('refit forced at the first hour: fits again, overwrites that window\'s fit, same values', async () => {
    const [first, , , forced] = runs
    expect(fitCounts(forced!.results)).toEqual({ fitted: 12, reused: 0 })
    expect(forced!.earliest).toBeLessThanOrEqual(T1 - FIT_DAYS * DAY)
    expect(forced!.written).toEqual(first!.written)
    const [series] = await store.influxql(`SELECT count("method") FROM calibration_fits WHERE device = 's1' AND time = ${T1 * 1_000_000}`)
    expect(series?.values[0]?.[1]).toBe(1)
  })
})
