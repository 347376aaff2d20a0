import { existsSync } from 'node:fs'
import { openRegistryStore } from '../../../core/registry/open.ts'
import { clientCredentials } from '../../../core/registry/service-credentials.ts'
import type { RegistryStore } from '../../../core/registry/store.ts'
import { cliContext, fail } from '../../context.ts'
import { fileProgress } from '../../file-progress.ts'
import type { ArchiveRecord } from '../../../core/decoders/sc-archive.ts'
import type { LatLon } from '../../../core/registry/coarsen.ts'
import { replayArchiveFiles, type FileSummary } from '../../replay.ts'

export interface ReplayOptions {
  qos: string
  progress: boolean
  registerMissing?: boolean
  neighbourhood?: string
}

/** `senshagen replay` (cli/commands/replay.ts): publishes the files, records the positions, names what was not sent. */
export async function runReplay(files: string[], options: ReplayOptions): Promise<void> {
  const { config } = cliContext()
  if (options.qos !== '0' && options.qos !== '1') fail(`--qos: must be 0 or 1, got '${options.qos}'`, 2)
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length) fail(`no such file: ${missing.join(', ')}`, 2)

  const progress = fileProgress(options.progress, 'bytes')
  let registry: RegistryStore | undefined
  try {
    registry = await openRegistryStore(config.registry)
    const allowDevice = await deviceGate(registry, options)
    const positions = new PositionRuns()
    const summaries = await replayArchiveFiles(files, {
      mqttUrl: config.mqtt.url,
      ...clientCredentials(config, 'importer'),
      allowDevice,
      onAcknowledged: (record) => positions.add(record),
      qos: Number(options.qos) as 0 | 1,
      onProgress: progress.onProgress,
    })
    progress.stop()
    process.stdout.write(formatSummary(summaries, config.mqtt.url))
    const refused = await recordPositions(registry, positions)
    const unregistered = [...new Set(summaries.flatMap((s) => Object.keys(s.unregistered)))].sort()
    if (unregistered.length > 0) {
      fail(
        `${unregistered.length} device(s) not registered, their records were not sent: ${unregistered.join(', ')}\n` +
          `  register them with 'senshagen devices add <id> --neighbourhood N --consent yes|no' or 'senshagen devices import <file>',\n` +
          `  or replay with --register-missing (registers them with consent no)`,
      )
    }
    if (refused.length > 0) fail(`the positions of ${refused.length} device(s) were not recorded (their readings were):\n  ${refused.join('\n  ')}`)
  } catch (error) {
    progress.stop()
    fail((error as Error).message)
  } finally {
    await registry?.close()
  }
}

/**
 * Decides per device whether replay may publish it: registered and not revoked; with `--register-missing` an
 * unknown device is registered first (consent no, its secret not shown: the importer publishes for it).
 */
async function deviceGate(registry: RegistryStore, options: { registerMissing?: boolean; neighbourhood?: string }): Promise<(id: string) => Promise<boolean>> {
  let neighbourhood = options.neighbourhood
  if (options.registerMissing && neighbourhood === undefined) {
    const all = (await registry.neighbourhoods()).map((n) => n.id)
    if (all.length !== 1) fail(`--register-missing needs --neighbourhood, one of: ${all.join(', ')}`, 2)
    neighbourhood = all[0]
  }
  return async (id) => {
    const device = await registry.device(id)
    if (device) return device.revokedAt === undefined
    if (!options.registerMissing) return false
    await registry.addDevice({ id, neighbourhood: neighbourhood!, consent: false, note: 'registered by senshagen replay --register-missing' })
    process.stderr.write(`senshagen replay: registered ${id} (neighbourhood ${neighbourhood}, consent no)\n`)
    return true
  }
}

/**
 * The positions replayed records carried, per device: the first record of each run of one position, a run ending
 * when the position changes or time goes back (the next file may be an earlier day). Memory: one entry per run.
 */
export class PositionRuns {
  readonly byDevice = new Map<string, Array<{ validFrom: number; location: LatLon }>>()

  add(record: ArchiveRecord): void {
    if (record.location === undefined) return
    const runs = this.byDevice.get(record.deviceId) ?? []
    const last = runs.at(-1)
    if (last === undefined || last.location.lat !== record.location.lat || last.location.lon !== record.location.lon || record.observedAt < last.validFrom) {
      runs.push({ validFrom: record.observedAt, location: record.location })
      this.byDevice.set(record.deviceId, runs)
    }
  }
}

/** Records each device's runs; returns the refusals (`sc-1: cannot record positions …`), printed by the caller. */
export async function recordPositions(registry: RegistryStore, positions: PositionRuns): Promise<string[]> {
  const refused: string[] = []
  for (const [id, runs] of positions.byDevice) {
    try {
      await registry.recordPositions(id, runs)
    } catch (error) {
      refused.push(`${id}: ${(error as Error).message}`)
    }
  }
  if (positions.byDevice.size > 0) process.stderr.write(`senshagen replay: positions recorded for ${positions.byDevice.size - refused.length} device(s) (position history; published only coarsened)\n`)
  return refused
}

export function formatSummary(summaries: FileSummary[], url: string): string {
  const lines = summaries.map(
    (s) => `${s.file}: ${s.rows} rows -> ${s.messages} messages, ${s.accepted} values accepted, ${s.rejectedValues + s.rejectedRows.length} rejected` +
      (s.rejectedValues ? ` (${s.rejectedValues} empty or non-numeric value(s), dead-lettered by the ingest: senshagen rejects)` : '') +
      (s.rejectedRows.length ? ` (${s.rejectedRows.length} row(s) rejected here and not sent)` : '') +
      s.rejectedRows.map((r) => `\n  rejected row: ${r.message}: ${JSON.stringify(r.raw)}`).join('') +
      Object.entries(s.unregistered).map(([device, n]) => `\n  not sent: ${n} record(s) of ${device}, which is not registered`).join(''),
  )
  const total = summaries.reduce((t, s) => ({ accepted: t.accepted + s.accepted, rejected: t.rejected + s.rejectedValues + s.rejectedRows.length, messages: t.messages + s.messages }), { accepted: 0, rejected: 0, messages: 0 })
  lines.push(`replayed ${summaries.length} file(s) to ${url}: ${total.messages} messages, ${total.accepted} values accepted, ${total.rejected} rejected`)
  return lines.join('\n') + '\n'
}
