import { z } from 'zod'
import { validateNewDevice } from './device-rules.ts'
import { DeviceEntrySchema, RegistryFileSchema, formatPath } from './registry.ts'
import { DEVICE_FORMATS, RegistryError, type DeviceFormat, type IssuedCredentials, type NeighbourhoodEntry, type NewDevice, type RegistryStore } from './store.ts'

/**
 * Registering many devices at once (`senshagen devices import <file>`), from one of two layouts:
 *
 * - **JSON**: the old registry file (`config/devices.json`, RegistryFileSchema in core/registry/registry.ts):
 *   `{neighbourhoods: [...], devices: [{id, neighbourhood, consent, location, coarsen?, note?}]}`. Its
 *   neighbourhoods are added to the registry (or updated, by id).
 * - **CSV** (RFC 4180: comma-separated, `"` quotes cells holding commas, quotes or line breaks, `""` is a quote),
 *   first line the header `id,neighbourhood,consent,lat,lon,format,native_id,coarsen,sensor_models,note` (any
 *   order; `id`, `neighbourhood` and `consent` required, the others may be left out as columns or as cells).
 *   `consent` is `yes`, `no`, `true` or `false`; `lat`/`lon` decimal degrees, both or neither; `sensor_models`
 *   separated by `;` (`SDS011;BME280`). The neighbourhoods must already be in the registry.
 *
 * Parsing checks every cell and reports all problems at once, each with its place (`line 4, column 3
 * (consent): …`, or `devices[3].consent: …` for JSON); `importDevices` then checks every new device against the
 * registry's rules before it registers the first one, so a bad file registers nothing.
 */

/** One device of an import file and where it stands in the file (`line 4`, `devices[3]`), for messages. */
export interface ImportEntry {
  device: NewDevice
  where: string
}

export interface ImportPlan {
  /** The file as named on the command line. */
  source: string
  layout: 'json' | 'csv'
  /** Neighbourhoods to add or update first (JSON layout only). */
  neighbourhoods: NeighbourhoodEntry[]
  devices: ImportEntry[]
}

/** CSV columns in their documented order. */
export const CSV_COLUMNS = ['id', 'neighbourhood', 'consent', 'lat', 'lon', 'format', 'native_id', 'coarsen', 'sensor_models', 'note'] as const
type CsvColumn = (typeof CSV_COLUMNS)[number]
const REQUIRED_COLUMNS: readonly CsvColumn[] = ['id', 'neighbourhood', 'consent']

/** At most this many problems are listed (a wrong file can have thousands); the rest are counted. */
const MAX_LISTED_PROBLEMS = 50

/**
 * Parses an import file: JSON when `source` ends in `.json` or the text starts with `{`, otherwise CSV.
 * Errors: RegistryError listing every problem (`cannot import x.csv (2 problems; nothing registered):\n  line 3, …`).
 */
export function parseDeviceImport(text: string, source: string): ImportPlan {
  const body = text.replace(/^\uFEFF/, '')
  const json = /\.json$/i.test(source) || (!/\.csv$/i.test(source) && body.trimStart().startsWith('{'))
  return json ? parseRegistryJson(body, source) : parseDevicesCsv(body, source)
}

