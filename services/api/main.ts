import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { loadRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { ApiSettings } from './config.ts'
import { buildApiServer } from './server.ts'

/**
 * The API service: opens the store, reads the device registry, listens on SENSHAGEN_API_BIND:SENSHAGEN_API_PORT.
 * Resolves once listening with the bound port (useful with port 0) and `stop`, which closes the server
 * (ending live streams). Errors: ConfigError (registry), UnavailableError (InfluxDB down at start), listen
 * errors (EADDRINUSE).
 */
export async function runApi(config: Config & ApiSettings, parentLogger: Logger): Promise<{ port: number; stop(): Promise<void> }> {
  const logger = parentLogger.child({ service: 'api' })
  const registry = await loadRegistry(config.registry.path)
  const store = await openInfluxStore(config.influx, logger)
  const app = await buildApiServer({ config, store, registry, logger: parentLogger })
  await app.listen({ host: config.api.bind, port: config.api.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.api.port
  logger.info(
    { bind: config.api.bind, port, neighbourhoods: registry.neighbourhoods().length, publicDevices: registry.publicDevices().length },
    'api listening',
  )
  return {
    port,
    async stop() {
      await app.close()
      await store.close()
    },
  }
}
