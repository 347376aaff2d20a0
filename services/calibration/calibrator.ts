import { Point } from '@influxdata/influxdb-client'
import { hourlyMeans, pairHourly } from '../../core/calibration/align.ts'
import { assessDevices } from '../../core/calibration/assess.ts'
import { computeMetrics } from '../../core/calibration/metrics.ts'
import { readingUncertainty } from '../../core/calibration/uncertainty.ts'
import { chooseMethod, isPm } from '../../core/calibration/methods/index.ts'
import { buildReport, writeReport } from '../../core/calibration/report.ts'
import type { CalibrationResult, HourlyValue, Metrics } from '../../core/calibration/types.ts'
import type { Logger } from '../../core/logger.ts'
import type { Quantity } from '../../core/quantities.ts'
import { queryReferenceObservations } from '../../core/reference/reference-store.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { READING_MEASUREMENT } from '../../core/store/schema.ts'
import type { ReadingStore, StoredReading } from '../../core/store/store.ts'
import { type CalibrationGroup, calibratedDevices, calibrationGroup } from './group.ts'

/** The quantities calibration covers and where their reference comes from. */
export const CALIBRATED_QUANTITIES: readonly Quantity[] = ['pm2_5', 'pm10', 'air_temperature', 'relative_humidity']

export interface CalibratorOptions {
  /** Luchtmeetnet station for PM (default NL10818 Barsbeek-De Veenen, 14.1 km from Stadshagen). */
  pmStation: string
  /** KNMI station for temperature and humidity, and the humidity of the κ-Köhler fallback (default 278 Heino). */
  weatherStation: string
  /** Distance from the deployment to each station, km, for the reports. */
  stationDistanceKm?: Record<string, number>
  /** Devices mounted at the reference station: per-sensor regression instead of the group method. */
  collocated: string[]
  /** Share of the expected readings an hour needs to count (core/calibration/align.ts). */
  completeness: number
  /** Where reports and plots go: `<dir>/<device>/<quantity>.json|-scatter.svg|-timeseries.svg`. */
  reportsDir: string
}

export interface CalibrationRun {
  from: number
  to: number
  deviceId?: string
  quantities?: readonly Quantity[]
  /** Called after each device and quantity: (done, total, label). */
  onProgress?: (done: number, total: number, label: string) => void
}

/** Report note of a registered device without consent (PM: the quantities with a group method). */
export const NOT_IN_GROUP_NOTE = 'not_in_group: no consent, so its data enters no group factor; calibrated with the consented devices\' factors'

/**
 * Calibrates a period: for each quantity, the devices with readings in the period are split by the registry
 * (services/calibration/group.ts): registered, active, consented devices form the group; registered, active
 * devices without consent are calibrated too but contribute to nothing shared; unregistered and revoked devices
 * are not calibrated and are named, with their count, in one warning per call. Each calibrated device's raw
 * readings (quality-flagged ones left out) become hourly means on the reference's end-of-hour grid, the method
 * for the quantity (core/calibration/methods) is fitted against the reference station's hourly values stored in
 * InfluxDB, with only the group's devices in the shared group factors (`groupMembers`), and every raw reading
 * gets its calibrated value written onto the same point (fields `calibrated`, `calibration_method`,
 * `calibration_version`): recalculating a period overwrites the same points, it never adds new ones.
 * A report (JSON + SVG scatter and time series) per calibrated device and quantity is written to `reportsDir`;
 * the API publishes only the consented devices' reports.
 *
 * `registry` is read once per call (a device revoked during a run counts until the next run).
 * Returns one result per calibrated device and quantity (only `run.deviceId` when given).
 * Errors: those of the stores (InfluxDB, registry) and the file system, unchanged.
 */
