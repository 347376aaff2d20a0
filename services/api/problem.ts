import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { UnavailableError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatPath } from '../../core/registry/registry.ts'

/**
 * RFC 9457 problem details (`application/problem+json`) for every 4xx and 5xx the API sends, including
 * fastify's own (unknown route, bad media type) and validation errors. `type` is `about:blank` (RFC 9457
 * §4.2.1): the status says what kind of problem it is, `title` is its reason phrase, `detail` explains this
 * occurrence and `invalid-params` names each bad query or path parameter (the RFC's own example extension).
 */
export const InvalidParamSchema = z.object({ name: z.string(), reason: z.string() })

export const ProblemSchema = z
  .object({
    type: z.string().describe('a URI reference; about:blank: the status code says it all'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional().describe('the request path'),
    'invalid-params': z.array(InvalidParamSchema).optional(),
  })
  .describe('RFC 9457 problem details')

export type Problem = z.infer<typeof ProblemSchema>
export type InvalidParam = z.infer<typeof InvalidParamSchema>

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** An error the API answers with a problem document. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly invalidParams: InvalidParam[] = [],
  ) {
    super(detail)
  }
}

/** 400 naming one bad parameter. */
export function badParam(name: string, reason: string): ProblemError {
  return new ProblemError(400, `invalid parameter ${name}: ${reason}`, [{ name, reason }])
}

/** 404 with a fixed detail: callers use the same text for "unknown" and "not public", so the two look alike. */
export function notFound(detail: string): ProblemError {
  return new ProblemError(404, detail)
}

/** Raised by the zod validator compiler (services/api/routing.ts): fastify hands it to the error handler. */
export class InvalidParamsError extends Error {
  constructor(readonly invalidParams: InvalidParam[]) {
    super(invalidParams.map((p) => `${p.name}: ${p.reason}`).join('; '))
  }
}

/** What a zod issue carries that invalid-params needs: bounds only on `too_big`/`too_small`. */
interface ParamIssue {
  path: readonly PropertyKey[]
  message: string
  code?: string
  maximum?: number | bigint
  minimum?: number | bigint
}

/**
 * invalid-params from zod issues: the parameter is the first path element (query and path parameters are flat).
 * A value past several bounds of one parameter gets one reason, the tightest bound's: zod reports an integer
 * beyond 2^53 as too big for `.int()` (the safe-integer range) and again for `.max()`, and only the second says
 * what the parameter takes (`limit=99999999999999999999` → "Too big: expected number to be <=100000").
 */
export function invalidParamsFromIssues(issues: readonly ParamIssue[]): InvalidParam[] {
  const kept: ParamIssue[] = []
  for (const issue of issues) {
    const bound = boundOf(issue)
    const name = formatPath(issue.path)
    const same = bound === undefined ? -1 : kept.findIndex((k) => k.code === issue.code && formatPath(k.path) === name)
    if (same === -1) kept.push(issue)
    else if (issue.code === 'too_big' ? bound! < boundOf(kept[same]!)! : bound! > boundOf(kept[same]!)!) kept[same] = issue
  }
  return kept.map((issue) => ({ name: formatPath(issue.path), reason: issue.message }))
}

function boundOf(issue: ParamIssue): number | bigint | undefined {
  if (issue.code === 'too_big') return issue.maximum
  if (issue.code === 'too_small') return issue.minimum
  return undefined
}

/** Builds a problem document. */
export function problem(status: number, request: FastifyRequest, detail?: string, invalidParams: InvalidParam[] = []): Problem {
  return {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    ...(detail === undefined ? {} : { detail }),
    instance: request.url.split('?')[0]!,
    ...(invalidParams.length ? { 'invalid-params': invalidParams } : {}),
  }
}

export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body))
}

/**
 * Error and not-found handlers. 5xx details never carry internals: InfluxDB unavailable → 503 with a fixed
 * text; anything else → 500 "internal error", logged with the route pattern (never the query string).
 */
export function installProblemHandlers(app: FastifyInstance, logger: Logger): void {
  app.setNotFoundHandler((request, reply) => sendProblem(reply, problem(404, request, 'no such resource')))
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) return sendProblem(reply, problem(error.status, request, error.message, error.invalidParams))
    if (error instanceof InvalidParamsError) {
      return sendProblem(reply, problem(400, request, `invalid parameters: ${error.message}`, error.invalidParams))
    }
    if (error instanceof UnavailableError) {
      logger.warn({ route: request.routeOptions.url, err: error.message }, 'InfluxDB unavailable')
      return sendProblem(reply, problem(503, request, 'the measurement store is unavailable; try again later'))
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status >= 500) {
      logger.error({ route: request.routeOptions.url, err: error }, 'request failed')
      return sendProblem(reply, problem(500, request, 'internal error'))
    }
    return sendProblem(reply, problem(status, request, error.message))
  })
}
