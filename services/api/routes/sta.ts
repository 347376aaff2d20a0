import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import { ProblemSchema } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { StaLinks } from '../sta/entities.ts'
import { StaQuerySchema, applySelect } from '../sta/query-options.ts'
import { resolveSta } from '../sta/resolve.ts'

/**
 * An OGC SensorThings API 1.1 read subset (OGC 18-088) under /sta/v1.1/ — what Samen Meten offers — over public
 * devices only (services/api/sta/). Supported: the service root with conformance (§8.2.2), Things, Locations
 * (published positions), HistoricalLocations (the published position history), Datastreams, Sensors, ObservedProperties, Observations by id and through
 * `Datastreams(id)/Observations`; navigation one level deep; `$top`, `$skip`, `$count`, `$orderby`,
 * `$expand` (one level), `$select` and `$filter` on phenomenonTime; `@iot.selfLink`, `@iot.navigationLink`, `@iot.nextLink`.
 * Not served: FeaturesOfInterest, nested options, `$resultFormat`, create/update/delete, MQTT.
 */
export const STA_ROOT = '/sta/v1.1'
export const STA_SETS = ['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations'] as const

/** The conformance classes of §8.2.2 this read subset follows (partially for request-data: see above). */
export const STA_CONFORMANCE = [
  'http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/request-data',
]

const StaJson = { schema: { type: 'object', description: 'SensorThings API 1.1 entity or collection ({ "@iot.count"?, value, "@iot.nextLink"? })' } }

function links(request: FastifyRequest): StaLinks {
  const origin = `${request.protocol}://${request.host}`
  return new StaLinks(origin, `${origin}${STA_ROOT}`)
}

export function registerStaRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: STA_ROOT,
      operationId: 'staServiceRoot',
      summary: 'OGC SensorThings API 1.1 service root: entity sets and conformance',
      tags: ['sensorthings'],
      responses: { 200: { description: 'service root document (OGC 18-088 §8.2.2)', content: { 'application/json': StaJson } } },
    },
    async (request) => {
      const base = links(request).base
      return {
        value: STA_SETS.map((name) => ({ name, url: `${base}/${name}` })),
        serverSettings: {
          conformance: STA_CONFORMANCE,
          'senshagen:readSubset': {
            description: 'read only; $filter on Observations phenomenonTime only; $expand one level; no FeaturesOfInterest, $select',
          },
        },
      }
    },
  )
  router.get(
    {
      method: 'GET',
      url: `${STA_ROOT}/*`,
      operationId: 'staResource',
      summary: "SensorThings resource path, e.g. Things, Things('g-a')/Datastreams, Datastreams('g-a~pm2_5')/Observations",
      tags: ['sensorthings'],
      params: z.object({ '*': z.string().max(300).describe('resource path (OGC 18-088 §9.2)') }),
      querystring: StaQuerySchema,
      responses: {
        200: { description: 'an entity or a collection', content: { 'application/json': StaJson } },
        400: { description: 'unsupported or bad query option (named in invalid-params)', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'no such resource or entity (unknown and non-public look the same)', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => {
      const answer = await resolveSta({ store: deps.store, registry: deps.registry, links: links(request), requestUrl: request.url }, request.params['*'], request.query)
      return applySelect(answer, request.query.$select)
    },
  )
}
