// The page's view of the SensHagen HTTP API (services/api). Each function returns plain data in the shapes the
// page draws; the parsing is tolerant of optional fields so that a missing quantity or an extra field never
// breaks the page. Times become epoch milliseconds.

export const TZ = 'Europe/Amsterdam'
const MAX_PAGES = 20

export class ApiError extends Error {
  constructor(message, status) {
    super(message)
    this.status = status
  }
}

async function getJson(url, signal) {
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal })
  if (!response.ok) throw new ApiError(`${url}: HTTP ${response.status}`, response.status)
  return response.json()
}

function query(path, params) {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) search.set(key, String(value))
  return `${path}?${search}`
}

const toMs = (time) => (typeof time === 'number' ? time : Date.parse(time))
const num = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : null)

/**
 * `{neighbourhoods: [{id, name, municipality, center:{lat,lon}, devices}], hostInvite: URL | null, basemap: boolean}`;
 * `basemap` says whether GET /api/v1/basemap has a street map (without one the page does not ask: no 404).
 */
export async function neighbourhoods(signal) {
  const body = await getJson('/api/v1/neighbourhoods', signal)
  return {
    neighbourhoods: Array.isArray(body?.neighbourhoods) ? body.neighbourhoods : [],
    hostInvite: typeof body?.hostInvite === 'string' ? body.hostInvite : null,
    basemap: body?.basemap === true,
  }
}

/** Devices of a neighbourhood, with `lastSeen` as epoch ms (or null). */
export async function devices(neighbourhood, signal) {
  const body = await getJson(query('/api/v1/devices', { neighbourhood }), signal)
  return (Array.isArray(body?.devices) ? body.devices : []).map((device) => ({
    ...device,
    sensorModels: device.sensorModels ?? [],
    quantities: device.quantities ?? [],
    lastSeen: device.lastSeen ? toMs(device.lastSeen) : null,
    calibration: { status: device.calibration?.status ?? 'uncalibrated', methods: device.calibration?.methods ?? {} },
  }))
}

/**
 * `{time, season, stook, values: {<quantity>: {value, unit, class, advice, series, index, reference, label,
 * uncertainty}}, references: {<quantity>: reference}, flagged: {<quantity>: number}}`; time in ms or null;
 * `flagged`: sensors left out of the quantity's value because all their readings were flagged (also where no
 * value is left). Accepts the values under `values` or `quantities`, the time as `time` or
 * `to` (end of the hour); a null value is left out. `at` (epoch ms) asks for the hour before that time.
 */
export async function now(neighbourhood, signal, at = null) {
  const path = `/api/v1/neighbourhoods/${encodeURIComponent(neighbourhood)}/now`
  const body = await getJson(Number.isFinite(at) ? query(path, { at: new Date(at).toISOString() }) : path, signal)
  const values = {}
  /** the nearest official station's value per quantity, also where the sensors have none */
  const references = {}
  const flagged = {}
  for (const [quantity, entry] of Object.entries(body?.values ?? body?.quantities ?? {})) {
    if (!entry) continue
    if (num(entry.flaggedDevices) > 0) flagged[quantity] = entry.flaggedDevices
    if (entry.reference && num(entry.reference.value) !== null) references[quantity] = { ...entry.reference, time: toMs(entry.reference.time) }
    const value = num(typeof entry === 'number' ? entry : entry.value)
    if (value === null) continue
    values[quantity] = {
      value,
      unit: entry.unit,
      class: entry.class ?? null,
      advice: entry.advice ?? null,
      series: entry.series ?? null,
      devices: num(entry.devices),
      index: num(entry.index),
      reference: references[quantity] ?? null,
      label: typeof entry.label === 'string' ? entry.label : null,
      uncertainty: num(entry.uncertainty),
    }
  }
  const time = body?.time ?? body?.to
  return { time: time ? toMs(time) : null, season: body?.season ?? null, stook: body?.stook ?? null, values, references, flagged }
}

/**
 * The newest stored reading per public device and quantity (`GET /api/v1/latest`): Map device → Map quantity →
 * {time (ms), value (raw), flags, label}.
 */
