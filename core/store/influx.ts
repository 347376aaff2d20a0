import { HttpError, InfluxDB, canRetryHttpCall, setLogger, type Transport } from '@influxdata/influxdb-client'
import type { Config } from '../config.ts'
import { RefusedError, UnavailableError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { InfluxQueries, type InfluxSeries, type QueryControl } from './influx-queries.ts'
import { batchToLines, influxqlIdentifier } from './schema.ts'
import type { InfluxGeneration, ReadingStore, WriteBatch } from './store.ts'
import { ensureV2Bucket } from './influx-v2-setup.ts'

type InfluxConfig = Config['influx']

/** The InfluxDB store: a ReadingStore plus raw InfluxQL for tests, benchmarks and administration (see influxql below). */
export interface InfluxReadingStore extends ReadingStore {
  influxql(statement: string): Promise<InfluxSeries[]>
}

/**
 * Opens the InfluxDB store, detecting the server generation from `GET /ping` (header X-Influxdb-Version:
 * `1.x` → v1 API only; `2.x`/`v2.x` → v2 write API with a token; `3.x` → v2-compatible write API).
 * Writes go through @influxdata/influxdb-client's WriteApi in every generation: on 1.x its path is pointed at
 * the v1 `/write` endpoint. Queries are the named ones of core/store/influx-queries.ts: InfluxQL over `/query`, which all three
 * generations serve.
 *
 * Throws UnavailableError when the server does not answer /ping.
 */
export async function openInfluxStore(config: InfluxConfig, logger: Logger): Promise<InfluxReadingStore> {
  routeClientLogs(logger)
  const generation = await detectGeneration(config.url)
  if (generation > 1 && config.token === undefined) {
    throw new RefusedError(`InfluxDB ${generation}.x at ${config.url} needs SENSHAGEN_INFLUX_TOKEN`)
  }
  return new InfluxStore(config, generation, logger.child({ component: 'influx', generation }))
}

export async function detectGeneration(url: string): Promise<InfluxGeneration> {
  let response: Response
  try {
    response = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(5_000) })
  } catch (cause) {
    throw new UnavailableError(`InfluxDB at ${url} does not answer /ping (is it running? npm run infra:up)`, { cause })
  }
  const version = response.headers.get('x-influxdb-version') ?? ''
  const major = Number(/^v?(\d+)/.exec(version)?.[1])
  if (major === 1 || major === 2 || major === 3) return major
  throw new RefusedError(`${url}/ping answered without a known X-Influxdb-Version (got '${version}')`)
}

class InfluxStore extends InfluxQueries implements InfluxReadingStore {
  private readonly client: InfluxDB
  private readonly transport: Transport
  /** Write bodies above this many bytes go gzip-compressed; undefined: never (InfluxDB on loopback). */
  private readonly gzipThreshold: number | undefined

  constructor(
    private readonly config: InfluxConfig,
    readonly generation: InfluxGeneration,
    private readonly logger: Logger,
  ) {
    super()
    this.client = new InfluxDB({ url: config.url, token: config.token, timeout: 30_000 })
    this.transport = this.client.transport
    this.gzipThreshold = isLoopback(config.url) ? undefined : GZIP_THRESHOLD_BYTES
  }

  get database(): string {
    return this.config.database
  }

  async ensureDatabase(): Promise<void> {
    if (this.generation === 1) {
      await this.request(`/query?${this.params({ q: `CREATE DATABASE ${influxqlIdentifier(this.database)}` })}`, 'POST')
    } else if (this.generation === 2) {
      await ensureV2Bucket(this.transport, this.config)
    }
    // 3.x creates a database on its first write.
  }

  async write(batch: WriteBatch): Promise<void> {
    await this.post(batchToLines(batch).join('\n'))
  }

  async writeLines(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return
    await this.post(lines.join('\n'))
  }

