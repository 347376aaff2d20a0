import { mean } from 'simple-statistics'
import { QUANTITIES, type Quantity } from '../quantities.ts'
import { computeMetrics } from './metrics.ts'
import { hourOfDay } from './methods/method.ts'
import {
  FONT,
  type Panel,
  escapeXml,
  formatNumber,
  headingText,
  legend,
  niceTicks,
  panelFrame,
  panelMessage,
  pathOf,
  px,
  py,
  svgOpen,
  timeLabel,
  timeTicks,
} from './svg.ts'
import type { Metrics } from './types.ts'

export { escapeXml, formatNumber, niceTicks, timeTicks } from './svg.ts'

/**
 * Calibration plots as small hand-written SVG (core/calibration/svg.ts), pure functions returning the SVG text:
 * - scatter: reference against sensor, raw and calibrated in separate panels, each on its own scale, with the
 *   1:1 line, the OLS and the Deming (orthogonal) fit, and n, R², RMSE, MBE in each panel's title;
 * - time series: raw and calibrated each in its own panel beside the reference, plus the reference station's
 *   relative humidity for PM (humidity drives PM sensors' growth error);
 * - bias (temperature and humidity): bias against the reference by hour of day, and against global radiation
 *   (KNMI Q) where the series has it: the radiation error of a sensor shows as bias rising with Q.
 * Every plot has a visible heading (device, quantity, station, label and uncertainty) and, where a series has no
 * hour with a reference value, says so in words instead of drawing an empty comparison.
 *
 * Accessibility: the root has `role="img"` and `aria-labelledby` pointing at a `<title>` and a `<desc>` (a text
 * summary). Colours are from the Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
 * Design"): raw orange, calibrated blue, reference black, humidity bluish green, Deming vermillion.
 */

/**
 * One hour of a device: `time` end of the hour, epoch ms UTC; values in the quantity's canonical unit;
 * `humidity` the reference station's relative humidity, %; `radiation` global radiation, W/m² (KNMI Q).
 */
export interface PlotPoint {
  time: number
  raw?: number
  calibrated?: number
  reference?: number
  humidity?: number
  radiation?: number
}

export interface PlotLabels {
  deviceId: string
  quantity: Quantity
  /** Reference station id, e.g. `NL10818` or `278`. */
  referenceStation: string
  /** Calibration method, for the heading. */
  method?: string
  /** Second heading line, e.g. the label and uncertainty: `indicative · U = 6.1 µg/m³ (24 %) at 25 µg/m³`. */
  summary?: string
}

export const COLOURS = { raw: '#E69F00', calibrated: '#0072B2', reference: '#000000', identity: '#999999', humidity: '#009E73', deming: '#D55E00' } as const

const HOUR_MS = 3_600_000
const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v)

/** Metrics of sensor against reference, or undefined (fewer than 3 pairs, no variance). */
function metricsOf(pairs: ReadonlyArray<[number, number]>): Metrics | undefined {
  try {
    return computeMetrics(pairs.map(([sensor, reference]) => ({ sensor, reference })))
  } catch {
    return undefined
  }
}

/** `n = 72, R² = 0.91, RMSE = 1.2, MBE = 0.1 µg/m³`, or just `n = 2` when metrics cannot be computed. */
export function metricsText(pairs: ReadonlyArray<[number, number]>, unit: string): string {
  const m = metricsOf(pairs)
  if (!m) return `n = ${pairs.length}`
  return `n = ${m.n}, R² = ${formatNumber(m.r2)}, RMSE = ${formatNumber(m.rmse)}, MBE = ${formatNumber(m.mbe)} ${unit}`
}

/** Heading lines: what is plotted, the reference and method, and the label with its uncertainty when given. */
function heading(labels: PlotLabels, what: string): string[] {
  const lines = [`${labels.deviceId} · ${QUANTITIES[labels.quantity].description}: ${what}`, `reference station ${labels.referenceStation}${labels.method ? ` · method ${labels.method}` : ''}`]
  return labels.summary ? [...lines, labels.summary] : lines
}

const noOverlap = (labels: PlotLabels) => `no reference overlap:\nno hour of ${labels.deviceId} has a value of ${labels.referenceStation},\nso there is nothing to compare`

/** Short axis label: `pm2_5 (µg/m³)`. */
const axisLabel = (quantity: Quantity) => `${quantity} (${QUANTITIES[quantity].unit})`