export async function calibratePeriod(
  store: ReadingStore,
  registry: Pick<RegistryStore, 'devices'>,
  options: CalibratorOptions,
  run: CalibrationRun,
  logger: Logger,
): Promise<CalibrationResult[]> {
  const results: CalibrationResult[] = []
  const quantities = run.quantities ?? CALIBRATED_QUANTITIES
  const records = await registry.devices()
  const plan: Array<{ quantity: Quantity; group: CalibrationGroup; devices: string[] }> = []
  for (const quantity of quantities) {
    const group = calibrationGroup(await devicesWith(store, quantity, run), records)
    plan.push({ quantity, group, devices: calibratedDevices(group) })
  }
  warnExcluded(plan.map((p) => p.group), logger)
  const asked = (devices: string[]) => (run.deviceId === undefined ? devices.length : devices.includes(run.deviceId) ? 1 : 0)
  const total = plan.reduce((n, p) => n + asked(p.devices), 0)
  let done = 0

  const humidity = await referenceHourly(store, options.weatherStation, 'relative_humidity', run)
  for (const { quantity, group, devices } of plan) {
    if (asked(devices) === 0) continue
    const station = quantity.startsWith('pm') ? options.pmStation : options.weatherStation
    const reference = await referenceHourly(store, station, quantity, run)
    if (reference.length === 0) {
      logger.warn({ quantity, station }, 'no reference observations in the period: import or fetch them first (senshagen reference)')
      done += asked(devices)
      run.onProgress?.(done, total, `${quantity}: no reference`)
      continue
    }
    const raw = new Map<string, StoredReading[]>()
    for (const deviceId of devices) raw.set(deviceId, await store.queryReadings({ deviceId, quantity, from: run.from - 3_600_000, to: run.to }))
    const hourly = [...raw].map(([deviceId, readings]) => ({ deviceId, hourly: safeHourly(readings, options.completeness) }))
    // groupMembers: only consented, active devices shape the shared group factors (see ./group.ts for why)
    const input = { quantity, devices: hourly, reference, humidity, collocated: options.collocated, groupMembers: group.members }
    const model = chooseMethod(quantity, input)
    // held-out evaluation, uncertainty and label (core/calibration/assess.ts); calibrated_u −1 = not assessed
    const assessed = assessDevices(input, (i) => chooseMethod(quantity, i), run, options.collocated)
    const notInGroup = new Set(group.calibratedOnly)

    for (const { deviceId, hourly: deviceHourly } of hourly) {
      if (run.deviceId !== undefined && deviceId !== run.deviceId) continue
      const readings = raw.get(deviceId)!
      const lines: string[] = []
      const calibratedReadings: StoredReading[] = []
      const assessment = assessed.get(deviceId)
      for (const r of readings) {
        if (r.flags.length > 0 || r.time <= run.from - 3_600_000) continue
        const value = model.apply(deviceId, r.time, r.value)
        if (value === undefined || !Number.isFinite(value)) continue
        calibratedReadings.push({ ...r, value, flags: [] })
        lines.push(
          new Point(READING_MEASUREMENT)
            .tag('device', deviceId)
            .tag('quantity', quantity)
            .floatField('calibrated', value)
            .stringField('calibration_method', model.methodAt(deviceId, r.time))
            .stringField('calibration_version', model.version)
            .floatField('calibrated_u', (assessment && readingUncertainty(assessment.uncertainty, value)) ?? -1)
            .stringField('calibration_label', assessment?.uncertainty.label ?? 'experimental')
            .timestamp(String(r.time))
            .toLineProtocol()!,
        )
      }
      await store.writeLines(lines)
      const calibratedHourly = safeHourly(calibratedReadings, options.completeness)
      const before = metricsOf(pairHourly(deviceHourly, reference))
      const after = metricsOf(pairHourly(calibratedHourly, reference))
      const result: CalibrationResult = {
        deviceId,
        quantity,
        method: model.modelFor(deviceId).method,
        version: model.modelFor(deviceId).version,
        referenceStation: station,
        ...(options.stationDistanceKm?.[station] === undefined ? {} : { referenceDistanceKm: options.stationDistanceKm[station] }),
        from: run.from,
        to: run.to,
        coefficients: model.coefficients(deviceId),
        before: before ?? emptyMetrics(),
        after: after ?? emptyMetrics(),
        ...(assessment?.metrics ? { heldOut: assessment.metrics } : {}),
        ...(assessment && lines.length > 0 ? { uncertainty: assessment.uncertainty } : {}),
      }
      results.push(result)
      const series = timeSeries(deviceHourly, calibratedHourly, reference, humidity)
      const notes = [...model.notes(deviceId)]
      if (notInGroup.has(deviceId) && isPm(quantity)) notes.push(NOT_IN_GROUP_NOTE)
      if (lines.length === 0) notes.push(`not_calibrated: ${model.modelFor(deviceId).method} gave no value for this period (too few hours: hour-of-day bias needs ≥ 3 days per hour of day; the group method needs ≥ 3 registered, consented devices or humidity for the κ-Köhler fallback)`)
      else if (before && after && after.rmse > before.rmse) notes.push('rmse_worse_after: the group method removes the group\'s common bias; this sensor reads below the group and ends up under the reference (a per-sensor collocation would fix it)')
      result.notes = notes
      const report = buildReport(result, series, notes)
      await writeReport(options.reportsDir, report, series)
      done++
      run.onProgress?.(done, total, `${quantity} ${deviceId}`)
      logger.debug({ deviceId, quantity, method: result.method, calibrated: lines.length, rmseBefore: before?.rmse, rmseAfter: after?.rmse }, 'calibrated')
    }
  }
  return results
}

