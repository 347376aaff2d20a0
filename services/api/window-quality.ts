import { DateTime } from 'luxon'
import { FLAGS } from '../../core/quality.ts'
import type { Quantity } from '../../core/quantities.ts'
import type { CalibrationLabel } from '../../core/calibration/uncertainty.ts'
import type { AggregateField, AggregateRow, FieldStats, ReadingStore } from '../../core/store/store.ts'

/**
 * Flags and completeness of aggregate windows: the one rule the API (GET /api/v1/readings), the CLI
 * (`senshagen query --window`) and the exports share.
 *
 * Flags. Aggregates take only readings without quality flags (core/quality.ts) unless the caller names the flags
 * it accepts (`include_flags=saturated,stuck`, or `all`): a reading counts when every flag it carries is
 * accepted. sc-8733's PM10 day 2018-12-17 has a daily mean of 44.58 µg/m³ with every reading and 18.86 without
 * the flagged ones (the SDS011 saturation hour, 1999.9 µg/m³, and what the stuck/spike checks flag around it).
 *
 * Completeness. A device's reporting interval is the median gap between its newest REPORTING_SAMPLE readings
 * observed before the range's end (one cheap query for all devices: ORDER BY time DESC LIMIT per series). A
 * window's expected count is the part of the window inside the range divided by that interval, rounded;
 * completeness = count / expected (it may exceed 1 when a device sent faster than usual), rounded to 3
 * decimals; both null when the device has fewer than two readings before the end. A window is `partial` when the
 * range cuts it: it starts before `from` or ends after `to` (a first hour from 10:20 with 9 readings is partial,
 * not a whole hour with a low count).
 */
export type Window = '10m' | '1h' | '1d'

/** Readings per series whose gaps give the reporting interval: 100 gaps. */
export const REPORTING_SAMPLE = 101

/** Flag names `include_flags` accepts: those of core/quality.ts. */
export const FLAG_NAMES: readonly string[] = Object.values(FLAGS)

/**
 * `include_flags` → the store's includeFlags: absent or '' → [] (unflagged only), `all` → undefined (no
 * restriction), else the comma-separated names. Errors: Error naming the unknown flag (callers turn it into a
 * 400 naming the parameter).
 */
export function parseIncludeFlags(text: string | undefined): readonly string[] | undefined {
  if (text === undefined || text.trim() === '') return []
  if (text.trim() === 'all') return undefined
  const names = text.split(',').map((f) => f.trim())
  const unknown = names.find((f) => !FLAG_NAMES.includes(f))
  if (unknown !== undefined) throw new Error(`unknown flag '${unknown}'; one of ${FLAG_NAMES.join(', ')}, or all`)
  return names
}

/** Median of the positive gaps between times (any order), ms; undefined with fewer than two distinct times. */
export function medianIntervalMs(times: readonly number[]): number | undefined {
  const sorted = [...times].sort((a, b) => a - b)
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!).filter((g) => g > 0).sort((a, b) => a - b)
  if (gaps.length === 0) return undefined
  const mid = gaps.length >> 1
  return gaps.length % 2 === 1 ? gaps[mid]! : (gaps[mid - 1]! + gaps[mid]!) / 2
}

/** Per device: its reporting interval (ms) for the quantity, from the readings observed before `before`; devices without one are absent. */
export async function reportingIntervals(
  store: Pick<ReadingStore, 'recentTimes'>,
  devices: readonly string[],
  quantity: Quantity,
  before: number,
  signal?: AbortSignal,
): Promise<Map<string, { intervalMs: number; newest: number }>> {
  const out = new Map<string, { intervalMs: number; newest: number }>()
  if (devices.length === 0) return out
  for (const r of await store.recentTimes({ devices, quantities: [quantity], before, perSeries: REPORTING_SAMPLE, ...(signal ? { signal } : {}) })) {
    const intervalMs = medianIntervalMs(r.times)
    if (intervalMs !== undefined) out.set(r.deviceId, { intervalMs, newest: Math.max(...r.times) })
  }
  return out
}

