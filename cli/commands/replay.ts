import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import type { Command } from 'commander'
import { SingleBar, Presets } from 'cli-progress'
import { cliContext, fail } from '../context.ts'
import { replayArchiveFiles, type FileSummary } from '../replay.ts'

/** `senshagen replay <files…>`: sensor.community archive CSV files → MQTT native payloads. */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('publish sensor.community archive CSV rows and data-API JSON entries over MQTT as native payloads with their original timestamps')
    .argument('<files...>', 'archive CSV files (YYYY-MM-DD_<type>_sensor_<id>.csv) or data-API JSON files (*.json)')
    .option('--qos <qos>', 'MQTT QoS, 0 or 1', '1')
    .option('--no-progress', 'no progress bar')
    .action(async (files: string[], options: { qos: string; progress: boolean }) => {
      const { config } = cliContext()
      if (options.qos !== '0' && options.qos !== '1') fail(`--qos: must be 0 or 1, got '${options.qos}'`, 2)
      const missing = files.filter((f) => !existsSync(f))
      if (missing.length) fail(`no such file: ${missing.join(', ')}`, 2)

      const bar = options.progress && process.stderr.isTTY ? new SingleBar({ format: ' {file} [{bar}] {percentage}% | {value}/{total} bytes', stream: process.stderr }, Presets.shades_classic) : undefined
      let current = ''
      try {
        const summaries = await replayArchiveFiles(files, {
          mqttUrl: config.mqtt.url,
          username: config.mqtt.username,
          password: config.mqtt.password,
          qos: Number(options.qos) as 0 | 1,
          onProgress: (file, read, total) => {
            if (!bar) return
            if (file !== current) {
              if (current) bar.stop()
              current = file
              bar.start(total, 0, { file: basename(file) })
            }
            bar.update(read)
          },
        })
        bar?.stop()
        process.stdout.write(formatSummary(summaries, config.mqtt.url))
      } catch (error) {
        bar?.stop()
        fail((error as Error).message)
      }
    })
}

export function formatSummary(summaries: FileSummary[], url: string): string {
  const lines = summaries.map(
    (s) => `${s.file}: ${s.rows} rows -> ${s.messages} messages, ${s.accepted} values accepted, ${s.rejectedValues + s.rejectedRows.length} rejected` +
      (s.rejectedValues ? ` (${s.rejectedValues} empty or non-numeric value(s), dead-lettered by the ingest: senshagen rejects)` : '') +
      (s.rejectedRows.length ? ` (${s.rejectedRows.length} row(s) rejected here and not sent)` : '') +
      s.rejectedRows.map((r) => `\n  rejected row: ${r.message}: ${JSON.stringify(r.raw)}`).join(''),
  )
  const total = summaries.reduce((t, s) => ({ accepted: t.accepted + s.accepted, rejected: t.rejected + s.rejectedValues + s.rejectedRows.length, messages: t.messages + s.messages }), { accepted: 0, rejected: 0, messages: 0 })
  lines.push(`replayed ${summaries.length} file(s) to ${url}: ${total.messages} messages, ${total.accepted} values accepted, ${total.rejected} rejected`)
  return lines.join('\n') + '\n'
}
