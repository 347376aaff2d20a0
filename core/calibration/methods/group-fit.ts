import { mean, median } from 'simple-statistics'
import { type DriftOptions, type DriftResult, detectDrift } from './drift.ts'
import type { PmKohlerOptions } from './kohler.ts'
import {
  type CalibrationInput,
  DAY_MS,
  checkOption,
  clamp,
  indexDevices,
  indexGroupMembers,
  indexHourly,
  numberArray,
  numbers,
  type StoredParameters,
} from './method.ts'
import { type PmGroup, type PmGroupOptions, pmGroups } from './pm-groups.ts'

/** Fitting of `pm-group-ratio` (./group-ratio.ts has the method, its sources and its parameters). */

export interface PmGroupRatioOptions {
  /** Minimum members with a value (after outliers) in an hour for a factor; default 3 (ours). */
  minGroupSize?: number
  /** Minimum reference concentration, µg/m³, for a factor; default 1 (ours). */
  minReference?: number
  /** Bounds the factor is clipped to; default [0.2, 5] (ours). */
  clip?: readonly [number, number]
  /** Group statistic; default 'median'. 'trimmed-mean' drops `trim` of the values at each end; 'mean' is RIVM's wording. */
  statistic?: 'median' | 'trimmed-mean' | 'mean'
  /** Share trimmed at each end by 'trimmed-mean', [0, 0.5); default 0.2. */
  trim?: number
  /** A member's hourly value beyond ×/÷ this of the hour's median is left out of L; default 2 (ours). */
  outlierRatio?: number
  /** A member whose scale is beyond ×/÷ this of the median scale is left out of L; default 2 (ours). */
  maxScaleRatio?: number
  /** Hours with reference RH below this, %, set the scales; default 70 (issue 11). */
  dryRh?: number
  /** Window of the rolling scale, days, centred; default 7 (ours). */
  scaleWindowDays?: number
  /** Window of a drifting device's scale, days; default 3 (ours). */
  driftWindowDays?: number
  /** Minimum hourly ratios for a scale; default 12 (ours). */
  minScaleHours?: number
  /** Use the κ-Köhler fallback when humidity is given; default true. */
  fallback?: boolean
  kohler?: PmKohlerOptions
  groups?: PmGroupOptions
  drift?: DriftOptions
}

export interface GroupFactor {
  /** End of the hour, epoch ms UTC. */
  time: number
  /** Clipped factor (dimensionless). */
  factor: number
  /** Factor before clipping. */
  unclipped: number
  /** Members in the statistic (after outliers). */
  groupSize: number
}

/** What the method fitted for one group (exported for tests and reports). */
export interface GroupFit {
  group: PmGroup
  factors: GroupFactor[]
  /** Per device: scale per UTC day index (floor((hour end − 1) / day)). */
  scales: Map<string, Map<number, number>>
  /** Per device: its overall scale (median of all its ratios, normalised). */
  overallScale: Map<string, number>
  drift: Map<string, DriftResult>
  /** Members left out of L as gain outliers. */
  gainOutliers: Set<string>
  /** Devices with too few hours for a scale: scale 1 (the group ratio alone). */
  unscaled: Set<string>
}

type Hourly = Map<number, number>
type Ratio = { time: number; ratio: number; dry: boolean }

interface Settings {
  minGroupSize: number
  minReference: number
  clip: readonly [number, number]
  statistic: (values: number[]) => number
  outlierRatio: number
  maxScaleRatio: number
  dryRh: number
  scaleWindowDays: number
  driftWindowDays: number
  minScaleHours: number
}

