// The residents' page: neighbourhood overview (current values with plain-language advice, 24 h / 7 day
// charts, sensor map and list) and per-sensor detail (raw versus calibrated, calibration status and report),
// kept up to date over SSE. Routes: `#/` overview, `#/sensor/<id>` (or `?sensor=<id>`) detail;
// `?lang=en` English, `?neighbourhood=<id>` another neighbourhood.

import * as api from './api.js'
import { chartBlock, stats } from './charts.js'
import { h, patch } from './dom.js'
import { UNITS, formatter } from './format.js'
import { DEFAULT_LANGUAGE, DICTIONARY, languageFrom, translator } from './i18n.js'
import { sensorList, sensorMap } from './map.js'

const QUANTITIES = ['air_temperature', 'relative_humidity', 'pm2_5']
/** Cards of the "now" section: the chart quantities always, PM10 and NO2 when there is a value or a station value. */
const CARD_QUANTITIES = ['air_temperature', 'relative_humidity', 'pm2_5', 'pm10', 'no2']
const LKI_QUANTITIES = ['pm2_5', 'pm10', 'no2']
const DEFAULT_NEIGHBOURHOOD = 'stadshagen'
const STALE_MS = 2 * 3_600_000
const ANNOUNCE_EVERY_MS = 60_000
const NOW_REFRESH_MS = 10_000
/** Beyond this spread (km) between sensors the overview shows only the list, not the map. */
const MAP_MAX_SPAN_KM = 20

const view = document.getElementById('view')
const main = document.getElementById('main')
const liveStatus = document.getElementById('live-status')
const updatedAt = document.getElementById('updated-at')
const langSwitch = document.getElementById('lang-switch')

const state = {
  lang: DEFAULT_LANGUAGE,
  t: translator(DEFAULT_LANGUAGE),
  fmt: null,
  neighbourhoods: [],
  neighbourhood: null,
  /** where residents can offer to host a sensor (config), or null */
  hostInvite: null,
  /** the street map (GET /api/v1/basemap) or null */
  basemap: null,
  devices: [],
  /** device id → quantity → {time, value} (newest known) */
  latest: new Map(),
  now: null,
  nowError: false,
  period: '24h',
  /** period → quantity → [{time, mean, min, max, count}] | Error */
  readings: new Map(),
  /** period → end (epoch ms) when the charts are anchored at the newest data instead of now (archive data) */
  anchors: new Map(),
  route: { view: 'overview' },
  /** what the current view keeps for in-place updates and cleanup */
  current: { charts: [], map: null, list: null, cards: null, sensorNow: null, resize: null },
  lastHref: null,
  loadToken: 0,
  announce: { last: 0, timer: null, shownAt: null, pending: new Map() },
  nowRefresh: { last: 0, timer: null },
  returnFocus: null,
}
state.fmt = formatter(state.t)

// ------------------------------------------------------------------------------------------ language

function setLanguage(lang) {
  state.lang = lang
  state.t = translator(lang)
  state.fmt = formatter(state.t)
  document.documentElement.lang = lang
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = state.t(el.dataset.i18n)
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', state.t(el.dataset.i18nLabel))
  const other = lang === 'nl' ? 'en' : 'nl'
  langSwitch.textContent = DICTIONARY[other].languageName
  langSwitch.lang = other
  langSwitch.hreflang = other
  langSwitch.title = state.t('switchLanguage')
  updateLangSwitch()
}

/** The switch's href: this page (route included) in the other language; refreshed on every route change. */
function updateLangSwitch() {
  const other = state.lang === 'nl' ? 'en' : 'nl'
  langSwitch.href = urlWith({ lang: other === DEFAULT_LANGUAGE ? null : other })
}

/** The current URL with query parameters changed (null removes one); the hash is kept. */
function urlWith(params, hash = location.hash) {
  const url = new URL(location.href)
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) url.searchParams.delete(key)
    else url.searchParams.set(key, value)
  }
  url.hash = hash
  return `${url.pathname}${url.search}${url.hash}`
}

// ------------------------------------------------------------------------------------------ routing

function routeFromLocation() {
  const match = /^#\/sensor\/(.+)$/.exec(location.hash)
  if (match) return { view: 'sensor', sensor: decodeURIComponent(match[1]) }
  if (location.hash.startsWith('#/')) return { view: 'overview' }
  const sensor = new URLSearchParams(location.search).get('sensor')
  return sensor ? { view: 'sensor', sensor } : { view: 'overview' }
}

/** `?neighbourhood=` when it is a known one, else Stadshagen (or the first the API lists). */
function neighbourhoodFromLocation() {
  const wanted = new URLSearchParams(location.search).get('neighbourhood') ?? DEFAULT_NEIGHBOURHOOD
  if (state.neighbourhoods.some((n) => n.id === wanted)) return wanted
  return state.neighbourhoods.some((n) => n.id === DEFAULT_NEIGHBOURHOOD) ? DEFAULT_NEIGHBOURHOOD : (state.neighbourhoods[0]?.id ?? wanted)
}

const sensorHref = (id) => `#/sensor/${encodeURIComponent(id)}`

