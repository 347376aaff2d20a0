import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hourOfDay } from '../../core/calibration/methods/index.ts'
import { createLogger } from '../../core/logger.ts'
import { importReferenceFiles } from '../../core/reference/import.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { calibratePeriod, type CalibratorOptions, type SeriesResult, runCounts } from '../../services/calibration/calibrator.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry } from '../helpers/registry.ts'
import { END, GARDENS, HOUR, hourlyTruth, weatherFleet } from './synthetic/weather.ts'

const logger = createLogger('silent')
const run = promisify(execFile)
/** The worker's apply window: the last 48 hours of the fleet's 21 days (SENSHAGEN_CALIBRATION_WINDOW_H default). */
const FROM = END - 48 * HOUR
/** Readings per device and quantity in the apply window: 48 hours × 12. */
const PER_SERIES = 48 * 12
/** An hour of the apply window whose KNMI Q is deleted before the second run. */
const GAP_END = FROM + 20 * HOUR

/**
 * The calibration worker's path (services/calibration/calibrator.ts) on the synthetic garden fleet
 * (test/calibration/synthetic/weather.ts) in the real InfluxDB 1.6.7: readings stored through the store, KNMI
 * reference imported from the fleet's uurgegevens text through `importReferenceFiles`, devices with positions in
 * a SQLite registry. Fit on 21 days, applied to the last 48 hours, as the hourly worker does.
 */
