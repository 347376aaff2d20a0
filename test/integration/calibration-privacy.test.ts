import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CalibrationReport } from '../../core/calibration/report.ts'
import type { Reading } from '../../core/reading.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import type { NewDevice } from '../../core/registry/store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { modelOptions, regionalTruth } from '../../firmware-sim/model.ts'
import { NOT_IN_GROUP_NOTE, calibratePeriod, type CalibratorOptions } from '../../services/calibration/calibrator.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry } from '../helpers/registry.ts'

/**
 * Issue 8, item 5: only registered, active devices count in a calibration group, and nothing published lets a
 * reader rebuild a non-consented device's values. Real InfluxDB and a real SQLite registry; the calibration runs
 * in-process on four databases that differ in one thing each from the baseline:
 *
 *   baseline   5 consented devices (cal-1…cal-5) + 1 registered device without consent (private-1)
 *   attack     baseline + 60 unregistered devices reporting PM2.5 0.5 µg/m³ (the attack of the issue)
 *   revoked    baseline + a revoked device (revoked-1) reporting PM2.5 0.5 µg/m³
 *   private10  baseline with private-1's values × 10
 *
 * "Exactly equal" below means deep equality of the report JSON and of every stored calibrated value: if any
 * published figure depended on a left-out device's values, it would differ.
 */

const HOUR = 3_600_000
const STEP = 5 * 60_000
const START = Date.UTC(2026, 0, 12) // three January days
const END = START + 3 * 24 * HOUR
const MEMBERS = ['cal-1', 'cal-2', 'cal-3', 'cal-4', 'cal-5']
const GAIN: Record<string, number> = { 'cal-1': 0.92, 'cal-2': 0.97, 'cal-3': 1, 'cal-4': 1.04, 'cal-5': 1.08, 'private-1': 1.6 }
const PRIVATE = 'private-1'
const REVOKED = 'revoked-1'
const FAKES = Array.from({ length: 60 }, (_, i) => `fake-${String(i).padStart(2, '0')}`)
const model = modelOptions({ seed: 11 })

/** The simulated regional truth at t: PM2.5 µg/m³, temperature °C, RH %. */
function truth(t: number) {
  const r = regionalTruth(model, t)
  return { pm25: r.pm25BackgroundUgM3 + r.pm25EpisodeUgM3, t: r.airTemperatureC, rh: r.relativeHumidityPct }
}
const round = (value: number, decimals: number) => Number(value.toFixed(decimals))
/** A sensor's PM2.5: humidity growth × gain (private-1 reads 1.6× the group: in the factor it would show). */
const sensorPm = (t: number, device: string) => round(truth(t).pm25 * (1 + 2 * (truth(t).rh / 100) ** 4) * GAIN[device]!, 1)
const sensorT = (t: number, device: string) => round(truth(t).t + (new Date(t).getUTCHours() >= 9 && new Date(t).getUTCHours() < 15 ? 2.5 : 0) + (GAIN[device]! - 1), 2)

function hourlyTruth(end: number, f: (t: number) => number): number {
  let sum = 0
  let n = 0
  for (let t = end - HOUR + STEP; t <= end; t += STEP) (sum += f(t)), n++
  return sum / n
}

type Scenario = 'baseline' | 'attack' | 'revoked' | 'private10'

function readingsOf(scenario: Scenario): Reading[] {
  const readings: Reading[] = []
  const base = { receivedAt: START, timeSource: 'device' as const, sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags: [] }
  const scale = (device: string) => (scenario === 'private10' && device === PRIVATE ? 10 : 1)
  for (let t = START + STEP; t <= END; t += STEP) {
    for (const deviceId of [...MEMBERS, PRIVATE]) {
      readings.push({ ...base, deviceId, quantity: 'pm2_5', value: round(sensorPm(t, deviceId) * scale(deviceId), 1), unit: 'µg/m³', observedAt: t })
      readings.push({ ...base, deviceId, quantity: 'air_temperature', value: round(sensorT(t, deviceId) * scale(deviceId), 2), unit: '°C', observedAt: t })
    }
    const attackers = scenario === 'attack' ? FAKES : scenario === 'revoked' ? [REVOKED] : []
    for (const deviceId of attackers) readings.push({ ...base, deviceId, quantity: 'pm2_5', value: 0.5, unit: 'µg/m³', observedAt: t })
  }
  return readings
}

