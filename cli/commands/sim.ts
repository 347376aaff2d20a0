import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/** Backfilled readings are spaced like a typical sensor.community upload interval. */
export const BACKFILL_STEP_MS = 300_000

/**
 * `senshagen sim`: simulated BME280+SDS011 devices in Stadshagen publishing native payloads to the broker
 * at SENSHAGEN_MQTT_URL (firmware-sim/README.md). Runs until SIGINT/SIGTERM or `--duration`; the summary
 * and the final counts go to stderr. Implementation: cli/commands/impl/sim.ts.
 */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate a fleet of weather/air-quality devices publishing to the MQTT broker (SENSHAGEN_MQTT_URL)')
    .option('--devices <n>', 'number of devices, 1..1000', '10')
    .option('--interval <seconds>', 'seconds between two readings of one device', '10')
    .option('--seed <n>', 'model seed; the same seed gives the same readings', '1')
    .option('--qos <0|1>', 'MQTT QoS of the readings', '1')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--backfill <hours>', `first publish the last <hours> of readings at ${BACKFILL_STEP_MS / 60_000}-min steps`, '0')
    .action(lazyAction(() => import('./impl/sim.ts'), 'runSim'))
}
