import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from '../../core/logger.ts'
import type { IngestCore } from './ingest-core.ts'

/**
 * The HTTP way in, for firmware that cannot speak MQTT: the sensor.community airrohr firmware's
 * "Send to own API" option and its sensor.community push format (opendata-stuttgart/sensors-software
 * `sendData()`; feinstaub-api `authentication.py` accepts X-Sensor/Sensor/Node and X-PIN/Pin headers).
 *
 *   POST /data.php, /v1/push-sensor-data/, /airrohr   body: airrohr JSON, headers X-Sensor, X-PIN
 *
 * The response is sent after the sink acknowledged (Kafka or InfluxDB), so a 2xx means stored:
 * 200 `{"readings": n, "rejections": m}`; 503 when the sink is shutting down (the firmware retries next cycle).
 * Bodies are read as raw bytes whatever the Content-Type (the firmware's InfluxDB option sends
 * `application/x-www-form-urlencoded`), so a bad body is dead-lettered with its bytes, not refused by the parser.
 */
export async function startHttpIngest(core: IngestCore, options: { bind: string; port: number; bodyLimit: number }, logger: Logger): Promise<{ port: number; close(): Promise<void> }> {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: options.bodyLimit })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  const handler = async (request: { body: unknown; headers: Record<string, string | string[] | undefined> }, reply: { code(n: number): { send(x: unknown): unknown } }) => {
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : v]))
    const payload = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    try {
      const ctx = await core.handle({ topic: 'http/airrohr', payload, receivedAt: Date.now(), headers })
      return reply.code(200).send({ readings: ctx.readings.length, rejections: ctx.rejections.length })
    } catch (error) {
      logger.warn({ err: error }, 'HTTP push not stored')
      return reply.code(503).send({ error: 'not stored, try again later' })
    }
  }
  for (const url of ['/data.php', '/v1/push-sensor-data/', '/airrohr']) app.post(url, handler)
  app.get('/health', async () => ({ status: 'ok' }))

  await app.listen({ host: options.bind, port: options.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  logger.info({ bind: options.bind, port }, 'http ingest listening')
  return { port, close: () => app.close() }
}