function referenceObservations(): ReferenceObservation[] {
  const reference: ReferenceObservation[] = []
  for (let end = START + HOUR; end <= END; end += HOUR) {
    reference.push({ station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: round(hourlyTruth(end, (t) => truth(t).pm25), 1), time: end, periodMs: HOUR, flags: [] })
    reference.push({ station: '278', source: 'knmi', quantity: 'air_temperature', value: round(hourlyTruth(end, (t) => truth(t).t), 1), time: end, periodMs: HOUR, flags: [] })
    reference.push({ station: '278', source: 'knmi', quantity: 'relative_humidity', value: Math.round(hourlyTruth(end, (t) => truth(t).rh)), time: end, periodMs: HOUR, flags: [] })
    // radiation-offset needs KNMI Q and FH: a synthetic sun 03–21 UTC (≥ 48 daytime hours in three days), 2 m/s
    const hour = ((end - HOUR) % 86_400_000) / HOUR + 0.5
    reference.push({ station: '278', source: 'knmi', quantity: 'global_radiation', value: hour > 3 && hour < 21 ? 600 * Math.sin((Math.PI * (hour - 3)) / 18) : 0, time: end, periodMs: HOUR, flags: [] })
    reference.push({ station: '278', source: 'knmi', quantity: 'wind_speed', value: 2, time: end, periodMs: HOUR, flags: [] })
  }
  return reference
}

interface Run {
  store: InfluxReadingStore
  database: string
  reportsDir: string
  /** Parsed JSON log lines (level ≥ warn). */
  logs: Array<Record<string, unknown>>
}

