// Time-series charts (uPlot on a canvas) with their text alternatives: the chart is role="img" with an
// aria-label that summarises lowest, highest and latest value, and a <details> below holds a <table> of exactly
// the plotted data. Line styles differ (solid / dashed / band), so no series is told apart by colour alone.

import uPlot from '/vendor/uplot/uPlot.esm.js'
import { h, uid } from './dom.js'
import { TIME_ZONE, UNITS } from './format.js'

/** Colours with ≥ 3:1 contrast on white (WCAG 1.4.11): dark blue mean / calibrated, dark orange raw. */
export const COLOURS = { mean: '#0b4f8a', band: 'rgba(11, 79, 138, 0.16)', bandEdge: 'rgba(11, 79, 138, 0.45)', raw: '#b34d00', calibrated: '#0b4f8a' }

/** Lowest, highest and latest (with its time) of one series; null when it has no value. */
export function stats(times, values) {
  let min = Infinity
  let max = -Infinity
  let latest = null
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v === null || v === undefined || !Number.isFinite(v)) continue
    min = Math.min(min, v)
    max = Math.max(max, v)
    latest = { value: v, time: times[i] }
  }
  return latest ? { min, max, latest } : null
}

function legendItem(kind, label) {
  return h('li', {}, h('span', { class: `key key-${kind}`, 'aria-hidden': 'true' }), label)
}

/**
 * A chart block: heading, chart, legend, readout and table. `spec`:
 *   heading, level ('h2'|'h3'), summary (aria-label), caption, columns [{label}], rows [[th, ...tds]] (newest first),
 *   times (ms), series [{label, values, kind: 'mean'|'raw'|'calibrated'|'min'|'max'}], band (boolean),
 *   quantity, period ('24h'|'7d'), fmt, t, readout(i) → text for the cursor position.
 * Returns `{ element, destroy }`; the uPlot chart is created once the element is in the document.
 */
export function chartBlock(spec) {
  const { t, fmt } = spec
  const headingId = uid('chart-h')
  const captionId = uid('chart-cap')
  const plot = h('div', { class: 'chart', role: 'img', 'aria-label': spec.summary })
  const readout = h('p', { class: 'chart-readout', 'aria-hidden': 'true' })
  const legendItems = []
  for (const series of spec.series) {
    if (series.kind === 'min' || series.kind === 'max') continue
    legendItems.push(legendItem(series.kind, series.legend ?? series.label))
  }
  if (spec.band) legendItems.push(legendItem('band', t('legend.range')))
  const hasData = spec.series.some((series) => series.values.some((v) => v !== null && Number.isFinite(v)))

  const table = h(
    'table',
    {},
    h('caption', { id: captionId }, spec.caption),
    h('thead', {}, h('tr', {}, spec.columns.map((label) => h('th', { scope: 'col' }, label)))),
    h(
      'tbody',
      {},
      spec.rows.map(([head, ...cells]) => h('tr', {}, h('th', { scope: 'row' }, head), cells.map((cell) => h('td', {}, cell)))),
    ),
  )
  const element = h(
    'section',
    { class: 'chart-card', 'aria-labelledby': headingId },
    h(spec.level ?? 'h3', { id: headingId }, spec.heading),
    hasData ? [plot, h('ul', { class: 'chart-legend' }, legendItems), spec.note ? h('p', { class: 'chart-note' }, spec.note) : null, readout] : h('p', { class: 'no-data' }, t('chartNoData')),
    hasData
      ? h(
          'details',
          { class: 'data-table' },
          h('summary', {}, t('tableToggle')),
          h('div', { class: 'table-scroll', role: 'region', tabindex: '0', 'aria-labelledby': captionId }, table),
        )
      : null,
  )

  let chart = null
  let observer = null
  const height = () => (window.innerWidth < 600 ? 200 : 240)
  const create = () => {
    if (chart || !hasData || !plot.isConnected) return
    const width = Math.max(200, plot.clientWidth)
    const data = [spec.times.map((ms) => ms / 1000), ...spec.series.map((series) => series.values)]
    const decimals = spec.quantity === 'relative_humidity' ? 0 : 1
    const series = [
      { value: (u, v) => (v === null ? '–' : fmt.dateTime(v * 1000)) },
      ...spec.series.map((s) => seriesOptions(s, spec.times.length)),
    ]
    const bands = []
    if (spec.band) {
      const minIdx = spec.series.findIndex((s) => s.kind === 'min') + 1
      const maxIdx = spec.series.findIndex((s) => s.kind === 'max') + 1
      if (minIdx > 0 && maxIdx > 0) bands.push({ series: [maxIdx, minIdx], fill: COLOURS.band })
    }
    const axisStyle = { stroke: '#333', font: '12px system-ui, sans-serif', grid: { stroke: '#e3e3e3', width: 1 }, ticks: { stroke: '#c8c8c8', width: 1 } }
    const options = {
      width,
      height: height(),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), TIME_ZONE),
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 8 } },
      scales: {
        x: { time: true },
        y: {
          range: (u, min, max) => {
            const pad = Math.max((max - min) * 0.1, decimals ? 0.5 : 2)
            let lo = min - pad
            if (spec.quantity?.startsWith('pm') || spec.quantity === 'relative_humidity') lo = Math.max(0, lo)
            return [lo, max + pad]
          },
        },
      },
      axes: [
        {
          ...axisStyle,
          space: 56,
          values: (u, splits, axisIdx, space, incr) =>
            splits.map((v) => (incr >= 86_400 || fmt.isMidnight(v * 1000) ? fmt.shortDay(v * 1000) : fmt.time(v * 1000))),
        },
        {
          ...axisStyle,
          size: 52,
          label: UNITS[spec.quantity] ?? '',
          labelSize: 18,
          labelFont: '12px system-ui, sans-serif',
          values: (u, splits) => splits.map((v) => fmt.number(v, Number.isInteger(v) ? 0 : decimals)),
        },
      ],
      series,
      bands,
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx
            readout.textContent = i === null || i === undefined ? '' : spec.readout(i)
          },
        ],
      },
    }
    chart = new uPlot(options, data, plot)
    observer = new ResizeObserver(() => {
      const w = Math.max(200, plot.clientWidth)
      if (chart && (Math.abs(w - chart.width) > 2 || chart.height !== height())) chart.setSize({ width: w, height: height() })
    })
    observer.observe(plot)
  }
  // Created after insertion (uPlot needs the width); a frame later so the layout is known.
  queueMicrotask(() => requestAnimationFrame(create))
  return {
    element,
    create,
    destroy() {
      observer?.disconnect()
      chart?.destroy()
      chart = null
    },
  }
}

function seriesOptions(series, points) {
  const base = { label: series.label, spanGaps: false, points: { show: points <= 36, size: 5 } }
  switch (series.kind) {
    case 'min':
    case 'max':
      return { ...base, stroke: COLOURS.bandEdge, width: 1, points: { show: false } }
    case 'raw':
      return { ...base, stroke: COLOURS.raw, width: 2, dash: [7, 5] }
    case 'calibrated':
      return { ...base, stroke: COLOURS.calibrated, width: 2.5 }
    default:
      return { ...base, stroke: COLOURS.mean, width: 2.5 }
  }
}
