import type { Command } from 'commander'
import { registerInspectCommands } from './devices/inspect.ts'
import { registerMosquittoCommand } from './devices/mosquitto.ts'
import { registerPositionCommands } from './devices/positions.ts'
import { registerRegistryChangeCommands } from './devices/register.ts'
import { registerStatusCommand } from './devices/status.ts'

/**
 * `senshagen devices <subcommand>`: the device registry (SENSHAGEN_DEVICE_REGISTRY: a SQLite file, created with
 * the configured neighbourhoods when missing, or a postgres:// URL) and what was stored per device.
 *
 * | subcommand | does |
 * |---|---|
 * | `add <id> --neighbourhood N --consent yes\|no [--lat --lon] [--format F] [--json]` | registers, prints the secret once |
 * | `import <file> [--json]` | registers a JSON (old config/devices.json layout) or CSV file's new devices |
 * | `list [--format text\|json]` | id, format, neighbourhood, consent, status, created |
 * | `show <id> [--format text\|json]` | every field, exact location included (operator's view) |
 * | `revoke <id>`, `rotate-secret <id> [--json]` | end a device's credentials / issue new ones |
 * | `move <id> --lat --lon [--from T]`, `positions <id>` | record a move (position history) / show the history (exact) |
 * | `status [--device D] [--offline] [--format text\|json]` | readings, rejections, schema changes, availability (InfluxDB); `--offline`: offline or stale devices with last seen |
 * | `mosquitto-config --out DIR` | password file, ACL and example configuration for Mosquitto |
 *
 * Exit codes: 0 done, 1 refused (cli/commands/devices/output.ts), 2 usage error.
 */
export function registerDevicesCommand(program: Command): void {
  const devices = program
    .command('devices')
    .description('the device registry (add, import, list, show, move, positions, revoke, rotate-secret, mosquitto-config) and per-device status')
  registerRegistryChangeCommands(devices)
  registerInspectCommands(devices)
  registerPositionCommands(devices)
  registerStatusCommand(devices)
  registerMosquittoCommand(devices)
}