describe('calibration worker on the synthetic garden fleet (real InfluxDB)', () => {
  const fleet = weatherFleet()
  const database = uniqueId('calweather')
  const reportsDir = mkdtempSync(join(tmpdir(), 'senshagen-calweather-'))
  let store: InfluxReadingStore
  let registry: Awaited<ReturnType<typeof testRegistry>>
  let options: CalibratorOptions
  let first: SeriesResult[]
  let second: SeriesResult[]
  let third: SeriesResult[]
  let cli = ''

  beforeAll(async () => {
    registry = await testRegistry(GARDENS.map((g) => ({ id: g.deviceId, neighbourhood: 'stadshagen', consent: true, location: g.position })))
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    for (let i = 0; i < fleet.readings.length; i += 5000) await store.write({ readings: fleet.readings.slice(i, i + 5000), rejections: [] })
    const knmiFile = join(reportsDir, 'uurgeg_278_synthetic.txt')
    writeFileSync(knmiFile, fleet.knmiText)
    const [summary] = await importReferenceFiles([knmiFile], { store, logger })
    expect(summary).toMatchObject({ format: 'knmi-hourly', observations: 21 * 24 * 4, problems: [] })
    options = { pmStation: 'NL10818', weatherStation: '278', collocated: [], completeness: 0.75, reportsDir }
    first = await calibratePeriod(store, registry.store, options, { from: FROM, to: END }, logger)
    await store.influxql(`DELETE FROM reference WHERE quantity = 'global_radiation' AND time = ${GAP_END * 1_000_000}`)
    second = await calibratePeriod(store, registry.store, options, { from: FROM, to: END }, logger)
    const env = { ...process.env, ...registry.env, SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: database, SENSHAGEN_REPORTS_DIR: reportsDir, SENSHAGEN_LOG_LEVEL: 'warn' }
    const args = ['bin/senshagen.js', 'calibrate', '--from', new Date(FROM).toISOString(), '--to', new Date(END).toISOString(), '--no-progress']
    cli = (await run('node', args, { env, maxBuffer: 16 * 1024 * 1024 })).stderr
    third = await calibratePeriod(store, registry.store, options, { from: FROM, to: END }, logger)
  }, 600_000)

  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
    rmSync(reportsDir, { recursive: true, force: true })
  })

  async function hourly(deviceId: string, quantity: string): Promise<Array<{ time: number; raw: number; calibrated: number | null }>> {
    const [series] = await store.influxql(
      `SELECT mean("value"), mean("calibrated") FROM reading WHERE device = '${deviceId}' AND quantity = '${quantity}' AND time >= ${FROM * 1_000_000} AND time < ${END * 1_000_000} AND calibration_method != '' GROUP BY time(1h) fill(none)`,
    )
    // readings lie at hh:02:30 … hh:57:30, so the bucket starting at h is the hour ending at h + 1 h
    return (series?.values ?? []).map(([time, raw, calibrated]) => ({ time: (time as number) + HOUR, raw: raw as number, calibrated: calibrated as number | null }))
  }

  it('first run: 16 series considered and calibrated, every reading of the 48 hours written, nothing cleared', () => {
    expect(runCounts(first)).toEqual({ considered: 16, calibrated: 16, written: 16 * PER_SERIES, cleared: 0 })
    expect(first.map((r) => r.method)).toEqual(Array(16).fill('radiation-offset'))
  })

  it('every hour of the day is calibrated for every device (fit window 21 days, apply window 48 hours)', async () => {
    for (const g of GARDENS) {
      const hours = await hourly(g.deviceId, 'air_temperature')
      expect(new Set(hours.map((h) => hourOfDay(h.time))).size).toBe(24)
      expect(hours.every((h) => h.calibrated !== null)).toBe(true)
    }
  })

  it.each(GARDENS.map((g) => g.deviceId))('%s: calibrated RMSE ≤ raw RMSE against the true garden temperature and humidity, read back from InfluxDB', async (deviceId) => {
    const garden = GARDENS.find((g) => g.deviceId === deviceId)!
    for (const quantity of ['air_temperature', 'relative_humidity'] as const) {
      const hours = await hourly(deviceId, quantity)
      const truth = (end: number) => hourlyTruth(end, (t) => fleet.garden(garden, t)[quantity === 'air_temperature' ? 't' : 'rh'])
      const rmse = (key: 'raw' | 'calibrated') => Math.sqrt(hours.reduce((s, h) => s + ((h[key] as number) - truth(h.time)) ** 2, 0) / hours.length)
      expect(hours.length).toBeGreaterThanOrEqual(47)
      expect(rmse('calibrated'), quantity).toBeLessThanOrEqual(rmse('raw'))
    }
  })

  it('the faulty sensor\'s calibrated points carry CrowdQC flags; a good sensor\'s device-level flags are empty', async () => {
    const flagsOf = async (deviceId: string) => {
      const [series] = await store.influxql(`SELECT "calibration_flags" FROM reading WHERE device = '${deviceId}' AND quantity = 'air_temperature' AND time >= ${FROM * 1_000_000} LIMIT 1`)
      return series!.values[0]![1] as string
    }
    expect((await flagsOf('garden-8')).split(',')).toEqual(expect.arrayContaining(['qc_m3_outlier_share', 'qc_m4_correlation']))
    expect(first.find((r) => r.deviceId === 'garden-8' && r.quantity === 'air_temperature')!.qc!.flags).toEqual(['qc_m3_outlier_share', 'qc_m4_correlation'])
    expect(first.find((r) => r.deviceId === 'garden-1' && r.quantity === 'air_temperature')!.qc!.flags).toEqual([])
    const report = JSON.parse(readFileSync(join(reportsDir, 'garden-8', 'air_temperature.json'), 'utf8')) as { notes: string[] }
    expect(report.notes.some((n) => n.startsWith('qc_m4_correlation: r = 0.'))).toBe(true)
  })

  it('an hour without KNMI Q gets no value: its earlier calibrated values are cleared (calibration_method "") and counted', async () => {
    const cleared = 16 * 12 // 8 devices × 2 quantities × 12 readings of that hour
    expect(runCounts(second)).toEqual({ considered: 16, calibrated: 16, written: 16 * PER_SERIES - cleared, cleared })
    const [series] = await store.influxql(
      `SELECT count("value") FROM reading WHERE calibration_method = '' AND time > ${(GAP_END - HOUR) * 1_000_000} AND time <= ${GAP_END * 1_000_000}`,
    )
    expect(series!.values[0]![1]).toBe(cleared)
    // InfluxDB 1.x keeps the old number; the store does not read it (core/store/influx-queries.ts)
    const gap = { devices: ['garden-1'], quantities: ['air_temperature' as const], from: GAP_END - HOUR + 1, to: GAP_END + 1 }
    const [stale] = await store.influxql(`SELECT count("calibrated") FROM reading WHERE device = 'garden-1' AND quantity = 'air_temperature' AND calibration_method = ''`)
    expect(stale!.values[0]![1]).toBe(12)
    const rows = await store.readingRows({ ...gap, fields: ['value', 'calibrated', 'calibrated_u', 'calibration_label'] })
    expect(rows).toHaveLength(12)
    for (const row of rows) expect(row.fields).toMatchObject({ value: expect.any(Number), calibrated: null, calibrated_u: -1, calibration_label: 'uncalibrated' })
    const [hour] = await store.aggregateReadings({ ...gap, fields: ['value', 'calibrated'], perDevice: true })
    expect([hour!.stats.value!.count, hour!.stats.calibrated!.count]).toEqual([12, 0])
    const before = await store.readingRows({ ...gap, from: gap.from - HOUR, to: gap.from, fields: ['calibrated', 'calibration_label'] })
    expect(before).toHaveLength(12)
    for (const row of before) expect(row.fields).toMatchObject({ calibrated: expect.any(Number), calibration_label: 'experimental' })
  })

  it('the worker\'s temperature bias plot draws bias against KNMI Q (the run passes radiation into the plot rows)', () => {
    const svg = readFileSync(join(reportsDir, 'garden-1', 'air_temperature-bias.svg'), 'utf8')
    expect(svg).not.toContain('no global radiation')
    const radiationPanel = svg.slice(svg.indexOf('clip-radiation'))
    expect(radiationPanel.match(/<circle class="calibrated"/g)?.length ?? 0).toBeGreaterThan(20)
    expect(radiationPanel.match(/<circle class="raw"/g)?.length ?? 0).toBeGreaterThan(20)
  })

  it('senshagen calibrate prints the true counts; a later run has nothing stale left to clear', () => {
    expect(cli).toContain(`16 series considered, 16 calibrated, ${16 * PER_SERIES - 16 * 12} points written, 0 points cleared`)
    expect(runCounts(third)).toEqual({ considered: 16, calibrated: 16, written: 16 * PER_SERIES - 16 * 12, cleared: 0 })
  })
})
