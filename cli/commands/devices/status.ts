import { openInfluxStore } from '../../../core/store/influx.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { cliContext, fail } from '../../context.ts'
import { offlineDevices, offlineText } from './offline.ts'

export interface DeviceSummary {
  device: string
  readings: number
  lastReading?: string
  rejections: Record<string, number>
  schemaChanges: number
  /** The latest schema_change event's detail (core/schema-drift.ts) and time. */
  lastSchemaChange?: unknown
  lastSchemaChangeAt?: string
  availability?: string
}

/**
 * `senshagen devices status [--device D] [--format text|json]`: per device, readings stored and the newest one,
 * rejections by rule (`unknown_quantity` counts the value types the pipeline does not know), schema
 * changes with the latest one's detail (core/schema-drift.ts), and the latest availability event. From
 * InfluxDB alone (what was stored), so it also lists devices that are not or no longer registered.
 * Text: one line per device, `<device>: <n> readings (last <ISO>), rejections: <rule>=<n> …|none, schema
 * changes: <n>[, online|offline since <ISO>]`, then `  latest schema change <ISO>: …` in words (schemaChangeText);
 * JSON: an array of DeviceSummary.
 * `--offline`: only the devices offline or stale, with last seen (cli/commands/devices/offline.ts; README "Fleet health").
 * Registered in cli/commands/devices.ts; the subcommands are imported only when they run.
 */

/** `senshagen devices status` (cli/commands/devices.ts). */
export async function runStatus(options: { device?: string; format: string; offline?: boolean }): Promise<void> {
  const { config, logger } = cliContext()
  if (options.format !== 'text' && options.format !== 'json') fail(`--format: must be text or json, got '${options.format}'`, 2)
  try {
    const store = await openInfluxStore(config.influx, logger)
    if (options.offline) {
      const rows = await offlineDevices(store, config.health, Date.now(), options.device)
      process.stdout.write(options.format === 'json' ? `${JSON.stringify(rows)}\n` : offlineText(rows))
      process.stderr.write(`${rows.length} device(s) offline or stale\n`)
      return
    }
    const family = options.device === undefined ? {} : { deviceFamily: options.device }
    const summaries = new Map<string, DeviceSummary>()
    const get = (device: string) => {
      let s = summaries.get(device)
      if (!s) summaries.set(device, (s = { device, readings: 0, rejections: {}, schemaChanges: 0 }))
      return s
    }
    for (const count of await store.countReadings(family)) {
      get(count.deviceId).readings += count.count
    }
    const lastAt = new Map<string, number>()
    for (const last of await store.lastReadings(family)) {
      if (last.time < (lastAt.get(last.deviceId) ?? -Infinity)) continue
      lastAt.set(last.deviceId, last.time)
      get(last.deviceId).lastReading = formatIsoMs(last.time)
    }
    for (const count of await store.countRejections(family)) {
      const s = get(count.deviceId)
      s.rejections[count.rule] = (s.rejections[count.rule] ?? 0) + count.count
    }
    for (const summary of await store.eventSummaries({ kinds: ['schema_change'], ...family })) {
      const s = get(summary.deviceId)
      s.schemaChanges = summary.count
      s.lastSchemaChange = JSON.parse(summary.lastDetail)
      s.lastSchemaChangeAt = formatIsoMs(summary.lastAt)
    }
    const availabilityAt = new Map<string, number>()
    for (const summary of await store.eventSummaries({ kinds: ['online', 'offline'], ...family })) {
      const device = summary.deviceId
      const at = summary.lastAt
      if (at >= (availabilityAt.get(device) ?? -Infinity)) {
        availabilityAt.set(device, at)
        get(device).availability = `${summary.kind} since ${formatIsoMs(at)}`
      }
    }
    const rows = [...summaries.values()].sort((a, b) => a.device.localeCompare(b.device))
    if (options.format === 'json') {
      process.stdout.write(JSON.stringify(rows) + '\n')
      return
    }
    for (const r of rows) {
      const rejections = Object.entries(r.rejections).map(([rule, n]) => `${rule}=${n}`).join(' ') || 'none'
      process.stdout.write(`${r.device}: ${r.readings} readings (last ${r.lastReading ?? '-'}), rejections: ${rejections}, schema changes: ${r.schemaChanges}${r.availability ? `, ${r.availability}` : ''}\n`)
      if (r.lastSchemaChange) process.stdout.write(`  latest schema change ${r.lastSchemaChangeAt ?? ''}: ${schemaChangeText(r.lastSchemaChange)}\n`)
    }
    process.stderr.write(`${rows.length} device(s)\n`)
  } catch (error) {
    fail((error as Error).message)
  }
}

/**
 * A schema_change detail (core/schema-drift.ts: `first`, `added` as `key:type`, `changed` {key, from, to},
 * `models.added`) in words, e.g. `first message; new keys: pm2_5:number, temp:number; sensor models: SDS011` or
 * `changed: temp number → string`. The device's whole schema (`schema`) is left to --format json.
 */
export function schemaChangeText(detail: unknown): string {
  if (typeof detail !== 'object' || detail === null) return String(detail)
  const d = detail as { first?: boolean; added?: string[]; changed?: Array<{ key: string; from?: string; to: string }>; models?: { added?: string[] } }
  const parts = [
    ...(d.first ? ['first message'] : []),
    ...(d.added?.length ? [`new keys: ${d.added.join(', ')}`] : []),
    ...(d.changed?.length ? [`changed: ${d.changed.map((c) => `${c.key} ${c.from ?? '?'} → ${c.to}`).join(', ')}`] : []),
    ...(d.models?.added?.length ? [`sensor models: ${d.models.added.join(', ')}`] : []),
  ]
  return parts.length > 0 ? parts.join('; ') : 'no details'
}