export async function latest(neighbourhood, signal) {
  const body = await getJson(query('/api/v1/latest', { neighbourhood }), signal)
  const byDevice = new Map()
  for (const row of Array.isArray(body?.latest) ? body.latest : []) {
    const value = num(row.value)
    const time = toMs(row.time)
    if (!row.device || !row.quantity || value === null || !Number.isFinite(time)) continue
    if (!byDevice.has(row.device)) byDevice.set(row.device, new Map())
    byDevice.get(row.device).set(row.quantity, { time, value, flags: row.flags ?? [], label: row.label ?? null })
  }
  return byDevice
}

/** The street map (`GET /api/v1/basemap`): `{tiles, minZoom, maxZoom, bounds, attribution, search}`, or null without one (ask only when neighbourhoods() says `basemap`). */
export async function basemap(signal) {
  try {
    return await getJson('/api/v1/basemap', signal)
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null
    throw error
  }
}

/** Streets and postcodes starting with `q`: `[{name, kind, lat, lon}]`. */
export async function searchPlaces(q, signal) {
  const body = await getJson(query('/api/v1/basemap/search', { q }), signal)
  return Array.isArray(body?.results) ? body.results : []
}

/**
 * All rows of a readings query, following `next` for at most MAX_PAGES pages: `next` is either a URL/path or an
 * opaque cursor (sent back as `cursor=`). Rows are under `rows` (or `data`); the neighbourhood aggregate under
 * `aggregate`. Returns `{rows, aggregate}`.
 */
async function readingRows(params, signal) {
  const first = { ...params, tz: TZ, format: 'json' }
  let url = query('/api/v1/readings', first)
  const rows = []
  const aggregate = []
  for (let page = 0; page < MAX_PAGES && url; page++) {
    const body = await getJson(url, signal)
    const data = Array.isArray(body?.rows) ? body.rows : Array.isArray(body?.data) ? body.data : []
    rows.push(...data)
    if (Array.isArray(body?.aggregate)) aggregate.push(...body.aggregate)
    const next = body?.next
    if (typeof next !== 'string' || next === '') url = null
    else if (next.startsWith('/') || next.startsWith('http')) url = next
    else url = query('/api/v1/readings', { ...first, cursor: next })
  }
  return { rows, aggregate }
}

const PERIODS = { '24h': { from: '-24h', window: '1h' }, '7d': { from: '-7d', window: '1h' } }
export const PERIOD_MS = { '24h': 24 * 3_600_000, '7d': 7 * 24 * 3_600_000 }

/** The query of a period: ending now, or (`end` in epoch ms, for archive data) ending at `end`. */
function periodParams(period, end) {
  if (!Number.isFinite(end)) return { ...PERIODS[period], to: 'now' }
  return { from: new Date(end - PERIOD_MS[period]).toISOString(), to: new Date(end).toISOString(), window: PERIODS[period].window }
}

/** A neighbourhood-aggregate row: from `aggregate`, or marked by `neighbourhood` / a `neighbourhood:` device. */
const isAggregateRow = (row) => (row.neighbourhood && !row.device) || String(row.device ?? '').startsWith('neighbourhood:')

/**
 * Statistics of a window row, calibrated when the row has calibrated values, else raw (the rule of /now: README
 * "Reading the data"), with the label and uncertainty (k = 2) of that mean: the row's for calibrated values,
 * `uncalibrated` and null for raw ones.
 */
function windowStats(row) {
  const calibrated = num(row.calibrated_mean) ?? num(row.calibrated?.mean)
  if (calibrated !== null) {
    return {
      mean: calibrated, min: num(row.calibrated_min) ?? num(row.calibrated?.min), max: num(row.calibrated_max) ?? num(row.calibrated?.max),
      count: num(row.calibrated_count) ?? num(row.calibrated?.count), series: 'calibrated', label: typeof row.label === 'string' ? row.label : null, uncertainty: num(row.uncertainty),
    }
  }
  return {
    label: 'uncalibrated',
    uncertainty: null,
    mean: rawMean(row),
    min: num(row.min) ?? num(row.raw_min) ?? num(row.raw?.min),
    max: num(row.max) ?? num(row.raw_max) ?? num(row.raw?.max),
    count: num(row.count) ?? num(row.raw_count) ?? num(row.raw?.count),
    series: 'raw',
  }
}