/**
 * One warning per run naming every device with readings that is not calibrated, with the count:
 * `{ count, unregistered: [ids], revoked: [ids] }`. Nothing when there are none.
 */
function warnExcluded(groups: readonly CalibrationGroup[], logger: Logger): void {
  const unregistered = [...new Set(groups.flatMap((g) => g.unregistered))].sort()
  const revoked = [...new Set(groups.flatMap((g) => g.revoked))].sort()
  const count = unregistered.length + revoked.length
  if (count === 0) return
  logger.warn(
    { count, unregistered, revoked },
    'readings of unregistered or revoked devices are not calibrated and count in no calibration group (register a device with senshagen devices add|import)',
  )
}

/** Ids of the devices with readings of `quantity` in the run's period (the hour before `from` included), sorted. */
async function devicesWith(store: ReadingStore, quantity: Quantity, run: CalibrationRun): Promise<string[]> {
  const counts = await store.countReadings({ quantities: [quantity], from: run.from - 3_600_000, to: run.to })
  // the whole group is needed for the group method, also when one device is asked for; the registry decides
  // who is in it (calibratePeriod)
  return [...new Set(counts.map((c) => c.deviceId))].sort()
}

async function referenceHourly(store: ReadingStore, station: string, quantity: Quantity, run: CalibrationRun): Promise<HourlyValue[]> {
  const observations = await queryReferenceObservations(store, { station, quantity, from: run.from, to: run.to + 1 })
  return observations.map((o) => ({ time: o.time, value: o.value, count: 0 }))
}

/** Hourly means; a series too short to know its reading interval (one distinct time) has none. */
function safeHourly(readings: StoredReading[], completeness: number): HourlyValue[] {
  try {
    return hourlyMeans(readings.map(asReading), { completeness })
  } catch {
    return []
  }
}

function asReading(r: StoredReading) {
  return { deviceId: r.deviceId, quantity: r.quantity, value: r.value, unit: '', observedAt: r.time, receivedAt: r.time, timeSource: 'device' as const, sourceFormat: 'store', flags: r.flags }
}

function metricsOf(pairs: Array<{ time: number; sensor: number; reference: number }>): Metrics | undefined {
  try {
    return computeMetrics(pairs.map((p) => ({ sensor: p.sensor, reference: p.reference })))
  } catch {
    return undefined // too few pairs or no variance: reported as n = 0
  }
}

function emptyMetrics(): Metrics {
  return { n: 0, r2: Number.NaN, rmse: Number.NaN, mae: Number.NaN, mbe: Number.NaN, ols_slope: Number.NaN, ols_intercept: Number.NaN, deming_slope: Number.NaN, deming_intercept: Number.NaN }
}

function timeSeries(raw: HourlyValue[], calibrated: HourlyValue[], reference: HourlyValue[], humidity: HourlyValue[]) {
  const rows = new Map<number, { time: number; raw?: number; calibrated?: number; reference?: number; humidity?: number }>()
  const row = (time: number) => rows.get(time) ?? rows.set(time, { time }).get(time)!
  for (const v of raw) row(v.time).raw = v.value
  for (const v of calibrated) row(v.time).calibrated = v.value
  for (const v of reference) if (rows.has(v.time)) row(v.time).reference = v.value
  for (const v of humidity) if (rows.has(v.time)) row(v.time).humidity = v.value
  return [...rows.values()].sort((a, b) => a.time - b.time)
}
