import { PASSKEY_SHA256_HEADER, WEATHER_STATION_TOPIC, redactWeatherStationSecrets } from '../../core/decoders/weather-station.ts'
import type { InboundMessage } from '../../core/decoders/index.ts'
import { OPENSENSEMAP_TOPIC, withoutLocations } from '../../core/decoders/opensensemap.ts'
import { sha256Hex, type HttpRoute } from './http-ingest.ts'

/**
 * The HTTP routes of the ingest and the decoder topic each feeds (core/decoders/index.ts). Adding an HTTP
 * format: its decoder file, its row in the decoder table, its routes here.
 */
export const HTTP_ROUTES: readonly HttpRoute[] = [
  // sensor.community airrohr firmware: "Send to own API" (custom) and the sensor.community push format
  { method: 'POST', url: '/data.php', topic: 'http/airrohr' },
  { method: 'POST', url: '/v1/push-sensor-data/', topic: 'http/airrohr' },
  { method: 'POST', url: '/airrohr', topic: 'http/airrohr' },
  // home weather stations: Met Office WOW (as used by WOW-NL), Weather Underground PWS, Ecowitt "customized"
  { method: 'GET', url: '/automaticreading', topic: WEATHER_STATION_TOPIC, payload: ({ query }) => Buffer.from(query), prepare: withoutStationSecrets },
  { method: 'POST', url: '/automaticreading', topic: WEATHER_STATION_TOPIC, prepare: withoutStationSecrets },
  { method: 'GET', url: '/weatherstation/updateweatherstation.php', topic: WEATHER_STATION_TOPIC, payload: ({ query }) => Buffer.from(query), prepare: withoutStationSecrets },
  { method: 'POST', url: '/data/report/', topic: WEATHER_STATION_TOPIC, prepare: withoutStationSecrets },
  // openSenseMap upload API (sensebox/openSenseMap-API measurementsController.js); positions are removed
  // before anything is stored, a garden's location being personal data
  { method: 'POST', url: '/boxes/:boxId/data', topic: OPENSENSEMAP_TOPIC, prepare: withoutLocations },
  { method: 'POST', url: '/boxes/:boxId/:sensorId', topic: OPENSENSEMAP_TOPIC, prepare: withoutLocations },
]

/**
 * Station uploads carry secrets (WU `PASSWORD`, WOW `siteAuthenticationKey`, Ecowitt `PASSKEY`): they are
 * removed from the payload and the `:query` pseudo-header before anything can store or log them. Ecowitt's
 * PASSKEY is also its identity, so its SHA-256 goes on in a header (the decoder uses the first 12 hex digits).
 */
function withoutStationSecrets(message: InboundMessage): InboundMessage {
  const text = message.payload.toString('utf8')
  const passkey = new URLSearchParams(text).get('PASSKEY') ?? new URLSearchParams(message.headers?.[':query'] ?? '').get('PASSKEY')
  const headers: Record<string, string | undefined> = { ...message.headers, ':query': redactWeatherStationSecrets(message.headers?.[':query'] ?? '') }
  if (passkey) headers[PASSKEY_SHA256_HEADER] = sha256Hex(passkey)
  return { ...message, payload: Buffer.from(redactWeatherStationSecrets(text)), headers }
}
