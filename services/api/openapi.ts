import { z } from 'zod'
import { GRID } from '../../core/registry/coarsen.ts'
import { SENSHAGEN_DATA_LICENCE, SENSOR_COMMUNITY_LICENCE } from './licence.ts'
import { COMMA_LIST_META } from './list-param.ts'
import type { ResponseSpec, RouteSpec } from './routing.ts'

/**
 * The OpenAPI 3.1 document of the API, generated from the route specs (services/api/routing.ts): parameters
 * and response bodies are `z.toJSONSchema` of the same zod models fastify validates requests with (JSON
 * Schema 2020-12, OpenAPI 3.1's dialect). Parameters use the models' input side (what a client sends: `limit`
 * is an integer with default 10000), bodies their output side.
 */
export interface OpenApiInfo {
  title: string
  version: string
}

type JsonSchema = Record<string, unknown>

function jsonSchema(model: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(model, { io, unrepresentable: 'any' }) as JsonSchema
  return schema
}

function parameters(model: z.ZodType | undefined, location: 'query' | 'path'): JsonSchema[] {
  if (model === undefined) return []
  const object = jsonSchema(model, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] }
  return Object.entries(object.properties ?? {}).map(([name, schema]) => {
    // a comma-separated list (list-param.ts): an array serialised as form, not exploded (OpenAPI 3.1 §4.8.12.4)
    const { description, [COMMA_LIST_META]: list, ...rest } = schema
    return {
      name,
      in: location,
      required: location === 'path' || (object.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      ...(list === undefined ? { schema: rest } : { schema: { type: 'array', ...(list as JsonSchema) }, style: 'form', explode: false }),
    }
  })
}

function response(spec: ResponseSpec): JsonSchema {
  const content = Object.fromEntries(
    Object.entries(spec.content ?? {}).map(([mediaType, model]) => [
      mediaType,
      { schema: model instanceof z.ZodType ? jsonSchema(model, 'output') : model.schema },
    ]),
  )
  return {
    description: spec.description,
    ...(spec.headers ? { headers: Object.fromEntries(Object.entries(spec.headers).map(([name, h]) => [name, { description: h.description, schema: { type: 'string' } }])) } : {}),
    ...(spec.content ? { content } : {}),
  }
}

/** `/api/v1/devices/:id` → `/api/v1/devices/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')
}

export function openApiDocument(specs: readonly RouteSpec[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {}
  for (const spec of specs) {
    if (spec.hidden) continue
    const path = openApiPath(spec.url)
    paths[path] ??= {}
    paths[path][spec.method.toLowerCase()] = {
      operationId: spec.operationId,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      tags: spec.tags,
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.querystring, 'query')],
      responses: Object.fromEntries(Object.entries(spec.responses).map(([status, r]) => [status, response(r)])),
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'Public data of SensHagen citizen sensors. Only devices whose owners accepted the terms are shown; a garden ' +
        `position is personal data and is published only as the centre of a ${GRID.latDeg}° × ${GRID.lonDeg}° grid cell ` +
        '(≈ 222 m × 203 m at 52.5° N) or as its neighbourhood centre. Times are ISO-8601 UTC with milliseconds. ' +
        'Errors are RFC 9457 problem details (application/problem+json). ' +
        `Data licence: ${SENSHAGEN_DATA_LICENCE.name} (${SENSHAGEN_DATA_LICENCE.id}), attribution "${SENSHAGEN_DATA_LICENCE.attribution}"; ` +
        `data of sensor.community devices (ids sc-…) keeps its source's ${SENSOR_COMMUNITY_LICENCE.name} (${SENSOR_COMMUNITY_LICENCE.id}), attribution "${SENSOR_COMMUNITY_LICENCE.attribution}"; ` +
        'each answer names its licences (`licence`, Link rel="license"). The software is MIT-licensed (https://opensource.org/license/mit). ' +
        'Rate limit: SENSHAGEN_API_RATE_LIMIT_PER_MIN requests per minute per client address (default 600), 429 with Retry-After beyond. ' +
        'Aggregates are cost-limited (413) and time-limited (504); see GET /api/v1/readings.',
      license: { name: SENSHAGEN_DATA_LICENCE.name, identifier: SENSHAGEN_DATA_LICENCE.id },
      'x-software-license': { name: 'MIT', identifier: 'MIT' },
    },
    paths,
  }
}
