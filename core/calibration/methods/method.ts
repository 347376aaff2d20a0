import type { Quantity } from '../../quantities.ts'
import { HOUR_MS, hourEnding } from '../align.ts'
import type { HourlyValue } from '../types.ts'

export { HOUR_MS, hourEnding }

/**
 * The calibration-method interface: a method fits a CalibrationModel from hourly means of a group of devices
 * and a reference station; the model then calibrates single raw readings, each with the factor of its own hour.
 *
 * Hour convention (core/calibration/types.ts, core/reference/reference.ts): an hourly value's `time` is the END
 * of the hour, epoch ms UTC; the hour ending at T covers readings with observedAt in (T − 1 h, T]. Its "hour of
 * day" is the UTC hour in which it starts (the hour ending 09:00 UTC is hour 8, as KNMI `HH` = 9).
 * `hourEnding` (core/calibration/align.ts) maps a reading to its hour.
 */

export interface CalibrationInput {
  quantity: Quantity
  /**
   * Aligned hourly means of each device's raw readings (flagged readings excluded), canonical unit. PM methods
   * group devices by `sensorModel` (e.g. 'SDS011', 'SPS30') and `location` (private WGS84 position, degrees);
   * a device without them counts as the same model and place as every other such device.
   */
  devices: Array<{ deviceId: string; hourly: HourlyValue[]; sensorModel?: string; location?: { lat: number; lon: number } }>
  /** Reference station, same quantity and unit, end-of-hour times. */
  reference: HourlyValue[]
  /** Position of the reference station (WGS84, degrees); PM groups farther than their limit get no group factor. */
  referenceLocation?: { lat: number; lon: number }
  /** Reference relative humidity, % (KNMI U at the nearest station), end-of-hour times; for κ-Köhler. */
  humidity?: HourlyValue[]
  /**
   * Global radiation at the weather reference, W/m², hourly mean (KNMI `Q` converted, core/reference/knmi.ts),
   * end-of-hour times; for the radiation error of thermometers (`radiation-offset`).
   */
  radiation?: HourlyValue[]
  /** Wind speed at the weather reference, m/s, hourly mean at 10 m (KNMI `FH`), end-of-hour times (`radiation-offset`). */
  wind?: HourlyValue[]
  /** Device ids mounted at the reference station (per-sensor regression, `linear-collocated`). */
  collocated?: string[]
  /**
   * Device ids (each one of `devices`) whose hourly values may enter a parameter shared between devices: the
   * `pm-group-ratio` factors, and with them which hours have a factor. Default: every device in `devices`.
   * A device in `devices` but not here is still calibrated, with the group's shared parameters and its own
   * per-device fits (κ, radiation error and offset, collocated regression), but nothing it measured reaches any other
   * device's calibration. SensHagen passes the registered, active, consented devices
   * (services/calibration/group.ts): the factors are published in the consented devices' reports, so a
   * non-consented device's values must not be in them.
   */
  groupMembers?: readonly string[]
}

export interface CalibrationModel {
  /** e.g. 'pm-group-ratio', 'pm-kohler', 'linear-collocated', 'radiation-offset' */
  method: string
  /** Method version, e.g. '1'; bumped whenever a change alters calibrated values. */
  version: string
  /**
   * Calibrated value of one raw reading (canonical unit), or undefined when this reading cannot be calibrated
   * (no factor for its hour, device not fitted). `observedAt` is epoch ms UTC; `value` the raw value.
   */
  apply(deviceId: string, observedAt: number, value: number): number | undefined
  /** JSON-serialisable coefficients of this device's calibration (see each method for the keys). */
  coefficients(deviceId: string): Record<string, number | number[]>
  /** Per-device notes/flags, e.g. CrowdQC-style 'sun_exposed', 'indoor', 'drifting', 'unreliable'. */
  notes(deviceId: string): string[]
  /**
   * Optional: the method that calibrates a reading at `observedAt` (for a method with a per-hour fallback, e.g.
   * 'pm-group-ratio' falling back to 'pm-kohler'), or undefined when that reading cannot be calibrated.
   * Methods without a fallback may leave it out: then it is always `method` (when `apply` gives a value).
   */
  methodAt?(deviceId: string, observedAt: number): string | undefined
  /**
   * Optional: calibration quality flags of one reading (the calibrated value is kept), e.g. PM 'humid' when the
   * hour's RH ≥ 95 % or the humidity factor was clipped. Stored in the reading's `calibration_flags` field.
   */
  flagsAt?(deviceId: string, observedAt: number): string[]
}

/** A calibration method; options are method-specific (each has documented defaults). */
export type CalibrationMethod<Options = never> = (input: CalibrationInput, options?: Options) => CalibrationModel