/**
 * Scatter, 900 × 540 px: reference (y) against sensor (x) in two square panels, `raw` and `calibrated`, each on its
 * own scale (equal on both axes). Per panel: circles (class `raw` / `calibrated`, one per hour with that value and
 * a reference), the 1:1 line (class `one-to-one`), OLS (dashed, class `ols-<panel>`) and Deming (solid, class
 * `deming-<panel>`) of reference on sensor, and n, R², RMSE, MBE in the panel title.
 */
export function scatterSvg(series: readonly PlotPoint[], labels: PlotLabels): string {
  const { unit } = QUANTITIES[labels.quantity]
  const sets = { raw: [] as Array<[number, number]>, calibrated: [] as Array<[number, number]> }
  for (const p of series) {
    if (!finite(p.reference)) continue
    if (finite(p.raw)) sets.raw.push([p.raw, p.reference])
    if (finite(p.calibrated)) sets.calibrated.push([p.calibrated, p.reference])
  }
  const desc =
    `Scatter plots of hourly means: reference ${labels.referenceStation} (y) against sensor ${labels.deviceId} (x), in ${unit}; ` +
    `raw ${metricsText(sets.raw, unit)}; calibrated ${metricsText(sets.calibrated, unit)}. Grey: 1:1; dashed: OLS; solid: Deming.`
  const out = [svgOpen(900, 540, 'scatter', heading(labels, 'reference against sensor').join(' — '), desc), headingText(heading(labels, 'reference against sensor'))]
  ;(['raw', 'calibrated'] as const).forEach((name, i) => {
    const fits: Array<[string, string, 'line' | 'dash' | 'box']> = [['1:1', COLOURS.identity, 'line']]
    const points = sets[name]
    const all = points.flat()
    const { ticks, min, max } = niceTicks(all.length ? Math.min(...all) : 0, all.length ? Math.max(...all) : 1)
    const p: Panel = { x: 80 + i * 430, y: 95, w: 340, h: 340, x0: min, x1: max, y0: min, y1: max }
    const title = `${name}: ${points.length ? metricsText(points, unit) : 'no reference overlap'}`
    const shown = points.length ? ticks : []
    out.push(panelFrame(p, name, title, shown.map((t) => [t, formatNumber(t)]), shown, `sensor ${name} (${unit})`, `reference ${labels.referenceStation} (${unit})`))
    if (points.length === 0) {
      out.push(panelMessage(p, noOverlap(labels)))
      return
    }
    const m = metricsOf(points)
    out.push(`<g clip-path="url(#clip-${name})">\n`)
    out.push(`<line class="one-to-one" x1="${px(p, min)}" y1="${py(p, min)}" x2="${px(p, max)}" y2="${py(p, max)}" stroke="${COLOURS.identity}" stroke-width="1.5"/>\n`)
    if (m) {
      const line = (cls: string, a: number, b: number, colour: string, dash: boolean) =>
        `<line class="${cls}" x1="${px(p, min)}" y1="${py(p, a + b * min)}" x2="${px(p, max)}" y2="${py(p, a + b * max)}" stroke="${colour}" stroke-width="1.8"${dash ? ' stroke-dasharray="6 4"' : ''}/>\n`
      out.push(line(`ols-${name}`, m.ols_intercept, m.ols_slope, COLOURS[name], true))
      out.push(line(`deming-${name}`, m.deming_intercept, m.deming_slope, COLOURS.deming, false))
      fits.push([`OLS ${name}: y = ${formatNumber(m.ols_intercept)} + ${formatNumber(m.ols_slope)}·x`, COLOURS[name], 'dash'])
      fits.push([`Deming ${name}: y = ${formatNumber(m.deming_intercept)} + ${formatNumber(m.deming_slope)}·x`, COLOURS.deming, 'line'])
    }
    for (const [x, y] of points) out.push(`<circle class="${name}" cx="${px(p, x)}" cy="${py(p, y)}" r="2.5" fill="${COLOURS[name]}" fill-opacity="0.55"/>\n`)
    out.push('</g>\n', legend(p.x, 485, fits))
  })
  out.push('</svg>\n')
  return out.join('')
}

/**
 * Time series, 900 × 540 px (760 with humidity): panel `raw` (raw hourly means and the reference), panel
 * `calibrated` (calibrated and the reference), each on its own scale, and for PM with humidity values a panel
 * `humidity` (reference station RH, %). Lines break at gaps over an hour; paths carry class `raw`, `calibrated`,
 * `reference`, `humidity`. Panel titles give n, R², RMSE, MBE against the reference, or say there is no overlap.
 */
