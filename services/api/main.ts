import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { UnavailableError } from '../../core/errors.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import type { ApiSettings } from './config.ts'
import { lazyStore } from './lazy-store.ts'
import { REGISTRY_REFRESH_MS, refreshingRegistry } from './registry-snapshot.ts'
import { buildApiServer } from './server.ts'

/**
 * The API service: opens the device registry (SENSHAGEN_DEVICE_REGISTRY) and the store, listens on
 * SENSHAGEN_API_BIND:SENSHAGEN_API_PORT. What it publishes comes from a snapshot of the registry's public view
 * (consented, active devices; coarsened positions), re-read every `registryRefreshMs` (default 30 s), so a
 * revoked or newly consented device shows without a restart. Resolves once listening with the bound port
 * (useful with port 0) and `stop`, which closes the server (ending live streams), the store and the registry.
 * InfluxDB down at start does not stop it: it listens degraded (GET /api/v1/health `degraded`, 503 problems on
 * data routes, services/api/lazy-store.ts) and serves data once InfluxDB answers.
 * Errors: ConfigError (registry location unusable, neighbourhoods file), UnavailableError (PostgreSQL down at
 * start), listen errors (EADDRINUSE); whatever was opened is closed again.
 */
export async function runApi(
  config: Config & ApiSettings,
  parentLogger: Logger,
  options: { registryRefreshMs?: number } = {},
): Promise<{ port: number; stop(): Promise<void> }> {
  const logger = parentLogger.child({ service: 'api' })
  const registryStore = await openRegistryStore(config.registry)
  const closeAll: Array<() => Promise<void> | void> = [() => registryStore.close()]
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    for (const step of [...closeAll].reverse()) await step()
  }
  try {
    const registry = await refreshingRegistry(registryStore, { refreshMs: options.registryRefreshMs ?? REGISTRY_REFRESH_MS, logger })
    closeAll.push(() => registry.stop())
    let store: ReadingStore
    try {
      store = await openInfluxStore(config.influx, logger)
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error
      logger.warn({ err: error.message }, 'InfluxDB does not answer: the API starts degraded and connects when it does')
      store = lazyStore(() => openInfluxStore(config.influx, logger), { database: config.influx.database })
    }
    closeAll.push(() => store.close())
    const app = await buildApiServer({ config, store, registry, logger: parentLogger })
    closeAll.push(() => app.close())
    await app.listen({ host: config.api.bind, port: config.api.port })
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : config.api.port
    logger.info(
      { bind: config.api.bind, port, registry: registryStore.source, neighbourhoods: registry.neighbourhoods().length, publicDevices: registry.publicDevices().length },
      'api listening',
    )
    return { port, stop: close }
  } catch (error) {
    await close().catch(() => {})
    throw error
  }
}
