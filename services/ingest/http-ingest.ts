import { createHash } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { InboundMessage } from '../../core/decoders/index.ts'
import type { Logger } from '../../core/logger.ts'
import type { IngestCore } from './ingest-core.ts'

/**
 * One HTTP route of the ingest: which requests it takes and how a request becomes an InboundMessage for the
 * decoder table (topic `http/<format>`). Headers reach the decoder with lower-case names, plus the
 * pseudo-headers `:path` (request path without query) and `:query` (the raw query string).
 */
export interface HttpRoute {
  method: 'GET' | 'POST'
  url: string
  topic: string
  /** The bytes the decoder reads; default: the body. */
  payload?: (request: { body: Buffer; query: string }) => Buffer
  /** Last changes before the message is built, e.g. removing secrets so no rejection ever stores them. */
  prepare?: (message: InboundMessage) => InboundMessage
}

/**
 * The HTTP ways in, for devices that cannot speak MQTT. Routes (README "HTTP ingest"):
 * - airrohr (sensor.community firmware) "Send to own API" and the sensor.community push format
 *   (opendata-stuttgart/sensors-software `sendData()`): POST /data.php, /v1/push-sensor-data/, /airrohr.
 * - whatever else `routes` lists (services/ingest/http-routes.ts).
 *
 * The response is sent after the sink acknowledged (Kafka or InfluxDB), so a 2xx means stored:
 * 200 `{"readings": n, "rejections": m}`; 503 when the sink is shutting down (devices retry next cycle).
 * Bodies are read as raw bytes whatever the Content-Type, so a bad body is dead-lettered with its bytes
 * instead of being refused by a parser.
 */
export async function startHttpIngest(
  core: IngestCore,
  routes: readonly HttpRoute[],
  options: { bind: string; port: number; bodyLimit: number },
  logger: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: options.bodyLimit })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const [path, query = ''] = request.url.split('?') as [string, string?]
        const headers: Record<string, string | undefined> = { ':path': path, ':query': query }
        for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
        const payload = route.payload ? route.payload({ body, query }) : body
        let message: InboundMessage = { topic: route.topic, payload, receivedAt: Date.now(), headers }
        if (route.prepare) message = route.prepare(message)
        try {
          const ctx = await core.handle(message)
          return reply.code(200).send({ readings: ctx.readings.length, rejections: ctx.rejections.length })
        } catch (error) {
          logger.warn({ err: error, route: route.url }, 'HTTP push not stored')
          return reply.code(503).send({ error: 'not stored, try again later' })
        }
      },
    })
  }
  app.get('/health', async () => ({ status: 'ok' }))

  await app.listen({ host: options.bind, port: options.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  logger.info({ bind: options.bind, port, routes: routes.map((r) => `${r.method} ${r.url}`) }, 'http ingest listening')
  return { port, close: () => app.close() }
}

/** SHA-256 hex of a text, for identities that must not be stored in clear (Ecowitt PASSKEY). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
