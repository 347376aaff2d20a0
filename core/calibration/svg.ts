/**
 * Small SVG building blocks for the calibration plots (core/calibration/plots.ts): escaping, number and time
 * labels, "nice" ticks, and a rectangular panel with its own linear scales and axes. Pure functions returning SVG
 * text; no plotting library (the plots are a few hundred elements, and the report must render without a browser).
 */

export const FONT = 'font-family="sans-serif" font-size="12"'

/** SVG coordinate rounded to 0.1 px. */
export const round1 = (v: number): number => Math.round(v * 10) / 10

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

const TIME_STEPS_H = [1, 2, 3, 6, 12, 24, 48, 168, 336, 720]

/** Ticks on whole UTC hours/days for [from, to] (epoch ms), at most about 8. */
export function timeTicks(from: number, to: number): number[] {
  const hour = 3_600_000
  const step = (TIME_STEPS_H.find((h) => (to - from) / (h * hour) <= 8) ?? 720) * hour
  const ticks: number[] = []
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t)
  return ticks
}

/** `MM-DD HH:MM` or `YYYY-MM-DD` (UTC) of epoch ms `t`. */
export function timeLabel(t: number, withHour: boolean): string {
  const iso = new Date(t).toISOString()
  return withHour ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10)
}

/** The root element with `role="img"`, a `<title>` and `<desc>` for screen readers, and a white background. */
export function svgOpen(width: number, height: number, id: string, title: string, desc: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `role="img" aria-labelledby="${id}-title ${id}-desc">\n` +
    `<title id="${id}-title">${escapeXml(title)}</title>\n<desc id="${id}-desc">${escapeXml(desc)}</desc>\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n`
  )
}

/** Visible heading lines (class `plot-title`, first bold) starting at y = 20. */
export function headingText(lines: readonly string[], x = 20): string {
  return lines
    .map((line, i) => `<text class="plot-title" x="${x}" y="${20 + i * 17}" font-family="sans-serif" font-size="${i === 0 ? 15 : 12}"${i === 0 ? ' font-weight="bold"' : ''}>${escapeXml(line)}</text>\n`)
    .join('')
}

/** A plotting area at (x, y) of w × h px with linear scales over [x0, x1] × [y0, y1]. */
export interface Panel {
  x: number
  y: number
  w: number
  h: number
  x0: number
  x1: number
  y0: number
  y1: number
}

export const px = (p: Panel, v: number): number => round1(p.x + ((v - p.x0) / (p.x1 - p.x0)) * p.w)
export const py = (p: Panel, v: number): number => round1(p.y + p.h - ((v - p.y0) / (p.y1 - p.y0)) * p.h)

/**
 * Frame, ticks and axis labels of a panel (class `panel` with `data-panel=name`), its title above it (class
 * `panel-title`), and a clip path `clip-<name>` for its contents. `xTicks` are [value, label] pairs.
 */
export function panelFrame(
  p: Panel,
  name: string,
  title: string,
  xTicks: ReadonlyArray<[number, string]>,
  yTicks: readonly number[],
  xLabel: string,
  yLabel: string,
): string {
  const out = [`<g class="panel" data-panel="${escapeXml(name)}" ${FONT} stroke="#333333">\n`]
  out.push(`<defs><clipPath id="clip-${escapeXml(name)}"><rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}"/></clipPath></defs>\n`)
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="none"/>\n`)
  out.push(`<text class="panel-title" x="${p.x}" y="${p.y - 8}" stroke="none">${escapeXml(title)}</text>\n`)
  for (const [v, label] of xTicks) {
    out.push(`<line x1="${px(p, v)}" y1="${p.y + p.h}" x2="${px(p, v)}" y2="${p.y + p.h + 5}"/>`)
    out.push(`<text x="${px(p, v)}" y="${p.y + p.h + 18}" text-anchor="middle" stroke="none">${escapeXml(label)}</text>\n`)
  }
  for (const v of yTicks) {
    out.push(`<line x1="${p.x - 5}" y1="${py(p, v)}" x2="${p.x}" y2="${py(p, v)}"/>`)
    out.push(`<text x="${p.x - 8}" y="${py(p, v) + 4}" text-anchor="end" stroke="none">${formatNumber(v)}</text>\n`)
  }
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 36}" text-anchor="middle" stroke="none">${escapeXml(xLabel)}</text>`)
  out.push(`<text transform="translate(${p.x - 48} ${p.y + p.h / 2}) rotate(-90)" text-anchor="middle" stroke="none">${escapeXml(yLabel)}</text>\n</g>\n`)
  return out.join('')
}

/** A message in the middle of a panel (class `no-data`; `\n` starts a new line), e.g. why there is nothing to compare. */
export function panelMessage(p: Panel, message: string): string {
  const lines = message.split('\n')
  const spans = lines.map((line, i) => `<tspan x="${p.x + p.w / 2}" dy="${i === 0 ? 0 : 16}">${escapeXml(line)}</tspan>`).join('')
  return `<text class="no-data" x="${p.x + p.w / 2}" y="${p.y + p.h / 2 - 8 * (lines.length - 1)}" text-anchor="middle" ${FONT} fill="#555555" stroke="#ffffff" stroke-width="4" paint-order="stroke">${spans}</text>\n`
}

/** A legend: rows of [text, colour, 'line' | 'dash' | 'box'] from (x, y), 18 px apart. */
export function legend(x: number, y: number, rows: ReadonlyArray<[string, string, 'line' | 'dash' | 'box']>): string {
  const out = [`<g class="legend" ${FONT}>\n`]
  rows.forEach(([text, colour, kind], i) => {
    const yy = y + i * 18
    out.push(
      kind === 'box'
        ? `<rect x="${x + 3}" y="${yy - 4}" width="8" height="8" fill="${colour}"/>`
        : `<line x1="${x}" y1="${yy}" x2="${x + 15}" y2="${yy}" stroke="${colour}" stroke-width="2"${kind === 'dash' ? ' stroke-dasharray="5 3"' : ''}/>`,
    )
    out.push(`<text x="${x + 21}" y="${yy + 4}">${escapeXml(text)}</text>\n`)
  })
  out.push('</g>\n')
  return out.join('')
}

/**
 * A polyline path (class `cls`, clipped to panel `name`) through [x, y] points in x order, broken where a value is
 * missing or consecutive x differ by more than `gapX`.
 */
export function pathOf(p: Panel, name: string, points: ReadonlyArray<[number, number | undefined]>, cls: string, colour: string, gapX: number): string {
  let d = ''
  let last: number | undefined
  for (const [x, y] of points) {
    if (y === undefined || !Number.isFinite(y)) {
      last = undefined
      continue
    }
    d += `${last !== undefined && x - last <= gapX ? 'L' : 'M'}${px(p, x)} ${py(p, y)} `
    last = x
  }
  return d ? `<path class="${cls}" d="${d.trim()}" fill="none" stroke="${colour}" stroke-width="1.2" clip-path="url(#clip-${escapeXml(name)})"/>\n` : ''
}
