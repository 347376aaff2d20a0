import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen calibrate --from T --to T [--device D] [--refit]`: recalculates a period, with a progress bar. Every
 * method applies the stored fit (InfluxDB `calibration_fits`) whose window ended within
 * SENSHAGEN_CALIBRATION_REFIT_HOURS before --to; without one, or with --refit, it is fitted on the
 * SENSHAGEN_CALIBRATION_FIT_DAYS days before --to (or the whole period when longer), stored, and applied to the
 * period. Prints per series whether it was fitted now or reused a fit of <time>, and a line for the run. Reads the
 * device registry (SENSHAGEN_DEVICE_REGISTRY): only registered, active devices are calibrated and only consented
 * ones shape the group factors (services/calibration/group.ts); the others are named in one warning on stderr.
 * Implementation: cli/commands/impl/calibrate.ts.
 */
export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description('calibrate stored readings of a period against the reference stations; writes calibrated values and reports')
    .requiredOption('--from <time>', 'start (required): ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -2d')
    .requiredOption('--to <time>', 'end (required), exclusive')
    .option('--device <id>', 'only this device (the group method still uses the whole group of registered, consented devices)')
    .option('--refit', 'fit every method now, even where a stored fit is recent enough (SENSHAGEN_CALIBRATION_REFIT_HOURS)')
    .option('--no-progress', 'no progress bar')
    .action(lazyAction(() => import('./impl/calibrate.ts'), 'runCalibrate'))
}