/** A row's raw mean: `mean`, `raw_mean`, `raw.mean`, a plain `raw` number or `value`. */
function rawMean(row) {
  return num(row.mean) ?? num(row.raw_mean) ?? num(row.raw?.mean) ?? num(typeof row.raw === 'number' ? row.raw : null) ?? num(row.value)
}

/** A row's calibrated mean: `calibrated_mean`, `calibrated.mean` or a plain `calibrated` number. */
function calibratedMean(row) {
  return num(row.calibrated_mean) ?? num(row.calibrated?.mean) ?? num(typeof row.calibrated === 'number' ? row.calibrated : null)
}

/**
 * The neighbourhood aggregate of one quantity over a period, `[{time, mean, min, max, count}]` hourly: calibrated
 * values where the hour has them, as the "now" values. When the API sends no aggregate rows, the aggregate is
 * computed here from the device rows.
 */
export async function neighbourhoodReadings(neighbourhood, quantity, period, signal, end = null) {
  const { rows, aggregate } = await readingRows({ neighbourhood, quantity, ...periodParams(period, end), series: 'both' }, signal)
  const aggregateRows = [...aggregate, ...rows.filter(isAggregateRow)]
  const deviceRows = rows.filter((row) => row.device && !isAggregateRow(row))
  let series
  if (aggregateRows.length > 0) {
    series = aggregateRows.map((row) => ({ time: toMs(row.time), ...windowStats(row) }))
  } else {
    const byTime = new Map()
    for (const row of deviceRows) {
      const time = toMs(row.time)
      const stats = windowStats(row)
      if (stats.mean === null) continue
      const slot = byTime.get(time) ?? { time, sum: 0, n: 0, min: Infinity, max: -Infinity, count: 0 }
      slot.sum += stats.mean
      slot.n += 1
      slot.min = Math.min(slot.min, stats.min ?? stats.mean)
      slot.max = Math.max(slot.max, stats.max ?? stats.mean)
      slot.count += stats.count ?? 1
      byTime.set(time, slot)
    }
    series = [...byTime.values()].map((slot) => ({ time: slot.time, mean: slot.sum / slot.n, min: slot.min, max: slot.max, count: slot.count }))
  }
  return series.filter((row) => Number.isFinite(row.time) && row.mean !== null).sort((a, b) => a.time - b.time)
}

/** One device, one quantity: hourly raw and calibrated means, `[{time, raw, calibrated, label, uncertainty}]` (label and uncertainty of the calibrated mean) sorted by time. */
export async function sensorReadings(device, quantity, period, signal, end = null) {
  const { rows } = await readingRows({ device, quantity, ...periodParams(period, end), series: 'both' }, signal)
  return rows
    .filter((row) => !row.device || row.device === device)
    .map((row) => ({ time: toMs(row.time), raw: rawMean(row), calibrated: calibratedMean(row), label: typeof row.label === 'string' ? row.label : null, uncertainty: num(row.uncertainty) }))
    .filter((row) => Number.isFinite(row.time))
    .sort((a, b) => a.time - b.time)
}

/** URL of a calibration report plot (an SVG the API renders). */
export function scatterUrl(device, quantity) {
  return `/api/v1/calibration/${encodeURIComponent(device)}/${encodeURIComponent(quantity)}/scatter.svg`
}

/**
 * Live readings over SSE (`GET /api/v1/live?neighbourhood=N`, event `reading` with `{time, device, quantity,
 * value}`, raw values). `onReading({time (ms), device, quantity, value})`, `onState('open'|'error')`.
 * Returns a close function. EventSource reconnects by itself after an error.
 */
export function live(neighbourhood, onReading, onState) {
  if (typeof EventSource === 'undefined') return () => {}
  const source = new EventSource(query('/api/v1/live', { neighbourhood }))
  source.addEventListener('reading', (event) => {
    let data
    try {
      data = JSON.parse(event.data)
    } catch {
      return
    }
    const value = num(data?.value)
    const time = toMs(data?.time)
    if (!data?.device || !data.quantity || value === null || !Number.isFinite(time)) return
    onReading({ time, device: String(data.device), quantity: String(data.quantity), value })
  })
  source.addEventListener('open', () => onState('open'))
  source.addEventListener('error', () => onState('error'))
  return () => source.close()
}
