import type { Config } from '../../../core/config.ts'
import { SensHagenError } from '../../../core/errors.ts'
import { openRegistryStore } from '../../../core/registry/open.ts'
import type { IssuedCredentials, RegistryStore } from '../../../core/registry/store.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { cliContext, fail } from '../../context.ts'
import { firmwareHint } from './firmware-hints.ts'

/**
 * What every `senshagen devices …` subcommand shares: opening the registry, the exit codes, and writing
 * secrets so that one that could not be delivered is never silently lost.
 *
 * Exit codes: 0 done; 1 refused (unknown or duplicate device, unknown neighbourhood, unusable registry, bad
 * import file); 2 usage error (bad or missing option, named with its rule).
 */

/** `--format text|json`; anything else is a usage error (exit 2). */
export function outputFormat(format: string): 'text' | 'json' {
  if (format !== 'text' && format !== 'json') fail(`--format: must be text or json, got '${format}'`, 2)
  return format
}

/**
 * Opens the registry of SENSHAGEN_DEVICE_REGISTRY (created with the configured neighbourhoods when missing),
 * runs `work`, and closes it. Any SensHagenError (RegistryError, ConfigError, UnavailableError) ends the
 * process with its message and exit 1; other errors too, prefixed with the registry's location.
 */
export async function withRegistry(work: (store: RegistryStore, config: Config) => Promise<void>): Promise<void> {
  const { config } = cliContext()
  let store: RegistryStore | undefined
  try {
    store = await openRegistryStore(config.registry)
    await work(store, config)
    await store.close()
  } catch (error) {
    await store?.close().catch(() => {})
    fail(error instanceof SensHagenError ? error.message : `device registry ${config.registry.url}: ${(error as Error).message}`)
  }
}

/**
 * Writes `text` to stdout and waits until it is handed to the OS. A secret exists nowhere else (the registry
 * keeps its hash), so when stdout is gone (`| head -0`, a full disk) the command stops at once with exit 1 and
 * says which devices need `rotate-secret`, instead of the quiet exit 0 a closed pipe gets elsewhere.
 */
export async function writeSecret(text: string, ids: string[]): Promise<void> {
  const lost = (error: NodeJS.ErrnoException): never =>
    fail(`the new secret of ${ids.join(', ')} could not be written to stdout (${error.code ?? error.message}); it is stored nowhere: run 'senshagen devices rotate-secret ${ids[0]}' for a new one`)
  process.stdout.prependOnceListener('error', lost)
  await new Promise<void>((resolve) => {
    process.stdout.write(text, (error) => {
      if (error) lost(error)
      process.stdout.off('error', lost)
      resolve()
    })
  })
}

/** `{"id":…,"username":…,"secret":…}` and nothing else, one line. */
export function credentialsJson(issued: IssuedCredentials): string {
  return `${JSON.stringify({ id: issued.id, username: issued.username, secret: issued.secret })}\n`
}

/**
 * The text form of new credentials (`devices add`, `rotate-secret`): four lines
 * `id:       <id>` / `username: <username>` / `secret:   <secret>` / `firmware: <one-line hint for its format>`.
 */
export function credentialsText(issued: IssuedCredentials, hint: string): string {
  return `id:       ${issued.id}\nusername: ${issued.username}\nsecret:   ${issued.secret}\nfirmware: ${hint}\n`
}

/** Prints new credentials (text or `--json`) and, on stderr, that the secret is shown only now. */
export async function printCredentials(store: RegistryStore, config: Config, issued: IssuedCredentials, json: boolean): Promise<void> {
  if (json) {
    await writeSecret(credentialsJson(issued), [issued.id])
  } else {
    const device = await store.device(issued.id)
    await writeSecret(credentialsText(issued, device === undefined ? '' : firmwareHint(device, config)), [issued.id])
  }
  process.stderr.write(`the secret is shown only this once (the registry keeps only its hash); hand it to the device's owner now\n`)
}

/** Epoch ms as ISO-8601 UTC, `-` when absent. */
export function iso(ms: number | undefined): string {
  return ms === undefined ? '-' : formatIsoMs(ms)
}

/** Rows as left-aligned columns under a header, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n'
  return line(header) + rows.map(line).join('')
}
