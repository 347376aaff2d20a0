import { WEATHER_STATION_TOPIC } from '../../core/decoders/weather-station.ts'
import { OPENSENSEMAP_TOPIC, withoutLocations } from '../../core/decoders/opensensemap.ts'
import { AIRROHR_BASIC_AUTH, ECOWITT_NO_TOKEN, ECOWITT_PATH_TOKEN, OSEM_BOX_TOKEN, WOW_SITE_KEY, WU_PASSWORD } from './http-auth.ts'
import type { HttpRoute } from './http-ingest.ts'

const query = ({ query }: { query: string }) => Buffer.from(query)

/**
 * The HTTP routes of the ingest, the credential mechanism of each (services/ingest/http-auth.ts) and the decoder
 * topic each feeds (core/decoders/index.ts). Adding an HTTP format: its decoder file, its row in the decoder table,
 * its routes and mechanism here. Secrets are removed from every message before the pipeline (http-redact.ts);
 * positions too, where a body can carry them (withoutLocations: openSenseMap locations, airrohr GPS_* values).
 */
export const HTTP_ROUTES: readonly HttpRoute[] = [
  // sensor.community airrohr firmware: "Send to own API" (custom) and the sensor.community push format; basic auth
  { method: 'POST', url: '/data.php', topic: 'http/airrohr', auth: AIRROHR_BASIC_AUTH, prepare: withoutLocations },
  { method: 'POST', url: '/v1/push-sensor-data/', topic: 'http/airrohr', auth: AIRROHR_BASIC_AUTH, prepare: withoutLocations },
  { method: 'POST', url: '/airrohr', topic: 'http/airrohr', auth: AIRROHR_BASIC_AUTH, prepare: withoutLocations },
  // home weather stations: Met Office WOW (as used by WOW-NL), Weather Underground PWS, Ecowitt "customized"
  { method: 'GET', url: '/automaticreading', topic: WEATHER_STATION_TOPIC, auth: WOW_SITE_KEY, payload: query },
  { method: 'POST', url: '/automaticreading', topic: WEATHER_STATION_TOPIC, auth: WOW_SITE_KEY },
  { method: 'GET', url: '/weatherstation/updateweatherstation.php', topic: WEATHER_STATION_TOPIC, auth: WU_PASSWORD, payload: query },
  { method: 'POST', url: '/data/report/:device/:token', topic: WEATHER_STATION_TOPIC, auth: ECOWITT_PATH_TOKEN },
  // the old Ecowitt path, and a token without a device id: 401 naming the path to configure
  { method: 'POST', url: '/data/report/', topic: WEATHER_STATION_TOPIC, auth: ECOWITT_NO_TOKEN },
  { method: 'POST', url: '/data/report/:token', topic: WEATHER_STATION_TOPIC, auth: ECOWITT_NO_TOKEN },
  // openSenseMap upload API (sensebox/openSenseMap-API measurementsController.js): the box's access token;
  // positions are removed before anything is stored, a garden's location being personal data
  { method: 'POST', url: '/boxes/:boxId/data', topic: OPENSENSEMAP_TOPIC, auth: OSEM_BOX_TOKEN, prepare: withoutLocations },
  { method: 'POST', url: '/boxes/:boxId/:sensorId', topic: OPENSENSEMAP_TOPIC, auth: OSEM_BOX_TOKEN, prepare: withoutLocations },
]
