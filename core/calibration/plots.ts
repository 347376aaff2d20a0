import { linearRegression } from 'simple-statistics'
import { QUANTITIES, type Quantity } from '../quantities.ts'

/**
 * Calibration plots as small hand-written SVG (no plotting library): a scatter of reference against sensor and
 * a time series of raw, calibrated and reference hourly values. Pure functions returning the SVG text.
 *
 * Accessibility: the root has `role="img"` and `aria-labelledby` pointing at a `<title>` (what is plotted) and a
 * `<desc>` (a text summary: counts, fitted lines). Colours are from the Okabe–Ito colour-blind-safe palette
 * (Okabe & Ito 2008, "Color Universal Design"): raw orange, calibrated blue, reference black.
 */

/** One hour of a device: `time` end of the hour, epoch ms UTC; values in the quantity's canonical unit. */
export interface PlotPoint {
  time: number
  raw?: number
  calibrated?: number
  reference?: number
}

export interface PlotLabels {
  deviceId: string
  quantity: Quantity
  /** Reference station id, e.g. `NL10818` or `278`. */
  referenceStation: string
  /** Calibration method, for the legend. */
  method?: string
}

export const COLOURS = { raw: '#E69F00', calibrated: '#0072B2', reference: '#000000', identity: '#999999' } as const

const FONT = 'font-family="sans-serif" font-size="12"'

/** SVG coordinate rounded to 0.1 px. */
const round1 = (v: number): number => Math.round(v * 10) / 10

/** Escapes text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

/** Number with at most 3 significant decimals, no trailing zeros (axis labels, legends). */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return String(Number(value.toFixed(digits)))
}

/**
 * "Nice" ticks covering [lo, hi]: steps of 1, 2 or 5 × 10^k giving about `count` intervals (the usual
 * Heckbert 1990 "Nice numbers for graph labels" scheme, simplified). Returns the ticks and the widened range.
 */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; min: number; max: number } {
  if (!(hi > lo)) [lo, hi] = [lo - 1, lo + 1]
  const raw = (hi - lo) / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power
  const min = Math.floor(lo / step) * step
  const max = Math.ceil(hi / step) * step
  const ticks: number[] = []
  for (let i = 0; min + i * step <= max + step / 1e6; i++) ticks.push(Number((min + i * step).toPrecision(12)))
  return { ticks, min, max }
}

function quantityLabel(quantity: Quantity): string {
  return `${QUANTITIES[quantity].description} (${QUANTITIES[quantity].unit})`
}

function svgOpen(width: number, height: number, id: string, title: string, desc: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `role="img" aria-labelledby="${id}-title ${id}-desc">\n` +
    `<title id="${id}-title">${escapeXml(title)}</title>\n<desc id="${id}-desc">${escapeXml(desc)}</desc>\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n`
  )
}

function fit(points: ReadonlyArray<[number, number]>): { a: number; b: number } | undefined {
  if (points.length < 2 || points.every((p) => p[0] === points[0]?.[0])) return undefined
  const { m, b } = linearRegression(points.map((p) => [p[0], p[1]]))
  return { a: b, b: m }
}

/**
 * Scatter of reference (y) against sensor (x), same scale on both axes: raw points (orange) and calibrated points
 * (blue) for hours with a reference value, the 1:1 line (grey, class `one-to-one`) and the OLS line of each
 * series (reference ≈ a + b·sensor, dashed, class `ols-raw` / `ols-calibrated`). Circles carry class `raw` or
 * `calibrated`: one per hour with that value and a reference. 900 × 600 px.
 */
