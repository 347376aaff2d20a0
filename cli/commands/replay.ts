import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen replay <files…>`: sensor.community archive CSV files → MQTT native payloads, published as the
 * importer account (`_importer`) and only for devices registered and not revoked in the registry. Records of an
 * unregistered device are not sent; the command names the device and how to register it, and exits 1.
 * `--register-missing` registers such devices first, with consent no (stored, calibrated, public nowhere).
 * The archive's own positions (lat/lon on every row) of the records the broker acknowledged are recorded as the
 * devices' position history (RegistryStore.recordPositions), so a device that moved keeps each position for
 * the readings of its time; a device the registry refuses a position for is named, and the command exits 1.
 * Implementation: cli/commands/impl/replay.ts.
 */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('publish sensor.community archive CSV rows and data-API JSON entries over MQTT as native payloads with their original timestamps')
    .argument('<files...>', 'archive CSV files (YYYY-MM-DD_<type>_sensor_<id>.csv) or data-API JSON files (*.json)')
    .option('--qos <qos>', 'MQTT QoS, 0 or 1', '1')
    .option('--no-progress', 'no progress bar')
    .option('--register-missing', 'register devices the registry does not know, with consent no (public nowhere)')
    .option('--neighbourhood <id>', 'neighbourhood of devices --register-missing registers (default: the only one configured)')
    .action(lazyAction(() => import('./impl/replay.ts'), 'runReplay'))
}
