import { Point } from '@influxdata/influxdb-client'
import { hourEnding, pairHourly } from '../../core/calibration/align.ts'
import { assessDevices } from '../../core/calibration/assess.ts'
import { type CalibrationFit, type CalibrationFitStore } from '../../core/calibration/fits.ts'
import { type CrowdQcResult, type CrowdQcSummary, crowdQc, crowdQcNotes } from '../../core/calibration/crowdqc.ts'
import { type CalibrationChoice, type CalibrationInput, type ChooseMethodOptions, type PmGroupOptions, chooseMethod, choiceParameters, isPm, restoreChoice } from '../../core/calibration/methods/index.ts'
import { type UncertaintyAssessment, readingUncertainty } from '../../core/calibration/uncertainty.ts'
import { buildReport, writeReport } from '../../core/calibration/report.ts'
import type { CalibrationResult, HourlyValue } from '../../core/calibration/types.ts'
import type { Logger } from '../../core/logger.ts'
import type { Quantity } from '../../core/quantities.ts'
import type { LatLon } from '../../core/registry/coarsen.ts'
import { KNMI_STATIONS, LUCHTMEETNET_STATIONS } from '../../core/reference/stations.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { READING_MEASUREMENT } from '../../core/store/schema.ts'
import type { ReadingStore, StoredReading } from '../../core/store/store.ts'
import { type CalibrationGroup, calibratedDevices, calibrationGroup, deviceSite } from './group.ts'
import { emptyMetrics, metricsOf, referenceHourly, safeHourly, timeSeries } from './series.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** The quantities calibration covers and where their reference comes from. */
export const CALIBRATED_QUANTITIES: readonly Quantity[] = ['pm2_5', 'pm10', 'no2', 'air_temperature', 'relative_humidity']

export interface CalibratorOptions {
  /** Luchtmeetnet station for PM (default NL10818 Barsbeek-De Veenen, 14.1 km from Stadshagen). */
  pmStation: string
  /** KNMI station for temperature and humidity, their radiation (Q) and wind (FH), and the humidity of the κ-Köhler fallback (default 278 Heino). */
  weatherStation: string
  /** Distance from the deployment to each station, km, for the reports. */
  stationDistanceKm?: Record<string, number>
  /** Devices mounted at the reference station: per-sensor regression instead of the group method. */
  collocated: string[]
  /** Share of the expected readings an hour needs to count (core/calibration/align.ts). */
  completeness: number
  /** Where reports and plots go: `<dir>/<device>/<quantity>.json|-scatter.svg|-timeseries.svg`. */
  reportsDir: string
  /** Days of data every method is fitted on, ending at the run's `to`; default FIT_WINDOW_DAYS. */
  fitDays?: number
  /** Where fits are stored and read back (core/calibration/fits.ts); without it every run fits and stores nothing. */
  fitStore?: CalibrationFitStore
  /** A stored fit whose window ended less than this many hours before the run's `to` is reused; default REFIT_HOURS. */
  refitHours?: number
  /** PM grouping: group radius and farthest reference, km (SENSHAGEN_CALIBRATION_GROUP_RADIUS_KM, _REFERENCE_MAX_KM). */
  pmGroups?: PmGroupOptions
}

/**
 * Default refit interval, hours (SENSHAGEN_CALIBRATION_REFIT_HOURS): a fit on 21 days changes little in a day
 * (ours); the group factors of PM are computed every run from the hour's own data anyway.
 */
export const REFIT_HOURS = 24

/**
 * Default fit window of every method: 21 days (SENSHAGEN_CALIBRATION_FIT_DAYS). The radiation-offset fit needs
 * many sunny and cloudy daytime hours, PM drift detection ≥ 7–14 days (core/calibration/methods/drift.ts); 14–30
 * days is the usual span of a running calibration (ours, within it). PM group factors stay per hour.
 */
export const FIT_WINDOW_DAYS = 21

export interface CalibrationRun {
  /** Start of the apply window (inclusive), epoch ms UTC: readings from here get calibrated values. */
  from: number
  /** End of the apply window (exclusive), and of the fit window. */
  to: number
  deviceId?: string
  quantities?: readonly Quantity[]
  /** Fit now even where a stored fit is recent enough (`senshagen calibrate --refit`). */
  refit?: boolean
  /** Called after each device and quantity: (done, total, label). */
  onProgress?: (done: number, total: number, label: string) => void
}

