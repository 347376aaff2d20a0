import { existsSync } from 'node:fs'
import { QUANTITY_NAMES, isQuantity, type Quantity } from '../../../core/quantities.ts'
import { importReferenceFiles, type ReferenceImportSummary } from '../../../core/reference/import.ts'
import { writeReferenceObservations } from '../../../core/reference/reference-store.ts'
import { REFERENCE_QUANTITIES, REFERENCE_SOURCE_NAMES, createReferenceSource, isReferenceSourceName } from '../../../core/reference/sources.ts'
import { openInfluxStore } from '../../../core/store/influx.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { cliContext, fail, timeRange } from '../../context.ts'
import { fileProgress } from '../../file-progress.ts'

/** Problems printed per file; the rest are counted. */
const SHOWN_PROBLEMS = 10

/** `senshagen reference import` (cli/commands/reference.ts): one summary line per file; exit 1 when a file gave nothing. */
export async function runReferenceImport(files: string[], options: { station?: string; quantity?: string; calibrated?: boolean; phenomenonTime: string; progress: boolean }): Promise<void> {
  const { config, logger } = cliContext()
  const quantity = options.quantity === undefined ? undefined : checkQuantity(options.quantity)
  if (options.phenomenonTime !== 'end' && options.phenomenonTime !== 'start') fail(`--phenomenon-time: must be end or start, got '${options.phenomenonTime}'`, 2)
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length) fail(`no such file: ${missing.join(', ')}`, 2)
  const progress = fileProgress(options.progress, 'observations')
  let summaries: ReferenceImportSummary[] = []
  try {
    const store = await openInfluxStore(config.influx, logger)
    await store.ensureDatabase()
    summaries = await importReferenceFiles(
      files,
      {
        store,
        logger,
        onProgress: progress.onProgress,
      },
      { station: options.station, quantity, calibrated: options.calibrated, phenomenonTime: options.phenomenonTime as 'end' | 'start' },
    )
    progress.stop()
    await store.close()
  } catch (error) {
    progress.stop()
    fail((error as Error).message)
  }
  process.stdout.write(formatImportSummary(summaries, config.influx.database))
  if (summaries.some((s) => s.format === undefined || (s.observations === 0 && s.problems.length > 0))) process.exitCode = 1
}

/** `senshagen reference fetch` (cli/commands/reference.ts): one line per quantity written. */
export async function runReferenceFetch(options: { source: string; station: string; from: string; to: string; quantity?: string; baseUrl?: string; cacheDir: string; cache: boolean; phenomenonTime: string; uncalibrated?: boolean }): Promise<void> {
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