export function scatterSvg(series: readonly PlotPoint[], labels: PlotLabels): string {
  const raw: Array<[number, number]> = []
  const calibrated: Array<[number, number]> = []
  for (const p of series) {
    if (p.reference === undefined || !Number.isFinite(p.reference)) continue
    if (p.raw !== undefined && Number.isFinite(p.raw)) raw.push([p.raw, p.reference])
    if (p.calibrated !== undefined && Number.isFinite(p.calibrated)) calibrated.push([p.calibrated, p.reference])
  }
  const all = [...raw, ...calibrated].flat()
  const { ticks, min, max } = niceTicks(all.length ? Math.min(...all) : 0, all.length ? Math.max(...all) : 1)
  const [left, top, size] = [70, 40, 500]
  const sx = (v: number) => round1(left + ((v - min) / (max - min)) * size)
  const sy = (v: number) => round1(top + size - ((v - min) / (max - min)) * size)
  const { unit } = QUANTITIES[labels.quantity]
  const fits = { raw: fit(raw), calibrated: fit(calibrated) }
  const fitText = (f: { a: number; b: number } | undefined) =>
    f ? `y = ${formatNumber(f.a)} + ${formatNumber(f.b)}·x` : 'no fit (fewer than 2 distinct points)'

  const title = `${quantityLabel(labels.quantity)} of ${labels.deviceId} against reference station ${labels.referenceStation}`
  const desc =
    `Scatter plot of hourly means: reference ${labels.referenceStation} on the y axis against sensor ${labels.deviceId} ` +
    `on the x axis, both in ${unit}. ${raw.length} raw points (orange, OLS ${fitText(fits.raw)}) and ${calibrated.length} ` +
    `calibrated points${labels.method ? ` (${labels.method})` : ''} (blue, OLS ${fitText(fits.calibrated)}). ` +
    `The grey line is 1:1: points on it agree with the reference.`
  const out = [svgOpen(900, 600, 'scatter', title, desc)]
  out.push(`<defs><clipPath id="scatter-area"><rect x="${left}" y="${top}" width="${size}" height="${size}"/></clipPath></defs>\n`)
  out.push(`<g class="axes" ${FONT} stroke="#333333">\n<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="none"/>\n`)
  for (const t of ticks) {
    out.push(`<line x1="${sx(t)}" y1="${top + size}" x2="${sx(t)}" y2="${top + size + 5}"/>`)
    out.push(`<text x="${sx(t)}" y="${top + size + 18}" text-anchor="middle" stroke="none">${formatNumber(t)}</text>`)
    out.push(`<line x1="${left - 5}" y1="${sy(t)}" x2="${left}" y2="${sy(t)}"/>`)
    out.push(`<text x="${left - 8}" y="${sy(t) + 4}" text-anchor="end" stroke="none">${formatNumber(t)}</text>\n`)
  }
  out.push(`<text x="${left + size / 2}" y="${top + size + 40}" text-anchor="middle" stroke="none">sensor ${escapeXml(labels.deviceId)} (${escapeXml(unit)})</text>`)
  out.push(
    `<text transform="translate(18 ${top + size / 2}) rotate(-90)" text-anchor="middle" stroke="none">reference ${escapeXml(labels.referenceStation)} (${escapeXml(unit)})</text>\n</g>\n`,
  )
  out.push(`<g clip-path="url(#scatter-area)">\n`)
  out.push(`<line class="one-to-one" x1="${sx(min)}" y1="${sy(min)}" x2="${sx(max)}" y2="${sy(max)}" stroke="${COLOURS.identity}" stroke-width="1.5"/>\n`)
  for (const [name, f] of Object.entries(fits)) {
    if (!f) continue
    const colour = COLOURS[name as 'raw' | 'calibrated']
    out.push(`<line class="ols-${name}" x1="${sx(min)}" y1="${sy(f.a + f.b * min)}" x2="${sx(max)}" y2="${sy(f.a + f.b * max)}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="6 4"/>\n`)
  }
  for (const [name, points] of [['raw', raw], ['calibrated', calibrated]] as const) {
    for (const [x, y] of points) {
      out.push(`<circle class="${name}" cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${COLOURS[name]}" fill-opacity="0.6"/>\n`)
    }
  }
  out.push('</g>\n')
  const legend: Array<[string, string, boolean]> = [
    [`raw (n = ${raw.length})`, COLOURS.raw, false],
    [`calibrated (n = ${calibrated.length})`, COLOURS.calibrated, false],
    ['1:1', COLOURS.identity, true],
    [`OLS raw: ${fitText(fits.raw)}`, COLOURS.raw, true],
    [`OLS calibrated: ${fitText(fits.calibrated)}`, COLOURS.calibrated, true],
  ]
  out.push(`<g class="legend" ${FONT}>\n`)
  legend.forEach(([text, colour, line], i) => {
    const y = top + 10 + i * 20
    out.push(
      line
        ? `<line x1="585" y1="${y}" x2="600" y2="${y}" stroke="${colour}" stroke-width="1.5"${text === '1:1' ? '' : ' stroke-dasharray="4 2"'}/>`
        : `<rect x="588" y="${y - 4}" width="8" height="8" fill="${colour}"/>`,
    )
    out.push(`<text x="606" y="${y + 4}">${escapeXml(text)}</text>\n`)
  })
  out.push('</g>\n</svg>\n')
  return out.join('')
}

const TIME_STEPS_H = [1, 2, 3, 6, 12, 24, 48, 168, 336, 720]

/** Ticks on whole UTC hours/days for [from, to] (epoch ms), at most about 8. */
export function timeTicks(from: number, to: number): number[] {
  const hour = 3_600_000
  const step = (TIME_STEPS_H.find((h) => (to - from) / (h * hour) <= 8) ?? 720) * hour
  const ticks: number[] = []
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t)
  return ticks
}