function settings(options: PmGroupRatioOptions): Settings {
  const s: Settings = {
    minGroupSize: options.minGroupSize ?? 3,
    minReference: options.minReference ?? 1,
    clip: options.clip ?? [0.2, 5],
    statistic: median,
    outlierRatio: options.outlierRatio ?? 2,
    maxScaleRatio: options.maxScaleRatio ?? 2,
    dryRh: options.dryRh ?? 70,
    scaleWindowDays: options.scaleWindowDays ?? 7,
    driftWindowDays: options.driftWindowDays ?? 3,
    minScaleHours: options.minScaleHours ?? 12,
  }
  checkOption('minGroupSize', s.minGroupSize, 1, Infinity)
  checkOption('minReference', s.minReference, Number.MIN_VALUE, Infinity)
  checkOption('clip[0]', s.clip[0], Number.MIN_VALUE, Infinity)
  checkOption('clip[1]', s.clip[1], s.clip[0], Infinity)
  checkOption('outlierRatio', s.outlierRatio, 1, Infinity)
  checkOption('maxScaleRatio', s.maxScaleRatio, 1, Infinity)
  checkOption('dryRh', s.dryRh, 0, 100)
  checkOption('scaleWindowDays', s.scaleWindowDays, 1, Infinity)
  checkOption('driftWindowDays', s.driftWindowDays, 1, Infinity)
  checkOption('minScaleHours', s.minScaleHours, 1, Infinity)
  const trim = options.trim ?? 0.2
  checkOption('trim', trim, 0, 0.49)
  if (options.statistic === 'mean') s.statistic = mean
  if (options.statistic === 'trimmed-mean') s.statistic = (values) => trimmedMean(values, trim)
  return s
}

/** Mean of `values` without the lowest and highest floor(trim · n) values each. */
export function trimmedMean(values: readonly number[], trim: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const k = Math.floor(trim * sorted.length)
  return mean(sorted.slice(k, sorted.length - k))
}

const dayOf = (time: number) => Math.floor((time - 1) / DAY_MS)

/**
 * Fits every group of the input (see the module comment). Errors: RangeError for options out of range; Error for
 * a series off the hourly grid or a group member that is not in `input.devices` (./method.ts).
 */
export function fitGroups(input: CalibrationInput, options: PmGroupRatioOptions = {}): GroupFit[] {
  const s = settings(options)
  const devices = indexDevices(input)
  const members = new Set(indexGroupMembers(input).keys())
  const reference = indexHourly(input.reference, 'reference')
  const humidity = input.humidity ? indexHourly(input.humidity, 'humidity') : undefined
  return pmGroups(input, options.groups).map((group) => {
    const groupMembers = group.deviceIds.filter((id) => members.has(id))
    let scaleAt = (_id: string, _time: number): number | undefined => 1
    let fit = { scales: new Map<string, Map<number, number>>(), overall: new Map<string, number>(), outliers: new Set<string>(), unscaled: new Set<string>() }
    let level = new Map<number, { value: number; n: number }>()
    let ratios = new Map<string, Ratio[]>()
    for (let round = 0; round < 2; round++) {
      level = groupLevel(groupMembers.filter((id) => !fit.outliers.has(id)), devices, scaleAt, s)
      ratios = ratiosToLevel(group.deviceIds, devices, level, humidity, s.dryRh)
      fit = fitScales(group.deviceIds, groupMembers, ratios, devices, s, () => s.scaleWindowDays)
      const scales = fit.scales
      scaleAt = (id, time) => scales.get(id)?.get(dayOf(time))
    }
    const drift = new Map(group.deviceIds.map((id) => [id, detectDrift((ratios.get(id) ?? []).filter((r) => r.dry), options.drift)]))
    if ([...drift.values()].some((d) => d.drifting)) {
      fit = fitScales(group.deviceIds, groupMembers, ratios, devices, s, (id) => (drift.get(id)?.drifting ? s.driftWindowDays : s.scaleWindowDays))
    }
    // the level once more with the final scales, so the published factors follow from the published scales
    const final = fit.scales
    level = groupLevel(groupMembers.filter((id) => !fit.outliers.has(id)), devices, (id, time) => final.get(id)?.get(dayOf(time)), s)
    const factors = levelFactors(level, reference, group.referenceNear, s)
    return { group, factors, scales: fit.scales, overallScale: fit.overall, drift, gainOutliers: fit.outliers, unscaled: fit.unscaled }
  })
}

