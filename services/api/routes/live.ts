import type { ServerResponse } from 'node:http'
import { z } from 'zod'
import { IsoTime, NeighbourhoodParam, QuantityParam } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import { REPLAY_BUFFER, RESUME_MS, type LiveEvent, type LiveHub } from '../live.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/live[?neighbourhood=N][&quantity=Q]: Server-Sent Events (text/event-stream). New readings of
 * public devices as `event: reading` with `data: {"time","device","quantity","value","unit","uncertainty","label"}` (services/api/live.ts
 * polls every SENSHAGEN_API_LIVE_POLL_MS); a comment line every SENSHAGEN_API_LIVE_HEARTBEAT_MS keeps proxies
 * from closing an idle stream. The stream ends when the client goes away or the server stops.
 * Every event carries an `id:`; a client reconnecting with `Last-Event-ID` (EventSource does this by itself) first
 * gets the events it missed, from a buffer of the newest 1000 (services/api/live.ts: polling resumes where it
 * stopped when a client is back within 5 minutes). An id that cannot be resumed from (too old, or from before
 * a server restart) gets a `: cannot resume` comment and the stream from now.
 */
export const LiveQuerySchema = z.object({
  neighbourhood: NeighbourhoodParam.optional().describe('only devices of this neighbourhood'),
  quantity: QuantityParam.optional().describe('only this quantity'),
})

export const LiveReadingSchema = z.object({ time: IsoTime, device: z.string(), quantity: z.string(), value: z.number(), unit: z.string(), uncertainty: z.null(), label: z.literal('uncalibrated') })

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
        200: {
          description: `an event stream; each event has an id; Last-Event-ID resumes from a buffer of the newest ${REPLAY_BUFFER} events (polling picks up where it stopped when a client returns within ${RESUME_MS / 60_000} min)`,
          content: { 'text/event-stream': SSE_CONTENT },
        },
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
      // the headers set so far (security headers, CORS, rate limit) go out with the hijacked response too
      const headers = { ...reply.getHeaders() } as Record<string, string | number | string[]>
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
      res.write(`retry: ${deps.config.api.livePollMs}\n: connected\n\n`)
      connections.add(res)
      deps.logger.info({ method: 'GET', route: '/api/v1/live', status: 200 }, 'live stream opened')
      const send = (events: LiveEvent[]) => {
        const lines = events
          .filter(({ reading: r }) => allowed(r.device) && (quantity === undefined || r.quantity === quantity))
          .map(({ id, reading }) => `id: ${id}\nevent: reading\ndata: ${JSON.stringify(reading)}\n\n`)
        if (lines.length > 0) res.write(lines.join(''))
      }
      const lastId = request.headers['last-event-id']
      if (typeof lastId === 'string' && lastId !== '') {
        const missed = hub.replayAfter(lastId.slice(0, 100))
        if (missed === undefined) res.write(': cannot resume from that id; live from now\n\n')
        else send(missed)
      }
      const unsubscribe = hub.subscribe(send)
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