function timeLabel(t: number, withHour: boolean): string {
  const iso = new Date(t).toISOString()
  return withHour ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10)
}

/**
 * Time series of the hourly raw (orange), calibrated (blue) and reference (black) values; a gap of more than one
 * hour or a missing value breaks the line. Paths carry class `raw`, `calibrated`, `reference`. 900 × 420 px.
 */
export function timeSeriesSvg(series: readonly PlotPoint[], labels: PlotLabels): string {
  const sorted = [...series].sort((a, b) => a.time - b.time)
  const keys = ['raw', 'calibrated', 'reference'] as const
  const values = sorted.flatMap((p) => keys.map((k) => p[k]).filter((v): v is number => v !== undefined && Number.isFinite(v)))
  const { ticks, min, max } = niceTicks(values.length ? Math.min(...values) : 0, values.length ? Math.max(...values) : 1)
  const from = sorted[0]?.time ?? 0
  const to = sorted.at(-1)?.time ?? from + 3_600_000
  const span = Math.max(to - from, 3_600_000)
  const [left, top, width, height] = [70, 40, 660, 300]
  const sx = (t: number) => round1(left + ((t - from) / span) * width)
  const sy = (v: number) => round1(top + height - ((v - min) / (max - min)) * height)
  const { unit } = QUANTITIES[labels.quantity]
  const counts = Object.fromEntries(keys.map((k) => [k, sorted.filter((p) => p[k] !== undefined && Number.isFinite(p[k])).length]))

  const title = `${quantityLabel(labels.quantity)} of ${labels.deviceId}: raw, calibrated and reference ${labels.referenceStation}`
  const desc =
    `Time series of hourly means in ${unit} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} (UTC): ` +
    `${counts.raw} raw hours (orange), ${counts.calibrated} calibrated hours${labels.method ? ` (${labels.method})` : ''} (blue) ` +
    `and ${counts.reference} hours of reference station ${labels.referenceStation} (black).`
  const out = [svgOpen(900, 420, 'timeseries', title, desc)]
  out.push(`<g class="axes" ${FONT} stroke="#333333">\n<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none"/>\n`)
  for (const t of ticks) {
    out.push(`<line x1="${left - 5}" y1="${sy(t)}" x2="${left}" y2="${sy(t)}"/>`)
    out.push(`<text x="${left - 8}" y="${sy(t) + 4}" text-anchor="end" stroke="none">${formatNumber(t)}</text>\n`)
  }
  const tTicks = timeTicks(from, to)
  const withHour = tTicks.length < 2 || (tTicks[1]! - tTicks[0]!) % 86_400_000 !== 0
  for (const t of tTicks) {
    out.push(`<line x1="${sx(t)}" y1="${top + height}" x2="${sx(t)}" y2="${top + height + 5}"/>`)
    out.push(`<text x="${sx(t)}" y="${top + height + 18}" text-anchor="middle" stroke="none">${timeLabel(t, withHour)}</text>\n`)
  }
  out.push(`<text x="${left + width / 2}" y="${top + height + 40}" text-anchor="middle" stroke="none">end of hour (UTC)</text>`)
  out.push(`<text transform="translate(18 ${top + height / 2}) rotate(-90)" text-anchor="middle" stroke="none">${escapeXml(quantityLabel(labels.quantity))}</text>\n</g>\n`)
  for (const key of keys) {
    let d = ''
    let last: number | undefined
    for (const p of sorted) {
      const v = p[key]
      if (v === undefined || !Number.isFinite(v)) {
        last = undefined
        continue
      }
      d += `${last !== undefined && p.time - last <= 3_600_000 ? 'L' : 'M'}${sx(p.time)} ${sy(v)} `
      last = p.time
    }
    if (d) out.push(`<path class="${key}" d="${d.trim()}" fill="none" stroke="${COLOURS[key]}" stroke-width="1.2"/>\n`)
  }
  out.push(`<g class="legend" ${FONT}>\n`)
  keys.forEach((key, i) => {
    const y = top + 10 + i * 20
    out.push(`<line x1="${left + width + 15}" y1="${y}" x2="${left + width + 35}" y2="${y}" stroke="${COLOURS[key]}" stroke-width="2"/>`)
    out.push(`<text x="${left + width + 40}" y="${y + 4}">${key} (n = ${counts[key]})</text>\n`)
  })
  out.push('</g>\n</svg>\n')
  return out.join('')
}

/** Both plots of a device and quantity. */
export function calibrationPlots(series: readonly PlotPoint[], labels: PlotLabels): { scatter: string; timeseries: string } {
  return { scatter: scatterSvg(series, labels), timeseries: timeSeriesSvg(series, labels) }
}
