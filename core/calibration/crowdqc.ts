import { median, medianAbsoluteDeviation, sampleCorrelation } from 'simple-statistics'
import { QUANTITIES, type Quantity } from '../quantities.ts'
import { distanceKm } from '../reference/stations.ts'
import { indexHourly } from './methods/method.ts'
import type { HourlyValue } from './types.ts'

/**
 * CrowdQC+-style quality checks of a fleet of citizen weather stations: quality FLAGS on the calibrated output,
 * never corrections. The checks compare each station with the crowd, not with a reference station, after
 * CrowdQC (Napoly et al. 2018, Front. Earth Sci. 6:118, doi:10.3389/feart.2018.00118) and CrowdQC+ (Fenner et al.
 * 2021, Front. Environ. Sci. 9:720747, doi:10.3389/fenvs.2021.720747; R package dafenner/CrowdQCplus). They run
 * on hourly means (CrowdQC's time step), in the quantity's canonical unit.
 *
 * Per device (every reading of the device carries the flag):
 * - `qc_m1_metadata`: no position, or the same position as more than `duplicateCutOff` other devices (CrowdQC m1,
 *   cutOff = 1: a shared default position means an unset one).
 * - `qc_m3_outlier_share`: more than `outlierShare` (20 %, CrowdQC m3) of its hours failed m3 below.
 * - `qc_m4_correlation`: Pearson r of its hourly series with the fleet median < `minCorrelation` (0.9, CrowdQC m4),
 *   over at least `minCorrelationHours` (24, ours; CrowdQC takes a month) common hours.
 * Per hour (the readings of that hour carry the flag):
 * - `qc_m2_extreme`: hourly mean outside the quantity's plausible range (core/quantities.ts: Dutch records, KNMI
 *   −27.4 °C and 40.7 °C, widened to −30…45 °C). CrowdQC+ has no fixed range; this is the extreme-value check of
 *   Meier et al. 2017 (Urban Climate 19:170–191) with Dutch bounds.
 * - `qc_m3_outlier`: robust z = (x − median) / scale against all devices (`members`) in that hour, with scale = 1.4826 · MAD
 *   (normal-consistent; CrowdQC uses Qn, not in simple-statistics) but at least `minScale` (ours: 0.3 °C, 2 % RH,
 *   a good sensor's accuracy, so that a tight fleet does not flag tenths); flagged when z < `zLow` = qnorm(0.01)
 *   = −2.326 or z > `zHigh` = qnorm(0.95) = 1.645 (CrowdQC m2). Needs `minDevices` (5, ours) devices in the hour.
 * - `qc_m5_buddy`: robust z against the buddies within `buddyRadiusKm` (3 km), with at least `minBuddies` (5)
 *   of them, |z| > `buddyZ` = 1.645 (two-sided α = 0.1; CrowdQC+ m5).
 */

export interface CrowdQcOptions {
  /**
   * Devices whose values make the fleet statistics (medians, scales, buddies, shared positions); default all.
   * The others are checked against them but change nothing for anyone else (services/calibration/group.ts: a
   * device without consent must not shape what is published about the consented ones).
   */
  members?: readonly string[]
  duplicateCutOff?: number
  zLow?: number
  zHigh?: number
  /** Floor of the robust scale, canonical unit; default 0.3 °C (air_temperature), 2 % (relative_humidity), else 0. */
  minScale?: number
  minDevices?: number
  outlierShare?: number
  minCorrelation?: number
  minCorrelationHours?: number
  buddyRadiusKm?: number
  minBuddies?: number
  buddyZ?: number
}

export const CROWDQC_DEFAULTS = {
  duplicateCutOff: 1,
  zLow: -2.326,
  zHigh: 1.645,
  minDevices: 5,
  outlierShare: 0.2,
  minCorrelation: 0.9,
  minCorrelationHours: 24,
  buddyRadiusKm: 3,
  minBuddies: 5,
  buddyZ: 1.645,
} as const