const WINDOW_DURATION = { '10m': { minutes: 10 }, '1h': { hours: 1 }, '1d': { days: 1 } } as const

/** Start of the window after the one starting at `start` (local calendar days for 1d, so DST days are 23/25 h). */
export function nextWindowStart(start: number, window: Window, tz: string): number {
  return DateTime.fromMillis(start, { zone: tz }).plus(WINDOW_DURATION[window]).toMillis()
}

export interface WindowQuality {
  /** Readings expected in the part of the window inside the range; null without a reporting interval. */
  expected: number | null
  /** count / expected, 3 decimals; null when expected is null or 0. */
  completeness: number | null
  /** The range cuts the window (it starts before `from` or ends after `to`). */
  partial: boolean
}

/** The quality of one window starting at `start` holding `count` readings, for devices with these reporting intervals (ms). */
export function windowQuality(start: number, window: Window, tz: string, range: { from: number; to: number }, count: number, intervalsMs: readonly number[]): WindowQuality {
  const end = nextWindowStart(start, window, tz)
  const covered = Math.max(0, Math.min(end, range.to) - Math.max(start, range.from))
  const expected = intervalsMs.length === 0 ? null : intervalsMs.reduce((sum, interval) => sum + Math.round(covered / interval), 0)
  return {
    expected,
    completeness: expected === null || expected === 0 ? null : Math.round((count / expected) * 1000) / 1000,
    partial: start < range.from || end > range.to,
  }
}

export interface QualifiedWindowsQuery {
  devices: readonly string[]
  quantity: Quantity
  /** Inclusive start and exclusive end, epoch ms UTC. */
  from: number
  to: number
  window: Window
  /** IANA zone the windows follow. */
  tz: string
  fields: ReadonlyArray<AggregateField>
  /** parseIncludeFlags' answer: [] unflagged only (the default), undefined every reading. */
  includeFlags: readonly string[] | undefined
  perDevice: boolean
  limitPerGroup?: number
  /** Query [lower, upper) instead of [from, to) (paging); completeness and `partial` still count against [from, to). */
  lower?: number
  upper?: number
  /** Reporting intervals when the caller has them already (reportingIntervals). */
  intervals?: Map<string, { intervalMs: number }>
  signal?: AbortSignal
}

export type QualifiedWindow = AggregateRow & WindowQuality

/**
 * Window aggregates with flags applied and each window's expected count, completeness and partial marker
 * (see the top of this file). Pooled windows (perDevice false) expect the sum over the devices. Count is that
 * of `value` (else the first field). Errors: those of the store.
 */
export async function qualifiedWindows(store: Pick<ReadingStore, 'aggregateReadings' | 'recentTimes'>, q: QualifiedWindowsQuery): Promise<QualifiedWindow[]> {
  const intervals = q.intervals ?? (await reportingIntervals(store, q.devices, q.quantity, q.to, q.signal))
  const groups = await store.aggregateReadings({
    devices: q.devices,
    quantities: [q.quantity],
    from: q.lower ?? q.from,
    to: q.upper ?? q.to,
    fields: q.fields,
    window: { every: q.window, tz: q.tz },
    perDevice: q.perDevice,
    ...(q.includeFlags === undefined ? {} : { includeFlags: q.includeFlags }),
    ...(q.limitPerGroup === undefined ? {} : { limitPerGroup: q.limitPerGroup }),
    ...(q.signal ? { signal: q.signal } : {}),
  })
  const pooled = q.devices.flatMap((d) => (intervals.has(d) ? [intervals.get(d)!.intervalMs] : []))
  return groups.map((g) => {
    const count = g.stats.value?.count ?? g.stats[q.fields[0]!]?.count ?? 0
    const own = g.deviceId === undefined ? pooled : intervals.has(g.deviceId) ? [intervals.get(g.deviceId)!.intervalMs] : []
    return { ...g, ...windowQuality(g.time, q.window, q.tz, q, count, own) }
  })
}