/** One device and quantity of a run: the calibration result plus what the run did to the stored points. */
export interface SeriesResult extends CalibrationResult {
  /** Points in the apply window given a calibrated value, and points whose earlier calibrated value was cleared. */
  points: { written: number; cleared: number }
  /** CrowdQC+-style checks of the calibrated series (air_temperature, relative_humidity). */
  qc?: CrowdQcSummary
}

/** The counts `senshagen calibrate` and the worker print. */
export interface RunCounts {
  /** Device and quantity series with readings in the apply window that the registry lets us calibrate. */
  considered: number
  /** Of those, series with at least one point given a calibrated value. */
  calibrated: number
  written: number
  cleared: number
}

export function runCounts(results: readonly SeriesResult[]): RunCounts {
  return {
    considered: results.length,
    calibrated: results.filter((r) => r.points.written > 0).length,
    written: results.reduce((n, r) => n + r.points.written, 0),
    cleared: results.reduce((n, r) => n + r.points.cleared, 0),
  }
}

/** The calibrator's settings as the methods take them (chooseMethod, restoreChoice): the PM grouping. */
export function methodOptionsOf(options: Pick<CalibratorOptions, 'pmGroups'>): ChooseMethodOptions {
  return options.pmGroups ? { pmGroupRatio: { groups: options.pmGroups } } : {}
}

/**
 * How the run came by its fits: `fitted` series fitted in this run, `reused` series that applied a stored fit, and
 * the oldest reused fit's wall-clock time (epoch ms UTC; undefined when none was reused).
 */
export function fitCounts(results: readonly SeriesResult[]): { fitted: number; reused: number; reusedFittedAt?: number } {
  const reused = results.filter((r) => r.fit?.reused)
  const times = reused.map((r) => r.fit!.fittedAt)
  return { fitted: results.filter((r) => r.fit !== undefined && !r.fit.reused).length, reused: reused.length, ...(times.length ? { reusedFittedAt: Math.min(...times) } : {}) }
}

/** Report note of a registered device without consent (PM: the quantities with a group method). */
export const NOT_IN_GROUP_NOTE = 'not_in_group: no consent, so its data enters no group factor; calibrated with the consented devices\' factors'

const WEATHER: readonly Quantity[] = ['air_temperature', 'relative_humidity']

/**
 * Calibrates a period. Two windows, separate in time: every method is FITTED on [to − fitDays, to) (or from `from`
 * when that is earlier), so a per-device fit sees every hour of the day many times and PM drift has its days, and
 * the fit of each device is stored in `options.fitStore` (core/calibration/fits.ts); every method is APPLIED to the
 * readings of [from, to) from the stored fit (core/calibration/methods restoreChoice). When every device to
 * calibrate has a stored fit whose window ended within `refitHours` before `to` (and `run.refit` is not set), no fit
 * is made and only the apply window is read; the held-out uncertainty and label are then the stored fit's. For each quantity, the devices with readings in the fit window are split by the registry
 * (services/calibration/group.ts): registered, active, consented devices form the group; registered, active
 * devices without consent are calibrated too but contribute to nothing shared; unregistered and revoked devices
 * are not calibrated and are named, with their count, in one warning per call. Each calibrated device's raw
 * readings (quality-flagged ones left out) become hourly means on the reference's end-of-hour grid, the method
 * for the quantity (core/calibration/methods) is fitted against the reference station's hourly values stored in
 * InfluxDB (temperature and humidity also against KNMI Q and FH), and every raw reading of the apply window gets
 * its calibrated value written onto the same point: fields `calibrated`, `calibration_method`,
 * `calibration_version`, `calibration_flags` (comma-separated CrowdQC+ flags, core/calibration/crowdqc.ts; "" when
 * none). A reading that gets no value this time (no fit, no reference for its hour, quality-flagged) but had one
 * is cleared: `calibration_method`, `calibration_version` and `calibration_flags` become "" (InfluxDB 1.x has no
 * null and cannot drop a field of one point; "" is the schema's "absent", core/store/schema.ts), so a reader
 * must take `calibrated` as absent where `calibration_method` is "". Recalculating overwrites the same points.
 * A report (JSON + SVG scatter and time series) per series considered is written to `reportsDir`; the API
 * publishes only the consented devices' reports.
 *
 * `registry` is read once per call (a device revoked during a run counts until the next run).
 * Returns one result per series considered (only `run.deviceId` when given); runCounts() sums them.
 * Errors: those of the stores (InfluxDB, registry) and the file system, unchanged.
 */
