import { formatIsoMs, parseCliTime } from '../../../core/time.ts'
import { fail } from '../../context.ts'
import { outputFormat, table, withRegistry } from './output.ts'
import { degrees } from './register.ts'

/**
 * The position subcommands: `move` records where a device stands from a time on (a new entry of its position
 * history, core/registry/store.ts DevicePosition); `positions` shows that history, exact positions included (the
 * operator's view, personal data: the public API and open data show each entry coarsened, core/registry/coarsen.ts).
 * Readings are exported with the position valid at their time (positionAt in core/registry/registry.ts).
 * Registered in cli/commands/devices.ts; the subcommands are imported only when they run.
 */

/** `senshagen devices move <id>` (cli/commands/devices.ts). */
export async function runMove(id: string, options: { lat: string; lon: string; from: string }): Promise<void> {
  const location = { lat: degrees('--lat', options.lat, 90), lon: degrees('--lon', options.lon, 180) }
  let from = 0
  try {
    from = parseCliTime(options.from, '--from')
  } catch (error) {
    fail((error as Error).message, 2)
  }
  await withRegistry(async (store) => {
    const device = await store.moveDevice(id, location, from)
    process.stdout.write(`${id} stands at the new position from ${formatIsoMs(from)} on${sameLocation(device.location, location) ? '' : ' (a later entry stays its current position)'}\n`)
    process.stderr.write('exact positions are never published; the API and open data show the coarsened position valid at each reading\'s time (the API re-reads the registry within 30 s)\n')
  })
}

/** `senshagen devices positions <id>` (cli/commands/devices.ts). */
export async function runPositions(id: string, options: { format: string }): Promise<void> {
  const format = outputFormat(options.format)
  await withRegistry(async (store) => {
    if ((await store.device(id)) === undefined) fail(`no device '${id}' in the registry`)
    const history = (await store.positions(id)).map((p) => ({ validFrom: formatIsoMs(p.validFrom), lat: p.location.lat, lon: p.location.lon }))
    if (format === 'json') process.stdout.write(`${JSON.stringify(history)}\n`)
    else process.stdout.write(table(['VALID FROM', 'LAT', 'LON'], history.map((p) => [p.validFrom, String(p.lat), String(p.lon)])))
    process.stderr.write(`${history.length} position(s); each is valid until the next one's time (exact: personal data, never published)\n`)
  })
}

function sameLocation(a: { lat: number; lon: number } | undefined, b: { lat: number; lon: number }): boolean {
  return a !== undefined && a.lat === b.lat && a.lon === b.lon
}
