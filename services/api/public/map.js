// The neighbourhood's sensors on an inline SVG in which the coarsened positions are projected (equirectangular
// around the neighbourhood centre) into a box, each sensor a link with an accessible name ("Sensor sim-003,
// 8,4 °C"), plus the same sensors as a list. Positions are rounded by the API; the light circle around a dot shows
// that rounding (precisionM). When the server has a street map (GET /api/v1/basemap), its raster tiles are drawn
// underneath from our own origin (/tiles/…), with a street/postcode search; without one the map has a grid.

import { h, s, uid } from './dom.js'

const EARTH_M_PER_DEG = 111_320
const MIN_EXTENT_M = 250
const MAX_CIRCLE_M = 300
/** Web Mercator: metres per pixel of a 256 px tile at zoom 0 on the equator (2π · 6378137 / 256). */
const MERCATOR_M_PER_PX_Z0 = 156_543.033_928
const TILE_PX = 256
const SCALE_STEPS = [50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]

/** Metres east/north of `center` (equirectangular projection: fine over a few km). */
export function project(center, lat, lon) {
  const cos = Math.cos((center.lat * Math.PI) / 180)
  return { x: (lon - center.lon) * cos * EARTH_M_PER_DEG, y: (lat - center.lat) * EARTH_M_PER_DEG }
}

