import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { DEFAULT_HTTP_IDLE_TIMEOUT_MS } from '../../core/config.ts'
import { AUTHENTICATED_DEVICE_HEADER, type InboundMessage } from '../../core/decoders/decoder.ts'
import type { Logger } from '../../core/logger.ts'
import { httpIngestRefusals, observeAck } from '../../core/metrics.ts'
import { DEFAULT_AUTH_THROTTLE, HttpAuthenticator, type AuthOutcome, type AuthRequest, type AuthThrottleOptions, type HttpAuthMechanism, type HttpAuthStats, type HttpRegistry } from './http-auth.ts'
import { redactSecrets } from './http-redact.ts'
import type { IngestCore } from './ingest-core.ts'

/**
 * One HTTP route of the ingest: which requests it takes, how they authenticate (services/ingest/http-auth.ts) and
 * how a request becomes an InboundMessage for the decoder table (topic `http/<format>`). Headers reach the decoder
 * with lower-case names, without credentials, plus the pseudo-headers `:path` (request path without query),
 * `:query` (the raw query string) and `:device` (the authenticated registry device id), every secret the request
 * presented replaced by `***` (services/ingest/http-redact.ts).
 */
export interface HttpRoute {
  method: 'GET' | 'POST'
  url: string
  topic: string
  auth: HttpAuthMechanism
  /** The bytes the decoder reads; default: the body. */
  payload?: (request: { body: Buffer; query: string }) => Buffer
  /** Last changes before the pipeline, after the secrets are gone, e.g. removing positions (withoutLocations). */
  prepare?: (message: InboundMessage) => InboundMessage
}

export interface HttpIngestOptions {
  bind: string
  port: number
  /** Largest body fastify reads, bytes (413 above it). */
  bodyLimit: number
  /** Throttling of failed authentication; default DEFAULT_AUTH_THROTTLE (5 failures → 60 s). */
  authThrottle?: AuthThrottleOptions
  /** A connection with no bytes either way this long is closed, ms; default DEFAULT_HTTP_IDLE_TIMEOUT_MS (30 s). */
  idleTimeoutMs?: number
}

export interface HttpIngestServer {
  port: number
  /** Accepted and refused pushes (refusals by reason). */
  stats: HttpAuthStats
  close(): Promise<void>
}

/**
 * The HTTP ways in, for devices that cannot speak MQTT (routes: services/ingest/http-routes.ts, README "HTTP
 * ingest"). Every push authenticates with its firmware's own mechanism against `registry`:
 * - refused: 401 (429 with `Retry-After` when throttled) and an RFC 9457 problem document
 *   `{"type":"about:blank","title":"Unauthorized","status":401,"detail":…,"reason":"bad_credentials"}`, with
 *   `WWW-Authenticate` for basic auth; nothing is decoded, stored or dead-lettered (an unauthenticated request is not
 *   a device's data); one warn line `HTTP push refused` with route pattern, mechanism, reason, claimed identity and
 *   remote address, never a secret or the request URL; counted in `stats.refused`.
 * - accepted: the message goes through the pipeline under the registry's device id. The response is sent after the
 *   sink acknowledged (Kafka or InfluxDB), so a 2xx means stored: 200 `{"readings": n, "rejections": m}`; 503 when
 *   the sink fails or is shutting down (devices retry next cycle).
 * Bodies are read as raw bytes whatever the Content-Type, so a bad body is dead-lettered with its (redacted) bytes
 * instead of being refused by a parser.
 */
export async function startHttpIngest(core: IngestCore, routes: readonly HttpRoute[], options: HttpIngestOptions, logger: Logger, registry: HttpRegistry): Promise<HttpIngestServer> {
  const authenticator = new HttpAuthenticator(registry, options.authThrottle ?? DEFAULT_AUTH_THROTTLE)
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: options.bodyLimit, connectionTimeout: options.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const [path, query = ''] = request.url.split('?') as [string, string?]
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
        const parts: AuthRequest = { headers: request.headers, params: (request.params ?? {}) as Record<string, string>, query, body }
        const outcome = await authenticator.check(route.auth, parts, request.ip)
        if (!outcome.ok) return refuse(reply, route, outcome, request.ip, logger)

        const headers: Record<string, string | undefined> = {}
        for (const [name, value] of Object.entries(request.headers)) {
          if (!name.startsWith('x-senshagen-')) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value
        }
        Object.assign(headers, { ':path': path, ':query': query, [AUTHENTICATED_DEVICE_HEADER]: outcome.device.id })
        const payload = route.payload ? route.payload({ body, query }) : body
        let message: InboundMessage = redactSecrets({ topic: route.topic, payload, receivedAt: Date.now(), headers }, outcome.secrets)
        if (route.prepare) message = route.prepare(message)
        try {
          const ctx = await core.handle(message)
          observeAck('http', message.receivedAt, Date.now)
          return reply.code(200).send({ readings: ctx.readings.length, rejections: ctx.rejections.length })
        } catch (error) {
          logger.warn({ err: error, route: route.url, deviceId: outcome.device.id }, 'HTTP push not stored')
          return reply.code(503).send({ error: 'not stored, try again later' })
        }
      },
    })
  }
  app.get('/health', async () => ({ status: 'ok' }))

  await app.listen({ host: options.bind, port: options.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  logger.info({ bind: options.bind, port, routes: routes.map((r) => `${r.method} ${r.url} (${r.auth.name})`) }, 'http ingest listening')
  return { port, stats: authenticator.stats, close: () => app.close() }
}

/** 401/429 with a problem document; one log line (throttled repeats only at debug, so a flood does not flood the log). */
function refuse(reply: FastifyReply, route: HttpRoute, outcome: Extract<AuthOutcome, { ok: false }>, remoteAddress: string, logger: Logger): FastifyReply {
  const status = outcome.reason === 'throttled' ? 429 : 401
  httpIngestRefusals.inc({ reason: outcome.reason })
  const fields = { route: route.url, mechanism: route.auth.name, reason: outcome.reason, identity: loggableIdentity(outcome.identity), remoteAddress, ...(outcome.blockedForS === undefined ? {} : { blockedForS: outcome.blockedForS }) }
  if (outcome.reason === 'throttled') logger.debug(fields, 'HTTP push refused')
  else logger.warn(fields, 'HTTP push refused')
  if (status === 401 && route.auth.challenge) reply.header('www-authenticate', route.auth.challenge)
  if (outcome.retryAfterS !== undefined) reply.header('retry-after', String(outcome.retryAfterS))
  const problem = { type: 'about:blank', title: status === 429 ? 'Too Many Requests' : 'Unauthorized', status, detail: outcome.detail, reason: outcome.reason }
  return reply.code(status).type('application/problem+json').send(JSON.stringify(problem))
}

/**
 * A claimed identity as it may be logged: undefined when absent, and `(secret-like, not logged)` for a 43-character
 * base64url string, the shape of our secrets (core/registry/credentials.ts), so a secret typed into the user field
 * does not reach the log.
 */
export function loggableIdentity(identity: string | undefined): string | undefined {
  if (identity === undefined) return undefined
  return /^[A-Za-z0-9_-]{43}$/.test(identity) ? '(secret-like, not logged)' : identity.slice(0, 100)
}
