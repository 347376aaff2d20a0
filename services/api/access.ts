import fastifyCompress from '@fastify/compress'
import fastifyCors from '@fastify/cors'
import fastifyEtag from '@fastify/etag'
import fastifyHelmet from '@fastify/helmet'
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { constants as zlib } from 'node:zlib'
import type { ApiServerConfig } from './config.ts'
import { ProblemError } from './problem.ts'

/**
 * What every response gets, through fastify's official plugins (registered before the routes):
 * - security headers (@fastify/helmet): a Content-Security-Policy allowing only the page's own files
 *   (services/api/public/ has no inline script or style; uPlot sets styles through the CSSOM, which CSP allows),
 *   `frame-ancestors 'none'` + X-Frame-Options DENY, X-Content-Type-Options nosniff, Referrer-Policy
 *   no-referrer. No upgrade-insecure-requests: the API is often reached over plain HTTP on a LAN.
 *   Cross-Origin-Resource-Policy cross-origin: the data is open, other sites may embed a chart SVG.
 * - CORS (@fastify/cors): any origin may read, GET and HEAD only (there is nothing else), no credentials;
 *   Link, ETag, Retry-After and the rate-limit headers are exposed to scripts.
 * - ETag (@fastify/etag, weak: the same entity is sent gzip, br or plain) and `If-None-Match` → 304 on every
 *   body built whole (JSON, SVG, the OpenAPI document); streamed CSV has none.
 * - compression (@fastify/compress): br (quality 4: a fraction of the CPU of the default 11) or gzip, as the client
 *   accepts, for bodies over 1 KiB; the SSE stream is written raw and never compressed.
 * - a rate limit (@fastify/rate-limit): `rateLimitPerMinute` requests per minute and client address
 *   (SENSHAGEN_API_RATE_LIMIT_PER_MIN, default 600), X-RateLimit-* headers on every answer, beyond it 429 with
 *   Retry-After (seconds) as a problem document. The client address is fastify's `request.ip`: the socket's
 *   peer, or behind reverse proxies named in SENSHAGEN_TRUST_PROXY (config `api.trustProxy`, set on the fastify
 *   instance in services/api/server.ts) the X-Forwarded-For entry the nearest trusted proxy reports; a client's
 *   own X-Forwarded-For is ignored unless it comes through a trusted proxy.
 */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600

export async function registerAccess(app: FastifyInstance, config: ApiServerConfig): Promise<void> {
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  })
  await app.register(fastifyCors, {
    origin: '*',
    methods: ['GET', 'HEAD'],
    exposedHeaders: ['Link', 'ETag', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 86_400,
  })
  const max = config.api.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE
  await app.register(fastifyRateLimit, {
    global: true,
    max,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) =>
      new ProblemError(429, `more than ${max} requests per minute from this address (SENSHAGEN_API_RATE_LIMIT_PER_MIN); retry after ${context.after}`),
  })
  await app.register(fastifyEtag, { weak: true })
  await app.register(fastifyCompress, {
    global: true,
    threshold: 1024,
    encodings: ['br', 'gzip'],
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  })
}
