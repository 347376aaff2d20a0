import { readFileSync } from 'node:fs'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDecoders } from '../../core/decoders/index.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { openWriter } from '../../core/store/open.ts'
import { startHttpIngest, type HttpIngestServer } from '../../services/ingest/http-ingest.ts'
import { HTTP_ROUTES } from '../../services/ingest/http-routes.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { directSink } from '../../services/ingest/sinks.ts'
import { isolatedConfig, uniqueId } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const FIXTURES = new URL('../fixtures/devices/', import.meta.url).pathname
const BOX = '5a8d1c8ebc2d41001927a1a1'
const OTHER_BOX = '5a8d1c8ebc2d41001927b2b2'
/** A configured openSenseMap sensor (SENSHAGEN_OSEM_SENSORS_FILE): PM2.5 in µg/m³. */
const PM25_SENSOR = '5a8d1c8ebc2d41001927a1b0'

/** airrohr `.http` fixture: request line, CRLF headers, blank line, raw body (test/fixtures/devices/airrohr/SOURCES.md). */
function airrohrFixture(file: string): { path: string; headers: Record<string, string>; body: string } {
  const text = readFileSync(`${FIXTURES}airrohr/${file}`, 'utf8')
  const split = text.indexOf('\r\n\r\n') >= 0 ? text.indexOf('\r\n\r\n') : text.indexOf('\n\n')
  const [requestLine, ...headerLines] = text.slice(0, split).split(/\r?\n/)
  const headers = Object.fromEntries(headerLines.map((h) => [h.slice(0, h.indexOf(':')).trim().toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]))
  delete headers.host
  return { path: requestLine!.split(' ')[1]!, headers, body: text.slice(split).replace(/^\r?\n\r?\n/, '') }
}