/** The aggregate fields that give a window of calibrated values its label and uncertainty (windowCalibration). */
export const CALIBRATION_FIELDS = ['calibrated_u', 'calibrated_indicative'] as const satisfies readonly AggregateField[]

/** The label and expanded uncertainty (k = 2, unit of the value; null when not known) of a value. */
export interface LabelledUncertainty {
  uncertainty: number | null
  label: CalibrationLabel
}

/** What a raw (uncalibrated) value carries: no uncertainty, never an invented one. */
export const UNCALIBRATED: LabelledUncertainty = { uncertainty: null, label: 'uncalibrated' }

/**
 * One stored reading's calibrated value with its label and uncertainty, from its `calibrated`, `calibrated_u` and
 * `calibration_label` fields (core/store/schema.ts): no calibrated value → UNCALIBRATED; an uncertainty stored as
 * −1 (not assessed) → null; a calibrated value without a known label → `experimental` (never `indicative` unproven).
 */
export function storedCalibration(fields: Partial<Record<'calibrated' | 'calibrated_u' | 'calibration_label', unknown>>): LabelledUncertainty & { calibrated: number | null } {
  const { calibrated, calibrated_u: u, calibration_label: label } = fields
  if (typeof calibrated !== 'number') return { calibrated: null, ...UNCALIBRATED }
  return { calibrated, uncertainty: typeof u === 'number' && u >= 0 ? u : null, label: label === 'indicative' ? 'indicative' : 'experimental' }
}

/** Strength order of the labels, weakest first. */
const LABEL_ORDER: readonly CalibrationLabel[] = ['uncalibrated', 'experimental', 'indicative']

/**
 * Label and uncertainty of the mean of the calibrated values in a window, from the window's stats of `calibrated`,
 * `calibrated_u` and `calibrated_indicative` (core/store/store.ts AggregateField):
 * - label: the weakest label of its readings: `uncalibrated` without a calibrated reading, `indicative` only when
 *   every calibrated reading is (a reading stored without a label counts as `experimental`, as a single reading
 *   does in readings-query.ts), else `experimental`;
 * - uncertainty: the mean of the readings' expanded uncertainties U_i, or null when any calibrated reading has none
 *   (stored −1, not assessed).
 * The mean of U_i is the expanded uncertainty of the mean when the readings' errors are fully correlated
 * (JCGM 100:2008, GUM 5.2.2 with r(x_i, x_j) = 1: u(x̄) = Σ u_i / n). It is the conservative choice: a sensor's
 * calibration error within an hour or a day is mostly the same bias (GDE 2010 section 9.5 evaluates the bias at the
 * limit value as a systematic term), so dividing by √n as for independent errors would claim an accuracy that
 * averaging does not give. Pure.
 */
export function windowCalibration(stats: Partial<Record<AggregateField, FieldStats>>): LabelledUncertainty {
  const calibrated = stats.calibrated?.count ?? 0
  if (calibrated === 0) return UNCALIBRATED
  const u = stats.calibrated_u
  return {
    uncertainty: u !== undefined && u.count === calibrated ? u.mean : null,
    label: (stats.calibrated_indicative?.count ?? 0) === calibrated ? 'indicative' : 'experimental',
  }
}

/**
 * Label and uncertainty of a mean of several calibrated means (the neighbourhood value: one mean per device,
 * services/api/readings-query.ts): the weakest label, and the mean of their uncertainties, null when any is null
 * (the same full-correlation rule as windowCalibration). No part: UNCALIBRATED. Pure.
 */
export function meanCalibration(parts: readonly LabelledUncertainty[]): LabelledUncertainty {
  if (parts.length === 0) return UNCALIBRATED
  const label = parts.map((p) => p.label).reduce((weakest, l) => (LABEL_ORDER.indexOf(l) < LABEL_ORDER.indexOf(weakest) ? l : weakest))
  const known = parts.every((p) => p.uncertainty !== null)
  return { uncertainty: known ? parts.reduce((sum, p) => sum + p.uncertainty!, 0) / parts.length : null, label }
}
