import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import { Presets, SingleBar } from 'cli-progress'
import type { Command } from 'commander'
import { QUANTITY_NAMES, isQuantity, type Quantity } from '../../core/quantities.ts'
import { DEFAULT_CACHE_DIR } from '../../core/reference/cache.ts'
import { importReferenceFiles, type ReferenceImportSummary } from '../../core/reference/import.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { REFERENCE_QUANTITIES, REFERENCE_SOURCE_NAMES, createReferenceSource, isReferenceSourceName } from '../../core/reference/sources.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { formatIsoMs } from '../../core/time.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/** Problems printed per file; the rest are counted. */
const SHOWN_PROBLEMS = 10

/**
 * `senshagen reference import <files…>` and `senshagen reference fetch …`: reference observations (RIVM
 * Luchtmeetnet, KNMI hourly data, RIVM Samen Meten) into InfluxDB measurement `reference`
 * (core/reference/reference-store.ts). Register with `registerReferenceCommand(program)`.
 */
export function registerReferenceCommand(program: Command): void {
  const reference = program.command('reference').description('reference observations: RIVM Luchtmeetnet, KNMI hourly data, RIVM Samen Meten')

  reference
    .command('import')
    .description('store reference files: KNMI uurgegevens .txt, Luchtmeetnet measurements .json, Samen Meten observations .json (format detected from content)')
    .argument('<files...>', 'files to import')
    .option('--station <id>', 'Samen Meten files: samenmeten:datastream:<id> or samenmeten:<thing id> (required); others: keep only this station')
    .option('--quantity <name>', `Samen Meten files: the quantity (required); others: keep only this one. One of ${QUANTITY_NAMES.join(', ')}`)
    .option('--calibrated', 'Samen Meten files: the series is RIVM-calibrated (*_kal); flag observations calibrated')
    .option('--phenomenon-time <end|start>', 'Samen Meten files: phenomenonTime marks the end or the start of the hour', 'end')
    .option('--no-progress', 'no progress bar')
    .action(async (files: string[], options: { station?: string; quantity?: string; calibrated?: boolean; phenomenonTime: string; progress: boolean }) => {
      const { config, logger } = cliContext()
      const quantity = options.quantity === undefined ? undefined : checkQuantity(options.quantity)
      if (options.phenomenonTime !== 'end' && options.phenomenonTime !== 'start') fail(`--phenomenon-time: must be end or start, got '${options.phenomenonTime}'`, 2)
      const missing = files.filter((f) => !existsSync(f))
      if (missing.length) fail(`no such file: ${missing.join(', ')}`, 2)
      const bar = options.progress && process.stderr.isTTY ? new SingleBar({ format: ' {file} [{bar}] {percentage}% | {value}/{total} observations', stream: process.stderr }, Presets.shades_classic) : undefined
      let current = ''
      let summaries: ReferenceImportSummary[] = []
      try {
        const store = await openInfluxStore(config.influx, logger)
        await store.ensureDatabase()
        summaries = await importReferenceFiles(
          files,
          {
            store,
            logger,
            onProgress: (file, written, total) => {
              if (!bar) return
              if (file !== current) {
                if (current) bar.stop()
                current = file
                bar.start(total, 0, { file: basename(file) })
              }
              bar.update(written)
            },
          },
          { station: options.station, quantity, calibrated: options.calibrated, phenomenonTime: options.phenomenonTime as 'end' | 'start' },
        )
        bar?.stop()
        await store.close()
      } catch (error) {
        bar?.stop()
        fail((error as Error).message)
      }
      process.stdout.write(formatImportSummary(summaries, config.influx.database))
      if (summaries.some((s) => s.format === undefined || (s.observations === 0 && s.problems.length > 0))) process.exitCode = 1
    })

  reference
    .command('fetch')
    .description('fetch observations from a reference API into the store (responses cached on disk)')
    .requiredOption('--source <name>', `${REFERENCE_SOURCE_NAMES.join(', ')} (required)`)
    .requiredOption('--station <id>', 'station: NL10818 (luchtmeetnet), 278 (knmi), samenmeten:<thing id> or samenmeten:datastream:<id> (required)')
    .requiredOption('--from <time>', 'start, inclusive, end-of-hour times: ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -6h (required)')
    .requiredOption('--to <time>', 'end, exclusive (same forms) (required)')
    .option('--quantity <name>', 'one quantity (default: every quantity the source serves; required for samenmeten)')
    .option('--base-url <url>', 'API base URL (default: the public API of the source)')
    .option('--cache-dir <dir>', 'response cache directory', DEFAULT_CACHE_DIR)
    .option('--no-cache', 'do not read or write the response cache')
    .option('--phenomenon-time <end|start>', 'samenmeten: phenomenonTime marks the end or the start of the hour', 'end')
    .option('--uncalibrated', 'samenmeten thing: take the raw series, not the RIVM-calibrated *_kal one')
    .action(async (options: { source: string; station: string; from: string; to: string; quantity?: string; baseUrl?: string; cacheDir: string; cache: boolean; phenomenonTime: string; uncalibrated?: boolean }) => {
      const { config, logger } = cliContext()
      if (!isReferenceSourceName(options.source)) fail(`--source: must be one of ${REFERENCE_SOURCE_NAMES.join(', ')}, got '${options.source}'`, 2)
      const source = options.source
      if (source === 'samenmeten' && options.quantity === undefined) fail('--quantity is required for samenmeten (a station serves one series per quantity)', 2)
      const quantities: readonly Quantity[] = options.quantity === undefined ? REFERENCE_QUANTITIES[source] : [checkQuantity(options.quantity)]
      if (options.phenomenonTime !== 'end' && options.phenomenonTime !== 'start') fail(`--phenomenon-time: must be end or start, got '${options.phenomenonTime}'`, 2)
      if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) fail(`--base-url: '${options.baseUrl}' is not a URL`, 2)
      const { from, to } = timeRange(options.from, options.to)
      const api = createReferenceSource(source, options.baseUrl, {
        logger,
        cacheDir: options.cache ? options.cacheDir : null,
        phenomenonTime: options.phenomenonTime as 'end' | 'start',
        preferCalibrated: !options.uncalibrated,
      })
      try {
        const store = await openInfluxStore(config.influx, logger)
        await store.ensureDatabase()
        for (const quantity of quantities) {
          const observations = await api.observations({ station: options.station, quantity, from, to })
          await writeReferenceObservations(store, observations)
          process.stdout.write(`${source} ${options.station} ${quantity}: ${observations.length} observation(s) ${formatIsoMs(from)} .. ${formatIsoMs(to)} written to ${config.influx.database}\n`)
        }
        await store.close()
      } catch (error) {
        fail((error as Error).message)
      }
    })
}

function checkQuantity(name: string): Quantity {
  if (!isQuantity(name)) fail(`--quantity: '${name}' is not one of ${QUANTITY_NAMES.join(', ')}`, 2)
  return name
}

/** One line per file (format, observations written, problems; the first SHOWN_PROBLEMS problems listed) and a total. */
export function formatImportSummary(summaries: readonly ReferenceImportSummary[], database: string): string {
  const lines: string[] = []
  for (const s of summaries) {
    lines.push(`${s.file}: ${s.format ?? 'unknown format'}, ${s.written} observation(s) written, ${s.problems.length} problem(s)`)
    for (const p of s.problems.slice(0, SHOWN_PROBLEMS)) lines.push(`  ${p.where}: ${p.message}${p.raw === undefined ? '' : ` (${p.raw})`}`)
    if (s.problems.length > SHOWN_PROBLEMS) lines.push(`  … and ${s.problems.length - SHOWN_PROBLEMS} more`)
  }
  const written = summaries.reduce((n, s) => n + s.written, 0)
  lines.push(`imported ${summaries.length} file(s) into ${database}: ${written} observation(s)`)
  return lines.join('\n') + '\n'
}
