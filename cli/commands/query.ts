import type { Command } from 'commander'
import { QUANTITY_NAMES, isQuantity } from '../../core/quantities.ts'
import { DeviceIdSchema } from '../../core/reading.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { StoredReading } from '../../core/store/store.ts'
import { formatIsoMs } from '../../core/time.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/**
 * `senshagen query --device D --quantity Q --from T --to T [--format csv|json]`: stored readings of one
 * device and quantity in [from, to), oldest first. CSV header `time,device,quantity,value`, time as
 * ISO-8601 UTC with milliseconds, value in the quantity's canonical unit.
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
    .action(async (options: { device: string; quantity: string; from: string; to: string; format: string; flags?: boolean }) => {
      const { config, logger } = cliContext()
      if (!DeviceIdSchema.safeParse(options.device).success) fail(`--device: '${options.device}' is not a valid device id`, 2)
      if (!isQuantity(options.quantity)) fail(`--quantity: '${options.quantity}' is not one of ${QUANTITY_NAMES.join(', ')}`, 2)
      if (options.format !== 'csv' && options.format !== 'json') fail(`--format: must be csv or json, got '${options.format}'`, 2)
      const { from, to } = timeRange(options.from, options.to)
      try {
        const store = await openInfluxStore(config.influx, logger)
        const rows = await store.queryReadings({ deviceId: options.device, quantity: options.quantity, from, to })
        process.stdout.write(options.format === 'csv' ? toCsv(rows, options.flags) : toJson(rows, options.flags))
        process.stderr.write(`${rows.length} reading(s) of ${options.device} ${options.quantity}\n`)
      } catch (error) {
        fail((error as Error).message)
      }
    })
}

export function toCsv(rows: StoredReading[], withFlags = false): string {
  const lines = rows.map((r) => `${formatIsoMs(r.time)},${r.deviceId},${r.quantity},${r.value}${withFlags ? `,${r.flags.join(';')}` : ''}`)
  return [`time,device,quantity,value${withFlags ? ',flags' : ''}`, ...lines].join('\n') + '\n'
}

export function toJson(rows: StoredReading[], withFlags = false): string {
  return JSON.stringify(rows.map((r) => ({ time: formatIsoMs(r.time), device: r.deviceId, quantity: r.quantity, value: r.value, ...(withFlags ? { flags: r.flags } : {}) }))) + '\n'
}