async function onLocationChange() {
  if (location.href === state.lastHref) return
  state.lastHref = location.href
  const lang = languageFrom(location.search)
  if (lang !== state.lang) setLanguage(lang)
  const wanted = neighbourhoodFromLocation()
  if (wanted !== state.neighbourhood?.id) {
    await selectNeighbourhood(wanted)
    if (closeLive) startLive()
  }
  const previous = state.route
  state.route = routeFromLocation()
  if (previous.view === 'sensor' && state.route.view === 'overview') state.returnFocus = previous.sensor
  renderRoute({ moveFocus: true })
}

// ------------------------------------------------------------------------------------------ data

function latestOf(device, quantity) {
  return state.latest.get(device)?.get(quantity) ?? null
}

function noteLatest(device, quantity, time, value) {
  let byQuantity = state.latest.get(device)
  if (!byQuantity) state.latest.set(device, (byQuantity = new Map()))
  const known = byQuantity.get(quantity)
  if (known && (known.time > time || (known.time === time && known.value === value))) return false
  byQuantity.set(quantity, { time, value })
  return true
}

/**
 * The neighbourhood's current values: the hour before the end of this minute (the browser's clock; rounded up so
 * that a reading that just arrived counts, and so that repeated asks within a minute are the same question).
 */
function fetchNow(nid) {
  return api.now(nid, undefined, Math.ceil((Date.now() + 1) / 60_000) * 60_000)
}

async function selectNeighbourhood(id) {
  const token = ++state.loadToken
  state.neighbourhood = state.neighbourhoods.find((n) => n.id === id) ?? state.neighbourhoods[0] ?? { id, name: id, center: null }
  state.devices = []
  state.latest = new Map()
  state.now = null
  state.readings = new Map()
  state.anchors = new Map()
  showLoading()
  const nid = state.neighbourhood.id
  const [devices, now, latest] = await Promise.allSettled([api.devices(nid), fetchNow(nid), api.latest(nid)])
  if (token !== state.loadToken) return
  if (devices.status === 'rejected') throw devices.reason
  state.devices = devices.value
  state.now = now.status === 'fulfilled' ? now.value : null
  state.nowError = now.status === 'rejected'
  if (latest.status === 'fulfilled') {
    for (const [device, byQuantity] of latest.value) for (const [quantity, { time, value }] of byQuantity) noteLatest(device, quantity, time, value)
  }
  await loadPeriod('24h')
}

/** The newest `lastSeen` (epoch ms) of some devices, or null. */
function newestSeen(devices) {
  const times = devices.map((d) => d.lastSeen).filter(Number.isFinite)
  return times.length > 0 ? Math.max(...times) : null
}

/**
 * Where a period's charts end: null (now) normally; the newest reading's time when nothing was seen within the
 * period (archive data, a sensor that went quiet), so a resident still sees the last data there is.
 */
function anchorFor(devices, period) {
  const newest = newestSeen(devices)
  return newest !== null && newest < Date.now() - api.PERIOD_MS[period] ? newest : null
}

/** "Afgelopen 24 uur", or "De laatste 24 uur met metingen, tot 8 juli 2018 23:58" when anchored. */
function periodLabel(period, end) {
  return end ? state.t(`periodAnchored.${period}`, { date: state.fmt.longDate(end) }) : state.t(`period.${period}`)
}

/** Loads the neighbourhood charts' data of one period (once). */
async function loadPeriod(period) {
  if (state.readings.has(period)) return state.readings.get(period)
  const nid = state.neighbourhood.id
  const end = anchorFor(state.devices, period)
  state.anchors.set(period, end)
  const results = await Promise.allSettled(QUANTITIES.map((q) => api.neighbourhoodReadings(nid, q, period, undefined, end)))
  const byQuantity = new Map()
  results.forEach((result, i) => {
    const quantity = QUANTITIES[i]
    byQuantity.set(quantity, result.status === 'fulfilled' ? result.value : result.reason)
  })
  state.readings.set(period, byQuantity)
  return byQuantity
}

// ------------------------------------------------------------------------------------------ rendering helpers

function cleanup() {
  for (const chart of state.current.charts) chart.destroy()
  if (state.current.resize) window.removeEventListener('resize', state.current.resize)
  state.current = { charts: [], map: null, list: null, cards: null, sensorNow: null, resize: null }
}

function showLoading() {
  cleanup()
  view.replaceChildren(h('p', { class: 'loading' }, state.t('loading')))
}

function showError(error) {
  cleanup()
  console.error(error)
  const { t } = state
  view.replaceChildren(
    h('h1', { tabindex: '-1' }, t('overviewTitle', { name: state.neighbourhood?.name ?? 'SensHagen' })),
    h('div', { class: 'error', role: 'alert' }, h('p', {}, t('errorLoad')), h('button', { type: 'button', onclick: () => start() }, t('retry'))),
  )
}

function setTitle(text) {
  document.title = state.t('documentTitle', { title: text })
}

function heading(level, text, attrs = {}) {
  return h(level, { tabindex: level === 'h1' ? '-1' : undefined, ...attrs }, text)
}