export async function calibratePeriod(
  store: ReadingStore,
  registry: Pick<RegistryStore, 'devices'>,
  options: CalibratorOptions,
  run: CalibrationRun,
  logger: Logger,
): Promise<SeriesResult[]> {
  const results: SeriesResult[] = []
  const quantities = run.quantities ?? CALIBRATED_QUANTITIES
  // every method fits on the long window (T/RH: every hour of the day many times; PM: its 7-day gain scale and
  // the ≥ 7 days drift needs; NO2: its start calibration and nights) and applies to [from, to)
  const fitFrom = Math.min(run.from, run.to - (options.fitDays ?? FIT_WINDOW_DAYS) * DAY)
  const refitMs = (options.refitHours ?? REFIT_HOURS) * HOUR
  const methodOptions = methodOptionsOf(options)
  const records = await registry.devices()
  const positions = new Map(records.flatMap((r) => (r.location === undefined ? [] : [[r.id, r.location] as const])))
  const plan: Array<{ quantity: Quantity; group: CalibrationGroup; devices: string[]; stored: Map<string, CalibrationFit>; readFrom: number }> = []
  for (const quantity of quantities) {
    const applied = await devicesWith(store, quantity, run.from, run.to)
    // a stored fit of every device to calibrate, recent enough: apply it and read only the apply window
    const stored = options.fitStore === undefined || run.refit ? new Map<string, CalibrationFit>() : await options.fitStore.latest(quantity, run.to, refitMs)
    const reuse = calibratedDevices(calibrationGroup(applied, records)).every((d) => stored.has(d))
    const group = calibrationGroup(reuse ? applied : await devicesWith(store, quantity, fitFrom, run.to), records)
    const appliedSet = new Set(applied)
    const devices = calibratedDevices(group).filter((d) => appliedSet.has(d) && (run.deviceId === undefined || d === run.deviceId))
    plan.push({ quantity, group, devices, stored: reuse ? stored : new Map(), readFrom: reuse ? run.from : fitFrom })
  }
  warnExcluded(plan.map((p) => p.group), logger)
  const total = plan.reduce((n, p) => n + p.devices.length, 0)
  let done = 0

  const weatherFrom = Math.min(run.from, ...plan.filter((p) => p.devices.length > 0).map((p) => p.readFrom))
  const weather = (quantity: Quantity) => referenceHourly(store, options.weatherStation, quantity, weatherFrom, run.to)
  const humidity = await weather('relative_humidity')
  const radiation = await weather('global_radiation')
  const wind = await weather('wind_speed')
  for (const { quantity, group, devices, stored, readFrom } of plan) {
    if (devices.length === 0) continue
    const refit = stored.size === 0
    const station = isPm(quantity) || quantity === 'no2' ? options.pmStation : options.weatherStation
    const reference = await referenceHourly(store, station, quantity, readFrom, run.to)
    const raw = new Map<string, StoredReading[]>()
    for (const deviceId of calibratedDevices(group)) raw.set(deviceId, await store.queryReadings({ deviceId, quantity, from: readFrom - HOUR, to: run.to }))
    // sensor model and private position: PM groups by model and distance (./group.ts deviceSite)
    const hourly = [...raw].map(([deviceId, readings]) => ({ deviceId, hourly: safeHourly(readings, options.completeness), ...deviceSite(records.find((r) => r.id === deviceId)) }))
    const stationAt = [...LUCHTMEETNET_STATIONS, ...KNMI_STATIONS].find((s) => s.id === station)
    // groupMembers: only consented, active devices shape the shared group factors (see ./group.ts for why)
    const input = {
      quantity, devices: hourly, reference, humidity, radiation, wind, collocated: options.collocated, groupMembers: group.members,
      ...(stationAt ? { referenceLocation: { lat: stationAt.lat, lon: stationAt.lon } } : {}),
    }
    // fit (and store) on the fit window, or take the stored fits; then apply them to the apply window's data
    const fits = refit ? await fitAndStore(input, run, { from: fitFrom, to: run.to }, options, methodOptions) : stored
    const model = fits.size === 0 ? undefined : restoreChoice(quantity, fits, input, methodOptions)
    if (model === undefined) logger.warn({ quantity, station }, 'no reference observations in the period: import or fetch them first (senshagen reference)')
    const qc = model !== undefined && WEATHER.includes(quantity) ? weatherQc(quantity, hourly, model, positions, group.members) : undefined
    const notInGroup = new Set(group.calibratedOnly)

    for (const deviceId of devices) {
      const deviceHourly = hourly.find((h) => h.deviceId === deviceId)!.hourly
      const fit = fits.get(deviceId)
      const assessment = fit?.uncertainty
      const written = await writeCalibrated(store, { deviceId, quantity, from: run.from, to: run.to }, raw.get(deviceId)!, model, qc, assessment)
      const applyHour = (v: { time: number }) => v.time > run.from && v.time <= hourEnding(run.to - 1)
      const rawHourly = deviceHourly.filter(applyHour)
      const calibratedHourly = safeHourly(written.calibrated, options.completeness)
      const applyReference = reference.filter(applyHour)
      const before = metricsOf(pairHourly(rawHourly, applyReference))
      const after = metricsOf(pairHourly(calibratedHourly, applyReference))
      const chosen = model?.modelFor(deviceId)
      const result: SeriesResult = {
        deviceId,
        quantity,
        method: chosen?.method ?? 'none',
        version: chosen?.version ?? '0',
        referenceStation: station,
        ...(options.stationDistanceKm?.[station] === undefined ? {} : { referenceDistanceKm: options.stationDistanceKm[station] }),
        from: run.from,
        to: run.to,
        coefficients: model?.coefficients(deviceId) ?? {},
        before: before ?? emptyMetrics(),
        after: after ?? emptyMetrics(),
        points: { written: written.written, cleared: written.cleared },
        ...(qc === undefined ? {} : { qc: qc.summary(deviceId) }),
        ...(fit?.heldOut ? { heldOut: fit.heldOut } : {}),
        ...(assessment && written.written > 0 ? { uncertainty: assessment } : {}),
        ...(fit ? { fit: { ...fit.window, fittedAt: fit.fittedAt, n: fit.n, reused: !refit } } : {}),
      }
      const notes = [...(model?.notes(deviceId) ?? [`no_reference: no ${quantity} observations of station ${station} in the period`])]
      if (qc !== undefined) notes.push(...crowdQcNotes(qc.summary(deviceId)))
      if (notInGroup.has(deviceId) && isPm(quantity)) notes.push(NOT_IN_GROUP_NOTE)
      if (model !== undefined && written.written === 0 && quantity !== 'no2') notes.push(`not_calibrated: ${result.method} gave no value for this period (see the notes above; the group method needs ≥ 3 registered, consented devices of one sensor model or humidity for the κ-Köhler fallback)`)
      else if (before && after && after.rmse > before.rmse) notes.push('rmse_worse_after: calibrated values agree less with the reference than raw ones (for PM: the group removes its common bias and the device\'s gain against the group median; for temperature: the garden really differs from the rural station)')
      result.notes = notes
      results.push(result)
      // reference RH for the PM humidity panel, KNMI Q for the temperature/humidity bias-vs-radiation panel
      const series = timeSeries(rawHourly, calibratedHourly, applyReference, { humidity, radiation })
      await writeReport(options.reportsDir, buildReport(result, series, notes), series)
      done++
      run.onProgress?.(done, total, `${quantity} ${deviceId}`)
      logger.debug({ deviceId, quantity, method: result.method, ...result.points, rmseBefore: before?.rmse, rmseAfter: after?.rmse }, 'calibrated')
    }
  }
  return results
}

