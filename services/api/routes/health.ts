import { z } from 'zod'
import { detectGeneration } from '../../../core/store/influx.ts'
import { ProblemError, ProblemSchema } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * GET /api/v1/health: the process answers (liveness). GET /api/v1/ready: InfluxDB answers `GET /ping`
 * (readiness): 200 `{status:'ready', influxdb: <major version>}`, else 503 problem.
 */
export const HealthSchema = z.object({ status: z.literal('ok') })
export const ReadySchema = z.object({ status: z.literal('ready'), influxdb: z.number().int().describe('InfluxDB major version') })

export function registerHealthRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/health',
      operationId: 'health',
      summary: 'liveness: the API process answers',
      tags: ['service'],
      responses: { 200: { description: 'alive', content: { 'application/json': HealthSchema } } },
    },
    async () => ({ status: 'ok' as const }),
  )
  router.get(
    {
      method: 'GET',
      url: '/api/v1/ready',
      operationId: 'ready',
      summary: 'readiness: InfluxDB answers /ping',
      tags: ['service'],
      responses: {
        200: { description: 'ready', content: { 'application/json': ReadySchema } },
        503: { description: 'InfluxDB does not answer', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async () => {
      try {
        return { status: 'ready' as const, influxdb: await detectGeneration(deps.config.influx.url) }
      } catch {
        throw new ProblemError(503, 'the measurement store (InfluxDB) does not answer')
      }
    },
  )
}