describe('calibration privacy and integrity: the registry decides who counts (real InfluxDB, SQLite registry)', () => {
  const runs = {} as Record<Scenario, Run>
  let registry: Awaited<ReturnType<typeof testRegistry>>

  beforeAll(async () => {
    const devices: NewDevice[] = [
      ...MEMBERS.map((id) => ({ id, neighbourhood: 'stadshagen', consent: true })),
      { id: PRIVATE, neighbourhood: 'stadshagen', consent: false },
      { id: REVOKED, neighbourhood: 'stadshagen', consent: true },
    ]
    registry = await testRegistry(devices)
    await registry.store.revoke(REVOKED)
    const reference = referenceObservations()
    await Promise.all(
      (['baseline', 'attack', 'revoked', 'private10'] as const).map(async (scenario) => {
        const logs: Array<Record<string, unknown>> = []
        const sink = new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
            done()
          },
        })
        const logger = pino({ level: 'warn' }, sink)
        const database = uniqueId(`calpriv_${scenario}`)
        const store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
        await store.ensureDatabase()
        const readings = readingsOf(scenario)
        for (let i = 0; i < readings.length; i += 5000) await store.write({ readings: readings.slice(i, i + 5000), rejections: [] })
        await writeReferenceObservations(store, reference)
        const reportsDir = mkdtempSync(join(tmpdir(), `senshagen-calpriv-${scenario}-`))
        const options: CalibratorOptions = { pmStation: 'NL10818', weatherStation: '278', collocated: [], completeness: 0.75, reportsDir }
        await calibratePeriod(store, registry.store, options, { from: START, to: END }, logger)
        runs[scenario] = { store, database, reportsDir, logs }
      }),
    )
  }, 240_000)

  afterAll(async () => {
    for (const run of Object.values(runs)) {
      await run.store.influxql(`DROP DATABASE "${run.database}"`)
      rmSync(run.reportsDir, { recursive: true, force: true })
    }
    await registry?.close()
  })

  /** A report as written, but for the wall-clock time of its fit (each scenario fits at its own moment). */
  const report = (scenario: Scenario, device: string, quantity: string): CalibrationReport => {
    const written = JSON.parse(readFileSync(join(runs[scenario].reportsDir, device, `${quantity}.json`), 'utf8')) as CalibrationReport
    return { ...written, fit: written.fit && { ...written.fit, fittedAt: 'fitted-at' } }
  }

  /** Every calibrated value of `devices` as stored: [time, device, value] sorted by time then device. */
  async function calibratedValues(scenario: Scenario, devices: string[], quantity: string): Promise<unknown[][]> {
    const series = await runs[scenario].store.influxql(
      `SELECT "calibrated", "device" FROM reading WHERE quantity = '${quantity}' AND "device" =~ /^(?:${devices.join('|')})$/ AND "calibrated" > -1000000.0`,
    )
    return (series[0]?.values ?? []).sort((a, b) => (a[0] as number) - (b[0] as number) || String(a[2]).localeCompare(String(b[2])))
  }

  async function countCalibrated(scenario: Scenario, devicePattern: string): Promise<{ value: number; calibrated: number }> {
    const [series] = await runs[scenario].store.influxql(`SELECT count("value"), count("calibrated") FROM reading WHERE "device" =~ /${devicePattern}/`)
    const row = series?.values[0] ?? [0, 0, 0]
    return { value: (row[1] as number) ?? 0, calibrated: (row[2] as number) ?? 0 }
  }

  const exclusionWarnings = (scenario: Scenario) => runs[scenario].logs.filter((l) => String(l.msg).includes('unregistered or revoked'))

  /** A device's published scale of the UTC day of the hour ending at `end` (pm-group-ratio coefficients). */
  const scaleOf = (coefficients: CalibrationReport['coefficients'], end: number) =>
    (coefficients.scales as number[])[(coefficients.scale_days as number[]).indexOf(Math.floor((end - 1) / 86_400_000) * 86_400_000)]!

  it('baseline: the published group factors are the consented devices\' scaled median / reference, without private-1', async () => {
    const published = report('baseline', 'cal-1', 'pm2_5').coefficients
    const times = published.factor_times as number[]
    const factors = published.factors as number[]
    expect(times).toHaveLength(72) // every hour of the three days has ≥ 3 consented devices and reference ≥ 1
    const reference = new Map(referenceObservations().filter((o) => o.quantity === 'pm2_5').map((o) => [o.time, o.value]))
    const memberCoefficients = MEMBERS.map((d) => report('baseline', d, 'pm2_5').coefficients)
    for (const [i, end] of times.entries()) {
      // by hand: each consented device's hourly mean of its readings in (end − 1 h, end] (the one at exactly END
      // is outside the run's [from − 1 h, to) and left to the next run) over its published scale of that day,
      // their median (5 members: the 3rd), / reference, clipped to [0.2, 5]
      const scaled = MEMBERS.map((d, m) => {
        let sum = 0
        let n = 0
        for (let t = end - HOUR + STEP; t <= end && t < END; t += STEP) (sum += sensorPm(t, d)), n++
        return sum / n / scaleOf(memberCoefficients[m]!, end)
      }).sort((a, b) => a - b)
      const expected = Math.min(5, Math.max(0.2, scaled[2]! / reference.get(end)!))
      expect(factors[i]).toBeCloseTo(expected, 12)
    }
    expect(exclusionWarnings('baseline')).toEqual([])
  })

  it('60 unregistered devices at 0.5 µg/m³ change no published factor, report or calibrated value, and are not calibrated', async () => {
    for (const device of MEMBERS) {
      for (const quantity of ['pm2_5', 'air_temperature']) expect(report('attack', device, quantity)).toEqual(report('baseline', device, quantity))
    }
    expect(await countCalibrated('attack', '^fake-')).toEqual({ value: 60 * 864, calibrated: 0 })
    expect(report('attack', PRIVATE, 'pm2_5')).toEqual(report('baseline', PRIVATE, 'pm2_5'))
    expect(await calibratedValues('attack', MEMBERS, 'pm2_5')).toEqual(await calibratedValues('baseline', MEMBERS, 'pm2_5'))
    expect(FAKES.filter((d) => existsSync(join(runs.attack.reportsDir, d)))).toEqual([])
    const warnings = exclusionWarnings('attack')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 40, count: 60, unregistered: FAKES, revoked: [] })
  })

  it('private-1 × 10 leaves every published report and every consented calibrated value exactly equal', async () => {
    for (const device of MEMBERS) {
      for (const quantity of ['pm2_5', 'air_temperature']) expect(report('private10', device, quantity)).toEqual(report('baseline', device, quantity))
    }
    for (const quantity of ['pm2_5', 'air_temperature']) {
      const values = await calibratedValues('private10', MEMBERS, quantity)
      expect(values.length).toBeGreaterThan(5 * 700)
      expect(values).toEqual(await calibratedValues('baseline', MEMBERS, quantity))
    }
    expect(exclusionWarnings('private10')).toEqual([])
  })

  it('private-1 is still calibrated: with the consented devices\' factors and its own scale (PM) and its own radiation-offset fit (T)', async () => {
    const factors = report('private10', 'cal-1', 'pm2_5').coefficients
    const factorAt = new Map((factors.factor_times as number[]).map((t, i) => [t, (factors.factors as number[])[i]!]))
    for (const scenario of ['baseline', 'private10'] as const) {
      const ownCoefficients = report(scenario, PRIVATE, 'pm2_5').coefficients
      // private-1 reads 1.6× the group (× 10 in private10): its own scale, not the group's, carries that
      expect(ownCoefficients.scale).toBeCloseTo(scenario === 'baseline' ? 1.6 : 16, 1)
      const [series] = await runs[scenario].store.influxql(`SELECT "value", "calibrated", "calibration_method" FROM reading WHERE device = '${PRIVATE}' AND quantity = 'pm2_5'`)
      const rows = series!.values.filter(([time]) => (time as number) < END) // the reading at END: left to the next run
      expect(rows).toHaveLength(863)
      for (const [time, raw, calibrated, method] of rows) {
        expect(method).toBe('pm-group-ratio')
        const end = Math.ceil((time as number) / HOUR) * HOUR
        expect(calibrated).toBe((raw as number) / (scaleOf(ownCoefficients, end) * factorAt.get(end)!))
      }
      const own = report(scenario, PRIVATE, 'pm2_5')
      expect(own.coefficients.factors).toEqual(factors.factors)
      expect(own.notes).toContain(NOT_IN_GROUP_NOTE)
      expect((await countCalibrated(scenario, `^${PRIVATE}$`)).calibrated).toBeGreaterThan(864 + 700) // PM + temperature
    }
    // its own fits differ with its values: the offset of a thermometer reading × 10
    expect(report('private10', PRIVATE, 'air_temperature').coefficients.offset).not.toEqual(report('baseline', PRIVATE, 'air_temperature').coefficients.offset)
  })

  it('a revoked device is left out: not calibrated, no report, in no factor, named in the warning', async () => {
    for (const device of [...MEMBERS, PRIVATE]) expect(report('revoked', device, 'pm2_5')).toEqual(report('baseline', device, 'pm2_5'))
    expect(await countCalibrated('revoked', `^${REVOKED}$`)).toEqual({ value: 864, calibrated: 0 })
    expect(existsSync(join(runs.revoked.reportsDir, REVOKED))).toBe(false)
    expect(await calibratedValues('revoked', MEMBERS, 'pm2_5')).toEqual(await calibratedValues('baseline', MEMBERS, 'pm2_5'))
    const warnings = exclusionWarnings('revoked')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 40, count: 1, unregistered: [], revoked: [REVOKED] })
  })
})
