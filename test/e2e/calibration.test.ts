import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { modelOptions, regionalTruth } from '../../firmware-sim/model.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry } from '../helpers/registry.ts'

const run = promisify(execFile)
const logger = createLogger('warn')
const HOUR = 3_600_000
const STEP = 5 * 60_000
const START = Date.UTC(2026, 0, 12) // three January days
const END = START + 3 * 24 * HOUR
const DEVICES = ['cal-1', 'cal-2', 'cal-3', 'cal-4', 'cal-5']
/** Has readings in the store but is not in the registry: calibrate must leave it out (issue 8). */
const STRAY = 'stray-1'
const GAIN = [0.92, 0.97, 1, 1.04, 1.08]
const model = modelOptions({ seed: 7 })

/** The simulated truth at time t (firmware-sim's regional model): PM2.5 µg/m³, temperature °C, RH %. */
function truth(t: number) {
  const r = regionalTruth(model, t)
  return { pm25: r.pm25BackgroundUgM3 + r.pm25EpisodeUgM3, t: r.airTemperatureC, rh: r.relativeHumidityPct }
}
/** Known sensor errors: PM reads high in humid air (growing with RH), thermometers read hot in the sun (radiation error, below). */
const sensorPm = (t: number, i: number) => truth(t).pm25 * (1 + 2 * (truth(t).rh / 100) ** 4) * GAIN[i]!
/** A synthetic sun (03–21 UTC, not January's), W/m², and a steady 2 m/s wind: the KNMI Q and FH of the reference. */
const sun = (t: number) => {
  const hour = (t % 86_400_000) / HOUR
  return hour > 3 && hour < 21 ? 600 * Math.sin((Math.PI * (hour - 3)) / 18) : 0
}
const WIND = 2
/** Radiation error of a poorly shielded thermometer: 0.012 °C per W/m² per m/s of Q/(FH + 1) (up to 2.4 °C). */
const sensorT = (t: number) => truth(t).t + (0.012 * sun(t)) / (WIND + 1)

/** Hourly mean of f over (end − 1 h, end], sampled like the sensors (every 5 min). */
function hourlyTruth(end: number, f: (t: number) => number): number {
  let sum = 0
  let n = 0
  for (let t = end - HOUR + STEP; t <= end; t += STEP) (sum += f(t)), n++
  return sum / n
}

const rmse = (pairs: Array<[number, number]>) => Math.sqrt(pairs.reduce((s, [a, b]) => s + (a - b) ** 2, 0) / pairs.length)

/**
 * End to end: a simulated fleet with a known multiplicative PM bias that grows with humidity and a known
 * temperature radiation error growing with global radiation, stored in the real InfluxDB; reference series (Luchtmeetnet NL10818 for PM,
 * KNMI 278 for temperature and humidity) made from the simulated truth; `senshagen calibrate` must recover
 * the truth with the RMSE at least halved, store calibrated values on the raw points, and write reports. The
 * fleet is registered (consented) in a SQLite registry; a stray unregistered device with PM2.5 0.5 µg/m³ in the
 * same database is not calibrated and is named in the warning (test/integration/calibration-privacy.test.ts
 * covers the group semantics in depth).
 */
