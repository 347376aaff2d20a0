import type { Command } from 'commander'
import { QUANTITY_NAMES, isQuantity, type Quantity } from '../../core/quantities.ts'
import { DeviceIdSchema } from '../../core/reading.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { ReadingStore, StoredReading } from '../../core/store/store.ts'
import { formatIsoMs, isValidTimeZone } from '../../core/time.ts'
import { csvStream } from '../../services/api/csv.ts'
import { type Cursor, type Row, keyColumns, queryWindowPage } from '../../services/api/readings-query.ts'
import { parseIncludeFlags, type Window } from '../../services/api/window-quality.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/**
 * `senshagen query --device D --quantity Q --from T --to T [--format csv|json]`: stored readings of one
 * device and quantity in [from, to), oldest first. CSV header `time,device,quantity,value`, time as
 * ISO-8601 UTC with milliseconds, value in the quantity's canonical unit.
 *
 * With `--window 10m|1h|1d` it prints window aggregates exactly as GET /api/v1/readings?window= does, from the
 * same code (services/api/readings-query.ts, window-quality.ts): columns time,[local_time,]device,quantity,
 * unit,mean,min,max,count,expected,completeness,partial; flagged readings left out unless `--include-flags`
 * names them (or `all`); windows follow `--tz` (default UTC; local_time only when given).
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
    .option('--flags', 'add the quality flags of each reading (CSV column flags, `;`-separated)')
    .option('--window <window>', 'aggregate per window: 10m, 1h or 1d (as the API\'s window=)')
    .option('--tz <zone>', 'IANA zone the windows follow, e.g. Europe/Amsterdam (adds local_time)')
    .option('--include-flags <flags>', 'flags whose readings count in aggregates: comma-separated, or all (default: none)')
    .action(async (options: { device: string; quantity: string; from: string; to: string; format: string; flags?: boolean; window?: string; tz?: string; includeFlags?: string }) => {
      const { config, logger } = cliContext()
      if (!DeviceIdSchema.safeParse(options.device).success) fail(`--device: '${options.device}' is not a valid device id`, 2)
      if (!isQuantity(options.quantity)) fail(`--quantity: '${options.quantity}' is not one of ${QUANTITY_NAMES.join(', ')}`, 2)
      if (options.format !== 'csv' && options.format !== 'json') fail(`--format: must be csv or json, got '${options.format}'`, 2)
      if (options.window !== undefined && !['10m', '1h', '1d'].includes(options.window)) fail(`--window: must be 10m, 1h or 1d, got '${options.window}'`, 2)
      if (options.tz !== undefined && !isValidTimeZone(options.tz)) fail(`--tz: '${options.tz}' is not an IANA time zone such as Europe/Amsterdam`, 2)
      let includeFlags: readonly string[] | undefined
      try {
        includeFlags = parseIncludeFlags(options.includeFlags)
      } catch (error) {
        fail(`--include-flags: ${(error as Error).message}`, 2)
      }
      const { from, to } = timeRange(options.from, options.to)
      try {
        const store = await openInfluxStore(config.influx, logger)
        if (options.window !== undefined) {
          const q = { device: options.device, quantity: options.quantity, from, to, window: options.window as Window, tz: options.tz, includeFlags }
          const { header, rows } = await windowRows(store, q)
          if (options.format === 'json') process.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r, time: formatIsoMs(r.time as number) })))}\n`)
          else for await (const chunk of csvStream(header, rows, (r) => header.map((c) => (c === 'time' ? formatIsoMs(r.time as number) : r[c])))) process.stdout.write(chunk)
          process.stderr.write(`${rows.length} window(s) of ${options.device} ${options.quantity}\n`)
          return
        }
        const rows = await store.queryReadings({ deviceId: options.device, quantity: options.quantity, from, to })
        process.stdout.write(options.format === 'csv' ? toCsv(rows, options.flags) : toJson(rows, options.flags))
        process.stderr.write(`${rows.length} reading(s) of ${options.device} ${options.quantity}\n`)
      } catch (error) {
        fail((error as Error).message)
      }
    })
}

/** Every window of one device, page by page as the API pages them; header as the API's CSV. */
export async function windowRows(
  store: Pick<ReadingStore, 'aggregateReadings' | 'recentTimes'>,
  q: { device: string; quantity: Quantity; from: number; to: number; window: Window; tz: string | undefined; includeFlags: readonly string[] | undefined },
): Promise<{ header: string[]; rows: Row[] }> {
  const rows: Row[] = []
  let cursor: Cursor | undefined
  let columns: string[] = []
  do {
    const page = await queryWindowPage(store, {
      devices: [q.device], quantity: q.quantity, from: q.from, to: q.to, series: 'raw', limit: 100_000, includeFlags: q.includeFlags,
      window: q.window, tz: q.tz ?? 'UTC', ...(q.tz === undefined ? {} : { labelZone: q.tz }), ...(cursor ? { cursor } : {}),
    })
    rows.push(...page.rows)
    columns = page.columns
    cursor = page.next
  } while (cursor)
  return { header: [...keyColumns(q.tz), ...columns], rows }
}

export function toCsv(rows: StoredReading[], withFlags = false): string {
  const lines = rows.map((r) => `${formatIsoMs(r.time)},${r.deviceId},${r.quantity},${r.value}${withFlags ? `,${r.flags.join(';')}` : ''}`)
  return [`time,device,quantity,value${withFlags ? ',flags' : ''}`, ...lines].join('\n') + '\n'
}

export function toJson(rows: StoredReading[], withFlags = false): string {
  return JSON.stringify(rows.map((r) => ({ time: formatIsoMs(r.time), device: r.deviceId, quantity: r.quantity, value: r.value, ...(withFlags ? { flags: r.flags } : {}) }))) + '\n'
}
