import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Logger } from './logger.ts'
import { configureMetrics, metricsRegistry } from './metrics.ts'

/**
 * Serving the process's metrics (core/metrics.ts) in the Prometheus text format on a listener of its own at
 * SENSHAGEN_METRICS_BIND:SENSHAGEN_METRICS_PORT (default 127.0.0.1:9464), one per process, whatever services
 * run in it. Not on the API's or the HTTP ingest's port: those face residents and devices, and /metrics has no
 * authentication. Bind it to localhost (the default) or a private network only (README "Metrics").
 */
export const METRICS_PATH = '/metrics'

/** The exposition body and its Content-Type (text/plain; version=0.0.4). */
export async function metricsExposition(): Promise<{ contentType: string; body: string }> {
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() }
}

/**
 * A listener that answers GET /metrics (404 otherwise) on `bind`:`port` (0 = any free port). Resolves with the
 * bound port once listening and `close`. Errors: the listen error (EADDRINUSE).
 */
export async function startMetricsListener(options: { bind: string; port: number }, logger: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== METRICS_PATH) return void response.writeHead(404).end()
    metricsExposition().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) => {
        logger.error({ err: error }, 'could not collect metrics')
        response.writeHead(500).end()
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.bind, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  logger.info({ bind: options.bind, port }, 'metrics listening')
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/**
 * Sets up the process's metrics once at start-up (core/metrics.ts configureMetrics): build info from
 * package.json and `git rev-parse HEAD` when the code runs from a git checkout (else commit="unknown").
 */
export function setUpProcessMetrics(staleAfterMs: number): void {
  const root = new URL('../', import.meta.url)
  const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string }
  let commit: string | undefined
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, timeout: 2_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined
  } catch {
    commit = undefined
  }
  configureMetrics({ staleAfterMs, version, commit })
}

/**
 * What every long-running command does first: sets up the process's metrics (setUpProcessMetrics) and starts
 * their listener on config.metrics. Resolves with the function that closes it. Errors: the listen error.
 */
export async function serveProcessMetrics(config: { bind: string; port: number; staleAfterMs: number }, logger: Logger): Promise<() => Promise<void>> {
  setUpProcessMetrics(config.staleAfterMs)
  return (await startMetricsListener(config, logger)).close
}
