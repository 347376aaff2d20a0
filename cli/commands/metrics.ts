import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen metrics <file.csv> --reference COL --sensor COL [--format text|json]`: agreement of a sensor
 * column with a reference column of any CSV (core/calibration/metrics.ts for the definitions).
 *
 * Exit status 2 for usage errors (unknown or ambiguous column, bad --format), 1 for anything else (file not
 * readable, fewer than 3 usable rows, zero variance). Implementation: cli/commands/impl/metrics.ts.
 */
export function registerMetricsCommand(program: Command): void {
  program
    .command('metrics')
    .description('agreement of a sensor column with a reference column of a CSV: n, r2, rmse, mae, mbe, OLS and Deming fits')
    .argument('<file>', 'CSV file with a header row, comma- or semicolon-separated')
    .requiredOption('--reference <column>', 'reference column (y of the regressions) (required)')
    .requiredOption('--sensor <column>', 'sensor column (x; errors are sensor - reference) (required)')
    .option('--format <format>', 'text or json', 'text')
    .action(lazyAction(() => import('./impl/metrics.ts'), 'runMetricsCommand'))
}
