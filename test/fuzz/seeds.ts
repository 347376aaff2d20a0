import { readFileSync, readdirSync } from 'node:fs'
import { AUTHENTICATED_DEVICE_HEADER, type DecoderSettings } from '../../core/decoders/decoder.ts'
import { AIRROHR_TOPIC } from '../../core/decoders/airrohr.ts'
import { OPENSENSEMAP_TOPIC } from '../../core/decoders/opensensemap.ts'
import { WEATHER_STATION_TOPIC } from '../../core/decoders/weather-station.ts'
import { readingsTopic } from '../../core/topics.ts'

/**
 * The real payloads the fuzzer mutates, per source format: every device fixture in test/fixtures/devices (each
 * folder's SOURCES.md names its origin) and the sensor.community and Meet je Stad data-API files, with the topic and headers the
 * MQTT broker or the HTTP ingest hands the pipeline. HTTP pushes carry what services/ingest/http-ingest.ts adds:
 * `:path`, `:query` and the authenticated device (`:device`). Native v1 has no device fixture; its seeds are the
 * README "Native payload v1" example and the firmware simulator's shape.
 */
export interface Seed {
  topic: string
  payload: string
  headers?: Record<string, string>
}

export interface FormatSeeds {
  /** The decoder's format name, or a JSON file format `senshagen replay` reads (harness.ts FILE_PARSERS), replayed as native payloads. */
  format: string
  seeds: Seed[]
  /** MQTT formats go over the broker end to end; HTTP formats arrive on `http/<format>` topics. */
  transport: 'mqtt' | 'http' | 'file'
}

const DEVICES = new URL('../fixtures/devices/', import.meta.url).pathname
const ARCHIVE = new URL('../fixtures/sensor-community-archive/', import.meta.url).pathname
const read = (path: string) => readFileSync(path, 'utf8')
const files = (folder: string, pattern: RegExp) => readdirSync(DEVICES + folder).filter((f) => pattern.test(f)).sort().map((f) => DEVICES + folder + f)
const jsonl = (path: string): Seed[] =>
  read(path).split('\n').filter(Boolean).map((line) => {
    const { topic, payload } = JSON.parse(line) as { topic: string; payload: string }
    return { topic, payload }
  })

/** The openSenseMap box of the fixtures and what its sensors measure (the deployment's box configuration). */
export const OSEM_BOX = '5a1b2c3d4e5f60718293a4b0'
export const DECODER_SETTINGS: DecoderSettings = {
  deviceTimeZone: 'Europe/Amsterdam',
  openSenseMapSensors: {
    '5a1b2c3d4e5f60718293a4b1': { quantity: 'air_temperature', model: 'HDC1080' },
    '5a1b2c3d4e5f60718293a4b2': { quantity: 'relative_humidity', model: 'HDC1080' },
    '5a1b2c3d4e5f60718293a4b3': { quantity: 'air_pressure', unit: 'hPa', model: 'BMP280' },
    '5a1b2c3d4e5f60718293a4b4': { quantity: 'pm2_5', model: 'SDS011' },
    '5a1b2c3d4e5f60718293a4b5': { quantity: 'pm10', model: 'SDS011' },
  },
}

