import { readFile } from 'node:fs/promises'
import { importDevices, parseDeviceImport } from '../../../core/registry/import.ts'
import { DeviceEntrySchema } from '../../../core/registry/registry.ts'
import { DEVICE_FORMATS, type DeviceFormat, type NewDevice } from '../../../core/registry/store.ts'
import { fail } from '../../context.ts'
import { credentialsJson, iso, printCredentials, withRegistry, writeSecret } from './output.ts'

/**
 * The subcommands that change the registry: `add`, `import`, `revoke`, `rotate-secret`. Secrets go to stdout
 * exactly once (text or `--json`), everything else to stderr.
 * Registered in cli/commands/devices.ts; the subcommands are imported only when they run.
 */

/** `senshagen devices add <id>` (cli/commands/devices.ts). */
export async function runAdd(id: string, options: AddOptions): Promise<void> {
  const device = newDevice(id, options)
  await withRegistry(async (store, config) => {
    const known = (await store.neighbourhoods()).map((n) => n.id)
    if (!known.includes(device.neighbourhood)) fail(`--neighbourhood: no neighbourhood '${device.neighbourhood}' in the registry (known: ${known.join(', ') || 'none'}; add it to ${config.registry.neighbourhoodsFile})`)
    await printCredentials(store, config, await store.addDevice(device), options.json === true)
  })
}

/** `senshagen devices import <file>` (cli/commands/devices.ts). */
export async function runImport(file: string, options: { json?: boolean }): Promise<void> {
  let text = ''
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    fail(`cannot read ${file}: ${(error as Error).message}`)
  }
  await withRegistry(async (store) => {
    const plan = parseDeviceImport(text, file)
    const result = await importDevices(store, plan, (issued) =>
      writeSecret(options.json ? credentialsJson(issued) : `${issued.id}: username ${issued.username}, secret ${issued.secret}\n`, [issued.id]),
    )
    if (result.neighbourhoods.length > 0) process.stderr.write(`neighbourhoods added or updated: ${result.neighbourhoods.join(', ')}\n`)
    if (result.skipped.length > 0) process.stderr.write(`already registered (left as they are, secrets unchanged): ${result.skipped.join(', ')}\n`)
    if (result.registered.length > 0) process.stderr.write(`the new secrets are shown only this once (the registry keeps only their hashes)\n`)
    process.stderr.write(`${result.registered.length} registered, ${result.skipped.length} already registered\n`)
  })
}

/** `senshagen devices revoke <id>` (cli/commands/devices.ts). */
export async function runRevoke(id: string): Promise<void> {
  await withRegistry(async (store) => {
    const before = await store.device(id)
    const device = await store.revoke(id)
    if (before?.revokedAt !== undefined) {
      process.stderr.write(`device '${id}' was already revoked at ${iso(before.revokedAt)}; nothing changed\n`)
      return
    }
    process.stdout.write(`${id} revoked at ${iso(device.revokedAt)}\n`)
    process.stderr.write('its credentials no longer work; a running broker closes its connection at its next registry check (SENSHAGEN_MQTT_REGISTRY_POLL_MS)\n')
  })
}

/** `senshagen devices rotate-secret <id>` (cli/commands/devices.ts). */
export async function runRotateSecret(id: string, options: { json?: boolean }): Promise<void> {
  await withRegistry(async (store, config) => {
    await printCredentials(store, config, await store.rotateSecret(id), options.json === true)
  })
}

interface AddOptions {
  neighbourhood: string
  consent: string
  lat?: string
  lon?: string
  format?: string
  nativeId?: string
  coarsen?: string
  sensor?: string[]
  note?: string
  json?: boolean
}

/** The options of `devices add` as a NewDevice; every bad option is a usage error (exit 2) naming it and its rule. */
function newDevice(id: string, options: AddOptions): NewDevice {
  const idCheck = DeviceEntrySchema.shape.id.safeParse(id)
  if (!idCheck.success) fail(`<id>: '${id}': ${idCheck.error.issues.map((issue) => issue.message).join('; ')}`, 2)
  if (options.consent !== 'yes' && options.consent !== 'no') fail(`--consent: must be yes or no, got '${options.consent}'`, 2)
  const device: NewDevice = { id, neighbourhood: options.neighbourhood, consent: options.consent === 'yes' }
  if ((options.lat === undefined) !== (options.lon === undefined)) fail(`--${options.lat === undefined ? 'lat' : 'lon'}: needed with --${options.lat === undefined ? 'lon' : 'lat'} (give both or neither)`, 2)
  if (options.lat !== undefined && options.lon !== undefined) device.location = { lat: degrees('--lat', options.lat, 90), lon: degrees('--lon', options.lon, 180) }
  if (options.format !== undefined) {
    if (!(DEVICE_FORMATS as readonly string[]).includes(options.format)) fail(`--format: must be one of ${DEVICE_FORMATS.join(', ')}, got '${options.format}'`, 2)
    device.format = options.format as DeviceFormat
  }
  if (options.nativeId !== undefined) device.nativeId = options.nativeId
  if (options.coarsen !== undefined) {
    if (options.coarsen !== 'grid' && options.coarsen !== 'neighbourhood') fail(`--coarsen: must be grid or neighbourhood, got '${options.coarsen}'`, 2)
    device.coarsen = options.coarsen
  }
  if (options.sensor !== undefined) device.sensorModels = options.sensor
  if (options.note !== undefined) device.note = options.note
  return device
}

/** A `--lat`/`--lon` value in decimal degrees within ±`limit`; anything else is a usage error (exit 2) naming `option`. */
export function degrees(option: string, text: string, limit: number): number {
  const value = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text.trim()) ? Number(text) : NaN
  if (!(Math.abs(value) <= limit)) fail(`${option}: must be decimal degrees from -${limit} to ${limit}, got '${text}'`, 2)
  return value
}
