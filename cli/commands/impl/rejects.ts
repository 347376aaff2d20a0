import { openInfluxStore } from '../../../core/store/influx.ts'
import type { StoredRejection } from '../../../core/store/store.ts'
import { formatIsoMs, parseCliTime } from '../../../core/time.ts'
import { cliContext, fail } from '../../context.ts'

/** `senshagen rejects` (cli/commands/rejects.ts): the newest rejections, oldest first, text or JSON. */
export async function runRejects(options: { device?: string; since?: string; limit: string; format: string }): Promise<void> {
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