/** An HTTP request fixture (`.http`, `.txt`: optional `#` comment line, request line, headers, blank line, body). */
function request(path: string): { method: string; target: string; headers: Record<string, string>; body: string } {
  const lines = read(path).replace(/\r\n/g, '\n').split('\n')
  if (lines[0]?.startsWith('#')) lines.shift()
  const [method = '', target = ''] = (lines.shift() ?? '').split(' ')
  const headers: Record<string, string> = {}
  let line: string | undefined
  while ((line = lines.shift()) !== undefined && line !== '') headers[line.slice(0, line.indexOf(':')).trim().toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { method, target, headers, body: lines.join('\n') }
}

/** What the HTTP ingest hands the pipeline for a request that authenticated as `device`. */
function httpSeed(topic: string, device: string, target: string, headers: Record<string, string>, body: string): Seed {
  const [path = '', query = ''] = target.split('?')
  return { topic, payload: body, headers: { ...headers, ':path': path, ':query': query, [AUTHENTICATED_DEVICE_HEADER]: device } }
}

export function formatSeeds(): FormatSeeds[] {
  const native = (device: string, body: object): Seed => ({ topic: readingsTopic(device), payload: JSON.stringify(body) })
  return [
    {
      format: 'senshagen-v1',
      transport: 'mqtt',
      seeds: [
        native('garden-017', { v: 1, device: 'garden-017', time: '2026-11-29T18:00:00.000Z', sensor: 'BME280', readings: { air_temperature: 7.4, relative_humidity: 88.1, air_pressure: 1012.6, pm2_5: null } }),
        native('garden-018', { v: 1, time: 1796140800000, units: { air_pressure: 'Pa' }, readings: { air_pressure: 101260, pm10: 11.8 } }),
        { topic: 'senshagen/v1/devices/garden-017/status', payload: 'offline' },
      ],
    },
    {
      format: 'ttn-v3',
      transport: 'mqtt',
      seeds: [
        ...jsonl(DEVICES + 'ttn-v3/mqtt-messages.jsonl'),
        ...files('ttn-v3/', /\.json$/).map((path) => {
          const payload = read(path)
          const ids = (JSON.parse(payload) as { end_device_ids?: { device_id?: string; application_ids?: { application_id?: string } } }).end_device_ids
          return { topic: `v3/${ids?.application_ids?.application_id ?? 'senshagen'}@ttn/devices/${ids?.device_id ?? 'node'}/up`, payload }
        }),
      ],
    },
    { format: 'tasmota', transport: 'mqtt', seeds: jsonl(DEVICES + 'tasmota/mqtt-messages.jsonl') },
    { format: 'esphome', transport: 'mqtt', seeds: jsonl(DEVICES + 'esphome/mqtt-messages.jsonl') },
    { format: 'meetjestad-ttn-v2', transport: 'mqtt', seeds: [{ topic: 'meet-je-stad/devices/mjs-2041/up', payload: read(DEVICES + 'meetjestad/written_ttn-v2-legacy_port10.json') }] },
    {
      format: 'airrohr',
      transport: 'http',
      seeds: [
        ...files('airrohr/', /\.http$/).map((path) => {
          const r = request(path)
          return httpSeed(AIRROHR_TOPIC, `airrohr-${r.headers['x-sensor'] ?? 'esp8266-1'}`, r.target, r.headers, r.body)
        }),
        ...files('airrohr/', /^osem-test_.*\.json$/).map((path) => httpSeed(AIRROHR_TOPIC, 'airrohr-esp8266-1', '/data.php', { 'content-type': 'application/json', 'x-sensor': 'esp8266-1' }, read(path))),
      ],
    },
    {
      format: 'opensensemap',
      transport: 'http',
      seeds: files('opensensemap/', /^written_post-boxes-data/).map((path) => {
        const query = path.includes('luftdaten') ? '?luftdaten=1' : path.includes('hackair') ? '?hackair=1' : ''
        const type = path.endsWith('.csv') ? 'text/csv' : 'application/json'
        return httpSeed(OPENSENSEMAP_TOPIC, `osem-${OSEM_BOX}`, `/boxes/${OSEM_BOX}/data${query}`, { 'content-type': type }, read(path))
      }),
    },
    {
      format: 'weather-station',
      transport: 'http',
      seeds: files('wow-wu-ecowitt/', /\.txt$/).map((path) => {
        const r = request(path)
        const params = r.method === 'GET' ? (r.target.split('?')[1] ?? '') : r.body
        const device = path.includes('wow') ? 'wow-1234567' : path.includes('wunderground') ? 'wu-isensh1' : 'ecowitt-gw1100'
        // the HTTP ingest hands GET parameters as the payload (services/ingest/http-routes.ts)
        return httpSeed(WEATHER_STATION_TOPIC, device, r.target, r.headers, params)
      }),
    },
    { format: 'sc-data-api', transport: 'file', seeds: [{ topic: 'file', payload: read(ARCHIVE + 'written_data-api_sensor-community_v1.json') }] },
    { format: 'meetjestad-data-api', transport: 'file', seeds: [{ topic: 'file', payload: read(DEVICES + 'meetjestad/written_data-api_sensors.json') }] },
  ]
}
