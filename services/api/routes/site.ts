import { existsSync } from 'node:fs'
import fastifyStatic from '@fastify/static'
import { z } from 'zod'
import { openApiDocument } from '../openapi.ts'
import type { ApiRouter } from '../routing.ts'

/**
 * GET /openapi.json, and the residents' page: `publicDir` (services/api/public/, built by the page's own
 * engineer) at `/` with index.html, uPlot's dist folder at `/vendor/uplot/`. Without `publicDir`, `GET /` is a
 * short text pointing at the API.
 */
export const OpenApiSchema = z.looseObject({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })

export async function registerSiteRoutes(router: ApiRouter, options: { publicDir: string; vendorUplotDir?: string; version: string }): Promise<void> {
  router.get(
    {
      method: 'GET',
      url: '/openapi.json',
      operationId: 'openapi',
      summary: 'this OpenAPI 3.1 document',
      tags: ['service'],
      responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': OpenApiSchema } } },
    },
    async () => openApiDocument(router.specs, { title: 'SensHagen public API', version: options.version }),
  )
  const app = router.app
  if (options.vendorUplotDir !== undefined && existsSync(options.vendorUplotDir)) {
    await app.register(fastifyStatic, { root: options.vendorUplotDir, prefix: '/vendor/uplot/', decorateReply: false })
  }
  const pageSpec = {
    method: 'GET' as const,
    url: '/',
    operationId: 'page',
    summary: "the residents' page (index.html and its static files)",
    tags: ['site'],
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
  }
  if (existsSync(options.publicDir)) {
    await app.register(fastifyStatic, { root: options.publicDir, prefix: '/', index: 'index.html' })
    router.specs.push(pageSpec)
  } else {
    router.get({ ...pageSpec, responses: { 200: { description: 'text', content: { 'text/plain': { schema: { type: 'string' } } } } } }, async (_request, reply) =>
      reply.type('text/plain; charset=utf-8').send('SensHagen public API: see /openapi.json and /api/v1/neighbourhoods\n'),
    )
  }
}
