import type { Command } from 'commander'
import { openRegistryStore } from '../../core/registry/open.ts'
import { publicRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { exportOpenData, isUtcDay } from '../../services/api/open-data-export.ts'
import { cliContext, fail } from '../context.ts'

/**
 * `senshagen export --day YYYY-MM-DD [--out DIR]`: the open-data files of one UTC day, one CSV per quantity in
 * the sensor.community archive layout (services/api/open-data-export.ts), coarsened positions, and only the
 * devices that are public in the registry (SENSHAGEN_DEVICE_REGISTRY) at the moment of the export: registered,
 * active and consented. Prints one line per file to stderr; a bad --day is a usage error (exit 2), an unusable
 * registry or InfluxDB exit 1.
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write open-data CSV files of one UTC day (sensor.community archive layout, consented devices, coarsened positions)')
    .requiredOption('--day <date>', 'the UTC day, YYYY-MM-DD (required)')
    .option('--out <dir>', 'output folder', '.')
    .action(async (options: { day: string; out: string }) => {
      const { config, logger: base } = cliContext()
      const logger = base.child({}, { level: config.logLevel === 'info' ? 'warn' : config.logLevel }) // a command prints its own summary
      const day = options.day.trim()
      if (!isUtcDay(day)) fail(`--day: '${options.day}' is not a date YYYY-MM-DD`, 2)
      try {
        const registryStore = await openRegistryStore(config.registry)
        const registry = await publicRegistry(registryStore).finally(() => registryStore.close())
        const store = await openInfluxStore(config.influx, logger)
        const files = await exportOpenData({ store, registry, day, outDir: options.out, logger })
        for (const f of files) process.stderr.write(`${f.path}: ${f.rows} row(s) from ${f.devices} device(s)\n`)
        process.stderr.write(`${files.length} file(s) for ${day}\n`)
      } catch (error) {
        fail((error as Error).message)
      }
    })
}
