import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../../core/logger.ts'
import { apiResponsesCut } from '../../core/metrics.ts'

/**
 * A streamed body (CSV, bulk files) whose source fails after the status line and the first chunks are sent
 * cannot become an error answer any more: a clean end would pass the truncated body off as complete. So the
 * connection is destroyed instead — no terminating zero-length chunk (RFC 9112 §7.1), which every HTTP client
 * reports as an incomplete message (Node: `aborted`, curl: exit 18, Python requests: ChunkedEncodingError) — and
 * the cut is logged at error level and counted (senshagen_api_responses_cut_total by route pattern). A source
 * failing before anything was sent is left to fastify, which answers it through the problem handlers (503/500).
 * Fastify destroys the socket on a late stream error too (its reply.js sendStream); doing it here keeps the
 * promise without depending on that, and through @fastify/compress as well.
 */
export function abortOnError<S extends Readable>(body: S, request: FastifyRequest, reply: FastifyReply, logger: Logger): S {
  body.once('error', (error) => {
    if (!reply.raw.headersSent) return
    const route = request.routeOptions.url ?? '(none)'
    apiResponsesCut.inc({ route })
    logger.error({ route, err: error }, 'streamed response cut off by an error: connection aborted so the client sees it incomplete')
    reply.raw.destroy(error)
  })
  return body
}