function badge(quantity, cls) {
  const key = `class.${quantity}.${cls}`
  if (!cls || !state.t.has(key)) return null
  return h(
    'p',
    { class: 'level' },
    h('span', { class: `badge badge-${quantity.replace('_', '-')} level-${cls.replace(/_/g, '-')}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden' }, `${state.t('levelLabel')} `), state.t(key)),
  )
}

/** "LKI 5 van 11: Matig", with the LKI colour of that index (styles.css .lki-<n>). */
function lkiBadge(index, cls) {
  if (!index || !state.t.has(`class.lki.${cls}`)) return null
  const text = state.t('lkiBadge', { index, class: state.t(`class.lki.${cls}`) })
  return h('p', { class: 'level' }, h('span', { class: `badge badge-lki lki-${index}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden' }, `${state.t('levelLabel')} `), text))
}

function adviceText(quantity, entry) {
  const { t } = state
  if (entry.advice && t.has(`advice.${entry.advice}`)) return t(`advice.${entry.advice}`)
  const prefix = { air_temperature: 'temp', relative_humidity: 'rh', pm2_5: 'pm' }[quantity]
  if (prefix && entry.class && t.has(`advice.${prefix}_${entry.class}`)) return t(`advice.${prefix}_${entry.class}`)
  return null
}

/**
 * How sure a value is, short (issue 11): "± 4,0 µg/m³ (indicatief)", "experimenteel" when calibrated without a
 * known uncertainty, "niet gekalibreerd" for a raw value. `entry` {label, uncertainty, series}; a missing label is
 * read from the series (raw → niet gekalibreerd). Empty when nothing is known.
 */
function qualityText(quantity, entry, unit = UNITS[quantity]) {
  const { t, fmt } = state
  const label = entry.label ?? (entry.series === 'raw' ? 'uncalibrated' : null)
  if (!label || !t.has(`quality.${label}`)) return ''
  if (label === 'uncalibrated' || !Number.isFinite(entry.uncertainty)) return t(`quality.${label}`)
  return t('qualityWithU', { u: fmt.value(quantity, entry.uncertainty, unit), label: t(`quality.${label}`) })
}

/** What the value is, in words: the calibration label (issue 11) when the API sends one, else the series. */
function seriesText(entry) {
  const { t } = state
  if (entry.label && t.has(`label.${entry.label}`)) return t(`label.${entry.label}`)
  return entry.series ? t(`series.${entry.series === 'calibrated' ? 'calibrated' : 'raw'}`) : null
}
// ------------------------------------------------------------------------------------------ overview

/**
 * Relative humidity has no class from the API (null): the page words it itself. Bands for outdoor air:
 * below 30 % dry, up to 60 % comfortable, up to 85 % humid, above that very humid (fog, rain).
 */
function withFallbackClass(quantity, entry) {
  if (entry.class || quantity !== 'relative_humidity') return entry
  const cls = entry.value < 30 ? 'dry' : entry.value <= 60 ? 'comfortable' : entry.value <= 85 ? 'humid' : 'very_humid'
  return { ...entry, class: cls, advice: `rh_${cls}` }
}

function nowCard(quantity, entry, stationValue = null, flagged = 0) {
  const { t, fmt } = state
  const heading = h('h3', {}, t(`q.${quantity}`))
  const isLki = LKI_QUANTITIES.includes(quantity)
  const reference = isLki ? referenceLine(entry?.reference ?? stationValue) : null
  // how many sensors the value leaves out for suspect readings; never which ones (a sensor's place is personal)
  const flaggedNote = flagged > 0 ? h('p', { class: 'flagged-note' }, t(flagged === 1 ? 'flaggedOne' : 'flaggedMany', { n: flagged })) : null
  if (!entry) {
    return h('div', { class: 'card', dataset: { quantity } }, heading, h('p', { class: 'value value-missing' }, t('noValue')), h('p', { class: 'advice' }, t('noValueAdvice')), flaggedNote, reference)
  }
  const advice = adviceText(quantity, entry)
  // a concentration or humidity is never below 0, whatever the uncertainty says
  const low = quantity === 'air_temperature' ? entry.value - entry.uncertainty : Math.max(0, entry.value - entry.uncertainty)
  const spread = entry.uncertainty ? t('uncertainty', { low: fmt.value(quantity, low), high: fmt.value(quantity, entry.value + entry.uncertainty) }) : null
  const note = seriesText(entry)
  return h(
    'div',
    { class: 'card', dataset: { quantity } },
    heading,
    h('p', { class: 'value' }, h('data', { value: String(entry.value) }, fmt.value(quantity, entry.value, entry.unit))),
    h('p', { class: 'quality' }, h('span', { class: 'visually-hidden' }, `${t('qualityLabel')} `), qualityText(quantity, entry, entry.unit)),
    isLki ? lkiBadge(entry.index, entry.class) : badge(quantity, entry.class),
    advice ? h('p', { class: 'advice' }, advice) : null,
    flaggedNote,
    reference,
    note || spread ? h('p', { class: 'series-note' }, [note, spread].filter(Boolean).join(' ')) : null,
  )
}

/** "Officieel meetstation Barsbeek-De Veenen (14,1 km verderop): 9,0 µg/m³, LKI 1 (Goed), om 12:00." */
function referenceLine(reference) {
  const { t, fmt } = state
  if (!reference) return h('p', { class: 'reference' }, t('referenceMissing'))
  return h(
    'p',
    { class: 'reference' },
    t('referenceValue', { name: reference.name, km: fmt.number(reference.distanceKm, 0), value: fmt.value('pm2_5', reference.value), index: reference.index, class: t(`class.lki.${reference.class}`), time: fmt.when(reference.time) }),
  )
}

/**
 * The wood-burning card (cold season): Stookwijzer-style code with the reason in words. When an input is missing
 * and no code can be given (`code: null`, services/api/air-quality.ts stookAdvice), the card says which input is
 * missing and shows no colour.
 */
function stookCard(stook) {
  const { t, fmt } = state
  const missing = stook.missing ?? []
  const known = stook.code !== null && stook.code !== undefined
  const key = `stook.${stook.code}.${stook.reason}`
  const level = known
    ? h('span', { class: `badge badge-stook stook-${stook.code}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), t(`stookCode.${stook.code}`))
    : h('span', { class: 'badge badge-stook stook-unknown' }, t('stookCode.unknown'))
  const advice = known ? (t.has(key) ? t(key) : t('stook.yellow.none')) : t(`stook.missing.${missing.join('.')}`)
  const missingNote = known && missing.includes('pm2_5') ? t('stookNoPm') : null
  return h(
    'div',
    { class: 'card', dataset: { quantity: 'stook' } },
    h('h3', {}, t('stookHeading')),
    h('p', { class: 'level' }, level),
    h('p', { class: 'advice' }, advice),
    h('p', { class: 'series-note' }, [Number.isFinite(stook.windMs) ? t('stookWind', { wind: fmt.number(stook.windMs, 1) }) : t('stookNoWind'), missingNote, t('stookSource')].filter(Boolean).join(' ')),
  )
}

/**
 * Fills (first call) or updates (later calls) the "now" section in place: only nodes whose content changed are
 * touched, so an unchanged update leaves the DOM alone and screen readers hear nothing. Returns the cards whose
 * value changed, as `[{quantity, text: "Temperatuur 8,4 °C"}]`.
 */
function renderCards(container) {
  const { t, fmt } = state
  const now = state.now
  const before = new Map([...container.querySelectorAll('.card[data-quantity] .value')].map((el) => [el.closest('.card').dataset.quantity, el.textContent]))
  const cards = CARD_QUANTITIES.filter((q) => QUANTITIES.includes(q) || now?.values[q] || now?.references?.[q]).map((quantity) => {
    const entry = now?.values[quantity] ? withFallbackClass(quantity, now.values[quantity]) : null
    return nowCard(quantity, entry, now?.references?.[quantity] ?? null, now?.flagged?.[quantity] ?? 0)
  })
  if (now?.stook) cards.push(stookCard(now.stook))
  const time = now && Object.keys(now.values).length > 0 ? now.time : null
  // the hour is [time − 1 h, time), time the end of the current minute (fetchNow): its last minute is the one
  // before time, which "Bijgewerkt om" (shown when /now was read) never precedes
  const last = time - 60_000
  const measured = time ? h('p', { class: 'measured' }, t(Date.now() - time < 86_400_000 ? 'measuredAt' : 'measuredOn', { time: fmt.when(last), date: fmt.dateTime(last) })) : null
  const newest = newestSeen(state.devices)
  const newestNote = !measured && newest ? h('p', { class: 'measured' }, t('newestReading', { date: fmt.longDate(newest) })) : null
  const stale = time && Date.now() - time > STALE_MS ? h('p', { class: 'notice' }, t('stale')) : null
  const failed = state.nowError ? h('p', { class: 'notice' }, t('errorLoad')) : null
  const hasLki = cards.some((card) => LKI_QUANTITIES.includes(card.dataset.quantity))
  const unit = hasLki ? h('p', { class: 'unit-note' }, `${t('unitExplained')} ${t('lkiExplained')}`) : null
  const next = h('div', {}, ...[measured, newestNote, stale, failed, h('div', { class: 'cards' }, cards), unit].filter(Boolean))
  if (container.childNodes.length === 0) container.replaceChildren(...next.childNodes)
  else patch(container, next)
  const changes = []
  for (const el of container.querySelectorAll('.card[data-quantity] .value data')) {
    const quantity = el.closest('.card').dataset.quantity
    if (before.size > 0 && before.get(quantity) !== el.textContent) changes.push({ quantity, text: `${t(`q.${quantity}`)} ${el.textContent}` })
  }
  return changes
}

/** "Stadshagen (Zwolle)"; a name that already says more in brackets is shown as it is. */
function optionText(n) {
  return n.municipality && !/[()]/.test(n.name) ? `${n.name} (${n.municipality})` : n.name
}

function neighbourhoodForm() {
  const { t } = state
  const select = h(
    'select',
    { id: 'neighbourhood', name: 'neighbourhood' },
    state.neighbourhoods.map((n) => h('option', { value: n.id, selected: n.id === state.neighbourhood.id }, optionText(n))),
  )
  return h(
    'form',
    {
      class: 'neighbourhood-form',
      method: 'get',
      action: './',
      onsubmit: (event) => {
        event.preventDefault()
        history.pushState(null, '', urlWith({ neighbourhood: select.value === DEFAULT_NEIGHBOURHOOD ? null : select.value, sensor: null }, ''))
        state.lastHref = null
        onLocationChange().catch(showError)
      },
    },
    h('label', { for: 'neighbourhood' }, t('neighbourhoodLabel')),
    h('span', { class: 'form-row' }, select, state.lang !== DEFAULT_LANGUAGE ? h('input', { type: 'hidden', name: 'lang', value: state.lang }) : null, h('button', { type: 'submit' }, t('neighbourhoodSubmit'))),
  )
}

function neighbourhoodChart(quantity, period, data) {
  const { t, fmt } = state
  const name = state.neighbourhood.name
  const heading = t(`q.${quantity}`)
  const end = state.anchors.get(period) ?? null
  const periodText = end ? periodLabel(period, end) : t(`period.${period}`).toLowerCase()
  if (!data || data instanceof Error) {
    return { element: h('section', { class: 'chart-card' }, h('h3', {}, heading), h('p', { class: 'no-data' }, data instanceof Error ? t('errorLoad') : t('chartNoData'))), destroy() {} }
  }
  const rows = data
  const times = rows.map((r) => r.time)
  const means = rows.map((r) => r.mean)
  const summaryStats = stats(times, means)
  const v = (x) => fmt.value(quantity, x)
  const n = (x) => fmt.value(quantity, x, '')
  const summary = summaryStats
    ? t('chartSummary', { quantity: heading, period: periodText, min: v(summaryStats.min), max: v(summaryStats.max), latest: v(summaryStats.latest.value), time: fmt.when(summaryStats.latest.time) })
    : ''
  return chartBlock({
    t,
    fmt,
    quantity,
    period,
    heading,
    level: 'h3',
    summary,
    caption: t('tableCaptionNeighbourhood', { quantity: heading, unit: UNITS[quantity], name, period: periodText }),
    columns: [t('col.time'), t('col.mean'), t('col.min'), t('col.max'), t('col.quality')],
    rows: [...rows].reverse().map((r) => [fmt.stamp(r.time), n(r.mean), n(r.min), n(r.max), qualityText(quantity, r)]),
    times,
    band: true,
    series: [
      { label: t('col.min'), kind: 'min', values: rows.map((r) => r.min) },
      { label: t('col.max'), kind: 'max', values: rows.map((r) => r.max) },
      { label: t('legend.mean'), kind: 'mean', values: means },
    ],
    readout: (i) => `${fmt.dateTime(times[i])}: ${v(means[i])} (${t('col.min').toLowerCase()} ${v(rows[i].min)}, ${t('col.max').toLowerCase()} ${v(rows[i].max)})`,
  })
}

async function renderCharts(container, period) {
  for (const chart of state.current.charts) chart.destroy()
  state.current.charts = []
  container.setAttribute('aria-busy', 'true')
  container.replaceChildren(h('p', { class: 'loading' }, state.t('chartLoading')))
  let data
  try {
    data = await loadPeriod(period)
  } catch (error) {
    data = new Map(QUANTITIES.map((q) => [q, error]))
  }
  if (state.period !== period || !container.isConnected) return
  const blocks = QUANTITIES.map((q) => neighbourhoodChart(q, period, data.get(q)))
  state.current.charts = blocks
  const end = state.anchors.get(period) ?? null
  const anchored = end ? h('p', { class: 'notice anchored-period' }, h('strong', {}, `${periodLabel(period, end)}. `), state.t('anchoredNote')) : null
  container.replaceChildren(...[anchored, ...blocks.map((b) => b.element)].filter(Boolean))
  container.removeAttribute('aria-busy')
}

function renderOverview({ moveFocus }) {
  cleanup()
  const { t, fmt } = state
  const n = state.neighbourhood
  const title = t('overviewTitle', { name: n.name })
  setTitle(title)
  const h1 = heading('h1', title)

  const cards = h('div', { class: 'now-body' })
  renderCards(cards)

  const charts = h('div', { class: 'charts' })
  const periodName = 'period'
  const periods = h(
    'fieldset',
    { class: 'period-switch' },
    h('legend', {}, t('periodLegend')),
    ['24h', '7d'].map((p) =>
      h(
        'label',
        {},
        h('input', {
          type: 'radio',
          name: periodName,
          value: p,
          checked: state.period === p,
          onchange: (event) => {
            if (!event.target.checked) return
            state.period = p
            renderCharts(charts, p)
          },
        }),
        ` ${t(`period.${p}`)}`,
      ),
    ),
  )

  const centre = n.center ?? averageCentre(state.devices)
  const tooWide = spanKm(state.devices) > MAP_MAX_SPAN_KM
  const map = centre && !tooWide ? sensorMap({ t, fmt, name: n.name, center: centre, devices: state.devices, latestOf, linkFor: sensorHref, basemap: state.basemap, search: state.basemap?.search ? api.searchPlaces : null }) : null
  const list = sensorList({ t, fmt, devices: state.devices, latestOf, linkFor: sensorHref, quantities: QUANTITIES })
  const count = state.devices.length
  const mapColumn = map ? h('div', { class: 'map-column' }, map.element) : null

  view.replaceChildren(
    h1,
    h('p', { class: 'intro' }, t('overviewIntro')),
    state.neighbourhoods.length > 0 ? neighbourhoodForm() : null,
    h('section', { class: 'now', 'aria-labelledby': 'now-heading' }, h('h2', { id: 'now-heading' }, t('nowHeading')), cards),
    h('section', { class: 'history', 'aria-labelledby': 'history-heading' }, h('h2', { id: 'history-heading' }, t('historyHeading')), periods, charts),
    h(
      'section',
      { class: 'sensors', 'aria-labelledby': 'sensors-heading' },
      h('h2', { id: 'sensors-heading' }, t('sensorsHeading'), ' ', h('span', { class: 'count' }, `(${count === 1 ? t('sensorCountOne') : t('sensorCount', { n: count })})`)),
      count === 0
        ? h(
            'div',
            { class: 'invite' },
            h('p', {}, t('inviteText')),
            state.hostInvite && /^(https:|mailto:)/.test(state.hostInvite) ? h('p', {}, h('a', { href: state.hostInvite, class: 'invite-link' }, t('inviteLink'))) : null,
          )
        : [
            h('p', {}, t('sensorsIntro')),
            tooWide ? h('p', { class: 'notice map-too-wide' }, t('mapTooWide', { km: MAP_MAX_SPAN_KM })) : null,
            h('div', { class: 'sensors-layout' }, mapColumn, h('div', { class: 'list-column' }, h('h3', {}, t('sensorListHeading')), h('p', { class: 'series-note' }, t('rawListNote')), list.element)),
          ],
    ),
  )
  if (map) {
    map.render(mapColumn.clientWidth || view.clientWidth)
    let frame = 0
    state.current.resize = () => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => {
        const width = mapColumn.clientWidth
        if (width && Math.abs(width - map.width) > 24) map.render(width)
      })
    }
    window.addEventListener('resize', state.current.resize)
  }
  state.current.map = map
  state.current.list = list
  state.current.cards = cards
  renderCharts(charts, state.period)

  if (moveFocus) {
    const back = state.returnFocus
    state.returnFocus = null
    const target = back ? view.querySelector(`.sensor-list a[data-device="${CSS.escape(back)}"]`) : null
    if (target) target.focus()
    else {
      window.scrollTo(0, 0)
      h1.focus()
    }
  }
}

/** The largest distance (km, haversine) between two located devices. */
function spanKm(devices) {
  const located = devices.filter((d) => Number.isFinite(d.location?.lat) && Number.isFinite(d.location?.lon))
  const rad = Math.PI / 180
  let max = 0
  for (let i = 0; i < located.length; i++) {
    for (let j = i + 1; j < located.length; j++) {
      const a = located[i].location
      const b = located[j].location
      const x = Math.sin(((b.lat - a.lat) * rad) / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(((b.lon - a.lon) * rad) / 2) ** 2
      max = Math.max(max, 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(x))))
    }
  }
  return max
}

function averageCentre(devices) {
  const located = devices.filter((d) => Number.isFinite(d.location?.lat) && Number.isFinite(d.location?.lon))
  if (located.length === 0) return null
  return { lat: located.reduce((a, d) => a + d.location.lat, 0) / located.length, lon: located.reduce((a, d) => a + d.location.lon, 0) / located.length }
}

// ------------------------------------------------------------------------------------------ sensor detail

function sensorNowList(device) {
  const { t, fmt } = state
  const quantities = sensorQuantities(device)
  const ul = h('ul', { class: 'sensor-now' })
  const fill = () => {
    patch(
      ul,
      h(
        'ul',
        {},
        quantities.map((q) => {
          const latest = latestOf(device.id, q)
          return h('li', {}, h('span', { class: 'q' }, `${t(`q.${q}`, {}, q)}: `), h('strong', {}, latest ? fmt.value(q, latest.value) : t('noValue')), latest ? h('span', { class: 'when' }, ` (${fmt.when(latest.time)})`) : null)
        }),
      ),
    )
  }
  fill()
  return { element: ul, update: fill }
}

function sensorQuantities(device) {
  const known = device.quantities.filter((q) => state.t.has(`q.${q}`))
  const ordered = [...QUANTITIES.filter((q) => known.includes(q)), ...known.filter((q) => !QUANTITIES.includes(q))]
  return ordered.length > 0 ? ordered : QUANTITIES
}

function sensorChart(device, quantity, rows, end = null) {
  const { t, fmt } = state
  const name = t(`q.${quantity}`, {}, quantity)
  const heading = t('rawVsCalibrated', { quantity: name })
  const periodText = end ? periodLabel('7d', end) : t('period.7d').toLowerCase()
  const times = rows.map((r) => r.time)
  const raw = rows.map((r) => r.raw)
  const calibrated = rows.map((r) => r.calibrated)
  const v = (x) => fmt.value(quantity, x)
  const rs = stats(times, raw)
  const cs = stats(times, calibrated)
  const summary = rs
    ? t('chartSummarySensor', {
        quantity: name,
        period: periodText,
        rmin: v(rs.min),
        rmax: v(rs.max),
        rlatest: v(rs.latest.value),
        calibrated: cs ? t('chartSummarySensorCal', { min: v(cs.min), max: v(cs.max), latest: v(cs.latest.value) }) : t('noCalibratedValues'),
      })
    : ''
  const hasCalibrated = calibrated.some((x) => x !== null)
  return chartBlock({
    note: hasCalibrated ? null : t('noCalibratedNote', { quantity: name.charAt(0).toLowerCase() + name.slice(1) }),
    t,
    fmt,
    quantity,
    period: '7d',
    heading,
    level: 'h2',
    summary,
    caption: t('tableCaptionSensor', { quantity: name, id: device.id, period: periodText }),
    columns: [t('col.time'), ...['col.raw', 'col.calibrated'].map((key) => t('colWithUnit', { column: t(key), unit: UNITS[quantity] ?? '' })), t('col.quality')],
    // the quality column is that of the calibrated value; a raw value is always "niet gekalibreerd" (column Ruw)
    rows: [...rows].reverse().map((r) => [fmt.stamp(r.time), fmt.value(quantity, r.raw, ''), fmt.value(quantity, r.calibrated, ''), r.calibrated === null ? '' : qualityText(quantity, r)]),
    times,
    band: false,
    series: [{ label: t('col.raw'), legend: t('legend.raw'), kind: 'raw', values: raw }, ...(hasCalibrated ? [{ label: t('col.calibrated'), legend: t('legend.calibrated'), kind: 'calibrated', values: calibrated }] : [])],
    readout: (i) => `${fmt.dateTime(times[i])}: ${t('col.raw').toLowerCase()} ${v(raw[i])}, ${t('col.calibrated').toLowerCase()} ${v(calibrated[i])}`,
  })
}

function calibrationReport(device, quantity) {
  const { t } = state
  const name = t(`q.${quantity}`, {}, quantity)
  const img = h('img', { src: api.scatterUrl(device.id, quantity), alt: t('scatterAlt', { quantity: name, id: device.id }), width: '900', height: '600', decoding: 'async' })
  const figure = h(
    'figure',
    { class: 'report', hidden: true },
    img,
    h('figcaption', {}, t('scatterCaption', { quantity: name }), ' ', h('a', { href: api.scatterUrl(device.id, quantity) }, t('reportOpen'))),
  )
  const section = h('div', { class: 'report-block', hidden: true }, h('h3', {}, t('reportHeading')), figure)
  img.addEventListener('load', () => {
    figure.hidden = false
    section.hidden = false
  })
  img.addEventListener('error', () => section.remove())
  return section
}

async function renderSensor({ moveFocus }) {
  cleanup()
  const { t, fmt } = state
  const id = state.route.sensor
  const device = state.devices.find((d) => d.id === id)
  const title = t('sensorTitle', { id })
  setTitle(title)
  const back = h('p', { class: 'back' }, h('a', { href: '#/' }, h('span', { 'aria-hidden': 'true' }, '← '), t('backLink')))
  const h1 = heading('h1', title)
  if (!device) {
    view.replaceChildren(back, h1, h('p', { class: 'notice' }, t('sensorNotFound', { id })))
    if (moveFocus) h1.focus()
    return
  }
  const calibrated = device.calibration.status === 'calibrated'
  const methods = Object.entries(device.calibration.methods ?? {})
  const facts = [
    [t('factNeighbourhood'), state.neighbourhood.name],
    device.sensorModels.length ? [t('factModels'), device.sensorModels.join(', ')] : null,
    [t('factQuantities'), sensorQuantities(device).map((q) => t(`q.${q}`, {}, q)).join(', ')],
    [t('factLastSeen'), device.lastSeen ? fmt.when(device.lastSeen) : t('neverSeen')],
    device.location && Number.isFinite(device.location.lat)
      ? [
          t('factPosition'),
          t('positionValue', {
            lat: `${fmt.number(Math.abs(device.location.lat), 4)}° ${t(device.location.lat >= 0 ? 'north' : 'south')}`,
            lon: `${fmt.number(Math.abs(device.location.lon), 4)}° ${t(device.location.lon >= 0 ? 'east' : 'west')}`,
            precision: fmt.number(device.location.precisionM ?? 0, 0),
          }),
        ]
      : null,
    [t('factCalibration'), t(`calibration.${calibrated ? 'calibrated' : 'uncalibrated'}`)],
  ].filter(Boolean)
  const nowList = sensorNowList(device)
  const chartsHolder = h('div', { class: 'sensor-charts' }, h('p', { class: 'loading' }, t('chartLoading')))

  view.replaceChildren(
    back,
    h1,
    h('p', { class: 'intro' }, t('sensorIntro')),
    h(
      'div',
      { class: 'sensor-top' },
      h(
        'section',
        { class: 'facts', 'aria-labelledby': 'facts-heading' },
        h('h2', { id: 'facts-heading' }, t('sensorFacts')),
        h('dl', {}, facts.map(([term, value]) => h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, value)))),
        h('p', { class: 'calibration-text' }, t(calibrated ? 'calibrationCalibratedText' : 'calibrationUncalibratedText')),
        methods.length
          ? h('ul', { class: 'methods' }, methods.map(([q, method]) => h('li', {}, t('calibrationMethod', { quantity: t(`q.${q}`, {}, q), method: t(`method.${method}`, {}, method) }))))
          : null,
      ),
      h('section', { class: 'sensor-latest', 'aria-labelledby': 'latest-heading' }, h('h2', { id: 'latest-heading' }, t('sensorNowHeading')), h('p', { class: 'series-note' }, t('rawListNote')), nowList.element),
    ),
    chartsHolder,
  )
  state.current.sensorNow = { device: device.id, update: nowList.update }
  if (moveFocus) {
    window.scrollTo(0, 0)
    h1.focus()
  }

  const quantities = sensorQuantities(device)
  const token = state.loadToken
  const end = anchorFor([device], '7d')
  const results = await Promise.allSettled(quantities.map((q) => api.sensorReadings(device.id, q, '7d', undefined, end)))
  if (token !== state.loadToken || state.route.view !== 'sensor' || state.route.sensor !== id || !chartsHolder.isConnected) return
  const blocks = []
  const sections = quantities.map((q, i) => {
    const result = results[i]
    let block
    if (result.status === 'fulfilled') {
      block = sensorChart(device, q, result.value, end)
    } else {
      block = { element: h('section', { class: 'chart-card' }, h('h2', {}, t('rawVsCalibrated', { quantity: t(`q.${q}`, {}, q) })), h('p', { class: 'no-data' }, t('errorLoad'))), destroy() {} }
    }
    blocks.push(block)
    const hasMethod = calibrated && Object.hasOwn(device.calibration.methods ?? {}, q)
    return h('div', { class: 'sensor-quantity' }, block.element, hasMethod ? calibrationReport(device, q) : null)
  })
  state.current.charts = blocks
  const anchored = end ? h('p', { class: 'notice anchored-period' }, h('strong', {}, `${periodLabel('7d', end)}. `), t('anchoredNote')) : null
  chartsHolder.replaceChildren(...[anchored, ...sections].filter(Boolean))
}

function renderRoute({ moveFocus }) {
  updateLangSwitch()
  if (!state.neighbourhood) return
  if (state.route.view === 'sensor') renderSensor({ moveFocus }).catch(showError)
  else renderOverview({ moveFocus })
}

// ------------------------------------------------------------------------------------------ live updates

function onReading({ time, device, quantity, value }) {
  const known = state.devices.find((d) => d.id === device)
  if (!known) return
  if (!known.lastSeen || known.lastSeen < time) known.lastSeen = time
  if (!noteLatest(device, quantity, time, value)) return
  state.current.map?.update(device)
  state.current.list?.update(device)
  if (state.current.sensorNow?.device === device) state.current.sensorNow.update()
  scheduleNowRefresh()
  showUpdatedAt(Date.now())
}

/** "Bijgewerkt om 14:05" as visible text outside the live region: seen, not announced every minute. */
function showUpdatedAt(time) {
  state.announce.shownAt = time
  updatedAt.textContent = state.t('updatedAt', { time: state.fmt.time(time) })
}

/** Re-reads the neighbourhood's current values (class and advice come from the API) at most every 10 s. */
function scheduleNowRefresh() {
  const refresh = state.nowRefresh
  if (refresh.timer) return
  const wait = Math.max(1_000, refresh.last + NOW_REFRESH_MS - Date.now())
  refresh.timer = setTimeout(async () => {
    refresh.timer = null
    refresh.last = Date.now()
    const token = state.loadToken
    try {
      const now = await fetchNow(state.neighbourhood.id)
      if (token !== state.loadToken) return
      state.now = now
      state.nowError = false
      if (state.current.cards?.isConnected) announceChanges(renderCards(state.current.cards))
      showUpdatedAt(Date.now()) // never before the last minute the cards now say they cover
    } catch {
      // keep the values shown; the next reading tries again
    }
  }, wait)
}

/**
 * Real changes of the neighbourhood values ("Temperatuur 8,4 °C") in the polite live region, gathered and said at
 * most once a minute; nothing is said when nothing changed.
 */
function announceChanges(changes) {
  const announce = state.announce
  for (const { quantity, text } of changes) announce.pending.set(quantity, text)
  if (announce.pending.size === 0) return
  const say = () => {
    announce.timer = null
    announce.last = Date.now()
    liveStatus.textContent = state.t('changeAnnounced', { changes: [...announce.pending.values()].join(', ') })
    announce.pending.clear()
  }
  if (announce.timer) return
  const wait = announce.last + ANNOUNCE_EVERY_MS - Date.now()
  if (wait <= 0) say()
  else announce.timer = setTimeout(say, wait)
}

let closeLive = null
let liveFor = null
let offlineTimer = null
function startLive() {
  closeLive?.()
  const offline = document.getElementById('live-offline')
  liveFor = state.neighbourhood?.id
  closeLive = api.live(liveFor, onReading, (kind) => {
    if (kind === 'open') {
      clearTimeout(offlineTimer)
      offlineTimer = null
      if (offline) offline.hidden = true
    } else if (!offlineTimer) {
      offlineTimer = setTimeout(() => {
        if (offline) {
          offline.textContent = state.t('liveOffline')
          offline.hidden = false
        }
      }, 10_000)
    }
  })
}

// ------------------------------------------------------------------------------------------ start

async function start() {
  try {
    showLoading()
    const listing = await api.neighbourhoods()
    state.neighbourhoods = listing.neighbourhoods
    state.hostInvite = listing.hostInvite
    // only when there is one: a 404 would be a console error in every browser
    state.basemap = listing.basemap ? await api.basemap().catch(() => null) : null
    await selectNeighbourhood(neighbourhoodFromLocation())
    state.route = routeFromLocation()
    state.lastHref = location.href
    renderRoute({ moveFocus: false })
    showUpdatedAt(Date.now())
    if (!closeLive || liveFor !== state.neighbourhood.id) startLive()
  } catch (error) {
    showError(error)
  }
}

document.querySelector('.skip-link').addEventListener('click', (event) => {
  // Focus the main content without touching the hash (the hash holds the route).
  event.preventDefault()
  main.focus()
  main.scrollIntoView()
})

langSwitch.addEventListener('click', (event) => {
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return
  event.preventDefault()
  updateLangSwitch()
  history.pushState(null, '', langSwitch.getAttribute('href'))
  state.lastHref = location.href
  setLanguage(languageFrom(location.search))
  renderRoute({ moveFocus: false })
  if (state.announce.shownAt) showUpdatedAt(state.announce.shownAt)
})

window.addEventListener('popstate', () => onLocationChange().catch(showError))
window.addEventListener('hashchange', () => onLocationChange().catch(showError))

setLanguage(languageFrom(location.search))
start()
