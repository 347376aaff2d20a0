import { readFileSync } from 'node:fs'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { runBroker } from '../../services/broker/main.ts'
import { runIngest, type RunningIngest } from '../../services/ingest/main.ts'
import { MOSQUITTO_URL, isolatedConfig, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const logger = createLogger('warn')
const FIXTURES = new URL('../fixtures/devices/', import.meta.url).pathname
const jsonl = (file: string) =>
  readFileSync(FIXTURES + file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { topic: string; payload: string; retain: boolean })

/** `.http` fixture: request line and CRLF headers, blank line, raw body (test/fixtures/devices/airrohr/SOURCES.md). */
function httpFixture(file: string): { path: string; headers: Record<string, string>; body: string } {
  const text = readFileSync(FIXTURES + file, 'utf8')
  const split = text.indexOf('\r\n\r\n') >= 0 ? text.indexOf('\r\n\r\n') : text.indexOf('\n\n')
  const [requestLine, ...headerLines] = text.slice(0, split).split(/\r?\n/)
  const headers = Object.fromEntries(headerLines.map((h) => [h.slice(0, h.indexOf(':')).trim().toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]))
  delete headers.host
  return { path: requestLine!.split(' ')[1]!, headers, body: text.slice(split).replace(/^\r?\n\r?\n/, '') }
}

/**
 * The devices the MQTT fixtures publish as, each logging in with its own secret: id → native identity where the
 * topic's case or the TTN v2 dev_id differs from what the id gives (MQTT topics are case-sensitive).
 */
const MQTT_DEVICES: Array<{ id: string; nativeId?: string }> = [
  { id: 'tasmota-tasmota_5f1fd6', nativeId: 'tasmota_5F1FD6' },
  { id: 'tasmota-garden' },
  { id: 'tasmota-shed' },
  { id: 'tasmota-attic' },
  { id: 'tasmota-demo-sensor' },
  { id: 'esphome-weather-node' },
  { id: 'mjs-2041', nativeId: 'mjs-2041' },
]
/** The device whose credentials publish on `topic` (Tasmota `tele|stat/<topic>/…`, ESPHome `<node>/…` and discovery, TTN v2 `<app>/devices/<dev>/up`). */
function publisherOf(topic: string): string {
  const levels = topic.split('/')
  if (levels[0] === 'tele' || levels[0] === 'stat') return MQTT_DEVICES.find((d) => (d.nativeId ?? d.id.slice('tasmota-'.length)) === levels[1])!.id
  if (levels[0] === 'homeassistant') return `esphome-${levels[2]}`
  if (levels[1] === 'devices') return MQTT_DEVICES.find((d) => d.nativeId === levels[2])!.id
  return `esphome-${levels[0]}`
}

/** The devices the HTTP fixtures push as, registered with their firmware's native identity (id prefix → format). */
const HTTP_DEVICES = ['airrohr-esp8266-3141592', 'airrohr-esp8266-3141593', 'airrohr-esp8266-3141594', 'airrohr-esp32-cf12d3e5f6', 'wow-1234567', 'wu-isensh1', 'ecowitt-gw1100', 'osem-5a8d1c8ebc2d41001927a1a1']
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/**
 * Each device format from the device (MQTT publish to the real broker, or HTTP push) through the ingest to the
 * real InfluxDB, with real fixtures (test/fixtures/devices/*, SOURCES.md in each folder). Direct mode; the
 * Kafka path is the same pipeline (test/e2e/replay.test.ts runs both). SENSHAGEN_MAX_AGE_MS is widened to
 * 20 years because the fixtures were captured between 2018 and 2024. HTTP pushes authenticate with their
 * firmware's own mechanism against a real SQLite registry (services/ingest/http-auth.ts; refusals are tested in
 * test/e2e/http-auth.test.ts).
 */
describe('device formats end to end (broker/HTTP → ingest → InfluxDB)', () => {
  const id = uniqueId('formats')
  let store: InfluxReadingStore
  let ingest: RunningIngest
  let url: string
  const publishers = new Map<string, MqttClient>()
  let stopBroker: () => Promise<void>
  let registry: TestRegistry
  const secret = (device: string) => registry.secrets.get(device)!

  beforeAll(async () => {
    registry = await testRegistry([
      ...HTTP_DEVICES.map((device) => ({ id: device, neighbourhood: 'stadshagen', consent: true })),
      ...MQTT_DEVICES.map((device) => ({ ...device, neighbourhood: 'stadshagen', consent: true })),
    ])
    const base = isolatedConfig(id, { SENSHAGEN_MAX_AGE_MS: String(20 * 365 * 86_400_000), ...registry.env })
    const broker = await runBroker(base, logger, registry.store)
    stopBroker = broker.close
    url = `mqtt://127.0.0.1:${broker.port}`
    // TTN's broker is played by Mosquitto, subscribed to with its own client id and credentials next to ours.
    ingest = await runIngest({ ...base, mqtt: { ...base.mqtt, url }, ttn: { url: MOSQUITTO_URL, username: 'senshagen@ttn', password: `NNSXS.${id}`, clientId: `${id}-ttn` } }, logger, registry.store)
    store = await openInfluxStore(base.influx, logger)
  })

  afterAll(async () => {
    await Promise.all([...publishers.values()].map((client) => client.endAsync()))
    await ingest?.stop()
    await stopBroker?.()
    await store?.influxql(`DROP DATABASE "${id}"`)
    const cleanup = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `${id}-ttn`, clean: true, protocolVersion: 4 })
    await cleanup.endAsync()
    await registry?.close()
  })

  const values = async (device: string, quantity: string) =>
    (await store.influxql(`SELECT "value", "flags", "source_unit" FROM reading WHERE device = '${device}' AND quantity = '${quantity}'`))[0]?.values ?? []
  const rejections = async (device: string) => (await store.queryRejections({ deviceId: device })).map((r) => [r.path, r.rule])
  /** Each line published by its own device, logged in with its id and secret (one connection per device). */
  const publishAll = async (lines: Array<{ topic: string; payload: string; retain: boolean }>) => {
    for (const line of lines) {
      const device = publisherOf(line.topic)
      let client = publishers.get(device)
      if (!client) publishers.set(device, (client = await mqtt.connectAsync(url, { protocolVersion: 4, username: device, password: secret(device) })))
      await client.publishAsync(line.topic, line.payload, { qos: 1, retain: line.retain })
    }
  }

  it('Tasmota: the message with one failed sensor (bare nan) stores the other sensors, the dead one is dead-lettered', async () => {
    await publishAll(jsonl('tasmota/mqtt-messages.jsonl'))
    await waitFor('SI7021-04 stored', async () => (await values('tasmota-shed.si7021-04', 'air_temperature')).length === 1, 15_000)
    // "Time":"2018-10-31T11:57:31" device-local, Europe/Amsterdam (CET, +01:00) = 10:57:31Z
    const at = Date.UTC(2018, 9, 31, 10, 57, 31)
    // indexed sensor keys become sub-devices, so the three SI7021 never collide (core/decoders/tasmota.ts)
    expect(await values('tasmota-shed.si7021-00', 'air_temperature')).toEqual([[at, 17.1, '', '']])
    expect(await values('tasmota-shed.si7021-00', 'relative_humidity')).toEqual([[at, 70, '', '']])
    expect(await values('tasmota-shed.si7021-04', 'air_temperature')).toEqual([[at, 10, '', '']])
    expect(await values('tasmota-shed.si7021-04', 'relative_humidity')).toEqual([[at, 59.7, '', '']])
    const dead = await store.queryRejections({ deviceId: 'tasmota-shed.si7021-02' })
    expect(dead.map((r) => [r.time, r.path, r.rule, r.value]).sort()).toEqual([
      [at, 'SI7021-02.Humidity', 'not_finite', '"nan"'],
      [at, 'SI7021-02.Temperature', 'not_finite', '"nan"'],
    ])
    expect(dead[0]!.raw).toContain('"Temperature":nan') // the original bytes, before the repair
    // Fahrenheit from STATUS8 stored in °C with its source unit: 78.8 °F = 26 °C
    expect(await values('tasmota-attic.dht11', 'air_temperature')).toEqual([[Date.UTC(2018, 1, 7, 19, 16, 19), 26, '', '°F']])
    // LWT Online/Offline recorded as device events
    const events = await store.influxql(`SELECT "detail", "kind" FROM device_event WHERE device = 'tasmota-tasmota_5f1fd6' AND (kind = 'online' OR kind = 'offline')`)
    expect(events[0]!.values.map((v) => v[2])).toEqual(['online', 'offline'])
  })

  it('ESPHome: units from the discovery config; a live nan state is dead-lettered', async () => {
    const lines = jsonl('esphome/mqtt-messages.jsonl')
    await publishAll(lines.filter((l) => l.topic.endsWith('/config'))) // discovery first
    await publishAll(lines.filter((l) => l.topic.endsWith('/state')))
    await waitFor('esphome readings', async () => (await values('esphome-weather-node', 'pm2_5')).length === 1, 15_000)
    // the last state of the fixture with a rejection: once it is stored, every earlier one is too
    await waitFor('esphome rejections', async () => (await rejections('esphome-weather-node')).some(([path]) => path === 'dht22_temperature'), 15_000)
    const [temperature] = await values('esphome-weather-node', 'air_temperature')
    expect(temperature!.slice(1)).toEqual([8.4, '', ''])
    const [pm25] = await values('esphome-weather-node', 'pm2_5')
    expect(pm25!.slice(1)).toEqual([6, '', ''])
    // no discovery config for these in the fixture: the unit is unknown, so the value is not guessed
    const rejected = await rejections('esphome-weather-node')
    expect(rejected).toEqual(
      expect.arrayContaining([
        ['bme280_humidity', 'unit'],
        ['dht22_temperature', 'unit'],
      ]),
    )
  })

  it('airrohr: every HTTP push fixture is stored in canonical units, nan values dead-lettered with their reason', async () => {
    const files = ['written_custom-api_sds011_bme280.http', 'written_custom-api_sds011_dht22_bme-missing.http', 'written_custom-api_esp32_sps30_nan.http', 'written_sensor-community-push_sds011_pin1.http', 'written_sensor-community-push_bme280_pin11.http', 'written_tasmota-rule-push_numeric-values.http']
    const answers: unknown[] = []
    for (const file of files) {
      const request = httpFixture(`airrohr/${file}`)
      // "Send to own API" basic auth: user = the registry device (airrohr-<X-Sensor>), password = its secret
      const device = `airrohr-${request.headers['x-sensor']}`
      const headers = { ...request.headers, authorization: basic(device, secret(device)) }
      const response = await fetch(`http://127.0.0.1:${ingest.httpPort}${request.path}`, { method: 'POST', headers, body: request.body })
      expect(response.status, file).toBe(200)
      answers.push(await response.json())
    }
    expect(answers).toEqual([
      { readings: 5, rejections: 0 },
      { readings: 4, rejections: 0 },
      { readings: 2, rejections: 4 },
      { readings: 2, rejections: 0 },
      { readings: 3, rejections: 0 },
      { readings: 3, rejections: 0 },
    ])
    const latest = async (device: string, quantity: string) => (await values(device, quantity)).at(-1)?.slice(1, 4)
    expect(await latest('airrohr-esp8266-3141592', 'air_pressure')).toEqual([1012.6352, '', 'Pa']) // 101263.52 Pa
    expect(await latest('airrohr-esp8266-3141592', 'pm10')).toEqual([11.83, '', '']) // SDS_P1 / P1 is PM10
    expect(await latest('airrohr-esp8266-3141593', 'relative_humidity')).toEqual([99.9, '', ''])
    expect(await latest('airrohr-esp8266-3141594', 'air_pressure')).toEqual([1012.6, '', '']) // a number in hPa
    expect(await latest('airrohr-esp32-cf12d3e5f6', 'air_temperature')).toEqual([6.71, '', ''])
    expect((await rejections('airrohr-esp32-cf12d3e5f6')).map(([path, rule]) => `${path}:${rule}`).sort()).toEqual([
      'SPS30_P0:not_finite',
      'SPS30_P1:not_finite',
      'SPS30_P2:not_finite',
      'SPS30_P4:not_finite',
    ])
  })

  it('home weather stations (WOW, WU, Ecowitt): imperial uploads stored in SI units, secrets never stored', async () => {
    const requests = ['written_wow-automaticreading.txt', 'written_wunderground-updateweatherstation.txt', 'written_ecowitt-customized-post.txt'].map((file) => {
      const text = readFileSync(`${FIXTURES}wow-wu-ecowitt/${file}`, 'utf8').split('\n').slice(1).join('\n') // first line is a comment
      const [head, body = ''] = text.split(/\r?\n\r?\n/)
      const [requestLine, ...headerLines] = head!.split(/\r?\n/)
      const [method, target] = requestLine!.split(' ') as [string, string]
      const headers = Object.fromEntries(headerLines.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]).filter(([name]) => name !== undefined && name !== '' && name.toLowerCase() !== 'host'))
      // the fixtures' own credentials (PASSWORD=xxxx, siteAuthenticationKey=123456) replaced by the registry's secrets;
      // Ecowitt's per-device path token in the gateway's Path field
      const credentials = target
        .replace('PASSWORD=xxxx', `PASSWORD=${secret('wu-isensh1')}`)
        .replace('siteAuthenticationKey=123456', `siteAuthenticationKey=${secret('wow-1234567')}`)
        .replace(/^\/data\/report\/$/, `/data/report/ecowitt-gw1100/${secret('ecowitt-gw1100')}`)
      return { method, target: credentials, headers, body: body.trim() }
    })
    for (const r of requests) {
      const response = await fetch(`http://127.0.0.1:${ingest.httpPort}${r.target}`, { method: r.method, headers: r.headers, ...(r.method === 'POST' ? { body: r.body } : {}) })
      expect(response.status, r.target).toBe(200)
    }
    // WOW: dateutc 2024-01-15 10:28:30, tempf=47.16 → 8.42222222222 °C, windspeedmph=6.9 → 3.084576 m/s
    expect(await values('wow-1234567', 'air_temperature')).toEqual([[Date.UTC(2024, 0, 15, 10, 28, 30), 8.42222222222, '', '°F']])
    expect(await values('wow-1234567', 'wind_speed')).toEqual([[Date.UTC(2024, 0, 15, 10, 28, 30), 3.084576, '', 'mph']])
    // WU: dateutc=now (receipt time), tempf=47.2 → 8.44444444444 °C
    expect((await values('wu-isensh1', 'air_temperature')).map((v) => v.slice(1))).toEqual([[8.44444444444, '', '°F']])
    // Ecowitt: the device its path token authenticated; baromabsin=29.816 inHg → 1009.68564485 hPa (station level)
    const ecowitt = (await store.influxql(`SHOW TAG VALUES FROM reading WITH KEY = device WHERE device =~ /^ecowitt-/`))[0]!.values.map((v) => v[1])
    expect(ecowitt).toEqual(['ecowitt-gw1100'])
    expect((await values('ecowitt-gw1100', 'air_pressure')).map((v) => v.slice(1))).toEqual([[1009.68564485, '', 'inHg']])
    const everything = JSON.stringify(await store.influxql('SELECT * FROM rejection')) + JSON.stringify(await store.influxql('SELECT * FROM device_event'))
    for (const s of ['0123456789ABCDEF0123456789ABCDEF', secret('wu-isensh1'), secret('wow-1234567'), secret('ecowitt-gw1100')]) expect(everything).not.toContain(s)
  })

  it('openSenseMap (luftdaten body) over HTTP and a Meet je Stad TTN v2 uplink over MQTT are stored', async () => {
    const box = '5a8d1c8ebc2d41001927a1a1'
    const body = readFileSync(`${FIXTURES}opensensemap/written_post-boxes-data_luftdaten-format.json`, 'utf8')
    const response = await fetch(`http://127.0.0.1:${ingest.httpPort}/boxes/${box}/data?luftdaten=1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret(`osem-${box}`) }, body })
    expect(response.status).toBe(200)
    expect((await values(`osem-${box}`, 'pm10')).at(-1)?.slice(1, 4)).toEqual([11.83, '', ''])
    expect((await values(`osem-${box}`, 'air_pressure')).at(-1)?.slice(1, 4)).toEqual([1012.6352, '', 'Pa'])

    // legacy TTN v2 (Meet je Stad forwarder): port 10 bits decode to 8.25 °C and 81.5 %; station 0x7F9 = 2041
    const uplink = readFileSync(`${FIXTURES}meetjestad/written_ttn-v2-legacy_port10.json`, 'utf8')
    await publishAll([{ topic: 'meet-je-stad/devices/mjs-2041/up', payload: uplink, retain: false }])
    await waitFor('Meet je Stad reading', async () => (await values('mjs-2041', 'air_temperature')).length === 1, 15_000)
    const at = Date.UTC(2019, 10, 2, 14, 15, 7, 123)
    expect(await values('mjs-2041', 'air_temperature')).toEqual([[at, 8.25, '', '']])
    expect(await values('mjs-2041', 'relative_humidity')).toEqual([[at, 81.5, '', '']])
  })

  it('TTN v3: an uplink with decoded_payload from the TTN broker (own credentials) is stored; simulated and undecoded ones are dead-lettered', async () => {
    const ttn = await mqtt.connectAsync(MOSQUITTO_URL, { protocolVersion: 4 })
    for (const line of jsonl('ttn-v3/mqtt-messages.jsonl')) await ttn.publishAsync(line.topic, line.payload, { qos: 1, retain: line.retain })
    await ttn.endAsync()
    const device = 'ttn:senshagen:senshagen-node-07'
    await waitFor('ttn readings', async () => (await values(device, 'pm10')).length === 1, 15_000)
    await waitFor('ttn rejections', async () => (await rejections('ttn:senshagen:senshagen-node-08')).length === 1, 15_000)
    // received_at 2024-01-15T10:28:31.412955231Z, kept to the millisecond
    const at = Date.UTC(2024, 0, 15, 10, 28, 31, 412)
    expect(await values(device, 'pm2_5')).toEqual([[at, 6, '', '']])
    expect(await values(device, 'pm10')).toEqual([[at, 12.3, '', '']])
    expect(await values(device, 'air_temperature')).toEqual([[at, 8.2, '', '']])
    expect(await values(device, 'air_pressure')).toEqual([[at, 1012.6, '', '']])
    expect(await rejections('ttn:senshagen:senshagen-node-08')).toEqual([['decoded_payload', 'no_decoded_payload']])
  })

  it('schema drift: the first message of a device records its keys and sensor model', async () => {
    const [series] = await store.influxql(`SELECT "detail" FROM device_event WHERE device = 'airrohr-esp8266-3141592' AND kind = 'schema_change'`)
    const first = JSON.parse(series!.values[0]![1] as string)
    expect(first).toMatchObject({ first: true, models: { before: [], added: expect.arrayContaining(['SDS011', 'BME280']) } })
    expect(first.added).toEqual(expect.arrayContaining(['SDS_P1:numeric-string', 'BME280_pressure:numeric-string[Pa]', 'signal:numeric-string']))
  })
})

describe('senshagen devices and rejects (CLI on the stored data)', () => {
  it('reports readings, rejections by rule, schema changes and availability per device', async () => {
    const { execFile } = await import('node:child_process')
    const { promisify } = await import('node:util')
    const id = uniqueId('devices')
    const registry = await testRegistry([{ id: 'tasmota-shed', neighbourhood: 'stadshagen', consent: true }])
    const config = isolatedConfig(id, { SENSHAGEN_MAX_AGE_MS: String(20 * 365 * 86_400_000), ...registry.env })
    const broker = await runBroker(config, logger, registry.store)
    const url = `mqtt://127.0.0.1:${broker.port}`
    const ingest = await runIngest({ ...config, mqtt: { ...config.mqtt, url } }, logger, registry.store)
    const store = await openInfluxStore(config.influx, logger)
    try {
      const client = await mqtt.connectAsync(url, { protocolVersion: 4, username: 'tasmota-shed', password: registry.secrets.get('tasmota-shed')! })
      for (const line of jsonl('tasmota/mqtt-messages.jsonl').filter((l) => l.topic.startsWith('tele/shed/'))) {
        await client.publishAsync(line.topic, line.payload, { qos: 1 })
      }
      await client.endAsync()
      // the shed's DHT11 and its SI7021-02 (both with nan values), each its own sub-device: 2 + 2 rejections
      await waitFor('shed rejections', async () => (await store.queryRejections({ deviceId: 'tasmota-shed' })).length === 4, 15_000)
      const env = { ...process.env, SENSHAGEN_INFLUX_DATABASE: id, SENSHAGEN_LOG_LEVEL: 'warn' }
      const run = promisify(execFile)
      const devices = JSON.parse((await run('node', ['bin/senshagen.js', 'devices', 'status', '--format', 'json'], { env })).stdout) as Array<Record<string, unknown>>
      const shed = devices.find((d) => d.device === 'tasmota-shed.dht11')
      // DHT11 with both values nan: two not_finite rejections, no reading; its first message records its schema
      expect(shed).toMatchObject({ device: 'tasmota-shed.dht11', readings: 0, rejections: { not_finite: 2 }, schemaChanges: 1 })
      expect(devices.find((d) => d.device === 'tasmota-shed.si7021-04')).toMatchObject({ readings: 2, schemaChanges: 1 })
      const text = (await run('node', ['bin/senshagen.js', 'rejects', '--device', 'tasmota-shed'], { env })).stdout
      expect(text).toBe(
        '2018-10-23T21:47:58.000Z tasmota-shed.dht11 DHT11.Humidity: not_finite: \'nan\' is not a finite number value="nan"\n' +
          '2018-10-23T21:47:58.000Z tasmota-shed.dht11 DHT11.Temperature: not_finite: \'nan\' is not a finite number value="nan"\n' +
          '2018-10-31T10:57:31.000Z tasmota-shed.si7021-02 SI7021-02.Humidity: not_finite: \'nan\' is not a finite number value="nan"\n' +
          '2018-10-31T10:57:31.000Z tasmota-shed.si7021-02 SI7021-02.Temperature: not_finite: \'nan\' is not a finite number value="nan"\n',
      )
    } finally {
      await ingest.stop()
      await broker.close()
      await store.influxql(`DROP DATABASE "${id}"`)
      await registry.close()
    }
  })
})
