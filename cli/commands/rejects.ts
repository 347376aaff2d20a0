import type { Command } from 'commander'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { StoredRejection } from '../../core/store/store.ts'
import { formatIsoMs, parseCliTime } from '../../core/time.ts'
import { cliContext, fail } from '../context.ts'

/** `senshagen rejects [--device D] [--since T] [--limit N] [--format text|json]`: the dead-letter store. */
export function registerRejectsCommand(program: Command): void {
  program
    .command('rejects')
    .description('list rejected messages and values with their reasons')
    .option('--device <id>', 'only this device and its sub-devices (<id>.<sensor>)')
    .option('--since <time>', 'only rejections at or after this time (ISO-8601, YYYY-MM-DD, -1d)')
    .option('--limit <n>', 'show the newest <n> (oldest first)', '1000')
    .option('--format <format>', 'text or json', 'text')
    .action(async (options: { device?: string; since?: string; limit: string; format: string }) => {
      const { config, logger } = cliContext()
      const limit = Number(options.limit)
      if (!Number.isInteger(limit) || limit < 1) fail(`--limit: must be a positive integer, got '${options.limit}'`, 2)
      if (options.format !== 'text' && options.format !== 'json') fail(`--format: must be text or json, got '${options.format}'`, 2)
      let since: number | undefined
      try {
        since = options.since === undefined ? undefined : parseCliTime(options.since, '--since')
      } catch (error) {
        fail((error as Error).message, 2)
      }
      try {
        const store = await openInfluxStore(config.influx, logger)
        const rows = await store.queryRejections({ deviceId: options.device, since, limit })
        if (options.format === 'json') {
          process.stdout.write(JSON.stringify(rows.map(toJson)) + '\n')
        } else {
          for (const r of rows) {
            const value = r.value === undefined ? '' : ` value=${r.value}`
            process.stdout.write(`${formatIsoMs(r.time)} ${r.deviceId} ${r.path}: ${r.rule}: ${r.message}${value}\n`)
          }
        }
        const more = rows.length === limit ? ` (the newest ${limit}; older ones exist: use --since or --limit)` : ''
        process.stderr.write(`${rows.length} rejection(s)${more}\n`)
      } catch (error) {
        fail((error as Error).message)
      }
    })
}

/** JSON output uses the names of `senshagen query` and the InfluxDB schema (device, source); value is JSON again. */
function toJson(r: StoredRejection) {
  return {
    time: formatIsoMs(r.time),
    device: r.deviceId,
    rule: r.rule,
    path: r.path,
    message: r.message,
    ...(r.value === undefined ? {} : { value: JSON.parse(r.value) as unknown }),
    topic: r.topic,
    source: r.sourceFormat,
    raw: r.raw,
  }
}