export function timeSeriesSvg(series: readonly PlotPoint[], labels: PlotLabels): string {
  const sorted = [...series].sort((a, b) => a.time - b.time)
  const { unit } = QUANTITIES[labels.quantity]
  const withHumidity = QUANTITIES[labels.quantity].unit === 'µg/m³' && sorted.some((p) => finite(p.humidity))
  const from = sorted[0]?.time ?? 0
  const to = Math.max(sorted.at(-1)?.time ?? from, from + HOUR_MS)
  const tTicks = timeTicks(from, to)
  const withHour = tTicks.length < 2 || (tTicks[1]! - tTicks[0]!) % 86_400_000 !== 0
  const xTicks = tTicks.map((t) => [t, timeLabel(t, withHour)] as [number, string])
  const count = (key: keyof PlotPoint) => sorted.filter((p) => finite(p[key])).length
  const pairs = (key: 'raw' | 'calibrated') => sorted.flatMap((p) => (finite(p[key]) && finite(p.reference) ? [[p[key], p.reference] as [number, number]] : []))
  const height = withHumidity ? 760 : 540
  const desc =
    `Time series of hourly means in ${unit} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (UTC): ` +
    `${count('raw')} raw hours (orange), ${count('calibrated')} calibrated hours (blue), ${count('reference')} hours of reference ` +
    `${labels.referenceStation} (black)${withHumidity ? `; ${count('humidity')} hours of reference relative humidity (green)` : ''}.`
  const out = [svgOpen(900, height, 'timeseries', heading(labels, 'raw, calibrated and reference').join(' — '), desc), headingText(heading(labels, 'raw, calibrated and reference'))]
  ;(['raw', 'calibrated'] as const).forEach((key, i) => {
    const values = sorted.flatMap((p) => [p[key], p.reference]).filter(finite)
    const { ticks, min, max } = niceTicks(values.length ? Math.min(...values) : 0, values.length ? Math.max(...values) : 1)
    const p: Panel = { x: 80, y: 95 + i * 220, w: 620, h: 160, x0: from, x1: to, y0: min, y1: max }
    const overlap = pairs(key)
    out.push(panelFrame(p, key, `${key}: ${overlap.length ? metricsText(overlap, unit) : 'no reference overlap'}`, xTicks, ticks, 'end of hour (UTC)', axisLabel(labels.quantity)))
    out.push(pathOf(p, key, sorted.map((q) => [q.time, q.reference]), 'reference', COLOURS.reference, HOUR_MS))
    out.push(pathOf(p, key, sorted.map((q) => [q.time, q[key]]), key, COLOURS[key], HOUR_MS))
    if (count(key) === 0) out.push(panelMessage(p, `no ${key} values in this period`))
    else if (overlap.length === 0) out.push(panelMessage(p, noOverlap(labels)))
    out.push(legend(720, p.y + 10, [[`${key} (${count(key)} h)`, COLOURS[key], 'line'], [`reference (${count('reference')} h)`, COLOURS.reference, 'line']]))
  })
  if (withHumidity) {
    const p: Panel = { x: 80, y: 535, w: 620, h: 160, x0: from, x1: to, y0: 0, y1: 100 }
    out.push(panelFrame(p, 'humidity', `relative humidity at the reference (${count('humidity')} h): PM sensors read high in humid air`, xTicks, [0, 25, 50, 75, 100], 'end of hour (UTC)', 'RH (%)'))
    out.push(`<line class="rh-70" x1="${p.x}" y1="${py(p, 70)}" x2="${p.x + p.w}" y2="${py(p, 70)}" stroke="${COLOURS.identity}" stroke-dasharray="3 3"/>\n`)
    out.push(pathOf(p, 'humidity', sorted.map((q) => [q.time, q.humidity]), 'humidity', COLOURS.humidity, HOUR_MS))
    out.push(legend(720, p.y + 10, [['RH (reference)', COLOURS.humidity, 'line'], ['70 %', COLOURS.identity, 'dash']]))
  }
  out.push('</svg>\n')
  return out.join('')
}

/**
 * Bias plot for temperature and humidity, 900 × 480 px: panel `hour-of-day` with the mean bias (sensor −
 * reference) of raw and calibrated hourly values per UTC hour of day (paths class `raw`, `calibrated`), and panel
 * `radiation` with each hour's bias against global radiation (W/m², KNMI Q; circles class `raw`, `calibrated`),
 * or a message where the series has no radiation or no reference overlap.
 */
