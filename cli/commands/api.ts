import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

/**
 * `senshagen api`: the public HTTP API and the residents' page on SENSHAGEN_API_BIND:SENSHAGEN_API_PORT
 * (default 127.0.0.1:8080), until SIGINT/SIGTERM. Devices come from the device registry
 * (SENSHAGEN_DEVICE_REGISTRY: default data/registry.sqlite, or a postgres:// URL; config/README.md): only
 * registered, active devices whose owners consented are public, positions coarsened. The API re-reads the
 * registry every 30 s, so `senshagen devices add|import|revoke` shows there within 30 s, without a restart. Implementation: cli/commands/impl/api.ts.
 */
export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('run the public HTTP API (consented devices, coarsened positions) and the residents\' page')
    .action(lazyAction(() => import('./impl/api.ts'), 'runApiCommand'))
}
