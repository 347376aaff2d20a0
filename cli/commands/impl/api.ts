import { serveProcessMetrics } from '../../../core/metrics-http.ts'
import { runApi } from '../../../services/api/main.ts'
import { cliContext, fail, runUntilSignal } from '../../context.ts'

/** `senshagen api` (cli/commands/api.ts): serves until SIGINT/SIGTERM. */
export async function runApiCommand(): Promise<void> {
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
}
