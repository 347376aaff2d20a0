import type { Command } from 'commander'
import type { DeviceRecord } from '../../../core/registry/store.ts'
import { deviceRights } from '../../../core/registry/topic-rights.ts'
import { fail } from '../../context.ts'
import { iso, outputFormat, table, withRegistry } from './output.ts'

/**
 * `devices list` and `devices show <id>`: what the registry holds. `list` never shows a location or anything
 * secret; `show` is the operator's view of one device, with its exact location. Neither can show a secret or
 * its hash: the store never hands them out.
 */
export function registerInspectCommands(devices: Command): void {
  devices
    .command('list')
    .description('registered devices: id, format, neighbourhood, consent, status (active/revoked), created (no locations)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (options: { format: string }) => {
      const format = outputFormat(options.format)
      await withRegistry(async (store) => {
        const rows = (await store.devices()).map(listRow)
        if (format === 'json') process.stdout.write(`${JSON.stringify(rows)}\n`)
        else process.stdout.write(table(['ID', 'FORMAT', 'NEIGHBOURHOOD', 'CONSENT', 'STATUS', 'CREATED'], rows.map((r) => [r.id, r.format, r.neighbourhood, r.consent ? 'yes' : 'no', r.status, r.created])))
        const revoked = rows.filter((r) => r.status === 'revoked').length
        process.stderr.write(`${rows.length} device(s): ${rows.length - revoked} active, ${revoked} revoked\n`)
      })
    })

  devices
    .command('show <id>')
    .description("every field of one device, including its exact location: the operator's view, personal data (the public API shows only a coarsened position)")
    .option('--format <format>', 'text or json', 'text')
    .action(async (id: string, options: { format: string }) => {
      const format = outputFormat(options.format)
      await withRegistry(async (store) => {
        const device = await store.device(id)
        if (device === undefined) fail(`no device '${id}' in the registry`)
        const view = showView(device)
        if (format === 'json') {
          process.stdout.write(`${JSON.stringify(view)}\n`)
          return
        }
        const location = view.location === null ? '-' : `${view.location.lat}, ${view.location.lon} (exact: personal data, never published)`
        const lines: Array<[string, string]> = [
          ['id', view.id],
          ['username', view.username],
          ['status', view.status === 'revoked' ? `revoked ${view.revokedAt}` : 'active'],
          ['format', view.format],
          ['native id', view.nativeId],
          ['publishes on', view.topics.publish.join(' ')],
          ['subscribes to', view.topics.subscribe.join(' ') || '-'],
          ['neighbourhood', view.neighbourhood],
          ['location', location],
          ['coarsen', view.coarsen],
          ['consent', view.consent ? `yes, since ${view.consentAt}` : 'no'],
          ['sensor models', view.sensorModels.join(', ') || '-'],
          ['note', view.note ?? '-'],
          ['created', view.createdAt],
          ['updated', view.updatedAt],
        ]
        process.stdout.write(lines.map(([k, v]) => `${`${k}:`.padEnd(15)}${v}\n`).join(''))
      })
    })
}

/** A `devices list` row: `{id, format, neighbourhood, consent, status, created}`, created ISO-8601 UTC. */
function listRow(d: DeviceRecord) {
  return { id: d.id, format: d.format, neighbourhood: d.neighbourhood, consent: d.consent, status: d.revokedAt === undefined ? 'active' : 'revoked', created: iso(d.createdAt) }
}

/**
 * `devices show --format json`: every field of the DeviceRecord (times ISO-8601 UTC, null when absent), plus the
 * MQTT username and the topics its rights cover (core/registry/topic-rights.ts). Built field by field, so nothing
 * a store might add to a record (a hash) can slip out.
 */
function showView(d: DeviceRecord) {
  const rights = deviceRights(d)
  return {
    id: d.id,
    username: d.id,
    status: d.revokedAt === undefined ? 'active' : 'revoked',
    format: d.format,
    nativeId: d.nativeId,
    neighbourhood: d.neighbourhood,
    location: d.location === undefined ? null : { lat: d.location.lat, lon: d.location.lon },
    coarsen: d.coarsen,
    consent: d.consent,
    consentAt: d.consentAt === undefined ? null : iso(d.consentAt),
    sensorModels: [...d.sensorModels],
    note: d.note ?? null,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    revokedAt: d.revokedAt === undefined ? null : iso(d.revokedAt),
    topics: { publish: rights.publish, retain: rights.retain, subscribe: rights.subscribe },
  }
}
