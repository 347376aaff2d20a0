import type { z } from 'zod'
import type { Quantity } from '../../../core/quantities.ts'
import { openRegistryStore } from '../../../core/registry/open.ts'
import { publicRegistry } from '../../../core/registry/registry.ts'
import { openInfluxStore } from '../../../core/store/influx.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import { formatIsoMs, isValidTimeZone } from '../../../core/time.ts'
import { csvStream } from '../../../services/api/csv.ts'
import { licencesOf } from '../../../services/api/licence.ts'
import { readingsDocument } from '../../../services/api/readings-document.ts'
import { type Cursor, type Row, type Series, compareIds, keyColumns, queryReadingsPage, queryWindowPage } from '../../../services/api/readings-query.ts'
import { NOT_PUBLIC_DEVICE } from '../../../services/api/routes/devices.ts'
import { DevicesParam, MAX_LIMIT, QuantitiesParam, tooManySeries } from '../../../services/api/routes/readings.ts'
import { parseIncludeFlags, type Window } from '../../../services/api/window-quality.ts'
import { cliContext, fail, timeRange } from '../../context.ts'

export interface QueryOptions {
  device: string
  quantity: string
  from: string
  to: string
  format: string
  series: string
  window?: string
  tz?: string
  includeFlags?: string
}

/** `senshagen query` (cli/commands/query.ts): checks the options, then prints every row of every page. */
export async function runQuery(options: QueryOptions): Promise<void> {
  const { config, logger } = cliContext()
  const asked = listOption('--device', DevicesParam, options.device)
  const quantities = listOption('--quantity', QuantitiesParam, options.quantity)
  const tooMany = tooManySeries(asked.length, quantities.length)
  if (tooMany !== undefined) fail(`--device: ${tooMany}`, 2)
  if (options.format !== 'csv' && options.format !== 'json') fail(`--format: must be csv or json, got '${options.format}'`, 2)
  if (!['raw', 'calibrated', 'both'].includes(options.series)) fail(`--series: must be raw, calibrated or both, got '${options.series}'`, 2)
  if (options.window !== undefined && !['10m', '1h', '1d'].includes(options.window)) fail(`--window: must be 10m, 1h or 1d, got '${options.window}'`, 2)
  if (options.tz !== undefined && !isValidTimeZone(options.tz)) fail(`--tz: '${options.tz}' is not an IANA time zone such as Europe/Amsterdam`, 2)
  let includeFlags: readonly string[] | undefined
  try {
    // as the API: raw rows are all listed unless flags are named, aggregates take unflagged readings by default
    includeFlags = options.window === undefined && options.includeFlags === undefined ? undefined : parseIncludeFlags(options.includeFlags)
  } catch (error) {
    fail(`--include-flags: ${(error as Error).message}`, 2)
  }
  const { from, to } = timeRange(options.from, options.to)
  try {
    const registryStore = await openRegistryStore(config.registry)
    const registry = await publicRegistry(registryStore).finally(() => registryStore.close())
    const hidden = asked.find((id) => registry.publicDevice(id) === undefined)
    if (hidden !== undefined) fail(`--device: ${NOT_PUBLIC_DEVICE}: '${hidden}' (registered, active and consented devices only)`)
    const devices = [...asked].sort(compareIds) // the API's order
    const store = await openInfluxStore(config.influx, logger)
    const window = options.window as Window | undefined
    const q = { devices, quantities, from, to, series: options.series as Series, window, tz: options.tz, includeFlags }
    const { header, rows } = await queryRows(store, q)
    if (options.format === 'json') {
      const document = readingsDocument({ ...q, asked, licence: licencesOf(devices), neighbourhood: undefined, columns: header, rows, aggregate: undefined, next: null })
      process.stdout.write(`${JSON.stringify(document)}\n`)
    } else for await (const chunk of csvStream(header, rows, (r) => header.map((c) => (c === 'time' ? formatIsoMs(r.time as number) : r[c])))) process.stdout.write(chunk)
    process.stderr.write(`${rows.length} ${window === undefined ? 'reading' : 'window'}(s) of ${devices.join(',')} ${quantities.join(',')}\n`)
  } catch (error) {
    fail((error as Error).message)
  }
}

/** A list option parsed by the API's list schema; a bad one is a usage error (exit 2) with the API's reason. */
function listOption<T>(option: string, schema: z.ZodType<T[], string>, text: string): T[] {
  const parsed = schema.safeParse(text)
  if (!parsed.success) fail(`${option}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`, 2)
  return parsed.data
}

/**
 * Every reading (or window, with `window`) of the devices and quantities, page by page as the API pages them,
 * in the API's (time, quantity, device) order; header as the API's CSV.
 */
export async function queryRows(
  store: Pick<ReadingStore, 'readingRows' | 'aggregateReadings' | 'recentTimes'>,
  q: { devices: readonly string[]; quantities: readonly Quantity[]; from: number; to: number; series: Series; window: Window | undefined; tz: string | undefined; includeFlags: readonly string[] | undefined },
): Promise<{ header: string[]; rows: Row[] }> {
  const rows: Row[] = []
  let cursor: Cursor | undefined
  let columns: string[] = []
  const base = { devices: q.devices, quantity: q.quantities, from: q.from, to: q.to, series: q.series, limit: MAX_LIMIT, includeFlags: q.includeFlags, ...(q.tz === undefined ? {} : { labelZone: q.tz }) }
  do {
    const page = q.window === undefined
      ? await queryReadingsPage(store, { ...base, ...(cursor ? { cursor } : {}) })
      : await queryWindowPage(store, { ...base, window: q.window, tz: q.tz ?? 'UTC', ...(cursor ? { cursor } : {}) })
    rows.push(...page.rows)
    columns = page.columns
    cursor = page.next
  } while (cursor)
  return { header: [...keyColumns(q.tz), ...columns], rows }
}
