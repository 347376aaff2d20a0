import { openRegistryStore } from '../../../core/registry/open.ts'
import { publicRegistry } from '../../../core/registry/registry.ts'
import { openInfluxStore } from '../../../core/store/influx.ts'
import { exportOpenData } from '../../../services/api/open-data-export.ts'
import { parsePeriod } from '../../../services/api/open-data/period.ts'
import { cliContext, fail } from '../../context.ts'

/** `senshagen export` (cli/commands/export.ts): writes the period's open-data files, one line per file to stderr. */
export async function runExport(options: { day?: string; month?: string; out: string }): Promise<void> {
  const { config, logger: base } = cliContext()
  const logger = base.child({}, { level: config.logLevel === 'info' ? 'warn' : config.logLevel }) // a command prints its own summary
  if ((options.day === undefined) === (options.month === undefined)) fail('give exactly one of --day YYYY-MM-DD and --month YYYY-MM', 2)
  const period = (options.day ?? options.month)!.trim()
  const parsed = parsePeriod(period)
  if (parsed === undefined || parsed.kind !== (options.day === undefined ? 'month' : 'day')) {
    fail(options.day === undefined ? `--month: '${options.month}' is not a month YYYY-MM` : `--day: '${options.day}' is not a date YYYY-MM-DD`, 2)
  }
  try {
    const registryStore = await openRegistryStore(config.registry)
    const registry = await publicRegistry(registryStore).finally(() => registryStore.close())
    const store = await openInfluxStore(config.influx, logger)
    const files = await exportOpenData({ store, registry, period, outDir: options.out, logger })
    for (const f of files) process.stderr.write(`${f.path}${f.rows === undefined ? '' : `: ${f.rows} row(s)`}\n`)
    process.stderr.write(`${files.length} file(s) for ${period}\n`)
  } catch (error) {
    fail((error as Error).message)
  }
}