/** The JSON layout (RegistryFileSchema). Errors: RegistryError naming each bad field (`devices[3].consent: …`). */
export function parseRegistryJson(text: string, source: string): ImportPlan {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new RegistryError(`cannot import ${source}: not JSON: ${(cause as Error).message}`, { cause })
  }
  const parsed = RegistryFileSchema.safeParse(json)
  if (!parsed.success) throw importError(source, parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`))
  return {
    source,
    layout: 'json',
    neighbourhoods: parsed.data.neighbourhoods,
    devices: parsed.data.devices.map((d, i) => {
      const device: NewDevice = { id: d.id, neighbourhood: d.neighbourhood, consent: d.consent, location: d.location, coarsen: d.coarsen }
      if (d.note !== undefined) device.note = d.note
      return { device, where: `devices[${i}]` }
    }),
  }
}

/** The CSV layout. Errors: RegistryError naming line, column and rule of every bad cell. */
export function parseDevicesCsv(text: string, source: string): ImportPlan {
  const problems: string[] = []
  const records = csvRecords(text, problems)
  const header = records.shift()
  if (header === undefined) throw importError(source, [`line 1: no header (expected ${CSV_COLUMNS.join(',')})`])
  const columns = new Map<CsvColumn, number>()
  header.cells.forEach((name, i) => {
    const column = name.trim().toLowerCase()
    const at = `line ${header.line}, column ${i + 1}`
    if (!(CSV_COLUMNS as readonly string[]).includes(column)) problems.push(`${at}: unknown column '${name}' (columns: ${CSV_COLUMNS.join(', ')})`)
    else if (columns.has(column as CsvColumn)) problems.push(`${at}: column '${column}' appears twice`)
    else columns.set(column as CsvColumn, i)
  })
  for (const column of REQUIRED_COLUMNS) if (!columns.has(column)) problems.push(`line ${header.line}: missing column '${column}' (required: ${REQUIRED_COLUMNS.join(', ')})`)
  if (problems.length > 0) throw importError(source, problems)

  const devices: ImportEntry[] = []
  const firstLine = new Map<string, number>()
  for (const record of records) {
    if (record.cells.length !== header.cells.length) {
      problems.push(`line ${record.line}: ${record.cells.length} cell(s), the header has ${header.cells.length}`)
      continue
    }
    const before = problems.length
    const cell = (column: CsvColumn): CsvCell | undefined => {
      const index = columns.get(column)
      if (index === undefined) return undefined
      const value = record.cells[index]!.trim()
      return value === '' ? undefined : { value, at: `line ${record.line}, column ${index + 1} (${column})` }
    }
    const required = (column: CsvColumn, rule: string): CsvCell | undefined => {
      const c = cell(column)
      if (c === undefined) problems.push(`line ${record.line}, column ${columns.get(column)! + 1} (${column}): required: ${rule}`)
      return c
    }
    const id = checked(required('id', 'the device id'), DeviceEntrySchema.shape.id, problems)
    const neighbourhood = checked(required('neighbourhood', 'a neighbourhood id'), DeviceEntrySchema.shape.neighbourhood, problems)
    const consent = parseConsent(required('consent', 'yes, no, true or false'), problems)
    const location = parseLocation(cell('lat'), cell('lon'), record.line, columns, problems)
    const format = oneOf(cell('format'), DEVICE_FORMATS, problems)
    const coarsen = oneOf(cell('coarsen'), ['grid', 'neighbourhood'] as const, problems)
    const nativeId = cell('native_id')?.value
    const sensorModels = parseSensorModels(cell('sensor_models'), problems)
    const note = cell('note')?.value
    if (id !== undefined) {
      const seen = firstLine.get(id)
      if (seen !== undefined) problems.push(`line ${record.line}, column ${columns.get('id')! + 1} (id): duplicate device id '${id}' (also on line ${seen})`)
      else firstLine.set(id, record.line)
    }
    if (problems.length > before) continue
    const device: NewDevice = { id: id!, neighbourhood: neighbourhood!, consent: consent! }
    if (location !== undefined) device.location = location
    if (format !== undefined) device.format = format
    if (nativeId !== undefined) device.nativeId = nativeId
    if (coarsen !== undefined) device.coarsen = coarsen
    if (sensorModels !== undefined) device.sensorModels = sensorModels
    if (note !== undefined) device.note = note
    devices.push({ device, where: `line ${record.line}` })
  }
  if (problems.length > 0) throw importError(source, problems)
  return { source, layout: 'csv', neighbourhoods: [], devices }
}

export interface ImportResult {
  /** The new devices' credentials, in file order (each also handed to `onRegistered` as it was made). */
  registered: IssuedCredentials[]
  /** Ids that were already registered (revoked ones too): left as they are, secrets unchanged. */
  skipped: string[]
  /** Ids of the neighbourhoods added or updated. */
  neighbourhoods: string[]
}

/**
 * Registers the plan's devices that are not registered yet; devices already registered (also revoked ones:
 * ids are never reused) are skipped and their entries ignored, so running the same import again changes nothing.
 * Before anything is written, every new device is checked against the registry's rules (neighbourhood known,
 * location within its radius for `coarsen: neighbourhood`, native id, …). `onRegistered` is awaited after each
 * device, before the next is registered, so a caller that cannot deliver a secret can stop the import there.
 * Errors: RegistryError listing every invalid device with its place (`line 4: invalid device 'x': …`), nothing
 * registered; or, when the store refuses a device midway (e.g. a native id taken meanwhile), its place and how
 * many were registered before it.
 */
export async function importDevices(store: RegistryStore, plan: ImportPlan, onRegistered: (issued: IssuedCredentials) => void | Promise<void> = () => {}): Promise<ImportResult> {
  const hoods = new Map((await store.neighbourhoods()).map((n) => [n.id, n]))
  for (const n of plan.neighbourhoods) hoods.set(n.id, n)
  const stored = await store.devices()
  const existing = new Set(stored.map((d) => d.id))
  // a native identity belongs to one active device of a format (they would share its topics)
  const identities = new Map(stored.filter((d) => d.revokedAt === undefined).map((d) => [`${d.format} ${d.nativeId}`, `active ${d.format} device '${d.id}'`]))
  const fresh = plan.devices.filter((entry) => !existing.has(entry.device.id))
  const problems: string[] = []
  const now = Date.now()
  for (const { device, where } of fresh) {
    const hood = hoods.get(device.neighbourhood)
    if (hood === undefined) {
      problems.push(`${where}: invalid device '${device.id}': neighbourhood: no neighbourhood '${device.neighbourhood}' in the registry (known: ${[...hoods.keys()].sort().join(', ') || 'none'})`)
      continue
    }
    try {
      const valid = validateNewDevice(device, hood, now)
      const identity = `${valid.format} ${valid.nativeId}`
      const owner = identities.get(identity)
      if (owner !== undefined) problems.push(`${where}: invalid device '${device.id}': nativeId: '${valid.nativeId}' is already the identity of ${owner} (two devices would share its topics)`)
      else identities.set(identity, `${valid.format} device '${device.id}' (${where})`)
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error
      problems.push(`${where}: ${error.message}`)
    }
  }
  if (problems.length > 0) throw importError(plan.source, problems)

  for (const n of plan.neighbourhoods) await store.upsertNeighbourhood(n)
  const registered: IssuedCredentials[] = []
  for (const { device, where } of fresh) {
    let issued: IssuedCredentials
    try {
      issued = await store.addDevice(device)
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error
      throw new RegistryError(`cannot import ${plan.source}: ${where}: ${error.message} (${registered.length} device(s) registered before it)`, { cause: error })
    }
    registered.push(issued)
    await onRegistered(issued)
  }
  return { registered, skipped: plan.devices.filter((entry) => existing.has(entry.device.id)).map((entry) => entry.device.id), neighbourhoods: plan.neighbourhoods.map((n) => n.id) }
}

function importError(source: string, problems: string[]): RegistryError {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS)
  if (problems.length > listed.length) listed.push(`… and ${problems.length - listed.length} more`)
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  return new RegistryError(`cannot import ${source} (${count}; nothing registered):\n  ${listed.join('\n  ')}`)
}

interface CsvCell {
  value: string
  /** `line 4, column 3 (consent)` */
  at: string
}

function checked(cell: CsvCell | undefined, schema: z.ZodType<string>, problems: string[]): string | undefined {
  if (cell === undefined) return undefined
  const parsed = schema.safeParse(cell.value)
  if (parsed.success) return parsed.data
  problems.push(`${cell.at}: '${cell.value}' ${parsed.error.issues.map((issue) => issue.message).join('; ')}`)
  return undefined
}

const CONSENT: Record<string, boolean> = { yes: true, true: true, no: false, false: false }

function parseConsent(cell: CsvCell | undefined, problems: string[]): boolean | undefined {
  if (cell === undefined) return undefined
  const consent = CONSENT[cell.value.toLowerCase()]
  if (consent === undefined) problems.push(`${cell.at}: must be yes, no, true or false, got '${cell.value}'`)
  return consent
}

function parseLocation(lat: CsvCell | undefined, lon: CsvCell | undefined, line: number, columns: Map<CsvColumn, number>, problems: string[]): { lat: number; lon: number } | undefined {
  if (lat === undefined && lon === undefined) return undefined
  if (lat === undefined || lon === undefined) {
    const missing = lat === undefined ? 'lat' : 'lon'
    const index = columns.get(missing)
    problems.push(`line ${line}${index === undefined ? '' : `, column ${index + 1}`} (${missing}): needed with ${missing === 'lat' ? 'lon' : 'lat'} (give both or neither)`)
    return undefined
  }
  const a = degrees(lat, 90, problems)
  const b = degrees(lon, 180, problems)
  return a === undefined || b === undefined ? undefined : { lat: a, lon: b }
}

function degrees(cell: CsvCell, limit: number, problems: string[]): number | undefined {
  const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(cell.value) ? Number(cell.value) : NaN
  if (Number.isFinite(value) && Math.abs(value) <= limit) return value
  problems.push(`${cell.at}: must be decimal degrees from -${limit} to ${limit} (e.g. ${limit === 90 ? '52.5312' : '6.0571'}), got '${cell.value}'`)
  return undefined
}

function oneOf<T extends string>(cell: CsvCell | undefined, allowed: readonly T[], problems: string[]): T | undefined {
  if (cell === undefined) return undefined
  if ((allowed as readonly string[]).includes(cell.value)) return cell.value as T
  problems.push(`${cell.at}: must be one of ${allowed.join(', ')}, got '${cell.value}'`)
  return undefined
}

function parseSensorModels(cell: CsvCell | undefined, problems: string[]): string[] | undefined {
  if (cell === undefined) return undefined
  const models = cell.value.split(';').map((model) => model.trim()).filter((model) => model !== '')
  const long = models.find((model) => model.length > 100)
  if (long !== undefined) problems.push(`${cell.at}: each sensor model must be at most 100 characters, got '${long.slice(0, 20)}…'`)
  else if (models.length > 32) problems.push(`${cell.at}: at most 32 sensor models (separated by ;), got ${models.length}`)
  return models
}

/**
 * RFC 4180 records with the line each starts on (1-based). Blank lines are skipped; a quote inside an unquoted
 * cell, text after a closing quote and an unterminated quote are problems (pushed to `problems`).
 */
function csvRecords(text: string, problems: string[]): Array<{ line: number; cells: string[] }> {
  const records: Array<{ line: number; cells: string[] }> = []
  let line = 1
  let i = 0
  while (i < text.length) {
    const start = line
    const cells: string[] = []
    let cell = ''
    let quoted = false
    let endOfRecord = false
    while (i < text.length && !endOfRecord) {
      const c = text[i]!
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          cell += '"'
          i += 2
          continue
        }
        if (c === '"') {
          quoted = false
          i++
          const next = text[i]
          if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
            problems.push(`line ${line}, column ${cells.length + 1}: text after the closing quote`)
            while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') i++
          }
          continue
        }
        if (c === '\n') line++
        cell += c
        i++
      } else if (c === ',') {
        cells.push(cell)
        cell = ''
        i++
      } else if (c === '\n' || c === '\r') {
        i += c === '\r' && text[i + 1] === '\n' ? 2 : 1
        line++
        endOfRecord = true
      } else if (c === '"') {
        if (cell.trim() === '') {
          quoted = true
          cell = ''
        } else {
          // once per cell
          if (!cell.includes('"')) problems.push(`line ${line}, column ${cells.length + 1}: a quote inside an unquoted cell (quote the whole cell and double the quote: "a ""b""")`)
          cell += c
        }
        i++
      } else {
        cell += c
        i++
      }
    }
    if (quoted) problems.push(`line ${start}, column ${cells.length + 1}: quote not closed before the end of the file`)
    cells.push(cell)
    if (cells.length > 1 || cells[0]!.trim() !== '') records.push({ line: start, cells })
  }
  return records
}