/** Weather-station fixture: a comment line, then request line, headers, blank line, body. */
function stationFixture(file: string): { target: string; body: string } {
  const text = readFileSync(`${FIXTURES}wow-wu-ecowitt/${file}`, 'utf8').split('\n').slice(1).join('\n')
  const [head, body = ''] = text.split(/\r?\n\r?\n/)
  return { target: head!.split(/\r?\n/)[0]!.split(' ')[1]!, body: body.trim() }
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/**
 * HTTP ingest authentication end to end (issue 8 items 3 and 5): a real fastify server with the production routes,
 * a real SQLite registry, the ingest pipeline in direct mode writing to the real InfluxDB, and a pino logger
 * writing into memory so every log line can be searched. Per mechanism: the right credentials store, missing,
 * wrong and revoked ones get 401 and store nothing, one device cannot write as another; secrets in odd encodings
 * and positions in broken bodies reach neither InfluxDB nor the log.
 */
describe('HTTP ingest authentication (real HTTP, registry and InfluxDB)', () => {
  const id = uniqueId('httpauth')
  const config = isolatedConfig(id, { SENSHAGEN_MAX_AGE_MS: String(20 * 365 * 86_400_000) })
  const logLines: string[] = []
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) })
  let registry: TestRegistry
  let core: IngestCore
  let server: HttpIngestServer
  let store: InfluxReadingStore
  const secret = (device: string) => registry.secrets.get(device)!
  /** Every credential any request of this file presented, right or wrong: none may be stored or logged. */
  const presented = new Set<string>()

  beforeAll(async () => {
    registry = await testRegistry([
      { id: 'airrohr-esp8266-3141592', neighbourhood: 'stadshagen', consent: true },
      { id: 'airrohr-garden', neighbourhood: 'stadshagen', consent: true, format: 'airrohr', nativeId: '13463212' },
      { id: `osem-${BOX}`, neighbourhood: 'stadshagen', consent: true },
      { id: `osem-${OTHER_BOX}`, neighbourhood: 'stadshagen', consent: true },
      { id: 'wu-isensh1', neighbourhood: 'stadshagen', consent: true },
      { id: 'wu-revoked', neighbourhood: 'stadshagen', consent: true },
      { id: 'wow-1234567', neighbourhood: 'stadshagen', consent: true },
      { id: 'wow-7654321', neighbourhood: 'stadshagen', consent: true },
      { id: 'wow-5555555', neighbourhood: 'stadshagen', consent: true },
      { id: 'ecowitt-gw1100', neighbourhood: 'stadshagen', consent: true },
    ])
    await registry.store.revoke('wu-revoked')
    for (const s of registry.secrets.values()) presented.add(s)
    const { writer } = await openWriter(config, logger)
    const decoders = createDecoders({ deviceTimeZone: config.ingest.deviceTimeZone, openSenseMapSensors: { [PM25_SENSOR]: { quantity: 'pm2_5', model: 'SDS011' } } })
    core = new IngestCore({ ...config.ingest, decoders }, directSink(writer), logger)
    server = await startHttpIngest(core, HTTP_ROUTES, { bind: '127.0.0.1', port: 0, bodyLimit: config.ingest.maxPayloadBytes * 4, authThrottle: { maxFailures: 5, perAddressMaxFailures: 1000, blockMs: 60_000, maxTracked: 1000 } }, logger, registry.store)
    store = await openInfluxStore(config.influx, logger)
  }, 60_000)

  afterAll(async () => {
    await server?.close()
    await core?.close()
    await store?.influxql(`DROP DATABASE "${id}"`)
    await store?.close()
    await registry?.close()
  })

  const send = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${server.port}${path}`, init)
  /**
   * Every stored point of every measurement (reading, rejection, device_event), all fields and tags. One query per
   * measurement: a regex FROM over all of them merges the columns, and a field that is a float in `reading` and a
   * string in `rejection` (`value`) then comes back null for the strings, hiding exactly what this file looks for.
   */
  const allSeries = async () => {
    const measurements = (await store.influxql('SHOW MEASUREMENTS'))[0]?.values.map((v) => String(v[0])) ?? []
    return (await Promise.all(measurements.map((m) => store.influxql(`SELECT * FROM "${m}"`)))).flat()
  }
  const everything = async () => JSON.stringify(await allSeries())
  const rowCount = async () => (await allSeries()).reduce((n, series) => n + series.values.length, 0)
  const readings = async (device: string) => (await store.influxql(`SELECT "quantity", "value" FROM reading WHERE device = '${device}'`))[0]?.values.map((v) => [v[1], v[2]]) ?? []
  const refusalLines = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'HTTP push refused')

  /** Sends requests that must all be refused with `status`; checks the problem documents, that nothing was stored, and one log line each. */
  async function expectRefused(requests: Array<[path: string, init: RequestInit, reason: string]>, status = 401) {
    const rowsBefore = await rowCount()
    const messagesBefore = core.stats.messages
    const linesBefore = refusalLines().length
    for (const [path, init, reason] of requests) {
      const response = await send(path, init)
      expect(response.status, `${path} ${reason}`).toBe(status)
      expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
      expect(await response.json()).toMatchObject({ type: 'about:blank', status, reason })
    }
    expect(await rowCount()).toBe(rowsBefore)
    expect(core.stats.messages).toBe(messagesBefore) // never reached the pipeline, so never dead-lettered either
    const lines = refusalLines().slice(linesBefore)
    expect(lines.map((l) => [l.level, l.reason, l.remoteAddress])).toEqual(requests.map(([, , reason]) => [reason === 'throttled' ? 20 : 40, reason, '127.0.0.1']))
  }

  it('airrohr basic auth: the device stores its fixture; no, wrong or another chip\'s credentials get 401 with WWW-Authenticate', async () => {
    const push = airrohrFixture('written_custom-api_sds011_bme280.http')
    const ok = await send(push.path, { method: 'POST', headers: { ...push.headers, authorization: basic('airrohr-esp8266-3141592', secret('airrohr-esp8266-3141592')) }, body: push.body })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ readings: 5, rejections: 0 })
    expect((await readings('airrohr-esp8266-3141592')).sort()).toEqual([['air_pressure', 1012.6352], ['air_temperature', 8.42], ['pm10', 11.83], ['pm2_5', 6.07], ['relative_humidity', 81.23]])

    presented.add('wrong-secret-1')
    await expectRefused([
      [push.path, { method: 'POST', headers: push.headers, body: push.body }, 'missing_credentials'],
      [push.path, { method: 'POST', headers: { ...push.headers, authorization: basic('airrohr-esp8266-3141592', 'wrong-secret-1') }, body: push.body }, 'bad_credentials'],
      [push.path, { method: 'POST', headers: { ...push.headers, authorization: 'Basic %%%' }, body: push.body }, 'malformed_credentials'],
      // airrohr-garden's valid credentials, but the X-Sensor of chip 3141592: a cross-device write
      [push.path, { method: 'POST', headers: { ...push.headers, authorization: basic('airrohr-garden', secret('airrohr-garden')) }, body: push.body }, 'identity_mismatch'],
    ])
    const refused = await send(push.path, { method: 'POST', headers: push.headers, body: push.body })
    expect(refused.headers.get('www-authenticate')).toBe('Basic realm="senshagen", charset="UTF-8"')

    // the chip-id form of the native identity: X-Sensor esp8266-13463212 is airrohr-garden's, stored under its registry id
    const garden = await send('/data.php', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sensor': 'esp8266-13463212', authorization: basic('airrohr-garden', secret('airrohr-garden')) },
      body: '{"esp8266id": "13463212", "sensordatavalues": [{"value_type": "SDS_P2", "value": "4.5"}]}',
    })
    expect(garden.status).toBe(200)
    expect(await readings('airrohr-garden')).toEqual([['pm2_5', 4.5]])
    expect(await readings('airrohr-esp8266-13463212')).toEqual([])
  })

  it("openSenseMap: the box's access token stores its body; none, another box's token or a wrong one gets 401", async () => {
    const body = readFileSync(`${FIXTURES}opensensemap/written_post-boxes-data_luftdaten-format.json`, 'utf8')
    const ok = await send(`/boxes/${BOX}/data?luftdaten=1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret(`osem-${BOX}`) }, body })
    expect(ok.status).toBe(200)
    expect((await readings(`osem-${BOX}`)).find(([q]) => q === 'pm10')).toEqual(['pm10', 11.83])
    const bearer = await send(`/boxes/${OTHER_BOX}/${PM25_SENSOR}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret(`osem-${OTHER_BOX}`)}` }, body: '{"value": "7.5"}' })
    expect(bearer.status).toBe(200)
    expect(await readings(`osem-${OTHER_BOX}`)).toEqual([['pm2_5', 7.5]])

    presented.add('wrong-token-2')
    await expectRefused([
      [`/boxes/${BOX}/data?luftdaten=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, 'missing_credentials'],
      [`/boxes/${BOX}/data?luftdaten=1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'wrong-token-2' }, body }, 'bad_credentials'],
      // box A's token on box B's path: a cross-device write
      [`/boxes/${OTHER_BOX}/data?luftdaten=1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret(`osem-${BOX}`) }, body }, 'bad_credentials'],
      [`/boxes/unregistered/${PM25_SENSOR}`, { method: 'POST', headers: { authorization: secret(`osem-${BOX}`) }, body: '{"value": "1"}' }, 'bad_credentials'],
    ])
    const refused = await send(`/boxes/${BOX}/data`, { method: 'POST', body: '[]' })
    expect(refused.headers.get('www-authenticate')).toBeNull()
  })

  it('Weather Underground ID/PASSWORD and WOW siteid/siteAuthenticationKey: right ones store, wrong, missing and revoked get 401', async () => {
    const wu = stationFixture('written_wunderground-updateweatherstation.txt').target.replace('PASSWORD=xxxx', `PASSWORD=${secret('wu-isensh1')}`)
    expect((await send(wu)).status).toBe(200)
    expect((await readings('wu-isensh1')).find(([q]) => q === 'air_temperature')).toEqual(['air_temperature', 8.44444444444])
    // station ids are case-insensitive in the WU protocol
    expect((await send(`/weatherstation/updateweatherstation.php?ID=isensh1&PASSWORD=${secret('wu-isensh1')}&humidity=80`)).status).toBe(200)
    const wow = stationFixture('written_wow-automaticreading.txt').target.replace('siteAuthenticationKey=123456', `siteAuthenticationKey=${secret('wow-1234567')}`)
    expect((await send(wow)).status).toBe(200)
    const post = await send('/automaticreading', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `siteid=1234567&siteAuthenticationKey=${secret('wow-1234567')}&humidity=77&dateutc=now` })
    expect(post.status).toBe(200)
    expect((await readings('wow-1234567')).filter(([q]) => q === 'relative_humidity').map(([, v]) => v).sort()).toEqual([77, 81])

    presented.add('xxxx')
    await expectRefused([
      [stationFixture('written_wunderground-updateweatherstation.txt').target, {}, 'bad_credentials'], // the fixture's own PASSWORD=xxxx
      ['/weatherstation/updateweatherstation.php?ID=ISENSH1&tempf=50', {}, 'missing_credentials'],
      [`/weatherstation/updateweatherstation.php?ID=REVOKED&PASSWORD=${secret('wu-revoked')}&tempf=50`, {}, 'bad_credentials'],
      [`/weatherstation/updateweatherstation.php?ID=ISENSH1&PASSWORD=${secret('wu-isensh1')}&PASSWORD=other&tempf=50`, {}, 'ambiguous_credentials'],
      // WOW site A's key for site B
      [`/automaticreading?siteid=7654321&siteAuthenticationKey=${secret('wow-1234567')}&tempf=50`, {}, 'bad_credentials'],
      [stationFixture('written_wow-automaticreading.txt').target, {}, 'bad_credentials'], // siteAuthenticationKey=123456
    ])
  })

  it('Ecowitt: /data/report/<device>/<secret> stores under the device; the old path, a bare token or a wrong one get 401', async () => {
    const { body } = stationFixture('written_ecowitt-customized-post.txt')
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }
    const ok = await send(`/data/report/ecowitt-gw1100/${secret('ecowitt-gw1100')}`, form)
    expect(ok.status).toBe(200)
    // baromabsin=29.816 inHg → 1009.68564485 hPa
    expect((await readings('ecowitt-gw1100')).find(([q]) => q === 'air_pressure')).toEqual(['air_pressure', 1009.68564485])
    expect(JSON.stringify(await store.influxql(`SHOW TAG VALUES FROM reading WITH KEY = device WHERE device =~ /^ecowitt-/`))).not.toContain('ecowitt-cd6c1f7d1dc6')

    presented.add('0123456789ABCDEF0123456789ABCDEF') // the fixture's PASSKEY
    await expectRefused([
      ['/data/report/', form, 'missing_credentials'],
      [`/data/report/${secret('ecowitt-gw1100')}`, form, 'missing_credentials'],
      ['/data/report/ecowitt-gw1100/wrong-token-3', form, 'bad_credentials'],
      // WU's secret on the Ecowitt path
      [`/data/report/wu-isensh1/${secret('wu-isensh1')}`, form, 'identity_mismatch'],
    ])
    presented.add('wrong-token-3')
  })

  it('secrets in odd encodings and positions in broken bodies reach no stored point and no log line', async () => {
    const wu = secret('wu-isensh1')
    const hex = [...Buffer.from(wu)].map((b) => `%${b.toString(16).toUpperCase()}`).join('')
    presented.add('odd-secret-4').add('odd-secret-5').add('odd-secret-6').add('odd-secret-7')
    const pushes: Array<[string, RequestInit, { readings: number; rejections: number }]> = [
      // WU: PASSWORD%00, other cases, the secret percent-encoded under an innocent name, an unknown key so the raw is dead-lettered
      [`/weatherstation/updateweatherstation.php?ID=ISENSH1&PASSWORD=${wu}&PASSWORD%00=odd-secret-4&password=${wu}&PaSsWoRd=${wu}&note=${hex}&co2=400&tempf=50`, {}, { readings: 1, rejections: 2 }],
      // WOW in a POST body, key name in another case and sent twice with the same value
      ['/automaticreading', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `siteid=1234567&siteAuthenticationKey=${secret('wow-1234567')}&SITEAUTHENTICATIONKEY=${secret('wow-1234567')}&site%20authentication%20key=odd-secret-5&co2=1&tempf=50` }, { readings: 1, rejections: 1 }],
      // airrohr: a JSON body carrying "password", a PASSWORD value type and the basic-auth secret in a value
      ['/data.php', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sensor': 'esp8266-3141592', authorization: basic('airrohr-esp8266-3141592', secret('airrohr-esp8266-3141592')) },
        body: JSON.stringify({ esp8266id: '3141592', password: 'odd-secret-6', sensordatavalues: [{ value_type: 'PASSWORD', value: secret('airrohr-esp8266-3141592') }, { value_type: 'SDS_P1', value: '12.5' }, { value_type: 'GPS_lat', value: '52.5312' }, { value_type: 'mystery', value: '1' }] }),
      }, { readings: 1, rejections: 2 }],
      // airrohr: truncated JSON with a password and a GPS position: dead-lettered whole (json)
      ['/data.php', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sensor': 'esp8266-3141592', authorization: basic('airrohr-esp8266-3141592', secret('airrohr-esp8266-3141592')) },
        body: '{"esp8266id": "3141592", "sensordatavalues": [{"value_type": "GPS_lon", "value": "6.0612"}], "Password": "odd-secret-7',
      }, { readings: 0, rejections: 1 }],
      // openSenseMap: truncated body with a location; a malformed object-format body with a position triple
      [`/boxes/${BOX}/data`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret(`osem-${BOX}`) }, body: `[{"sensor":"${PM25_SENSOR}","value":"8.4","location":[6.0612,52.5312` }, { readings: 0, rejections: 1 }],
      [`/boxes/${BOX}/data`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret(`osem-${BOX}`) }, body: `{"${PM25_SENSOR}": ["8.4", "2024-01-15T10:28:30Z", {"lat": 52.5312, "lng": 6.0612}], "x": ` }, { readings: 0, rejections: 1 }],
      [`/boxes/${BOX}/data`, { method: 'POST', headers: { 'content-type': 'text/csv', authorization: secret(`osem-${BOX}`) }, body: `${PM25_SENSOR},8.4,2024-01-15T10:28:30Z,6.0612,52.5312\nunknown,1,,6.0612,52.5312` }, { readings: 1, rejections: 1 }],
      // Ecowitt: the token in the path, PASSKEY in the body, an unknown key
      [`/data/report/ecowitt-gw1100/${secret('ecowitt-gw1100')}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `PASSKEY=0123456789ABCDEF0123456789ABCDEF&token=${secret('ecowitt-gw1100')}&tempf=50&co2=1` }, { readings: 1, rejections: 1 }],
    ]
    for (const [path, init, expected] of pushes) {
      const response = await send(path, init)
      expect(response.status, path.slice(0, 40)).toBe(200)
      expect(await response.json(), path.slice(0, 40)).toEqual(expected)
    }
    const rejections = await store.influxql(`SELECT "path", "rule", "raw" FROM rejection WHERE device = 'airrohr-esp8266-3141592' AND rule = 'json'`)
    expect(rejections[0]!.values.map((v) => v[3])).toEqual(['{"esp8266id": "3141592", "sensordatavalues": [{"value_type": "GPS_lon", "value": null}], "Password": "***"'])
    const osemRaw = (await store.influxql(`SELECT "raw" FROM rejection WHERE device = 'osem-${BOX}' AND rule = 'json'`))[0]!.values.map((v) => v[1])
    expect(osemRaw).toEqual([`[{"sensor":"${PM25_SENSOR}","value":"8.4","location":null`, `{"${PM25_SENSOR}": ["8.4", "2024-01-15T10:28:30Z", {"lat":null, "lng":null}], "x": `])

    const stored = await everything()
    expect(stored).toContain('***') // the redaction is what was stored, not nothing
    for (const s of presented) expect(stored, `stored: ${s.slice(0, 6)}…`).not.toContain(s)
    for (const coordinate of ['52.5312', '6.0612']) expect(stored).not.toContain(coordinate)
    const log = logLines.join('\n')
    expect(logLines.length).toBeGreaterThan(20)
    for (const s of presented) expect(log, `logged: ${s.slice(0, 6)}…`).not.toContain(s)
    expect(log).not.toContain('52.5312')
  })

  it('throttling: five wrong keys for one station, then 429 unchecked for 60 s even with the right key; counted by reason', async () => {
    const before = { ...server.stats.refused }
    const guesses = ['g1', 'g2', 'g3', 'g4', 'g5'].map((g) => `guess-${g}`)
    guesses.forEach((g) => presented.add(g))
    await expectRefused(guesses.map((g) => [`/automaticreading?siteid=5555555&siteAuthenticationKey=${g}&tempf=50`, {}, 'bad_credentials']))
    await expectRefused([
      ['/automaticreading?siteid=5555555&siteAuthenticationKey=guess-g6&tempf=50', {}, 'throttled'],
      [`/automaticreading?siteid=5555555&siteAuthenticationKey=${secret('wow-5555555')}&tempf=50`, {}, 'throttled'],
    ], 429)
    const throttled = await send(`/automaticreading?siteid=5555555&siteAuthenticationKey=${secret('wow-5555555')}&tempf=50`)
    expect(throttled.headers.get('retry-after')).toMatch(/^(59|60)$/)
    expect(refusalLines().filter((l) => l.blockedForS === 60).map((l) => [l.identity, l.level])).toEqual([['5555555', 40]]) // the block logged once, at warn
    // another station from the same address is not blocked
    expect((await send(`/automaticreading?siteid=1234567&siteAuthenticationKey=${secret('wow-1234567')}&tempf=50`)).status).toBe(200)
    expect(server.stats.refused.bad_credentials - before.bad_credentials).toBe(5)
    expect(server.stats.refused.throttled - before.throttled).toBe(3)
    expect(server.stats.accepted).toBeGreaterThan(10)
  })
})