/** Global Web Mercator pixel of a position at zoom z (XYZ tile scheme: x east, y south). */
export function mercatorPixel(lat, lon, z) {
  const size = TILE_PX * 2 ** z
  const phi = (lat * Math.PI) / 180
  return { x: ((lon + 180) / 360) * size, y: ((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * size }
}

/**
 * The tiles that cover a `width`×`height` map whose centre (cx, cy) shows `center` at `scale` px per metre:
 * `[{href, x, y, size}]`, at the zoom whose tiles are drawn at 1–2× their size (clamped to the file's range).
 */
export function tilesFor(basemap, center, scale, width, height) {
  const cos = Math.cos((center.lat * Math.PI) / 180)
  const ideal = Math.floor(Math.log2(MERCATOR_M_PER_PX_Z0 * cos * scale))
  const z = Math.min(Math.max(ideal, basemap.minZoom ?? 0), basemap.maxZoom ?? 18)
  const f = ((MERCATOR_M_PER_PX_Z0 * cos) / 2 ** z) * scale // map px per global px
  const c = mercatorPixel(center.lat, center.lon, z)
  const size = TILE_PX * f
  const first = (screen0, centreGlobal, centreScreen) => Math.floor((centreGlobal + (screen0 - centreScreen) / f) / TILE_PX)
  const x0 = Math.max(0, first(0, c.x, width / 2))
  const y0 = Math.max(0, first(0, c.y, height / 2))
  const x1 = Math.min(2 ** z - 1, first(width, c.x, width / 2))
  const y1 = Math.min(2 ** z - 1, first(height, c.y, height / 2))
  const tiles = []
  for (let ty = y0; ty <= y1; ty++) {
    for (let tx = x0; tx <= x1; tx++) {
      tiles.push({
        href: basemap.tiles.replace('{z}', z).replace('{x}', tx).replace('{y}', ty),
        x: width / 2 + (tx * TILE_PX - c.x) * f,
        y: height / 2 + (ty * TILE_PX - c.y) * f,
        size,
      })
    }
  }
  return tiles
}

/** The quantity a sensor is shown with on the map: temperature when it has it. */
function primaryQuantity(device) {
  for (const q of ['air_temperature', 'pm2_5', 'relative_humidity']) if (device.quantities.includes(q)) return q
  return device.quantities[0] ?? 'air_temperature'
}

/**
 * `sensorMap({t, fmt, name, center, devices, latestOf(device, quantity)})` → `{element, render(width), update(deviceId)}`.
 * `render` lays the SVG out for the container width (text stays readable at 320 px and at 1280 px).
 */
export function sensorMap({ t, fmt, name, center, devices, latestOf, linkFor, basemap = null, search = null }) {
  const captionId = uid('map-cap')
  const holder = h('div', { class: 'map-holder' })
  const caption = [basemap ? t('mapCaptionStreets') : t('mapCaption'), basemap?.attribution ? ` ${t('mapAttribution', { attribution: basemap.attribution })}` : ''].join('')
  const figure = h('figure', { class: 'sensor-map', 'aria-labelledby': captionId }, holder, h('figcaption', { id: captionId }, caption))
  const links = new Map()
  const located = devices.filter((d) => Number.isFinite(d.location?.lat) && Number.isFinite(d.location?.lon))
  let width = 0
  /** the place found by the search: {name, lat, lon} */
  let mark = null
  const element = search ? h('div', { class: 'map-wrap' }, searchForm(), figure) : figure

  function searchForm() {
    const inputId = uid('map-search')
    const input = h('input', { id: inputId, type: 'search', name: 'q', autocomplete: 'off', minlength: '2', maxlength: '60' })
    const status = h('p', { class: 'search-status', role: 'status' })
    const results = h('ul', { class: 'search-results', hidden: true, 'aria-label': t('searchResults') })
    const choose = (place) => {
      mark = place
      results.hidden = true
      results.replaceChildren()
      render(width || 600)
      status.textContent = t(markInside() ? 'searchFound' : 'searchOutside', { name: place.name })
    }
    const form = h(
      'form',
      {
        class: 'map-search',
        role: 'search',
        onsubmit: async (event) => {
          event.preventDefault()
          const q = input.value.trim()
          if (q.length < 2) return
          let found = []
          try {
            found = await search(q)
          } catch {
            found = []
          }
          if (found.length === 1) return choose(found[0])
          results.replaceChildren(...found.map((place) => h('li', {}, h('button', { type: 'button', class: 'link-button', onclick: () => choose(place) }, place.name))))
          results.hidden = found.length === 0
          status.textContent = found.length === 0 ? t('searchNone', { q }) : ''
        },
      },
      h('label', { for: inputId }, t('searchLabel')),
      h('span', { class: 'form-row' }, input, h('button', { type: 'submit' }, t('searchButton'))),
    )
    return h('div', { class: 'map-search-block' }, form, results, status)
  }

  let lastLayout = null
  function markInside() {
    if (!mark || !lastLayout) return false
    const p = project(center, mark.lat, mark.lon)
    const x = lastLayout.cx + p.x * lastLayout.scale
    const y = lastLayout.cy - p.y * lastLayout.scale
    return x >= 0 && y >= 0 && x <= lastLayout.width && y <= lastLayout.height
  }

  const accessibleName = (device) => {
    const q = primaryQuantity(device)
    const latest = latestOf(device.id, q)
    return latest ? t('sensorLinkName', { id: device.id, value: fmt.value(q, latest.value) }) : t('sensorLinkNoValue', { id: device.id })
  }
  const shortLabel = (device) => {
    const q = primaryQuantity(device)
    const latest = latestOf(device.id, q)
    return latest ? fmt.value(q, latest.value) : '–'
  }

  function render(containerWidth) {
    width = Math.round(Math.min(Math.max(containerWidth, 260), 760))
    const height = Math.round(Math.min(Math.max(width * 0.68, 220), 440))
    const pad = { x: 44, y: 24 }
    const points = located.map((device) => ({ device, ...project(center, device.location.lat, device.location.lon), r: device.location.precisionM ?? 0 }))
    // room for each point's rounding circle, but a neighbourhood-level one (radius ~ the neighbourhood) may be cut
    const margin = (p) => Math.min(p.r, MAX_CIRCLE_M)
    const extentX = Math.max(MIN_EXTENT_M, ...points.map((p) => Math.abs(p.x) + margin(p)))
    const extentY = Math.max(MIN_EXTENT_M, ...points.map((p) => Math.abs(p.y) + margin(p)))
    const scale = Math.min((width / 2 - pad.x) / extentX, (height / 2 - pad.y) / extentY)
    const cx = width / 2
    const cy = height / 2
    for (const p of points) {
      p.px = cx + p.x * scale
      p.py = cy - p.y * scale
    }
    spreadCoincident(points)
    // Reading order for the keyboard: rows from north to south, west to east within a row.
    points.sort((a, b) => Math.round(a.py / 40) - Math.round(b.py / 40) || a.px - b.px)

    const barMetres = SCALE_STEPS.find((m) => m * scale >= width / 6) ?? SCALE_STEPS.at(-1)
    const barPx = barMetres * scale
    const grid = []
    if (!basemap) {
      for (let x = cx % barPx; x < width; x += barPx) grid.push(s('line', { x1: x, y1: 0, x2: x, y2: height }))
      for (let y = cy % barPx; y < height; y += barPx) grid.push(s('line', { x1: 0, y1: y, x2: width, y2: y }))
    }
    const tiles = basemap ? tilesFor(basemap, center, scale, width, height).map((tile) => s('image', { href: tile.href, x: tile.x, y: tile.y, width: tile.size + 0.5, height: tile.size + 0.5, preserveAspectRatio: 'none' })) : []
    lastLayout = { cx, cy, scale, width, height }
    const markPoint = mark ? project(center, mark.lat, mark.lon) : null
    const star = (x, y, r) => {
      const points = []
      for (let i = 0; i < 10; i++) {
        const a = (Math.PI / 5) * i - Math.PI / 2
        const radius = i % 2 === 0 ? r : r * 0.45
        points.push(`${(x + radius * Math.cos(a)).toFixed(1)},${(y + radius * Math.sin(a)).toFixed(1)}`)
      }
      return s('polygon', { points: points.join(' '), class: 'map-mark' })
    }

    // labels keep clear of the centre cross too
    const placements = placeLabels(points, width, height, (p) => shortLabel(p.device), [
      { x1: cx - 10, y1: cy - 2, x2: cx + 10, y2: cy + 2 },
      { x1: cx - 2, y1: cy - 10, x2: cx + 2, y2: cy + 10 },
    ])
    links.clear()
    const precision = points.map((p) => (p.r * scale > 9 ? s('circle', { cx: p.px, cy: p.py, r: p.r * scale, class: 'map-precision' }) : null))
    const sensors = points.map((p, i) => {
      const spot = placements[i]
      // a label with no free spot is hidden; the link keeps its accessible name and the list has the value
      const label = s(
        'text',
        { x: spot?.x ?? p.px + 11, y: spot?.y ?? p.py + 4, 'text-anchor': spot?.anchor ?? 'start', class: 'map-label', 'aria-hidden': 'true', visibility: spot ? null : 'hidden' },
        shortLabel(p.device),
      )
      const title = s('title', {}, accessibleName(p.device))
      const link = s(
        'a',
        { href: linkFor(p.device.id), class: 'map-sensor', 'aria-label': accessibleName(p.device), dataset: { device: p.device.id } },
        title,
        s('circle', { cx: p.px, cy: p.py, r: 13, class: 'map-focus-ring' }),
        s('circle', { cx: p.px, cy: p.py, r: 6.5, class: 'map-dot' }),
        label,
      )
      links.set(p.device.id, { link, label, title })
      return link
    })

    const svg = s(
      'svg',
      { viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': t('mapLabel', { name }), class: 'map-svg' },
      s('rect', { x: 0, y: 0, width, height, class: 'map-bg' }),
      basemap ? s('g', { class: 'map-tiles', 'aria-hidden': 'true' }, tiles) : null,
      s('g', { class: 'map-grid', 'aria-hidden': 'true' }, grid),
      s(
        'g',
        { class: 'map-north', 'aria-hidden': 'true' },
        s('path', { d: `M ${width - 22} 30 l 7 -16 l 7 16 l -7 -4 z` }),
        s('text', { x: width - 15, y: 46, 'text-anchor': 'middle' }, t('mapNorth')),
      ),
      s(
        'g',
        { class: 'map-scale', 'aria-hidden': 'true' },
        s('path', { d: `M 14 ${height - 22} v 6 h ${barPx} v -6` }),
        s('text', { x: 14, y: height - 28 }, barMetres >= 1000 ? `${fmt.number(barMetres / 1000, 0)} km` : t('mapScale', { m: barMetres })),
      ),
      s('g', { class: 'map-precision-group', 'aria-hidden': 'true' }, precision),
      // the centre cross above the rounding circles (which hid it) and below the sensors: a dark cross on a white halo
      s(
        'g',
        { class: 'map-centre', 'aria-hidden': 'true' },
        s('path', { class: 'map-centre-halo', d: `M ${cx - 11} ${cy} H ${cx + 11} M ${cx} ${cy - 11} V ${cy + 11}` }),
        s('path', { class: 'map-centre-cross', d: `M ${cx - 10} ${cy} H ${cx + 10} M ${cx} ${cy - 10} V ${cy + 10}` }),
      ),
      markPoint ? s('g', { class: 'map-mark-group', 'aria-hidden': 'true' }, star(cx + markPoint.x * scale, cy - markPoint.y * scale, 11)) : null,
      s('g', { class: 'map-sensors' }, sensors),
    )
    const focused = holder.contains(document.activeElement) ? document.activeElement.dataset?.device : null
    holder.replaceChildren(svg)
    if (focused) links.get(focused)?.link.focus()
  }

  return {
    element,
    render,
    get width() {
      return width
    },
    update(deviceId) {
      const entry = links.get(deviceId)
      const device = devices.find((d) => d.id === deviceId)
      if (!entry || !device) return
      entry.link.setAttribute('aria-label', accessibleName(device))
      entry.title.textContent = accessibleName(device)
      entry.label.textContent = shortLabel(device)
    },
  }
}

const LABEL_CHAR_PX = 8
const LABEL_HEIGHT_PX = 15
const DOT_BOX_PX = 8

/**
 * A spot for every point's label that overlaps no other label and no dot: right, left, above or below the dot,
 * the first that is free and inside the map; null when none is (the label is then hidden). `obstacles` are
 * further boxes to keep clear of (the centre cross). Labels are about the
 * same length whatever the value, so the box is estimated from the longest label text.
 */
export function placeLabels(points, width, height, textOf, obstacles = []) {
  const boxes = [...obstacles, ...points.map((p) => ({ x1: p.px - DOT_BOX_PX, y1: p.py - DOT_BOX_PX, x2: p.px + DOT_BOX_PX, y2: p.py + DOT_BOX_PX }))]
  const widthOf = Math.max(...points.map((p) => textOf(p).length), 1) * LABEL_CHAR_PX
  const overlaps = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
  return points.map((p) => {
    const w = widthOf
    const candidates = [
      { x: p.px + 11, y: p.py + 4, anchor: 'start', box: { x1: p.px + 10, y1: p.py - 8, x2: p.px + 12 + w, y2: p.py + 7 } },
      { x: p.px - 11, y: p.py + 4, anchor: 'end', box: { x1: p.px - 12 - w, y1: p.py - 8, x2: p.px - 10, y2: p.py + 7 } },
      { x: p.px, y: p.py - 12, anchor: 'middle', box: { x1: p.px - w / 2, y1: p.py - 11 - LABEL_HEIGHT_PX, x2: p.px + w / 2, y2: p.py - 9 } },
      { x: p.px, y: p.py + 23, anchor: 'middle', box: { x1: p.px - w / 2, y1: p.py + 9, x2: p.px + w / 2, y2: p.py + 11 + LABEL_HEIGHT_PX } },
    ]
    const inside = (b) => b.x1 >= 0 && b.y1 >= 0 && b.x2 <= width && b.y2 <= height
    const free = (b) => boxes.every((other) => !overlaps(b, other))
    const spot = candidates.find((c) => inside(c.box) && free(c.box)) ?? null
    if (spot) boxes.push(spot.box)
    return spot && { x: spot.x, y: spot.y, anchor: spot.anchor }
  })
}

/** Sensors whose rounded positions (nearly) coincide are spread on a small circle so each stays clickable. */
function spreadCoincident(points) {
  const groups = []
  for (const p of points) {
    const group = groups.find((g) => Math.hypot(g[0].px - p.px, g[0].py - p.py) < 18)
    if (group) group.push(p)
    else groups.push([p])
  }
  for (const group of groups) {
    if (group.length < 2) continue
    const { px, py } = group[0]
    const radius = 10 + 3 * group.length
    group.forEach((p, i) => {
      const angle = (2 * Math.PI * i) / group.length - Math.PI / 2
      p.px = px + radius * Math.cos(angle)
      p.py = py + radius * Math.sin(angle)
    })
  }
}

/**
 * The list alternative: every sensor with its latest values, when it was last seen and whether it is calibrated.
 * `sensorList({t, fmt, devices, latestOf, linkFor, quantities})` → `{element, update(deviceId)}`.
 */
export function sensorList({ t, fmt, devices, latestOf, linkFor, quantities }) {
  const items = new Map()
  const valuesText = (device) =>
    quantities
      .filter((q) => device.quantities.length === 0 || device.quantities.includes(q))
      .map((q) => {
        const latest = latestOf(device.id, q)
        return latest ? fmt.value(q, latest.value) : null
      })
      .filter(Boolean)
      .join(' · ')
  const metaText = (device) =>
    [device.lastSeen ? t('lastSeen', { time: fmt.when(device.lastSeen) }) : t('neverSeen'), t(`calibration.${device.calibration.status}`)].join(' · ')

  const sorted = [...devices].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }))
  const element = h(
    'ul',
    { class: 'sensor-list' },
    sorted.map((device) => {
      const values = h('span', { class: 'sensor-values' }, valuesText(device))
      const meta = h('span', { class: 'sensor-meta' }, metaText(device))
      const item = h(
        'li',
        { dataset: { device: device.id } },
        h('a', { href: linkFor(device.id), class: 'sensor-link', dataset: { device: device.id } }, t('sensorTitle', { id: device.id })),
        values,
        meta,
      )
      items.set(device.id, { values, meta })
      return item
    }),
  )
  return {
    element,
    update(deviceId) {
      const entry = items.get(deviceId)
      const device = devices.find((d) => d.id === deviceId)
      if (!entry || !device) return
      entry.values.textContent = valuesText(device)
      entry.meta.textContent = metaText(device)
    },
  }
}
