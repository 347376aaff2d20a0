import type { Command } from 'commander'
import { QUANTITY_NAMES } from '../../core/quantities.ts'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen query --device D[,D…] --quantity Q[,Q…] --from T --to T [--series raw|calibrated|both] [--format csv|json]`:
 * stored readings of one or more devices and quantities in [from, to), exactly as GET /api/v1/readings gives
 * them, from the same code (services/api/readings-query.ts): one row per reading, ordered by time, quantity,
 * device, CSV columns time,[local_time,]device,quantity,unit,value (or raw,calibrated),uncertainty,label,flags —
 * time as ISO-8601 UTC with milliseconds, values in the row's quantity's canonical unit, `label` and
 * `uncertainty` (expanded, k = 2) those of the calibrated value (`uncalibrated` and empty for raw values), `flags`
 * `;`-separated. JSON: the document GET /api/v1/readings gives for the same parameters
 * (services/api/readings-document.ts: device, devices, quantity, quantities, unit, series, window, tz,
 * include_flags, licence, from, to, columns, rows), every page at once, so `next` is null.
 *
 * `--device` and `--quantity` take the API's comma-separated lists with the API's rules and messages
 * (services/api/routes/readings.ts DevicesParam, QuantitiesParam, tooManySeries: at most 50 series), e.g.
 * `--quantity: item 2 'pm25': unknown quantity 'pm25'; one of …` (exit 2).
 *
 * With `--window 10m|1h|1d` it prints window aggregates exactly as GET /api/v1/readings?window= does:
 * mean,min,max,count (or raw_…,calibrated_…),uncertainty,label,expected,completeness,partial; flagged readings
 * left out unless `--include-flags` names them (or `all`); windows follow `--tz` (default UTC; local_time only
 * when given).
 *
 * Only public devices (registered in SENSHAGEN_DEVICE_REGISTRY, active and consented), as the API: any other id
 * ends with exit 1 and `--device: no public device with this id: '<id>'` (the API's 404 wording,
 * services/api/routes/devices.ts NOT_PUBLIC_DEVICE), not an empty answer; a public device without readings in
 * the range prints none and exits 0. Implementation: cli/commands/impl/query.ts.
 */
export function registerQueryCommand(program: Command): void {
  program
    .command('query')
    .description('print stored readings of devices and quantities')
    .requiredOption('--device <ids>', 'device id, or several comma-separated as the API\'s device=, e.g. sc-5331,sc-8733 (required)')
    .requiredOption('--quantity <names>', `one or more of ${QUANTITY_NAMES.join(', ')}, comma-separated as the API\'s quantity= (required)`)
    .requiredOption('--from <time>', 'start, inclusive: ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -6h (required)')
    .requiredOption('--to <time>', 'end, exclusive (same forms) (required)')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--flags', 'no effect: the flags column is always printed (kept for older scripts)')
    .option('--series <series>', 'raw, calibrated (only readings that have one) or both (as the API\'s series=)', 'raw')
    .option('--window <window>', 'aggregate per window: 10m, 1h or 1d (as the API\'s window=)')
    .option('--tz <zone>', 'IANA zone the windows follow, e.g. Europe/Amsterdam (adds local_time)')
    .option('--include-flags <flags>', 'flags whose readings count in aggregates: comma-separated, or all (default: none); without --window, only readings with these flags or none')
    .action(lazyAction(() => import('./impl/query.ts'), 'runQuery'))
}