  /**
   * POSTs one write body (lines joined by \n). The callers join before the first await, so that the line strings
   * die young, in V8's new space, instead of living as long as the request is in flight and reaching the old
   * generation (measured: ~400k of them there at 10k msg/s with 4 requests in flight; docs/benchmarks.md).
   */
  private async post(body: string): Promise<void> {
    if (body === '') return
    // One request through the client's transport, the same request its WriteApi sends (POST, text/plain, gzip
    // above 64 KiB unless InfluxDB is on this machine) without WriteApi's per-line buffering, which cost as much as
    // building the lines. No retry here: the caller retries (core/retry.ts) and only then acknowledges upstream
    // (MQTT PUBACK, Kafka offset).
    try {
      await this.transport.request(this.writePath, body, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        gzipThreshold: this.gzipThreshold,
      })
    } catch (error) {
      throw this.classify(error, 'write')
    }
  }

  /** The write endpoint, ms precision: v1 `/write` (database, credentials), else the v2 API (org, bucket; token header). */
  private get writePath(): string {
    if (this.generation === 1) return `/write?${this.params({ precision: 'ms' })}`
    const org = encodeURIComponent(this.config.org ?? '')
    return `/api/v2/write?org=${org}&bucket=${encodeURIComponent(this.database)}&precision=ms`
  }

  /**
   * Runs one InfluxQL statement against the database and returns the first result's series. Not on the
   * ReadingStore interface: product code calls the named queries; this is for tests, benchmarks and
   * administration (DROP DATABASE of a throwaway test database). Errors: RefusedError when InfluxDB refuses the
   * statement, with the statement as context; else those of the request.
   */
  override async influxql(statement: string, control?: QueryControl): Promise<InfluxSeries[]> {
    // InfluxDB 1.x refuses GET for statements that change data (CREATE, DROP, DELETE): they go as POST.
    const method = /^\s*(SELECT|SHOW)\b/i.test(statement) ? 'GET' : 'POST'
    const path = `/query?${this.params({ q: statement, epoch: 'ms' })}`
    let answer: unknown
    if (control === undefined) answer = await this.request(path, method)
    else {
      control.signal.throwIfAborted()
      const kill = () => void this.killQueries(control.marker)
      control.signal.addEventListener('abort', kill, { once: true })
      try {
        answer = await this.request(path, method, control.signal)
      } catch (error) {
        if (control.signal.aborted) throw control.signal.reason
        throw error
      } finally {
        control.signal.removeEventListener('abort', kill)
      }
    }
    const body = answer as {
      results?: Array<{ series?: InfluxSeries[]; error?: string }>
      error?: string
    }
    const result = body.results?.[0]
    const error = body.error ?? result?.error
    // a database not created yet (nothing written so far) holds nothing: a read of it is empty, not an error
    if (error !== undefined && method === 'GET' && /^database not found/.test(error)) return []
    if (error !== undefined) throw new RefusedError(`InfluxQL refused: ${error}`, { context: { statement } })
    return result?.series ?? []
  }

  async close(): Promise<void> {
    // Nothing is buffered here: every write() is flushed before it resolves.
  }

  /** v1 query parameters: database, credentials when configured (InfluxDB 1.x /query and /write). */
  private params(extra: Record<string, string>): string {
    const params = new URLSearchParams({ db: this.database, ...extra })
    if (this.config.username !== undefined) {
      params.set('u', this.config.username)
      params.set('p', this.config.password ?? '')
    }
    return params.toString()
  }

  /**
   * InfluxDB 1.x: kills the running queries whose text holds `marker` (SHOW QUERIES, KILL QUERY <qid>; 1.x's
   * query management, https://docs.influxdata.com/influxdb/v1/troubleshooting/query_management/). Closing
   * the HTTP request alone does not stop a 1.x query that is grouping windows. A query not yet registered
   * when the first SHOW QUERIES runs is caught by the second, 100 ms later. 2.x/3.x have no KILL QUERY over
   * InfluxQL: there the aborted request is all. Errors are logged, never thrown (called from an abort listener).
   */
  private async killQueries(marker: string): Promise<void> {
    if (this.generation !== 1) return
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const running = (await this.influxql('SHOW QUERIES'))[0]
        const qid = running?.columns.indexOf('qid') ?? -1
        const text = running?.columns.indexOf('query') ?? -1
        for (const row of running?.values ?? []) {
          if (String(row[text]).includes(marker)) {
            await this.influxql(`KILL QUERY ${Number(row[qid])}`)
            this.logger.info({ qid: row[qid] }, 'killed an InfluxDB query its caller gave up on')
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'could not kill an abandoned InfluxDB query')
    }
  }

  private async request(path: string, method: 'GET' | 'POST', signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.transport.request(path, null, { method, headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) })
    } catch (error) {
      throw this.classify(error, `${method} ${path.split('?')[0]}`)
    }
  }

  private classify(error: unknown, operation: string): Error {
    const detail = error instanceof HttpError ? `${error.statusCode} ${error.body ?? error.message}` : String(error)
    const message = `InfluxDB ${operation} at ${this.config.url} failed: ${detail}`
    this.logger.debug({ err: error, operation }, 'influx request failed')
    return canRetryHttpCall(error) ? new UnavailableError(message, { cause: error }) : new RefusedError(message, { cause: error })
  }
}

/** WriteApi's choice for large bodies (the client's `gzipThreshold`; its default is 1,000 bytes). */
const GZIP_THRESHOLD_BYTES = 64 * 1024

/**
 * True when `url` names this machine (localhost, 127.0.0.0/8, ::1): there, compressing a write body saves no
 * network time and costs CPU twice, gzip here and gunzip in InfluxDB (measured: about as much CPU per reading
 * as building its line; docs/benchmarks.md 2 December 2026).
 */
export function isLoopback(url: string): boolean {
  const host = new URL(url).hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

let clientLogsRouted = false
/** The client library logs through console by default; route its messages into our logger once. */
function routeClientLogs(logger: Logger): void {
  if (clientLogsRouted) return
  clientLogsRouted = true
  const log = logger.child({ component: 'influxdb-client' })
  setLogger({
    error: (message, error) => log.debug({ err: error }, message),
    warn: (message, error) => log.debug({ err: error }, message),
  })
}