/** f_h = L_h / reference_h clipped, for hours with a reference ≥ minReference; none when the reference is far. Sorted by time. */
function levelFactors(level: Map<number, { value: number; n: number }>, reference: Hourly, referenceNear: boolean, s: Settings): GroupFactor[] {
  const factors: GroupFactor[] = []
  if (!referenceNear) return factors
  for (const [time, { value, n }] of level) {
    const ref = reference.get(time)
    if (ref === undefined || ref < s.minReference) continue
    const unclipped = value / ref
    factors.push({ time, factor: clamp(unclipped, s.clip[0], s.clip[1]), unclipped, groupSize: n })
  }
  return factors.sort((a, b) => a.time - b.time)
}

/**
 * The groups of `input` with stored scales instead of fitted ones (./group-ratio.ts restorePmGroupRatio): per
 * device the stored daily `scales` (by `scale_days`), after the last its latest `scale`; `gain_outlier` members
 * left out of L; the drift verdict as stored (`drift_change_14d`, `drifting`). The level and factors are
 * computed on `input`'s hours exactly as fitGroups computes them with its final scales. Errors: as fitGroups.
 */
export function restoreGroups(input: CalibrationInput, stored: StoredParameters, options: PmGroupRatioOptions = {}): GroupFit[] {
  const s = settings(options)
  const devices = indexDevices(input)
  const members = new Set(indexGroupMembers(input).keys())
  const reference = indexHourly(input.reference, 'reference')
  return pmGroups(input, options.groups).map((group) => {
    const scales = new Map<string, Map<number, number>>()
    const overall = new Map<string, number>()
    const drift = new Map<string, DriftResult>()
    const outliers = new Set<string>()
    for (const id of group.deviceIds) {
      const p = stored.parameters(id)
      const c = numbers(p)
      if (c.scale === undefined || !Number.isFinite(c.scale)) continue
      const values = numberArray(p, 'scales')
      scales.set(id, new Map(numberArray(p, 'scale_days').map((t, i) => [t / DAY_MS, values[i]!])))
      overall.set(id, c.scale)
      if (c.gain_outlier === 1) outliers.add(id)
      drift.set(id, { days: 0, slopePerDay: Number.NaN, change: c.drift_change_14d ?? Number.NaN, drifting: c.drifting === 1 ? true : c.drifting === 0 ? false : undefined })
    }
    const scaleAt = (id: string, time: number) => scales.get(id)?.get(dayOf(time)) ?? overall.get(id)
    const level = groupLevel(group.deviceIds.filter((id) => members.has(id) && !outliers.has(id)), devices, scaleAt, s)
    return { group, factors: levelFactors(level, reference, group.referenceNear, s), scales, overallScale: overall, drift, gainOutliers: outliers, unscaled: new Set<string>() }
  })
}

/** L_h: the robust statistic over members of raw / scale, values beyond ×/÷ outlierRatio of the median left out. */
function groupLevel(
  ids: readonly string[],
  devices: Map<string, Hourly>,
  scaleAt: (id: string, time: number) => number | undefined,
  s: Settings,
): Map<number, { value: number; n: number }> {
  const byHour = new Map<number, number[]>()
  for (const id of ids) {
    for (const [time, raw] of devices.get(id) ?? []) {
      const scale = scaleAt(id, time)
      if (scale === undefined) continue
      const list = byHour.get(time)
      if (list) list.push(raw / scale)
      else byHour.set(time, [raw / scale])
    }
  }
  const level = new Map<number, { value: number; n: number }>()
  for (const [time, values] of byHour) {
    if (values.length < s.minGroupSize) continue
    const med = median(values)
    if (!(med > 0)) continue
    const kept = values.filter((v) => v * s.outlierRatio >= med && v <= med * s.outlierRatio)
    if (kept.length >= s.minGroupSize) level.set(time, { value: s.statistic(kept), n: kept.length })
  }
  return level
}