describe('calibration end to end (simulated fleet, real InfluxDB, senshagen calibrate)', () => {
  const database = uniqueId('calibration')
  const reportsDir = mkdtempSync(join(tmpdir(), 'senshagen-reports-'))
  let store: InfluxReadingStore
  let registry: Awaited<ReturnType<typeof testRegistry>>
  let output = ''
  let errors = ''

  beforeAll(async () => {
    registry = await testRegistry(DEVICES.map((id) => ({ id, neighbourhood: 'stadshagen', consent: true })))
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
    const readings: Reading[] = []
    const base = { receivedAt: START, timeSource: 'device' as const, sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags: [] }
    for (let t = START + STEP; t <= END; t += STEP) {
      DEVICES.forEach((deviceId, i) => {
        readings.push({ ...base, deviceId, quantity: 'pm2_5', value: round(sensorPm(t, i), 1), unit: 'µg/m³', observedAt: t })
        readings.push({ ...base, deviceId, quantity: 'air_temperature', value: round(sensorT(t) + (i - 2) * 0.05, 2), unit: '°C', observedAt: t })
      })
      readings.push({ ...base, deviceId: STRAY, quantity: 'pm2_5', value: 0.5, unit: 'µg/m³', observedAt: t })
    }
    for (let i = 0; i < readings.length; i += 5000) await store.write({ readings: readings.slice(i, i + 5000), rejections: [] })
    const reference: ReferenceObservation[] = []
    for (let end = START + HOUR; end <= END; end += HOUR) {
      reference.push({ station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: round(hourlyTruth(end, (t) => truth(t).pm25), 1), time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'air_temperature', value: round(hourlyTruth(end, (t) => truth(t).t), 1), time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'relative_humidity', value: Math.round(hourlyTruth(end, (t) => truth(t).rh)), time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'global_radiation', value: hourlyTruth(end, sun), time: end, periodMs: HOUR, flags: [] })
      reference.push({ station: '278', source: 'knmi', quantity: 'wind_speed', value: WIND, time: end, periodMs: HOUR, flags: [] })
    }
    await writeReferenceObservations(store, reference)

    const env = { ...process.env, ...registry.env, SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: database, SENSHAGEN_REPORTS_DIR: reportsDir, SENSHAGEN_LOG_LEVEL: 'warn' }
    const args = ['bin/senshagen.js', 'calibrate', '--from', new Date(START).toISOString(), '--to', new Date(END).toISOString()]
    ;({ stdout: output, stderr: errors } = await run('node', args, { env, maxBuffer: 16 * 1024 * 1024 }))
    // a second run recalculates the same points
    await run('node', args, { env, maxBuffer: 16 * 1024 * 1024 })
  }, 240_000)

  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
    rmSync(reportsDir, { recursive: true, force: true })
  })

  async function hourlyCalibrated(deviceId: string, quantity: string): Promise<Map<number, { raw: number; calibrated: number }>> {
    const [series] = await store.influxql(
      `SELECT mean("value"), mean("calibrated") FROM reading WHERE device = '${deviceId}' AND quantity = '${quantity}' AND time > ${START * 1_000_000} AND time <= ${END * 1_000_000} GROUP BY time(1h, 1ms) fill(none)`,
    )
    // GROUP BY time(1h, 1ms) buckets [h + 1 ms, h + 1 h + 1 ms): the hour ending at h + 1 h, inclusive of its last reading
    return new Map((series?.values ?? []).map(([time, raw, calibrated]) => [(time as number) - 1 + HOUR, { raw: raw as number, calibrated: calibrated as number }]))
  }

  it.each(DEVICES)('PM2.5 of %s: the humidity-growing bias is removed, RMSE against the truth at least halved', async (deviceId) => {
    const hours = await hourlyCalibrated(deviceId, 'pm2_5')
    expect(hours.size).toBeGreaterThan(60)
    const rawPairs: Array<[number, number]> = []
    const calPairs: Array<[number, number]> = []
    for (const [end, { raw, calibrated }] of hours) {
      if (calibrated === null || calibrated === undefined) continue
      const t = hourlyTruth(end, (x) => truth(x).pm25)
      rawPairs.push([raw, t])
      calPairs.push([calibrated, t])
    }
    expect(calPairs.length).toBeGreaterThan(60)
    expect(rmse(calPairs)).toBeLessThanOrEqual(0.5 * rmse(rawPairs))
  })

  it.each(DEVICES)('air temperature of %s: the radiation error is removed, RMSE against the truth at least halved', async (deviceId) => {
    const hours = await hourlyCalibrated(deviceId, 'air_temperature')
    const rawPairs: Array<[number, number]> = []
    const calPairs: Array<[number, number]> = []
    for (const [end, { raw, calibrated }] of hours) {
      if (calibrated === null || calibrated === undefined) continue
      const t = hourlyTruth(end, (x) => truth(x).t)
      rawPairs.push([raw, t])
      calPairs.push([calibrated, t])
    }
    expect(calPairs.length).toBeGreaterThan(60)
    expect(rmse(calPairs)).toBeLessThanOrEqual(0.5 * rmse(rawPairs))
  })

  it('stores calibrated values on the raw points: recalculating adds no points, method and version recorded', async () => {
    const [counts] = await store.influxql(`SELECT count("value"), count("calibrated") FROM reading WHERE quantity = 'pm2_5' AND device = 'cal-1'`)
    expect(counts!.values[0]!.slice(1)).toEqual([864, counts!.values[0]![2]])
    expect(counts!.values[0]![2] as number).toBeGreaterThan(700)
    const [methods] = await store.influxql(`SELECT "calibration_method", "calibration_version" FROM reading WHERE device = 'cal-1' AND quantity = 'air_temperature' AND time = '2026-01-13T12:00:00Z'`)
    expect(methods!.values[0]!.slice(1)).toEqual(['radiation-offset', expect.any(String)])
  })

  it('writes a report per device and quantity with metrics before and after, and two SVG plots', () => {
    for (const deviceId of DEVICES) {
      for (const quantity of ['pm2_5', 'air_temperature']) {
        const json = JSON.parse(readFileSync(join(reportsDir, deviceId, `${quantity}.json`), 'utf8'))
        expect(json).toMatchObject({ deviceId, quantity, reference: { station: quantity === 'pm2_5' ? 'NL10818' : '278' } })
        // distances from Stadshagen (52.53 N, 6.06 E): NL10818 14.1 km, KNMI 278 Heino 17.3 km (research §1, §3c)
        expect(json.reference.distanceKm).toBeCloseTo(quantity === 'pm2_5' ? 14.1 : 17.3, 1)
        expect(json.metrics.after.rmse).toBeLessThan(json.metrics.before.rmse)
        expect(json.metrics.after.n).toBeGreaterThan(60)
        for (const plot of ['scatter', 'timeseries']) {
          const svg = readFileSync(join(reportsDir, deviceId, `${quantity}-${plot}.svg`), 'utf8')
          expect(svg.startsWith('<svg')).toBe(true)
        }
      }
    }
    expect(existsSync(join(reportsDir, 'cal-1', 'relative_humidity.json'))).toBe(false) // no humidity readings were stored
    expect(output).toContain('cal-3 pm2_5: ')
  })

  it('leaves the unregistered device out: no calibrated value, no report, one warning naming it', async () => {
    const [counts] = await store.influxql(`SELECT count("value"), count("calibrated") FROM reading WHERE device = '${STRAY}'`)
    expect(counts!.values[0]!.slice(1)).toEqual([864, null]) // InfluxQL: count of a field never written is null
    expect(existsSync(join(reportsDir, STRAY))).toBe(false)
    expect(output).not.toContain(STRAY)
    const warnings = errors.split('\n').filter((l) => l.includes('unregistered or revoked')).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 40, count: 1, unregistered: [STRAY], revoked: [] })
  })

  it('--device of an unregistered device: exit 1 naming how to register it, nothing calibrated', async () => {
    const env = { ...process.env, ...registry.env, SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: database, SENSHAGEN_REPORTS_DIR: reportsDir, SENSHAGEN_LOG_LEVEL: 'warn' }
    const args = ['bin/senshagen.js', 'calibrate', '--from', new Date(START).toISOString(), '--to', new Date(END).toISOString(), '--device', STRAY]
    await expect(run('node', args, { env })).rejects.toMatchObject({
      code: 1,
      stdout: '',
      stderr: `senshagen: device '${STRAY}' is not registered, so it is not calibrated (senshagen devices add|import)\n`,
    })
  })
})

function round(value: number, decimals: number): number {
  return Number(value.toFixed(decimals))
}
