import type { Command } from 'commander'
import { serveProcessMetrics } from '../../core/metrics-http.ts'
import { runApi } from '../../services/api/main.ts'
import { cliContext, fail, runUntilSignal } from '../context.ts'

/**
 * `senshagen api`: the public HTTP API and the residents' page on SENSHAGEN_API_BIND:SENSHAGEN_API_PORT
 * (default 127.0.0.1:8080), until SIGINT/SIGTERM. Devices come from the device registry
 * (SENSHAGEN_DEVICE_REGISTRY: default data/registry.sqlite, or a postgres:// URL; config/README.md): only
 * registered, active devices whose owners consented are public, positions coarsened. The API re-reads the
 * registry every 30 s, so `senshagen devices add|import|revoke` shows there within 30 s, without a restart.
 */
export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('run the public HTTP API (consented devices, coarsened positions) and the residents\' page')
    .action(async () => {
      const ctx = cliContext()
      try {
        const { config } = ctx
        const closeMetrics = await serveProcessMetrics(config.metrics, ctx.logger)
        const api = await runApi(config, ctx.logger)
        process.stderr.write(`senshagen api: http://${config.api.bind}:${api.port}/ (OpenAPI: /openapi.json)\n`)
        runUntilSignal(ctx.logger, async () => {
          await api.stop()
          await closeMetrics()
        })
      } catch (error) {
        fail((error as Error).message)
      }
    })
}