export const DAY_MS = 86_400_000

/** UTC hour of day 0–23 of the hour ending at `time` (the hour it starts in). */
export function hourOfDay(time: number): number {
  return new Date(time - HOUR_MS).getUTCHours()
}

/**
 * Indexes an hourly series by end-of-hour time.
 * Errors: throws an Error naming `what` when a time is not a whole hour (epoch ms multiple of 3 600 000), is
 * repeated, or a value is not finite: a series that is not on the hourly grid is a caller bug, not data.
 */
export function indexHourly(series: readonly HourlyValue[], what: string): Map<number, number> {
  const map = new Map<number, number>()
  for (const { time, value } of series) {
    if (!Number.isSafeInteger(time) || time % HOUR_MS !== 0) {
      throw new Error(`${what}: hourly time ${time} is not the end of a whole UTC hour (epoch ms, multiple of 3600000)`)
    }
    if (map.has(time)) throw new Error(`${what}: hour ending ${new Date(time).toISOString()} appears twice`)
    if (!Number.isFinite(value)) throw new Error(`${what}: value at ${new Date(time).toISOString()} is not finite`)
    map.set(time, value)
  }
  return map
}

/**
 * The devices whose values may enter shared parameters (`input.groupMembers`, default all), indexed like
 * indexDevices. Errors: those of indexDevices; Error naming an id in `groupMembers` that is not in `devices`
 * (a caller bug: a member without data would silently shrink the group).
 */
export function indexGroupMembers(input: CalibrationInput): Map<string, Map<number, number>> {
  const devices = indexDevices(input)
  if (input.groupMembers === undefined) return devices
  const members = new Map<string, Map<number, number>>()
  for (const id of input.groupMembers) {
    const hourly = devices.get(id)
    if (hourly === undefined) throw new Error(`group member ${id} is not one of the calibration input's devices`)
    members.set(id, hourly)
  }
  return members
}

/** Checks that device ids are unique; returns the devices indexed by id (hourly series indexed by time). */
export function indexDevices(input: CalibrationInput): Map<string, Map<number, number>> {
  const devices = new Map<string, Map<number, number>>()
  for (const device of input.devices) {
    if (devices.has(device.deviceId)) throw new Error(`device ${device.deviceId} appears twice in the calibration input`)
    devices.set(device.deviceId, indexHourly(device.hourly, `device ${device.deviceId}`))
  }
  return devices
}

/** Paired (sensor, reference) hourly values of one device, in time order. */
export function pairsWith(
  device: Map<number, number>,
  reference: Map<number, number>,
): Array<{ time: number; sensor: number; reference: number }> {
  const pairs: Array<{ time: number; sensor: number; reference: number }> = []
  for (const [time, sensor] of device) {
    const ref = reference.get(time)
    if (ref !== undefined) pairs.push({ time, sensor, reference: ref })
  }
  return pairs.sort((a, b) => a.time - b.time)
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}

/** Throws a RangeError naming `name` unless `value` is a finite number in [min, max]. */
export function checkOption(name: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`option ${name} must be a number in [${min}, ${max}], got ${value}`)
  }
}

/** The PM quantities the PM methods calibrate (RIVM calibrates SDS011 PM2.5 and PM10, SPS30 PM2.5). */
export const PM_QUANTITIES: readonly Quantity[] = ['pm2_5', 'pm10']

export function isPm(quantity: Quantity): boolean {
  return PM_QUANTITIES.includes(quantity)
}

/** Coefficients as a model reports them (CalibrationModel.coefficients). */
export type Coefficients = Record<string, number | number[]>

/**
 * A stored fit's view for one method (core/calibration/fits.ts): the device's coefficients of that method as
 * `coefficients(deviceId)` gave them at fitting time (JSON: a non-finite number comes back as null), undefined for a
 * device without a stored fit, and the fit's notes. The restore functions of each method build a model from it.
 */
export interface StoredParameters {
  parameters(deviceId: string): Record<string, number | number[] | null> | undefined
  notes(deviceId: string): string[]
}

/** The scalar coefficients of stored parameters (arrays left out; null, a non-finite number in JSON, as NaN). */
export function numbers(parameters: Record<string, number | number[] | null> | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (value === null) out[key] = Number.NaN
    else if (typeof value === 'number') out[key] = value
  }
  return out
}

/** An array coefficient of stored parameters ([] when absent; null entries as NaN). */
export function numberArray(parameters: Record<string, number | number[] | null> | undefined, key: string): number[] {
  const value = parameters?.[key]
  return Array.isArray(value) ? value.map((v) => (v === null ? Number.NaN : v)) : []
}
