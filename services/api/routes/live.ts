import type { ServerResponse } from 'node:http'
import { z } from 'zod'
import { IsoTime, NeighbourhoodParam, QuantityParam } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { LiveHub, LiveReading } from '../live.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/live[?neighbourhood=N][&quantity=Q]: Server-Sent Events (text/event-stream). New readings of
 * public devices as `event: reading` with `data: {"time","device","quantity","value"}` (services/api/live.ts
 * polls every SENSHAGEN_API_LIVE_POLL_MS); a comment line every SENSHAGEN_API_LIVE_HEARTBEAT_MS keeps proxies
 * from closing an idle stream. The stream ends when the client goes away or the server stops.
 */
export const LiveQuerySchema = z.object({
  neighbourhood: NeighbourhoodParam.optional().describe('only devices of this neighbourhood'),
  quantity: QuantityParam.optional().describe('only this quantity'),
})

export const LiveReadingSchema = z.object({ time: IsoTime, device: z.string(), quantity: z.string(), value: z.number() })

const SSE_CONTENT = {
  schema: {
    type: 'string',
    description: 'text/event-stream: `event: reading` + `data: <JSON>` per reading, `: heartbeat` comments',
    contentSchema: z.toJSONSchema(LiveReadingSchema),
  },
}

/** Open SSE responses, ended by the server's preClose hook so app.close() never waits for a browser. */
export type LiveConnections = Set<ServerResponse>

export function registerLiveRoutes(router: ApiRouter, deps: ApiDeps, hub: LiveHub, connections: LiveConnections): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/live',
      operationId: 'live',
      summary: 'Server-Sent Events: new readings of public devices',
      tags: ['readings'],
      querystring: LiveQuerySchema,
      responses: {
        200: { description: 'an event stream', content: { 'text/event-stream': SSE_CONTENT } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => {
      const { neighbourhood, quantity } = request.query
      if (neighbourhood !== undefined && deps.registry.neighbourhood(neighbourhood) === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
      // fastify answers HEAD with the GET handler: headers only, no stream to keep open
      if (request.method === 'HEAD') return reply.type('text/event-stream; charset=utf-8').send()
      // asked per reading, not once per stream: a device revoked or no longer consented stops at once
      const allowed = (device: string) => {
        const d = deps.registry.publicDevice(device)
        return d !== undefined && (neighbourhood === undefined || d.neighbourhood === neighbourhood)
      }
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
      res.write(`retry: ${deps.config.api.livePollMs}\n: connected\n\n`)
      connections.add(res)
      deps.logger.info({ method: 'GET', route: '/api/v1/live', status: 200 }, 'live stream opened')
      const onReadings = (readings: LiveReading[]) => {
        const events = readings
          .filter((r) => allowed(r.device) && (quantity === undefined || r.quantity === quantity))
          .map((r) => `event: reading\ndata: ${JSON.stringify(r)}\n\n`)
        if (events.length > 0) res.write(events.join(''))
      }
      const unsubscribe = hub.subscribe(onReadings)
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.config.api.liveHeartbeatMs)
      const close = () => {
        clearInterval(heartbeat)
        unsubscribe()
        connections.delete(res)
        if (!res.writableEnded) res.end()
      }
      // the response's close: the client went away (a request's own 'close' fires once its body is read)
      res.once('close', close)
      res.once('error', close)
    },
  )
}
