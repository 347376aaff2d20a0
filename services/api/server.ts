import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { DEFAULT_HTTP_IDLE_TIMEOUT_MS } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { DeviceRegistry } from '../../core/registry/registry.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { registerAccess } from './access.ts'
import type { ApiServerConfig } from './config.ts'
import { LiveHub } from './live.ts'
import { installProblemHandlers } from './problem.ts'
import { registerBasemapRoutes } from './routes/basemap.ts'
import { registerCalibrationRoutes } from './routes/calibration.ts'
import { registerBulkRoutes } from './routes/bulk.ts'
import { registerDeviceRoutes } from './routes/devices.ts'
import { registerFleetHealthRoutes } from './routes/fleet-health.ts'
import { registerHealthRoutes } from './routes/health.ts'
import { registerLatestRoutes } from './routes/latest.ts'
import { type LiveConnections, registerLiveRoutes } from './routes/live.ts'
import { registerNeighbourhoodRoutes } from './routes/neighbourhoods.ts'
import { registerReadingRoutes } from './routes/readings.ts'
import { registerReferenceRoutes } from './routes/reference.ts'
import { registerSiteRoutes } from './routes/site.ts'
import { registerStaRoutes } from './routes/sta.ts'
import { ApiRouter, type ApiDeps } from './routing.ts'

/**
 * The public HTTP API (endpoints: services/api/README.md and GET /openapi.json; one module per group in
 * services/api/routes/). Everything it publishes passes the registry: only consented, registered devices, only
 * coarsened positions (core/registry/).
 *
 * Logging: one info line per request with method, route pattern and status — never the URL, its query
 * string (device ids, times) or anything household-identifying.
 */
export interface ApiServerOptions {
  config: ApiServerConfig
  store: ReadingStore
  registry: DeviceRegistry
  logger: Logger
  /** The residents' page; default services/api/public/. */
  publicDir?: string
  /** uPlot's dist folder served at /vendor/uplot/; default resolved from node_modules (skipped when missing). */
  vendorUplotDir?: string
}

export const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('./public', import.meta.url))

function defaultUplotDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist')
  } catch {
    return undefined
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** fastify's trustProxy from the config: a hop count as proxy-addr reads a number (the nearest `hops` hops are trusted). */
function trustedProxies(setting: false | number | string[] | undefined): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : (setting ?? false)
}

/**
 * Builds the fastify app (not listening: call `listen`, or `inject` in tests). Closing it stops the live
 * poller and ends open event streams. Errors: those of plugin registration (none expected).
 */
export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const logger = options.logger.child({ service: 'api' })
  // request.ip (and so the rate limit's key) from X-Forwarded-For only through trusted proxies (SENSHAGEN_TRUST_PROXY)
  // connectionTimeout: a socket idle that long is closed. fastify's default (0) kept 3,000 connections that never
  // sent a byte open for good in a by-hand trial; the SSE heartbeat keeps event streams busy (core/config.ts checks)
  const app = Fastify({ logger: false, return503OnClosing: true, trustProxy: trustedProxies(options.config.api.trustProxy), connectionTimeout: options.config.api.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS })
  const deps: ApiDeps = { config: options.config, store: options.store, registry: options.registry, logger }
  const router = new ApiRouter(app)
  installProblemHandlers(app, logger)
  await registerAccess(app, options.config)

  app.addHook('onResponse', async (request, reply) => {
    logger.info({ method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode }, 'request')
  })

  const hub = new LiveHub({
    store: options.store,
    devices: () => options.registry.publicDevices().map((d) => d.id),
    pollMs: options.config.api.livePollMs,
    logger,
  })
  const connections: LiveConnections = new Set()
  app.addHook('preClose', async () => {
    for (const res of connections) res.end()
    connections.clear()
    await hub.close()
  })

  registerHealthRoutes(router, deps)
  registerNeighbourhoodRoutes(router, deps)
  registerDeviceRoutes(router, deps)
  registerFleetHealthRoutes(router, deps)
  registerReadingRoutes(router, deps)
  registerReferenceRoutes(router, deps)
  registerCalibrationRoutes(router, deps)
  registerLiveRoutes(router, deps, hub, connections)
  registerBulkRoutes(router, deps)
  registerStaRoutes(router, deps)
  registerLatestRoutes(router, deps)
  registerBasemapRoutes(router, deps)
  await registerSiteRoutes(router, {
    publicDir: options.publicDir ?? DEFAULT_PUBLIC_DIR,
    vendorUplotDir: options.vendorUplotDir ?? defaultUplotDir(),
    version: packageVersion(),
  })
  return app
}