const MIN_SCALE: Partial<Record<Quantity, number>> = { air_temperature: 0.3, relative_humidity: 2 }

export interface CrowdQcDevice {
  deviceId: string
  /** Calibrated hourly means, canonical unit, end-of-hour times (core/calibration/types.ts). */
  hourly: readonly HourlyValue[]
  /** Exact position (registry); undefined when not known. */
  position?: { lat: number; lon: number }
}

/** Per-device summary of the checks, for reports and `senshagen calibrate`. */
export interface CrowdQcSummary {
  deviceId: string
  /** Hours checked. */
  hours: number
  /** Device-level flags (m1, m3 share, m4), in check order. */
  flags: string[]
  m2Hours: number
  m3Hours: number
  /** m3Hours / hours, 0 without hours. */
  m3Share: number
  /** Pearson r with the fleet median, null when too few common hours. */
  m4Correlation: number | null
  m5Hours: number
}

export interface CrowdQcResult {
  /** Flags of a reading of `deviceId` in the hour ending at `hourEnd` (device-level ones included), sorted. */
  flagsAt(deviceId: string, hourEnd: number): string[]
  summary(deviceId: string): CrowdQcSummary
}

/**
 * Runs m1–m5 over one quantity's fleet. Pure.
 * Errors: RangeError naming an option out of range; indexHourly's errors for a series off the hourly grid.
 */
export function crowdQc(quantity: Quantity, devices: readonly CrowdQcDevice[], options: CrowdQcOptions = {}): CrowdQcResult {
  const { members: memberIds, ...numeric } = options
  const o = { ...CROWDQC_DEFAULTS, minScale: MIN_SCALE[quantity] ?? 0, ...numeric }
  const members = new Set(memberIds ?? devices.map((d) => d.deviceId))
  const fleet = devices.filter((d) => members.has(d.deviceId))
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isFinite(value)) throw new RangeError(`option ${name} must be a finite number, got ${value}`)
  }
  if (o.outlierShare < 0 || o.outlierShare > 1) throw new RangeError(`option outlierShare must be in [0, 1], got ${o.outlierShare}`)
  const series = new Map(devices.map((d) => [d.deviceId, indexHourly(d.hourly, `device ${d.deviceId}`)]))
  const hourFlags = new Map<string, Map<number, string[]>>(devices.map((d) => [d.deviceId, new Map()]))
  const flag = (deviceId: string, time: number, name: string) => {
    const byHour = hourFlags.get(deviceId)!
    byHour.set(time, [...(byHour.get(time) ?? []), name])
  }
  const robustZ = (x: number, values: number[]) => (x - median(values)) / Math.max(1.4826 * medianAbsoluteDeviation(values), o.minScale, Number.MIN_VALUE)

  const [low, high] = QUANTITIES[quantity].plausible
  const times = [...new Set(devices.flatMap((d) => d.hourly.map((h) => h.time)))].sort((a, b) => a - b)
  const fleetMedian = new Map<number, number>()
  const buddies = new Map(devices.map((d) => [d.deviceId, buddiesOf(d, fleet, o.buddyRadiusKm)]))
  for (const time of times) {
    const present = devices.flatMap((d) => {
      const v = series.get(d.deviceId)!.get(time)
      return v === undefined ? [] : [{ deviceId: d.deviceId, value: v }]
    })
    for (const { deviceId, value } of present) if (value < low || value > high) flag(deviceId, time, 'qc_m2_extreme')
    const values = present.filter((p) => members.has(p.deviceId)).map((p) => p.value)
    if (values.length < o.minDevices) continue
    fleetMedian.set(time, median(values))
    for (const { deviceId, value } of present) {
      const z = robustZ(value, values)
      if (z < o.zLow || z > o.zHigh) flag(deviceId, time, 'qc_m3_outlier')
      const around = (buddies.get(deviceId) ?? []).flatMap((b) => {
        const v = series.get(b)!.get(time)
        return v === undefined ? [] : [v]
      })
      if (around.length >= o.minBuddies && Math.abs(robustZ(value, around)) > o.buddyZ) flag(deviceId, time, 'qc_m5_buddy')
    }
  }

  const summaries = new Map<string, CrowdQcSummary>()
  for (const device of devices) {
    const own = series.get(device.deviceId)!
    const byHour = hourFlags.get(device.deviceId)!
    const count = (name: string) => [...byHour.values()].filter((f) => f.includes(name)).length
    const common = [...own].filter(([time]) => fleetMedian.has(time))
    const r = common.length >= o.minCorrelationHours ? sampleCorrelation(common.map(([, v]) => v), common.map(([t]) => fleetMedian.get(t)!)) : Number.NaN
    const summary: CrowdQcSummary = {
      deviceId: device.deviceId,
      hours: own.size,
      flags: [],
      m2Hours: count('qc_m2_extreme'),
      m3Hours: count('qc_m3_outlier'),
      m3Share: own.size === 0 ? 0 : count('qc_m3_outlier') / own.size,
      m4Correlation: Number.isFinite(r) ? r : null,
      m5Hours: count('qc_m5_buddy'),
    }
    if (device.position === undefined || samePosition(device, fleet) > o.duplicateCutOff) summary.flags.push('qc_m1_metadata')
    if (summary.m3Share > o.outlierShare) summary.flags.push('qc_m3_outlier_share')
    if (summary.m4Correlation !== null && summary.m4Correlation < o.minCorrelation) summary.flags.push('qc_m4_correlation')
    summaries.set(device.deviceId, summary)
  }

  return {
    flagsAt(deviceId, hourEnd) {
      const deviceFlags = summaries.get(deviceId)?.flags ?? []
      return [...deviceFlags, ...(hourFlags.get(deviceId)?.get(hourEnd) ?? [])].sort()
    },
    summary(deviceId) {
      const s = summaries.get(deviceId)
      if (s === undefined) throw new Error(`crowdQc: device ${deviceId} was not checked`)
      return { ...s, flags: [...s.flags] }
    },
  }
}

