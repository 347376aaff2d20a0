import type { Command } from 'commander'
import { DEVICE_FORMATS } from '../../core/registry/store.ts'
import { lazyAction } from '../lazy-action.ts'

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
 * Exit codes: 0 done, 1 refused (cli/commands/devices/output.ts), 2 usage error. The subcommands are registered
 * here and implemented in cli/commands/devices/*.ts, each imported only when its subcommand runs.
 */
export function registerDevicesCommand(program: Command): void {
  const devices = program
    .command('devices')
    .description('the device registry (add, import, list, show, move, positions, revoke, rotate-secret, mosquitto-config) and per-device status')
  devices
    .command('add <id>')
    .description('register a device and print its new secret (shown only this once)')
    .requiredOption('--neighbourhood <id>', 'its neighbourhood (one the registry knows; config/neighbourhoods.json)')
    .requiredOption('--consent <yes|no>', 'did the owner accept the terms? yes or no (required: a forgotten answer never publishes a garden)')
    .option('--lat <degrees>', 'exact latitude, WGS84 (private: never published; give --lon too)')
    .option('--lon <degrees>', 'exact longitude, WGS84')
    .option('--format <format>', `payload format: ${DEVICE_FORMATS.join(', ')} (default: from the id's prefix, e.g. tasmota-shed → tasmota; else native)`)
    .option('--native-id <id>', "the device's identity in its firmware (Tasmota topic, ESPHome node, TTN app/device, …; default: from the id)")
    .option('--coarsen <grid|neighbourhood>', 'public position: grid cell (default with a location) or neighbourhood centre')
    .option('--sensor <model...>', 'sensor models (SDS011 BME280 …)')
    .option('--note <text>', 'free text for the operator, e.g. where the consent form is kept (never published)')
    .option('--json', 'print {"id","username","secret"} as one JSON line')
    .action(lazyAction(() => import('./devices/register.ts'), 'runAdd'))
  devices
    .command('import <file>')
    .description('register the devices of a JSON file (the old config/devices.json layout) or a CSV file; already registered ones are skipped')
    .option('--json', 'print each new secret as a JSON line {"id","username","secret"}')
    .addHelpText(
      'after',
      '\nCSV header: id,neighbourhood,consent,lat,lon,format,native_id,coarsen,sensor_models,note (consent yes/no/true/false;\n' +
        'sensor_models separated by ;). New devices\' secrets go to stdout, once; a summary "N registered, M already registered"\n' +
        'to stderr. Devices already registered keep their secrets, so the same import can run again. Layouts: config/README.md.',
    )
    .action(lazyAction(() => import('./devices/register.ts'), 'runImport'))
  devices
    .command('revoke <id>')
    .description('revoke a device for good: its secret stops working, its connection is closed, it is public nowhere')
    .action(lazyAction(() => import('./devices/register.ts'), 'runRevoke'))
  devices
    .command('rotate-secret <id>')
    .description('give a device a new secret (printed once); the old one stops working')
    .option('--json', 'print {"id","username","secret"} as one JSON line')
    .action(lazyAction(() => import('./devices/register.ts'), 'runRotateSecret'))
  devices
    .command('list')
    .description('registered devices: id, format, neighbourhood, consent, status (active/revoked), created (no locations)')
    .option('--format <format>', 'text or json', 'text')
    .action(lazyAction(() => import('./devices/inspect.ts'), 'runList'))
  devices
    .command('show <id>')
    .description("every field of one device, including its exact location: the operator's view, personal data (the public API shows only a coarsened position)")
    .option('--format <format>', 'text or json', 'text')
    .action(lazyAction(() => import('./devices/inspect.ts'), 'runShow'))
  devices
    .command('move <id>')
    .description('record that a device stands at a new position from a time on (default now); earlier readings keep the earlier position')
    .requiredOption('--lat <degrees>', 'exact latitude, WGS84 (private: never published)')
    .requiredOption('--lon <degrees>', 'exact longitude, WGS84')
    .option('--from <time>', 'valid from: ISO-8601 with zone, YYYY-MM-DD (midnight UTC), now, or -<n><s|m|h|d>', 'now')
    .action(lazyAction(() => import('./devices/positions.ts'), 'runMove'))
  devices
    .command('positions <id>')
    .description("a device's position history with exact positions: the operator's view, personal data")
    .option('--format <format>', 'text or json', 'text')
    .action(lazyAction(() => import('./devices/positions.ts'), 'runPositions'))
  devices
    .command('status')
    .description('per device: readings, rejections by rule, schema changes and availability (from InfluxDB)')
    .option('--device <id>', 'only this device and its sub-devices (<id>.<sensor>)')
    .option('--format <format>', 'text or json', 'text')
    .option('--offline', 'only devices offline or stale (no reading for SENSHAGEN_STALE_AFTER_MS), with last seen: fleet health')
    .action(lazyAction(() => import('./devices/status.ts'), 'runStatus'))
  devices
    .command('mosquitto-config')
    .description('write DIR/passwd (0600), DIR/acl and DIR/mosquitto.conf.example from the registry, for running Mosquitto instead of our broker')
    .requiredOption('--out <dir>', 'output folder (created when missing)')
    .addHelpText('after', '\nRegenerate after every add, import, revoke or rotate-secret and reload Mosquitto (kill -HUP <pid>).')
    .action(lazyAction(() => import('./devices/mosquitto.ts'), 'runMosquittoConfig'))
}
