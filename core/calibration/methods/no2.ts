import { linearRegression, median } from 'simple-statistics'
import { QUANTITIES } from '../../quantities.ts'
import { type CalibrationInput, type CalibrationModel, DAY_MS, type StoredParameters, checkOption, clamp, hourEnding, hourOfDay, indexDevices, indexHourly, numberArray, numbers, pairsWith } from './method.ts'

/**
 * `no2-rivm`: calibration of electrochemical NO2 sensors (e.g. Alphasense NO2-B43F) the way RIVM does it for the
 * Samen Meten data portal: a start calibration beside a reference station, then a night-time calibration during
 * the campaign, because the sensor's response drifts.
 *
 * Source: RIVM, "Kalibratie van NO2-sensoren" (March 2021), https://www.samenmeten.nl/documenten/kalibratie-van-no2-sensoren:
 * "Een sensor wordt aan het begin van de meetcampagne gekalibreerd door te vergelijken met officiële metingen
 * ('startkalibratie'), maar ook tijdens de meetcampagne wordt een sensor weer gekalibreerd ('nachtkalibratie')
 * omdat de gevoeligheid van de sensor na enige tijd verloopt." The note itself (its parameters) was not readable
 * here; RIVM also found the month of the start calibration matters (samenmeten.nl news "Tijd van jaar van invloed
 * op kalibratie van NO2-sensoren": May best in 2018, a winter calibration worse in summer).
 *
 * Ours, with defaults:
 * - Start calibration: reference ≈ a + b · raw by OLS (simple-statistics) over the device's hours beside the
 *   station: a device in `input.collocated`, hours within `collocation[device]` (default: all its hours), at
 *   least `minPairs` (72, three days).
 * - Night-time calibration: in the night hours (`nightHours`, default 01–04 UTC, 02–05 CET, when traffic is
 *   lowest and NO2 is most uniform over an area), the residuals reference − (a + b · raw) after the
 *   collocation; their median over the `nightWindowDays` (7) nights up to a day, with at least `minNightHours`
 *   (12) residuals, is that day's offset correction c. calibrated = a + c + b · raw, clamped to 0…2000 µg/m³.
 *   Assumption and limit: at night the garden's NO2 is close to the reference station's; against a rural
 *   station (NL10818, 14 km) that underestimates a street's night-time NO2, so c is an offset only, never a gain.
 * - No calibration without a start calibration: a device never beside a station stays uncalibrated (apply →
 *   undefined) with the reason in its notes. A group ratio would not replace it: NO2 varies from street to
 *   street, and the rural stations near Stadshagen are unsuitable for NO2 (research §7).
 */

export interface No2Options {
  /** Minimum hours beside the station for a start calibration; default 72 (ours). */
  minPairs?: number
  /** Per device, the period (epoch ms, hour ends inclusive) it stood beside the station; default all its hours. */
  collocation?: Record<string, { from: number; to: number }>
  /** UTC hours of day (0–23, the hour's start) used for the night-time calibration; default [1, 2, 3, 4]. */
  nightHours?: readonly number[]
  /** Nights in the night-time window; default 7 (ours). */
  nightWindowDays?: number
  /** Minimum night residuals for an offset; default 12 (ours). */
  minNightHours?: number
}

/** Note of a device whose NO2 stays uncalibrated because it never stood beside a reference station. */
export const NO2_NOT_COLLOCATED_NOTE =
  'no2_uncalibrated: no start calibration beside a reference station (SENSHAGEN_COLLOCATED_DEVICES); RIVM calibrates electrochemical NO2 sensors first beside a station, then at night during the campaign, and without the first the sensor\'s own sensitivity is unknown (NO2 varies from street to street, so no group or rural-station ratio replaces it)'

interface No2Fit {
  a: number
  b: number
  n: number
  /** Offset correction per UTC day index after the collocation. */
  offsets: Map<number, number>
  collocatedUntil: number
}

/**
 * Builds the `no2-rivm` model (see the module comment).
 * Coefficients: `a` (µg/m³), `b`, `n` (start pairs), `collocated_until` (last hour end beside the station, epoch ms), `offset_days` (UTC day starts, epoch ms) and `offsets`
 * (µg/m³); only `n` when not fitted. Notes: NO2_NOT_COLLOCATED_NOTE, or `no2_uncalibrated: only N hours …`.
 * Errors: Error for a quantity other than no2; RangeError for options out of range.
 */
