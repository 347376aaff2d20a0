import type { Command } from 'commander'
import { openRegistryStore } from '../../core/registry/open.ts'
import { publicRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { exportOpenData } from '../../services/api/open-data-export.ts'
import { parsePeriod } from '../../services/api/open-data/period.ts'
import { cliContext, fail } from '../context.ts'

/**
 * `senshagen export --day YYYY-MM-DD | --month YYYY-MM [--out DIR]`: the open-data files of one UTC day or month,
 * the same files GET /api/v1/bulk serves (services/api/open-data-export.ts): per source a long CSV and Parquet,
 * one sensor.community-archive-layout CSV per sensor type, and datapackage.json with each file's licence.
 * Coarsened positions, and only the devices that are public in the registry (SENSHAGEN_DEVICE_REGISTRY) at the
 * moment of the export: registered, active and consented. Prints one line per file to stderr; a bad or missing
 * period is a usage error (exit 2), an unusable registry or InfluxDB exit 1.
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the open-data files of one UTC day or month (CSV, Parquet, archive layout, datapackage.json; consented devices, coarsened positions)')
    .option('--day <date>', 'a UTC day, YYYY-MM-DD')
    .option('--month <month>', 'a UTC month, YYYY-MM')
    .option('--out <dir>', 'output folder', '.')
    .action(async (options: { day?: string; month?: string; out: string }) => {
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
    })
}
