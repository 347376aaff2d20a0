import { z } from 'zod'
import { detectGeneration } from '../../../core/store/influx.ts'
import { ProblemError, ProblemSchema } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * GET /api/v1/health: the process answers (liveness, always 200): `ok` with the store reachable, `degraded`
 * while InfluxDB does not answer `GET /ping` (the page and the API run; data routes answer 503 problems until it
 * is back). GET /api/v1/ready: InfluxDB answers (readiness): 200 `{status:'ready', influxdb: <major version>}`,
 * else 503 problem.
 */
export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  store: z.enum(['up', 'down']).describe('InfluxDB answers GET /ping'),
})
export const ReadySchema = z.object({ status: z.literal('ready'), influxdb: z.number().int().describe('InfluxDB major version') })

export function registerHealthRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/health',
      operationId: 'health',
      summary: 'liveness: the API process answers; degraded while the measurement store does not',
      tags: ['service'],
      responses: { 200: { description: 'alive', content: { 'application/json': HealthSchema } } },
    },
    async () => {
      const up = await detectGeneration(deps.config.influx.url).then(() => true, () => false)
      return up ? { status: 'ok' as const, store: 'up' as const } : { status: 'degraded' as const, store: 'down' as const }
    },
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