/** Other devices with exactly this device's position. */
function samePosition(device: CrowdQcDevice, devices: readonly CrowdQcDevice[]): number {
  const p = device.position
  if (p === undefined) return 0
  return devices.filter((d) => d !== device && d.position?.lat === p.lat && d.position?.lon === p.lon).length
}

/** Ids of the other devices with a position within `radiusKm` (great-circle) of this one. */
function buddiesOf(device: CrowdQcDevice, devices: readonly CrowdQcDevice[], radiusKm: number): string[] {
  const p = device.position
  if (p === undefined) return []
  return devices.filter((d) => d !== device && d.position !== undefined && distanceKm(p, d.position) <= radiusKm).map((d) => d.deviceId)
}

/** One report note per device-level flag, naming the rule and its source. */
export function crowdQcNotes(summary: CrowdQcSummary, options: CrowdQcOptions = {}): string[] {
  const o = { ...CROWDQC_DEFAULTS, ...options }
  const r = summary.m4Correlation === null ? 'n/a' : summary.m4Correlation.toFixed(3)
  const text: Record<string, string> = {
    qc_m1_metadata: `qc_m1_metadata: position missing or shared with more than ${o.duplicateCutOff} other device (CrowdQC m1)`,
    qc_m3_outlier_share: `qc_m3_outlier_share: ${(100 * summary.m3Share).toFixed(0)} % of hours are spatial outliers, more than ${100 * o.outlierShare} % (CrowdQC m3)`,
    qc_m4_correlation: `qc_m4_correlation: r = ${r} with the fleet median, below ${o.minCorrelation} (CrowdQC m4)`,
  }
  return summary.flags.map((f) => text[f] ?? f)
}
