import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Logger } from '../../core/logger.ts'
import type { DeviceRegistry } from '../../core/registry/registry.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import type { ApiServerConfig } from './config.ts'
import { InvalidParamsError, invalidParamsFromIssues } from './problem.ts'

/** What every route module gets. */
export interface ApiDeps {
  config: ApiServerConfig
  store: ReadingStore
  registry: DeviceRegistry
  logger: Logger
}

/**
 * One place that declares a route: its URL, its zod models for query and path parameters (fastify validates
 * requests with them through the validator compiler below) and its responses (services/api/openapi.ts turns
 * the same models into the OpenAPI document). A route cannot be served without being documented.
 */
export interface ResponseSpec {
  description: string
  /** media type → zod model of the body (JSON), or a plain JSON Schema (CSV, SVG, SSE text). */
  content?: Record<string, z.ZodType | { schema: Record<string, unknown> }>
  headers?: Record<string, { description: string }>
}

export interface RouteSpec<Q extends z.ZodType | undefined = z.ZodType | undefined, P extends z.ZodType | undefined = z.ZodType | undefined> {
  method: 'GET'
  /** fastify pattern, `:name` for path parameters. */
  url: string
  operationId: string
  summary: string
  description?: string
  tags: string[]
  querystring?: Q
  params?: P
  responses: Record<number, ResponseSpec>
  /** Left out of the OpenAPI document (static files). */
  hidden?: boolean
}

type Out<T> = T extends z.ZodType ? z.output<T> : Record<string, never>
export type ApiRequest<Q, P> = FastifyRequest<{ Querystring: Out<Q>; Params: Out<P> }>

/** The parameter names of an object model (through refinements, which zod 4 keeps on the object); undefined for others. */
function knownKeys(schema: z.ZodType): string[] | undefined {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined
}

const NO_PARAMETERS = z.object({})

/**
 * A zod issue about a parameter the request does not give at all says so (`quantity is required`), and one about a
 * parameter given more than once says that, not zod's type or enum text.
 */
function plainIssue<I extends { path: PropertyKey[]; message: string; code: string }>(issue: I, data: unknown): I {
  const name = issue.path[0]
  if (typeof name !== 'string' || issue.path.length !== 1 || issue.code === 'custom') return issue
  const value = typeof data === 'object' && data !== null && Object.hasOwn(data, name) ? (data as Record<string, unknown>)[name] : undefined
  if (value === undefined) return { ...issue, message: `${name} is required` }
  // `?device=a&device=b` reaches the model as an array: zod's "expected string, received array" does not say what to do
  if (Array.isArray(value)) return { ...issue, message: `${name} is given ${value.length} times; give it once (a parameter that takes several values takes them comma-separated: ${name}=a,b)` }
  return issue
}

/**
 * Registers routes on a fastify instance and remembers their specs. Fastify's validator compiler is set to
 * run the zod models: a failure becomes InvalidParamsError, answered as a 400 problem naming each parameter.
 * A query parameter the route does not know is such a failure too (a typo `form=` would otherwise silently
 * give the default range); every route validates its query string, an empty model where it takes none.
 */
export class ApiRouter {
  readonly specs: RouteSpec[] = []

  constructor(readonly app: FastifyInstance) {
    app.setValidatorCompiler(({ schema, httpPart }) => {
      const model = schema as z.ZodType
      const known = httpPart === 'querystring' ? knownKeys(model) : undefined
      return (data: unknown) => {
        const unknown = known === undefined ? [] : Object.keys((data ?? {}) as object).filter((key) => !known.includes(key))
        if (unknown.length > 0) {
          const reason = `unknown parameter; this endpoint takes ${known!.length === 0 ? 'none' : known!.join(', ')}`
          return { error: new InvalidParamsError(unknown.map((name) => ({ name, reason }))) }
        }
        const result = model.safeParse(data ?? {})
        return result.success ? { value: result.data } : { error: new InvalidParamsError(invalidParamsFromIssues(result.error.issues.map((i) => plainIssue(i, data)))) }
      }
    })
  }

  get<Q extends z.ZodType | undefined = undefined, P extends z.ZodType | undefined = undefined>(
    spec: RouteSpec<Q, P>,
    handler: (request: ApiRequest<Q, P>, reply: FastifyReply) => Promise<unknown>,
  ): void {
    this.specs.push(spec as RouteSpec)
    this.app.route({
      method: 'GET',
      url: spec.url,
      schema: {
        querystring: spec.querystring ?? NO_PARAMETERS,
        ...(spec.params ? { params: spec.params } : {}),
      },
      handler: handler as (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
    })
  }
}