/**
 * Fits every method of `input.quantity` on `input` (the fit window `window`), evaluates each device on held-out
 * data (core/calibration/assess.ts; data capture over the run's apply window) and stores one fit per device of
 * the input in `options.fitStore` (when given). Returns the fits by device; empty without a reference.
 */
async function fitAndStore(
  input: CalibrationInput,
  run: CalibrationRun,
  window: { from: number; to: number },
  options: CalibratorOptions,
  methodOptions: ChooseMethodOptions,
): Promise<Map<string, CalibrationFit>> {
  const { quantity } = input
  if (input.reference.length === 0) return new Map()
  const model = chooseMethod(quantity, input, methodOptions)
  const assessed = assessDevices(input, (i) => chooseMethod(quantity, i, methodOptions), run, options.collocated)
  const fittedAt = Date.now()
  const fits = new Map<string, CalibrationFit>()
  for (const { deviceId, hourly } of input.devices) {
    const chosen = model.modelFor(deviceId)
    const a = assessed.get(deviceId)
    fits.set(deviceId, {
      deviceId,
      quantity,
      method: chosen.method,
      version: chosen.version,
      parameters: choiceParameters(model, deviceId),
      notes: model.notes(deviceId),
      window,
      n: hourly.length,
      fittedAt,
      label: a?.uncertainty.label ?? 'uncalibrated',
      ...(a ? { uncertainty: a.uncertainty } : {}),
      ...(a?.metrics ? { heldOut: a.metrics } : {}),
    })
  }
  await options.fitStore?.save([...fits.values()])
  return fits
}

