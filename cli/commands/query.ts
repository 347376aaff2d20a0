import type { Command } from 'commander'
import { QUANTITY_NAMES, isQuantity, type Quantity } from '../../core/quantities.ts'
import { DeviceIdSchema } from '../../core/reading.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { publicRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { formatIsoMs, isValidTimeZone } from '../../core/time.ts'
import { csvStream } from '../../services/api/csv.ts'
import { licencesOf } from '../../services/api/licence.ts'
import { readingsDocument } from '../../services/api/readings-document.ts'
import { type Cursor, type Row, type Series, keyColumns, queryReadingsPage, queryWindowPage } from '../../services/api/readings-query.ts'
import { NOT_PUBLIC_DEVICE } from '../../services/api/routes/devices.ts'
import { parseIncludeFlags, type Window } from '../../services/api/window-quality.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/**
 * `senshagen query --device D --quantity Q --from T --to T [--series raw|calibrated|both] [--format csv|json]`:
 * stored readings of one device and quantity in [from, to), oldest first, exactly as GET /api/v1/readings gives
 * them, from the same code (services/api/readings-query.ts): CSV columns time,[local_time,]device,quantity,unit,
 * value (or raw,calibrated),uncertainty,label,flags — time as ISO-8601 UTC with milliseconds, values in the
 * quantity's canonical unit, `label` and `uncertainty` (expanded, k = 2) those of the calibrated value
 * (`uncalibrated` and empty for raw values), `flags` `;`-separated. JSON: the document GET /api/v1/readings
 * gives for the same parameters (services/api/readings-document.ts: device, quantity, unit, series, window, tz,
 * include_flags, licence, from, to, columns, rows), every page at once, so `next` is null.
 *
 * With `--window 10m|1h|1d` it prints window aggregates exactly as GET /api/v1/readings?window= does:
 * mean,min,max,count (or raw_…,calibrated_…),uncertainty,label,expected,completeness,partial; flagged readings
 * left out unless `--include-flags` names them (or `all`); windows follow `--tz` (default UTC; local_time only
 * when given).
 *
 * Only public devices (registered in SENSHAGEN_DEVICE_REGISTRY, active and consented), as the API: any other id
 * ends with exit 1 and `--device: no public device with this id: '<id>'` (the API's 404 wording,
 * services/api/routes/devices.ts NOT_PUBLIC_DEVICE), not an empty answer; a public device without readings in
 * the range prints none and exits 0.
 */
export function registerQueryCommand(program: Command): void {
  program
    .command('query')
    .description('print stored readings of one device and quantity')
    .requiredOption('--device <id>', 'device id, e.g. sc-5331 (required)')
    .requiredOption('--quantity <name>', `one of ${QUANTITY_NAMES.join(', ')} (required)`)
    .requiredOption('--from <time>', 'start, inclusive: ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -6h (required)')
    .requiredOption('--to <time>', 'end, exclusive (same forms) (required)')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--flags', 'no effect: the flags column is always printed (kept for older scripts)')
    .option('--series <series>', 'raw, calibrated (only readings that have one) or both (as the API\'s series=)', 'raw')
    .option('--window <window>', 'aggregate per window: 10m, 1h or 1d (as the API\'s window=)')
    .option('--tz <zone>', 'IANA zone the windows follow, e.g. Europe/Amsterdam (adds local_time)')
    .option('--include-flags <flags>', 'flags whose readings count in aggregates: comma-separated, or all (default: none); without --window, only readings with these flags or none')
    .action(async (options: { device: string; quantity: string; from: string; to: string; format: string; series: string; window?: string; tz?: string; includeFlags?: string }) => {
      const { config, logger } = cliContext()
      if (!DeviceIdSchema.safeParse(options.device).success) fail(`--device: '${options.device}' is not a valid device id`, 2)
      if (!isQuantity(options.quantity)) fail(`--quantity: '${options.quantity}' is not one of ${QUANTITY_NAMES.join(', ')}`, 2)
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
        if (registry.publicDevice(options.device) === undefined) fail(`--device: ${NOT_PUBLIC_DEVICE}: '${options.device}' (registered, active and consented devices only)`)
        const store = await openInfluxStore(config.influx, logger)
        const window = options.window as Window | undefined
        const q = { device: options.device, quantity: options.quantity, from, to, series: options.series as Series, window, tz: options.tz, includeFlags }
        const { header, rows } = await queryRows(store, q)
        if (options.format === 'json') {
          const document = readingsDocument({ ...q, asked: [q.device], devices: [q.device], licence: licencesOf([q.device]), neighbourhood: undefined, quantities: [q.quantity], columns: header, rows, aggregate: undefined, next: null })
          process.stdout.write(`${JSON.stringify(document)}\n`)
        } else for await (const chunk of csvStream(header, rows, (r) => header.map((c) => (c === 'time' ? formatIsoMs(r.time as number) : r[c])))) process.stdout.write(chunk)
        process.stderr.write(`${rows.length} ${window === undefined ? 'reading' : 'window'}(s) of ${options.device} ${options.quantity}\n`)
      } catch (error) {
        fail((error as Error).message)
      }
    })
}

/** Every reading (or window, with `window`) of one device, page by page as the API pages them; header as the API's CSV. */
export async function queryRows(
  store: Pick<ReadingStore, 'readingRows' | 'aggregateReadings' | 'recentTimes'>,
  q: { device: string; quantity: Quantity; from: number; to: number; series: Series; window: Window | undefined; tz: string | undefined; includeFlags: readonly string[] | undefined },
): Promise<{ header: string[]; rows: Row[] }> {
  const rows: Row[] = []
  let cursor: Cursor | undefined
  let columns: string[] = []
  const base = { devices: [q.device], quantity: q.quantity, from: q.from, to: q.to, series: q.series, limit: 100_000, includeFlags: q.includeFlags, ...(q.tz === undefined ? {} : { labelZone: q.tz }) }
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
