import type { HttpRoute } from './http-ingest.ts'

/**
 * The HTTP routes of the ingest and the decoder topic each feeds (core/decoders/index.ts). Adding an HTTP
 * format: its decoder file, its row in the decoder table, its routes here.
 */
export const HTTP_ROUTES: readonly HttpRoute[] = [
  // sensor.community airrohr firmware: "Send to own API" (custom) and the sensor.community push format
  { method: 'POST', url: '/data.php', topic: 'http/airrohr' },
  { method: 'POST', url: '/v1/push-sensor-data/', topic: 'http/airrohr' },
  { method: 'POST', url: '/airrohr', topic: 'http/airrohr' },
]