export function biasSvg(series: readonly PlotPoint[], labels: PlotLabels): string {
  const { unit } = QUANTITIES[labels.quantity]
  const paired = series.filter((p) => finite(p.reference))
  const bias = (key: 'raw' | 'calibrated') => paired.flatMap((p) => (finite(p[key]) ? [{ time: p.time, bias: p[key] - p.reference!, radiation: p.radiation }] : []))
  const sets = { raw: bias('raw'), calibrated: bias('calibrated') }
  const byHour = (key: 'raw' | 'calibrated') =>
    Array.from({ length: 24 }, (_, h) => {
      const values = sets[key].filter((b) => hourOfDay(b.time) === h).map((b) => b.bias)
      return [h, values.length ? mean(values) : undefined] as [number, number | undefined]
    })
  const hours = { raw: byHour('raw'), calibrated: byHour('calibrated') }
  const allBias = [...sets.raw, ...sets.calibrated].map((b) => b.bias)
  const { ticks, min, max } = niceTicks(allBias.length ? Math.min(0, ...allBias) : -1, allBias.length ? Math.max(0, ...allBias) : 1)
  const withRadiation = paired.some((p) => finite(p.radiation))
  const desc =
    `Bias (sensor − reference ${labels.referenceStation}) in ${unit}: mean per UTC hour of day, raw (orange) and calibrated (blue); ` +
    (withRadiation ? 'and each hour against global radiation (W/m²).' : 'no global radiation in this series.')
  const out = [svgOpen(900, 480, 'bias', heading(labels, 'bias by hour of day and against radiation').join(' — '), desc), headingText(heading(labels, 'bias by hour of day and against radiation'))]
  const left: Panel = { x: 80, y: 95, w: 340, h: 300, x0: 0, x1: 23, y0: min, y1: max }
  out.push(panelFrame(left, 'hour-of-day', `mean bias by hour of day (raw ${sets.raw.length} h, calibrated ${sets.calibrated.length} h)`, [0, 3, 6, 9, 12, 15, 18, 21].map((h) => [h, String(h)]), ticks, 'hour of day (UTC, start of hour)', `bias (${unit})`))
  if (paired.length === 0) out.push(panelMessage(left, noOverlap(labels)))
  out.push(`<line class="zero" x1="${left.x}" y1="${py(left, 0)}" x2="${left.x + left.w}" y2="${py(left, 0)}" stroke="${COLOURS.identity}"/>\n`)
  for (const key of ['raw', 'calibrated'] as const) out.push(pathOf(left, 'hour-of-day', hours[key], key, COLOURS[key], 1))
  const radiation = paired.map((p) => p.radiation).filter(finite)
  const r = niceTicks(0, radiation.length ? Math.max(...radiation) : 1)
  const right: Panel = { x: 510, y: 95, w: 340, h: 300, x0: r.min, x1: r.max, y0: min, y1: max }
  out.push(panelFrame(right, 'radiation', 'bias against global radiation (KNMI Q)', r.ticks.map((t) => [t, formatNumber(t)]), ticks, 'global radiation (W/m²)', `bias (${unit})`))
  if (!withRadiation) out.push(panelMessage(right, paired.length === 0 ? noOverlap(labels) : 'no global radiation (KNMI Q) in this series'))
  else {
    out.push(`<line class="zero" x1="${right.x}" y1="${py(right, 0)}" x2="${right.x + right.w}" y2="${py(right, 0)}" stroke="${COLOURS.identity}"/>\n<g clip-path="url(#clip-radiation)">\n`)
    for (const key of ['raw', 'calibrated'] as const) {
      for (const b of sets[key]) if (finite(b.radiation)) out.push(`<circle class="${key}" cx="${px(right, b.radiation)}" cy="${py(right, b.bias)}" r="2.2" fill="${COLOURS[key]}" fill-opacity="0.5"/>\n`)
    }
    out.push('</g>\n')
  }
  out.push(legend(80, 445, [['raw − reference', COLOURS.raw, 'line'], ['calibrated − reference', COLOURS.calibrated, 'line']]))
  out.push(`<text x="510" y="449" ${FONT}>each dot one hour; radiation of the reference series</text>\n</svg>\n`)
  return out.join('')
}

/** The plots of a device and quantity: scatter and time series, and for temperature and humidity the bias plot. */
export function calibrationPlots(series: readonly PlotPoint[], labels: PlotLabels): { scatter: string; timeseries: string; bias?: string } {
  const plots = { scatter: scatterSvg(series, labels), timeseries: timeSeriesSvg(series, labels) }
  return labels.quantity === 'air_temperature' || labels.quantity === 'relative_humidity' ? { ...plots, bias: biasSvg(series, labels) } : plots
}