export function no2Rivm(input: CalibrationInput, options: No2Options = {}): CalibrationModel {
  if (input.quantity !== 'no2') throw new Error(`no2-rivm calibrates no2, not ${input.quantity}`)
  const minPairs = options.minPairs ?? 72
  const nightHours = new Set(options.nightHours ?? [1, 2, 3, 4])
  const windowDays = options.nightWindowDays ?? 7
  const minNight = options.minNightHours ?? 12
  checkOption('minPairs', minPairs, 2, Infinity)
  checkOption('nightWindowDays', windowDays, 1, Infinity)
  checkOption('minNightHours', minNight, 1, Infinity)
  const collocated = new Set(input.collocated ?? [])
  const reference = indexHourly(input.reference, 'reference')
  const fits = new Map<string, No2Fit>()
  const pairCounts = new Map<string, number>()
  for (const [deviceId, hourly] of indexDevices(input)) {
    if (!collocated.has(deviceId)) continue
    const period = options.collocation?.[deviceId] ?? { from: -Infinity, to: Infinity }
    const pairs = pairsWith(hourly, reference)
    const start = pairs.filter((p) => p.time >= period.from && p.time <= period.to)
    pairCounts.set(deviceId, start.length)
    if (start.length < minPairs || start.every((p) => p.sensor === start[0]!.sensor)) continue
    const { m: b, b: a } = linearRegression(start.map((p) => [p.sensor, p.reference]))
    const collocatedUntil = start[start.length - 1]!.time
    const night = pairs
      .filter((p) => p.time > collocatedUntil && nightHours.has(hourOfDay(p.time)))
      .map((p) => ({ day: Math.floor((p.time - 1) / DAY_MS), residual: p.reference - (a + b * p.sensor) }))
    const offsets = new Map<number, number>()
    for (const day of new Set([...hourly.keys()].filter((t) => t > collocatedUntil).map((t) => Math.floor((t - 1) / DAY_MS)))) {
      const window = night.filter((n) => n.day <= day && n.day > day - windowDays).map((n) => n.residual)
      if (window.length >= minNight) offsets.set(day, median(window))
    }
    fits.set(deviceId, { a, b, n: start.length, offsets, collocatedUntil })
  }

  const notes = (deviceId: string): string[] => {
    if (!collocated.has(deviceId)) return [NO2_NOT_COLLOCATED_NOTE]
    if (fits.has(deviceId)) return []
    return [`no2_uncalibrated: only ${pairCounts.get(deviceId) ?? 0} hours beside the reference station; the start calibration needs ≥ ${minPairs} with a varying signal`]
  }
  return no2Model((deviceId) => fits.get(deviceId), (deviceId) => pairCounts.get(deviceId) ?? 0, notes)
}

/** The `no2-rivm` model of fitted (or stored) start calibrations and night offsets; used by no2Rivm and restoreNo2Rivm. */
function no2Model(fitOf: (deviceId: string) => No2Fit | undefined, pairs: (deviceId: string) => number, notes: (deviceId: string) => string[]): CalibrationModel {
  const { min, max } = QUANTITIES.no2
  const offsetAt = (fit: No2Fit, observedAt: number): number => {
    const end = hourEnding(observedAt)
    if (end <= fit.collocatedUntil) return 0
    // the latest offset up to this day; none yet (first nights) → the start calibration alone
    let day = Math.floor((end - 1) / DAY_MS)
    const first = Math.min(...fit.offsets.keys())
    while (day >= first) {
      const offset = fit.offsets.get(day)
      if (offset !== undefined) return offset
      day--
    }
    return 0
  }

  return {
    method: 'no2-rivm',
    version: '1',
    apply(deviceId, observedAt, value) {
      const fit = fitOf(deviceId)
      return fit === undefined ? undefined : clamp(fit.a + offsetAt(fit, observedAt) + fit.b * value, min, max)
    },
    coefficients(deviceId): Record<string, number | number[]> {
      const fit = fitOf(deviceId)
      if (fit === undefined) return { n: pairs(deviceId) }
      const days = [...fit.offsets.keys()].sort((x, y) => x - y)
      return { a: fit.a, b: fit.b, n: fit.n, collocated_until: fit.collocatedUntil, offset_days: days.map((d) => d * DAY_MS), offsets: days.map((d) => fit.offsets.get(d)!) }
    },
    notes,
    methodAt(deviceId) {
      return fitOf(deviceId) ? 'no2-rivm' : undefined
    },
  }
}

/**
 * The `no2-rivm` model of stored coefficients (`a`, `b`, `n`, `collocated_until`, `offset_days`, `offsets`;
 * core/calibration/fits.ts): a day after the last stored night offset keeps that offset, as no2Rivm does
 * for a day without enough nights.
 */
export function restoreNo2Rivm(stored: StoredParameters): CalibrationModel {
  const fitOf = (deviceId: string): No2Fit | undefined => {
    const p = stored.parameters(deviceId)
    const c = numbers(p)
    if (c.a === undefined || c.b === undefined || c.collocated_until === undefined) return undefined
    const offsets = numberArray(p, 'offsets')
    return { a: c.a, b: c.b, n: c.n ?? 0, collocatedUntil: c.collocated_until, offsets: new Map(numberArray(p, 'offset_days').map((t, i) => [t / DAY_MS, offsets[i]!])) }
  }
  return no2Model(fitOf, (deviceId) => numbers(stored.parameters(deviceId)).n ?? 0, stored.notes)
}