/** raw / L per device over the hours with a level; `dry` when RH < dryRh (always when there is no humidity). */
function ratiosToLevel(
  ids: readonly string[],
  devices: Map<string, Hourly>,
  level: Map<number, { value: number }>,
  humidity: Hourly | undefined,
  dryRh: number,
): Map<string, Ratio[]> {
  const ratios = new Map<string, Ratio[]>()
  for (const id of ids) {
    const list: Ratio[] = []
    for (const [time, raw] of devices.get(id) ?? []) {
      const l = level.get(time)
      if (l === undefined || raw <= 0) continue
      const rh = humidity?.get(time)
      list.push({ time, ratio: raw / l.value, dry: humidity === undefined || (rh !== undefined && rh < dryRh) })
    }
    ratios.set(id, list.sort((a, b) => a.time - b.time))
  }
  return ratios
}

/** Median ratio of the dry ones when there are ≥ min, else of all when there are ≥ min, else undefined. */
function scaleOf(list: readonly Ratio[], min: number): number | undefined {
  const dry = list.filter((r) => r.dry)
  if (dry.length >= min) return median(dry.map((r) => r.ratio))
  return list.length >= min ? median(list.map((r) => r.ratio)) : undefined
}

/**
 * Rolling scales per device and day: the scale (scaleOf) of the ratios within ±window/2 days of the day's
 * middle, else the device's overall scale, else 1 (`unscaled`: too few hours, the group ratio without the
 * device's own gain, as RIVM). Normalised by the members' median overall scale; gain outliers are the members
 * beyond ×/÷ maxScaleRatio of 1 after normalising.
 */
function fitScales(
  ids: readonly string[],
  members: readonly string[],
  ratios: Map<string, Ratio[]>,
  devices: Map<string, Hourly>,
  s: Settings,
  windowDays: (id: string) => number,
) {
  const overall = new Map<string, number>()
  const unscaled = new Set<string>()
  for (const id of ids) {
    const scale = scaleOf(ratios.get(id) ?? [], s.minScaleHours)
    if (scale === undefined) unscaled.add(id)
    overall.set(id, scale ?? 1)
  }
  const memberScales = members.filter((id) => !unscaled.has(id)).map((id) => overall.get(id)!)
  const norm = memberScales.length > 0 ? median(memberScales) : 1
  const scales = new Map<string, Map<number, number>>()
  for (const id of ids) {
    const list = ratios.get(id) ?? []
    const half = (windowDays(id) * DAY_MS) / 2
    const byDay = new Map<number, number>()
    for (const day of new Set([...(devices.get(id)?.keys() ?? [])].map(dayOf))) {
      const middle = day * DAY_MS + DAY_MS / 2
      const near = scaleOf(list.filter((r) => Math.abs(r.time - middle) <= half), s.minScaleHours)
      byDay.set(day, unscaled.has(id) ? 1 : (near ?? overall.get(id)!) / norm)
    }
    scales.set(id, byDay)
    if (!unscaled.has(id)) overall.set(id, overall.get(id)! / norm)
  }
  const outliers = new Set(members.filter((id) => {
    const scale = overall.get(id)!
    return scale > s.maxScaleRatio || scale * s.maxScaleRatio < 1
  }))
  return { scales, overall, outliers, unscaled }
}

/** The group factors of the group `deviceId` is in (hours without a factor absent), sorted by time. */
export function groupFactors(input: CalibrationInput, options: PmGroupRatioOptions = {}, deviceId = input.devices[0]?.deviceId): GroupFactor[] {
  return fitGroups(input, options).find((g) => deviceId !== undefined && g.group.deviceIds.includes(deviceId))?.factors ?? []
}