/**
 * CrowdQC+-style checks (core/calibration/crowdqc.ts) on the fleet's calibrated hourly means over the fit window
 * (a linear correction of the hourly mean equals the mean of the corrected readings). Positions from the registry;
 * only the group's members make the fleet statistics (./group.ts).
 */
function weatherQc(quantity: Quantity, hourly: Array<{ deviceId: string; hourly: HourlyValue[] }>, model: CalibrationChoice, positions: ReadonlyMap<string, LatLon>, members: readonly string[]): CrowdQcResult {
  const devices = hourly.map(({ deviceId, hourly: values }) => ({
    deviceId,
    hourly: values.flatMap((v) => {
      const value = model.apply(deviceId, v.time, v.value)
      return value === undefined ? [] : [{ ...v, value }]
    }),
    ...(positions.has(deviceId) ? { position: positions.get(deviceId)! } : {}),
  }))
  return crowdQc(quantity, devices, { members })
}

/**
 * Writes the calibrated fields of one series' readings in [from, to) and clears those of readings that had a
 * value and get none now (see calibratePeriod). Returns the counts and the calibrated readings (for metrics).
 */
async function writeCalibrated(
  store: ReadingStore,
  series: { deviceId: string; quantity: Quantity; from: number; to: number },
  readings: readonly StoredReading[],
  model: CalibrationChoice | undefined,
  qc: CrowdQcResult | undefined,
  assessment: UncertaintyAssessment | undefined,
): Promise<{ written: number; cleared: number; calibrated: StoredReading[] }> {
  const { deviceId, quantity, from, to } = series
  const before = await store.readingRows({ devices: [deviceId], quantities: [quantity], from, to, fields: ['calibration_method'] })
  const hadValue = new Set(before.filter((row) => typeof row.fields.calibration_method === 'string' && row.fields.calibration_method !== '').map((row) => row.time))
  const point = (time: number) => new Point(READING_MEASUREMENT).tag('device', deviceId).tag('quantity', quantity).timestamp(String(time))
  const lines: string[] = []
  const calibrated: StoredReading[] = []
  let cleared = 0
  for (const r of readings) {
    if (r.time < from || r.time >= to) continue
    const value = model !== undefined && r.flags.length === 0 ? model.apply(deviceId, r.time, r.value) : undefined
    if (value !== undefined && Number.isFinite(value)) {
      calibrated.push({ ...r, value, flags: [] })
      // the method's flags (PM: humid, core/calibration/methods) and the CrowdQC+ flags (temperature, humidity)
      const flags = [...model!.flagsAt(deviceId, r.time), ...(qc?.flagsAt(deviceId, hourEnding(r.time)) ?? [])]
      lines.push(
        point(r.time)
          .floatField('calibrated', value)
          .stringField('calibration_method', model!.methodAt(deviceId, r.time))
          .stringField('calibration_version', model!.version)
          .stringField('calibration_flags', flags.join(','))
          .floatField('calibrated_u', (assessment && readingUncertainty(assessment, value)) ?? -1)
          .stringField('calibration_label', assessment?.label ?? 'experimental')
          .toLineProtocol()!,
      )
    } else if (hadValue.has(r.time)) {
      cleared++
      lines.push(
        point(r.time)
          .stringField('calibration_method', '')
          .stringField('calibration_version', '')
          .stringField('calibration_flags', '')
          .floatField('calibrated_u', -1)
          .stringField('calibration_label', 'uncalibrated')
          .toLineProtocol()!,
      )
    }
  }
  for (let i = 0; i < lines.length; i += 5000) await store.writeLines(lines.slice(i, i + 5000))
  return { written: calibrated.length, cleared, calibrated }
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

/** Ids of the devices with readings of `quantity` in [from − 1 h, to), sorted. */
async function devicesWith(store: ReadingStore, quantity: Quantity, from: number, to: number): Promise<string[]> {
  const counts = await store.countReadings({ quantities: [quantity], from: from - HOUR, to })
  // the whole group is needed for the group method, also when one device is asked for; the registry decides
  // who is in it (calibratePeriod)
  return [...new Set(counts.map((c) => c.deviceId))].sort()
}
