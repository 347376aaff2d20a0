import type { Command } from 'commander'
import { QUANTITY_NAMES } from '../../core/quantities.ts'
import { DEFAULT_CACHE_DIR } from '../../core/reference/cache.ts'
import { REFERENCE_SOURCE_NAMES } from '../../core/reference/sources.ts'
import { lazyAction } from '../lazy-action.ts'

const load = () => import('./impl/reference.ts')

/**
 * `senshagen reference import <files…>` and `senshagen reference fetch …`: reference observations (RIVM
 * Luchtmeetnet, KNMI hourly data, RIVM Samen Meten) into InfluxDB measurement `reference`
 * (core/reference/reference-store.ts). Register with `registerReferenceCommand(program)`. Implementation:
 * cli/commands/impl/reference.ts.
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
    .action(lazyAction(load, 'runReferenceImport'))

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
    .action(lazyAction(load, 'runReferenceFetch'))
}
