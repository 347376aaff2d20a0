import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen export --day YYYY-MM-DD | --month YYYY-MM [--out DIR]`: the open-data files of one UTC day or month,
 * the same files GET /api/v1/bulk serves (services/api/open-data-export.ts): per source a long CSV and Parquet,
 * one sensor.community-archive-layout CSV per sensor type, and datapackage.json with each file's licence.
 * Coarsened positions, and only the devices that are public in the registry (SENSHAGEN_DEVICE_REGISTRY) at the
 * moment of the export: registered, active and consented. Prints one line per file to stderr; a bad or missing
 * period is a usage error (exit 2), an unusable registry or InfluxDB exit 1. Implementation: cli/commands/impl/export.ts.
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the open-data files of one UTC day or month (CSV, Parquet, archive layout, datapackage.json; consented devices, coarsened positions)')
    .option('--day <date>', 'a UTC day, YYYY-MM-DD')
    .option('--month <month>', 'a UTC month, YYYY-MM')
    .option('--out <dir>', 'output folder', '.')
    .action(lazyAction(() => import('./impl/export.ts'), 'runExport'))
}
