import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mean } from 'simple-statistics'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NO2_NOT_COLLOCATED_NOTE } from '../../core/calibration/methods/no2.ts'
import type { CalibrationReport } from '../../core/calibration/report.ts'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { calibratePeriod, type CalibratorOptions } from '../../services/calibration/calibrator.ts'
import { FLEET, FLEET_DAYS, FLEET_START, HOUR, pmFleet } from '../calibration/synthetic/pm.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry } from '../helpers/registry.ts'

/**
 * Issue 11 (PM, NO2) through the real calibration worker (calibratePeriod) against InfluxDB 1.6.7: the seeded
 * synthetic fleet of test/calibration/synthetic/pm.ts (12 devices, SDS011- and SPS30-like, 21 days) is stored,
 * registered with its sensor models and positions (consented), with a reference like NL10818 and KNMI 278
 * humidity; one more device reports NO2 without ever standing beside a station. Checked on what the worker
 * stored and reported: RMSE against each garden's truth, the `humid` flag in the fog hours, the drift and gain
 * notes, the κ-Köhler fallback of the device 32 km away, and the NO2 reason.
 */
const logger = createLogger('warn')
const END = FLEET_START + FLEET_DAYS * 24 * HOUR
const NO2_DEVICE = 'no2-garden'

describe('PM fleet through the calibration worker (real InfluxDB 1.6.7)', () => {
  const fleet = pmFleet(11)
  const database = uniqueId('calpm')
  const reportsDir = mkdtempSync(join(tmpdir(), 'senshagen-calpm-'))
  let store: InfluxReadingStore
  let registry: Awaited<ReturnType<typeof testRegistry>>

  beforeAll(async () => {
    registry = await testRegistry([
      ...FLEET.map((d) => ({ id: d.id, neighbourhood: 'stadshagen', consent: true, sensorModels: [d.sensorModel, 'BME280'], location: d.location })),
      { id: NO2_DEVICE, neighbourhood: 'stadshagen', consent: true, sensorModels: ['NO2-B43F'] },
    ])
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const readings: Reading[] = [...fleet.readings.values()].flat()
    for (const end of fleet.hours) {
      for (const minutes of [50, 30, 10]) {
        readings.push({ deviceId: NO2_DEVICE, quantity: 'no2', value: 20 + (end % 7), unit: 'µg/m³', observedAt: end - minutes * 60_000, receivedAt: end, timeSource: 'device', sourceFormat: 'test', flags: [] })
      }
    }
    for (let i = 0; i < readings.length; i += 5000) await store.write({ readings: readings.slice(i, i + 5000), rejections: [] })
    const reference: ReferenceObservation[] = []
    for (const [i, end] of fleet.hours.entries()) {
      reference.push({ station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: fleet.reference[i]!.value, time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: 'NL10818', source: 'luchtmeetnet', quantity: 'no2', value: 15, time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'relative_humidity', value: fleet.humidity[i]!.value, time: end, periodMs: HOUR, flags: [] })
    }
    await writeReferenceObservations(store, reference)
    const options: CalibratorOptions = { pmStation: 'NL10818', weatherStation: '278', collocated: [], completeness: 0.75, reportsDir }
    await calibratePeriod(store, registry.store, options, { from: FLEET_START, to: END, quantities: ['pm2_5', 'no2'] }, logger)
  }, 300_000)

  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
    rmSync(reportsDir, { recursive: true, force: true })
  })

  const report = (device: string, quantity = 'pm2_5') => JSON.parse(readFileSync(join(reportsDir, device, `${quantity}.json`), 'utf8')) as CalibrationReport

  /** Stored raw and calibrated values of one device by hour end, with the hour's calibration flags. */
  async function stored(device: string) {
    const [series] = await store.influxql(`SELECT "value", "calibrated", "calibration_flags", "calibration_method" FROM reading WHERE device = '${device}' AND quantity = 'pm2_5'`)
    const hours = new Map<number, { raw: number[]; cal: number[]; flags: Set<string>; methods: Set<string> }>()
    for (const [time, raw, calibrated, flags, method] of series?.values ?? []) {
      if (calibrated === null) continue
      const end = Math.ceil((time as number) / HOUR) * HOUR
      const h = hours.get(end) ?? hours.set(end, { raw: [], cal: [], flags: new Set(), methods: new Set() }).get(end)!
      h.raw.push(raw as number)
      h.cal.push(calibrated as number)
      for (const f of String(flags).split(',').filter(Boolean)) h.flags.add(f)
      h.methods.add(String(method))
    }
    return hours
  }

  it('every device: stored calibrated RMSE against its garden truth ≤ raw RMSE, over ≥ 480 hours', async () => {
    const rows: Array<Record<string, string | number>> = []
    for (const d of FLEET) {
      const hours = await stored(d.id)
      expect(hours.size, d.id).toBeGreaterThanOrEqual(480)
      const truth = fleet.truth.get(d.id)!
      const err = (pick: (h: { raw: number[]; cal: number[] }) => number[]) => Math.sqrt(mean([...hours].map(([end, h]) => (mean(pick(h)) - truth.get(end)!) ** 2)))
      const raw = err((h) => h.raw)
      const cal = err((h) => h.cal)
      rows.push({ device: d.id, hours: hours.size, raw: Number(raw.toFixed(2)), calibrated: Number(cal.toFixed(2)), method: report(d.id).method })
      expect(cal, d.id).toBeLessThanOrEqual(raw)
    }
    console.table(rows)
  })

  it('stores the `humid` flag on the fog hours\' readings, keeping their calibrated value', async () => {
    const hours = await stored('s2')
    for (const fog of fleet.fogHours) {
      expect(hours.get(fog)?.flags.has('humid'), new Date(fog).toISOString()).toBe(true)
      expect(hours.get(fog)?.cal.every(Number.isFinite)).toBe(true)
    }
    const dryUnflagged = [...hours].filter(([end, h]) => (fleet.rh.get(end) ?? 100) < 80 && h.flags.size === 0).length
    expect(dryUnflagged).toBeGreaterThan(100)
  })

  it('reports the drift of s6, the ×10 sensor s7 as a gain outlier, and s-far on κ-Köhler with its reason', async () => {
    expect(report('s6').notes.some((n) => n.startsWith('drift: '))).toBe(true)
    expect(report('s1').notes.some((n) => n.startsWith('drift: '))).toBe(false)
    expect(report('s7').notes.some((n) => n.startsWith('gain_outlier: '))).toBe(true)
    expect(report('s-far').notes.some((n) => n.startsWith('no_group: 1 device(s) of model SDS011'))).toBe(true)
    expect((await stored('s-far')).get(fleet.hours[100]!)?.methods).toEqual(new Set(['pm-kohler']))
    expect(report('p1').coefficients.group_size).toBe(4)
    expect(report('s1').coefficients.group_size).toBe(7)
  })

  it('a NO2 device never beside a station: nothing calibrated, its report says why', async () => {
    const [counts] = await store.influxql(`SELECT count("value"), count("calibrated") FROM reading WHERE device = '${NO2_DEVICE}'`)
    expect(counts!.values[0]!.slice(1)).toEqual([FLEET_DAYS * 24 * 3, null])
    expect(report(NO2_DEVICE, 'no2')).toMatchObject({ method: 'no2-rivm', notes: [NO2_NOT_COLLOCATED_NOTE] })
  })
})
