import type { DeviceRecord } from '../../../core/registry/store.ts'
import { deviceRights } from '../../../core/registry/topic-rights.ts'
import { fail } from '../../context.ts'
import { iso, outputFormat, table, withRegistry } from './output.ts'

/**
 * `devices list` and `devices show <id>`: what the registry holds. `list` never shows a location or anything
 * secret; `show` is the operator's view of one device, with its exact location. Neither can show a secret or
 * its hash: the store never hands them out.
 * Registered in cli/commands/devices.ts; the subcommands are imported only when they run.
 */

/** `senshagen devices list` (cli/commands/devices.ts). */
export async function runList(options: { format: string }): Promise<void> {
  const format = outputFormat(options.format)
  await withRegistry(async (store) => {
    const rows = (await store.devices()).map(listRow)
    if (format === 'json') process.stdout.write(`${JSON.stringify(rows)}\n`)
    else process.stdout.write(table(['ID', 'FORMAT', 'NEIGHBOURHOOD', 'CONSENT', 'STATUS', 'CREATED'], rows.map((r) => [r.id, r.format, r.neighbourhood, r.consent ? 'yes' : 'no', r.status, r.created])))
    const revoked = rows.filter((r) => r.status === 'revoked').length
    process.stderr.write(`${rows.length} device(s): ${rows.length - revoked} active, ${revoked} revoked\n`)
  })
}

/** `senshagen devices show <id>` (cli/commands/devices.ts). */
export async function runShow(id: string, options: { format: string }): Promise<void> {
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
