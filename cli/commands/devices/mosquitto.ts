import { writeMosquittoFiles } from '../../../core/registry/mosquitto.ts'
import { ensureServiceCredentials } from '../../../core/registry/service-credentials.ts'
import { withRegistry } from './output.ts'

/**
 * `devices mosquitto-config --out DIR`: the password file, ACL and example configuration for running Mosquitto
 * 2.0 instead of our broker (core/registry/mosquitto.ts). First makes sure the service accounts have secrets
 * (as the broker does at start-up: SENSHAGEN_SERVICE_CREDENTIALS, 0600), so the ingest, `replay` and `sim` on this
 * machine can log in to that Mosquitto. Prints one line per file to stderr, and a warning naming every account
 * left out (TTN ids contain ':', which a Mosquitto password file cannot hold).
 * Registered in cli/commands/devices.ts; the subcommands are imported only when they run.
 */

/** `senshagen devices mosquitto-config` (cli/commands/devices.ts). */
export async function runMosquittoConfig(options: { out: string }): Promise<void> {
  await withRegistry(async (store, config) => {
    await ensureServiceCredentials(store, config.registry.serviceCredentialsFile)
    const report = await writeMosquittoFiles(store, options.out)
    for (const s of report.skipped) process.stderr.write(`warning: ${s.username} left out of the Mosquitto files: its username ${s.reason}; it can only use our broker\n`)
    process.stderr.write(`${report.passwordFile}: ${report.accounts} account(s) (${report.activeDevices - report.skipped.length} device(s), ${report.services.length} service account(s)), mode 0600\n`)
    process.stderr.write(`${report.aclFile}: topic rights of those accounts (service secrets for this machine's clients: ${config.registry.serviceCredentialsFile})\n`)
    process.stderr.write(`${report.confFile}: example configuration using them; Mosquitto reads passwd and acl as its own user (chown mosquitto: passwd acl)\n`)
  })
}
