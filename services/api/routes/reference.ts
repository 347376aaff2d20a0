import { z } from 'zod'
import { QUANTITIES } from '../../../core/quantities.ts'
import { queryReferenceObservations } from '../../../core/reference/reference-store.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { csvStream } from '../csv.ts'
import { CSV_CONTENT, FormatParam, IsoTime, QuantityParam, timeParam } from '../params.ts'
import { ProblemSchema } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * GET /api/v1/reference?station=S&quantity=Q&from=T&to=T[&format=csv]: official reference-station
 * observations (measurement `reference`, core/reference/reference-store.ts), public data. `time` is the end of
 * the averaging period. CSV header `time,station,quantity,source,value,period_ms,flags` (flags `;`-separated).
 */
export const ReferenceQuerySchema = z
  .object({
    station: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/, 'must be a station id such as NL10818 (Luchtmeetnet) or 278 (KNMI)')
      .describe('station id: Luchtmeetnet NL10818, KNMI 278, …'),
    quantity: QuantityParam,
    from: timeParam('from', '-24h'),
    to: timeParam('to', 'now'),
    format: FormatParam,
  })
  .superRefine((q, ctx) => {
    if (typeof q.from === 'number' && typeof q.to === 'number' && q.to <= q.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' })
  })

export const ReferenceResponseSchema = z.object({
  station: z.string(),
  quantity: z.string(),
  unit: z.string(),
  from: IsoTime,
  to: IsoTime,
  observations: z.array(
    z.object({
      time: IsoTime.describe('end of the averaging period'),
      value: z.number(),
      source: z.string().describe('luchtmeetnet, knmi or samenmeten'),
      periodMs: z.number().int(),
      flags: z.array(z.string()),
    }),
  ),
})

export function registerReferenceRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/reference',
      operationId: 'reference',
      summary: 'reference-station observations (official data)',
      tags: ['reference'],
      querystring: ReferenceQuerySchema,
      responses: {
        200: { description: 'observations, oldest first', content: { 'application/json': ReferenceResponseSchema, 'text/csv': CSV_CONTENT } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => {
      const q = request.query
      const observations = await queryReferenceObservations(deps.store, { station: q.station, quantity: q.quantity, from: q.from, to: q.to })
      if (q.format === 'csv') {
        reply.type('text/csv; charset=utf-8')
        return reply.send(
          csvStream(['time', 'station', 'quantity', 'source', 'value', 'period_ms', 'flags'], observations, (o) => [
            formatIsoMs(o.time), o.station, o.quantity, o.source, o.value, o.periodMs, o.flags.join(';'),
          ]),
        )
      }
      return {
        station: q.station,
        quantity: q.quantity,
        unit: QUANTITIES[q.quantity].unit,
        from: formatIsoMs(q.from),
        to: formatIsoMs(q.to),
        observations: observations.map((o) => ({ time: formatIsoMs(o.time), value: o.value, source: o.source, periodMs: o.periodMs, flags: o.flags })),
      }
    },
  )
}
