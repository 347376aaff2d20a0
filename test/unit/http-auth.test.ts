import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUTHENTICATED_DEVICE_HEADER, isSecretName, type InboundMessage } from '../../core/decoders/decoder.ts'
import { createDecoders, type DecodeResult } from '../../core/decoders/index.ts'
import { OPENSENSEMAP_TOPIC, redactPositionText, withoutLocations } from '../../core/decoders/opensensemap.ts'
import { WEATHER_STATION_TOPIC } from '../../core/decoders/weather-station.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import {
  AIRROHR_BASIC_AUTH, ECOWITT_NO_TOKEN, ECOWITT_PATH_TOKEN, HttpAuthenticator, OSEM_BOX_TOKEN, WOW_SITE_KEY, WU_PASSWORD,
  airrohrSensorBelongs, basicCredentials, type AuthRequest, type HttpRegistry,
} from '../../services/ingest/http-auth.ts'
import { loggableIdentity } from '../../services/ingest/http-ingest.ts'
import { redactSecrets, redactText } from '../../services/ingest/http-redact.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const BOX = '5a8d1c8ebc2d41001927a1a1'
const OTHER_BOX = '5a8d1c8ebc2d41001927b2b2'
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const req = (over: Partial<AuthRequest> = {}): AuthRequest => ({ headers: {}, params: {}, query: '', body: Buffer.alloc(0), ...over })

describe('credential parsing (no registry)', () => {
  it('basic auth: RFC 7617 user:password, the password may hold colons, the scheme any case', () => {
    expect(basicCredentials(basic('airrohr-1', 'a:b:c'))).toEqual({ user: 'airrohr-1', password: 'a:b:c' })
    expect(basicCredentials(`bAsIc ${Buffer.from('u:p').toString('base64')}`)).toEqual({ user: 'u', password: 'p' })
    expect(basicCredentials(undefined)).toMatchObject({ reason: 'missing_credentials' })
    expect(basicCredentials('Bearer abc')).toMatchObject({ reason: 'malformed_credentials' })
    expect(basicCredentials(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toMatchObject({ reason: 'malformed_credentials' })
    expect(basicCredentials(`Basic ${Buffer.from(':p').toString('base64')}`)).toMatchObject({ reason: 'malformed_credentials' })
  })

  it("airrohr: X-Sensor belongs to a device by its whole value or its chip id, any case; another chip's never", () => {
    expect(airrohrSensorBelongs('esp8266-3141592', 'esp8266-3141592')).toBe(true)
    expect(airrohrSensorBelongs('13463212', 'esp8266-13463212')).toBe(true)
    expect(airrohrSensorBelongs('CF12D3E5F6', 'esp32-cf12d3e5f6')).toBe(true)
    expect(airrohrSensorBelongs('13463212', 'esp8266-13463213')).toBe(false)
    expect(airrohrSensorBelongs('esp8266-3141592', 'esp8266-31415920')).toBe(false)
    expect(airrohrSensorBelongs('3141592', '3141592-esp8266')).toBe(false)
  })

  it('each mechanism reads its own credentials; missing, ambiguous and old-path requests are refused before any hashing', () => {
    expect(AIRROHR_BASIC_AUTH.claim(req({ headers: { 'x-sensor': 'esp8266-1' } }))).toMatchObject({ reason: 'missing_credentials' })
    expect(AIRROHR_BASIC_AUTH.claim(req({ headers: { authorization: basic('a', 'b') } }))).toMatchObject({ reason: 'identity_mismatch', detail: 'no X-Sensor header naming the device' })
    expect(OSEM_BOX_TOKEN.claim(req({ params: { boxId: BOX } }))).toMatchObject({ reason: 'missing_credentials', identity: BOX })
    expect(OSEM_BOX_TOKEN.claim(req({ params: { boxId: BOX }, headers: { authorization: 'Bearer tok' } }))).toMatchObject({ secret: 'tok', account: { fallbackId: `osem-${BOX}` } })
    expect(WU_PASSWORD.claim(req({ query: 'ID=ISENSH1&tempf=1' }))).toMatchObject({ reason: 'missing_credentials', detail: 'parameter PASSWORD is missing', identity: 'ISENSH1' })
    expect(WU_PASSWORD.claim(req({ query: 'ID=ISENSH1&PASSWORD=a&password=b' }))).toMatchObject({ reason: 'ambiguous_credentials' })
    expect(WU_PASSWORD.claim(req({ query: 'ID=ISENSH1&PASSWORD=a& password =a' }))).toMatchObject({ secret: 'a', account: { nativeIds: ['ISENSH1', 'isensh1'], fallbackId: 'wu-isensh1' } })
    expect(WU_PASSWORD.claim(req({ query: 'ID=A&id=B&PASSWORD=a' }))).toMatchObject({ reason: 'ambiguous_credentials' })
    // WOW: parameters in a POST body count as in the query
    expect(WOW_SITE_KEY.claim(req({ body: Buffer.from('siteid=42&siteAuthenticationKey=k&tempf=1') }))).toMatchObject({ secret: 'k', identity: '42' })
    expect(ECOWITT_PATH_TOKEN.claim(req({ params: { device: 'ecowitt-gw', token: 't' } }))).toMatchObject({ account: { username: 'ecowitt-gw' }, secret: 't' })
    expect(ECOWITT_NO_TOKEN.claim(req({ body: Buffer.from('PASSKEY=x') }))).toMatchObject({ reason: 'missing_credentials' })
  })

  it('a claimed identity shaped like one of our secrets (43 base64url characters) is never logged', () => {
    expect(loggableIdentity('airrohr-esp8266-3141592')).toBe('airrohr-esp8266-3141592')
    expect(loggableIdentity('q6Yl1n1u0m9z7T2t3nB8aX4cV5dE6fG7hJ8kL9mN0pQ')).toBe('(secret-like, not logged)')
    expect(loggableIdentity(undefined)).toBeUndefined()
  })
})

describe('secret redaction (services/ingest/http-redact.ts)', () => {
  const S = 'Zq7Kx9SecretValue_-abc'

  it('credential names in any case or encoding, duplicates, and known secrets under any name are masked', () => {
    expect(isSecretName('PASSWORD\u0000')).toBe(true)
    expect(isSecretName('siteAuthenticationKey')).toBe(true)
    expect(isSecretName('tempf')).toBe(false)
    const query = `ID=ISENSH1&PASSWORD=${S}&PASSWORD%00=other1&password=other2&PASS%57ORD=other3&note=%${Buffer.from(S).toString('hex').match(/../g)!.join('%')}&tempf=47.2`
    expect(redactText(query, [S])).toBe('ID=ISENSH1&PASSWORD=***&PASSWORD%00=***&password=***&PASS%57ORD=***&note=***&tempf=47.2')
  })

  it('a JSON body carrying "password" (key, airrohr value_type, escaped, or truncated) keeps nothing of it', () => {
    const body = JSON.stringify({ esp8266id: '1', password: 'other4', sensordatavalues: [{ value_type: 'PASSWORD', value: 'other5' }, { value_type: 'SDS_P1', value: '1.5' }], note: `x${S}y` })
    expect(JSON.parse(redactText(body, [S]))).toEqual({ esp8266id: '1', password: '***', sensordatavalues: [{ value_type: 'PASSWORD', value: '***' }, { value_type: 'SDS_P1', value: '1.5' }], note: '***' })
    const escaped = `{"pass\\u0077ord": "other6", "v": "\\u005a${S.slice(1)}"}`
    expect(redactText(escaped, [S])).toBe('{"password":"***","v":"***"}')
    const truncated = `{"sensordatavalues":[{"value_type":"SDS_P1","value":"1"}],"Password" : "other7`
    expect(redactText(truncated, [S])).toBe('{"sensordatavalues":[{"value_type":"SDS_P1","value":"1"}],"Password" : "***"')
    expect(redactText(`{"x": "${S}`, [S])).toBe('{"x": "***')
  })

  it('credential headers are dropped; :query and :path lose the secret; the payload bytes stay when nothing changed', () => {
    const payload = Buffer.from('tempf=47.2')
    const message: InboundMessage = {
      topic: WEATHER_STATION_TOPIC, payload, receivedAt: 0,
      headers: { authorization: 'Basic abc', cookie: 'c', 'x-api-key': 'k', ':path': `/data/report/ecowitt-gw/${S}`, ':query': `PASSWORD=${S}&a=1`, 'user-agent': 'GW1100' },
    }
    const redacted = redactSecrets(message, [S])
    expect(redacted.headers).toEqual({ 'x-api-key': '***', ':path': '/data/report/ecowitt-gw/***', ':query': 'PASSWORD=***&a=1', 'user-agent': 'GW1100' })
    expect(redacted.payload).toBe(payload)
  })
})

describe('positions out of openSenseMap bodies (withoutLocations, redactPositionText)', () => {
  const post = (body: string, contentType = 'application/json'): InboundMessage => ({
    topic: OPENSENSEMAP_TOPIC, payload: Buffer.from(body), receivedAt: 0, headers: { ':path': `/boxes/${BOX}/data`, ':query': '', 'content-type': contentType },
  })
  const text = (m: InboundMessage) => withoutLocations(m).payload.toString()

  it('truncated or malformed JSON: location keys, lat/lng pairs, GPS values and number lists are blanked, the rest kept', () => {
    expect(text(post('[{"sensor":"a","value":"1","location":[6.0612,52.5312'))).toBe('[{"sensor":"a","value":"1","location":null')
    expect(text(post('[{"sensor":"a","value":"1","location":{"lat":52.5312,"lng":6.06'))).toBe('[{"sensor":"a","value":"1","location":null')
    expect(text(post('{"a":["8.4","2024-01-15T10:28:30Z",[6.0612,52.5312]],"b":'))).toBe('{"a":["8.4","2024-01-15T10:28:30Z",[]],"b":')
    expect(text(post('{"a":["8.4","2024-01-15T10:28:30Z",[6.0612'))).toBe('{"a":["8.4","2024-01-15T10:28:30Z",[]')
    expect(text(post('{"latitude": 52.5312, "Longitude": "6.0612", "value": 3,'))).toBe('{"latitude":null, "Longitude":null, "value": 3,')
    expect(redactPositionText('{"sensordatavalues":[{"value_type":"GPS_lat","value":"52.5312"},{"value_type":"SDS_P1","value":"1.5"},{"value":"6.0612","value_type":"GPS_lon"')).toBe(
      '{"sensordatavalues":[{"value_type":"GPS_lat","value":null},{"value_type":"SDS_P1","value":"1.5"},{"value":null,"value_type":"GPS_lon"',
    )
    // CSV sent as JSON: a bare decimal pair is a position
    expect(text(post('a,8.4,2024-01-15T10:28:30Z,6.0612,52.5312'))).toBe('a,8.4,2024-01-15T10:28:30Z,***')
  })

  it('parsed JSON: location keys at any depth are dropped; CSV cells after createdAt dropped', () => {
    expect(text(post('{"value": {"lat": 52.5312, "lng": 6.0612, "v": 1}}'))).toBe('{"value":{"v":1}}')
    expect(text(post('a,8.4,2024-01-15T10:28:30Z,6.0612,52.5312,3\nb,1.5', 'text/csv'))).toBe('a,8.4,2024-01-15T10:28:30Z\nb,1.5')
    expect(text(post('{"location":[6.0612,52.5312]}', 'text/csv'))).toBe('{"location":null}')
  })
})

describe('the HTTP decoders store under the authenticated device (:device), never the identity the request names', () => {
  const decoder = (format: string) => createDecoders().find((d) => d.format === format)!
  const [airrohr, weather, osem] = [decoder('airrohr'), decoder('weather-station'), decoder('opensensemap')]

  it('airrohr, weather stations and openSenseMap', () => {
    const ids = (r: DecodeResult) => [...new Set([...r.candidates, ...r.rejections].map((x) => x.deviceId))]
    const a = airrohr.decode({ topic: 'http/airrohr', receivedAt: Date.now(), payload: Buffer.from('{"sensordatavalues":[{"value_type":"SDS_P1","value":"1"},{"value_type":"BME280_temperature","value":"8"},{"value_type":"SHT3X_temperature","value":"8"}]}'), headers: { 'x-sensor': 'esp8266-9', [AUTHENTICATED_DEVICE_HEADER]: 'airrohr-garden' } })
    expect(ids(a)).toEqual(['airrohr-garden', 'airrohr-garden.sht3x'])
    const mismatch = airrohr.decode({ topic: 'http/airrohr', receivedAt: 0, payload: Buffer.from('{"esp8266id":"8","sensordatavalues":[]}'), headers: { 'x-sensor': 'esp8266-9', [AUTHENTICATED_DEVICE_HEADER]: 'airrohr-garden' } })
    expect(mismatch.rejections.map((r) => [r.deviceId, r.rule])).toEqual([['airrohr-garden', 'device_mismatch']])
    const w = weather.decode({ topic: WEATHER_STATION_TOPIC, receivedAt: Date.now(), payload: Buffer.from('ID=SOMEONEELSE&tempf=50'), headers: { ':path': '/weatherstation/updateweatherstation.php', [AUTHENTICATED_DEVICE_HEADER]: 'wu-mine' } })
    expect(ids(w)).toEqual(['wu-mine'])
    const o = osem.decode({ topic: OPENSENSEMAP_TOPIC, receivedAt: Date.now(), payload: Buffer.from('[{"sensor":"x","value":"1"}]'), headers: { ':path': `/boxes/${OTHER_BOX}/data`, 'content-type': 'application/json', [AUTHENTICATED_DEVICE_HEADER]: 'osem-mine' } })
    expect(o.rejections.map((r) => [r.deviceId, r.message])).toEqual([['osem-mine', expect.stringContaining(`of box '${OTHER_BOX}'`)]])
  })
})

describe('HttpAuthenticator against a real SQLite registry', () => {
  let registry: TestRegistry
  let calls = 0
  let clock = 1_000_000
  const counting = (store: RegistryStore): HttpRegistry => ({
    authenticate: (u, s) => {
      calls++
      return store.authenticate(u, s)
    },
    deviceByNativeId: (f, n) => store.deviceByNativeId(f, n),
  })
  const secret = (id: string) => registry.secrets.get(id)!
  const airrohrPush = (user: string, password: string, sensor = 'esp8266-3141592') => req({ headers: { authorization: basic(user, password), 'x-sensor': sensor } })

  beforeAll(async () => {
    registry = await testRegistry([
      { id: 'airrohr-esp8266-3141592', neighbourhood: 'stadshagen', consent: true },
      { id: 'airrohr-garden', neighbourhood: 'stadshagen', consent: true, format: 'airrohr', nativeId: '13463212' },
      { id: `osem-${BOX}`, neighbourhood: 'stadshagen', consent: true },
      { id: `osem-${OTHER_BOX}`, neighbourhood: 'stadshagen', consent: true },
      { id: 'wu-isensh1', neighbourhood: 'stadshagen', consent: true },
      { id: 'wu-revoked', neighbourhood: 'stadshagen', consent: true },
      { id: 'wow-1234567', neighbourhood: 'stadshagen', consent: true },
      { id: 'ecowitt-gw1100', neighbourhood: 'stadshagen', consent: true },
      { id: 'tasmota-shed', neighbourhood: 'stadshagen', consent: true },
    ])
    await registry.store.revoke('wu-revoked')
  }, 60_000)
  afterAll(() => registry?.close())

  it('right credentials give the registry device; wrong, unknown and revoked ones the same bad_credentials', async () => {
    const auth = new HttpAuthenticator(counting(registry.store))
    const device = async (...args: Parameters<HttpAuthenticator['check']>) => {
      const outcome = await auth.check(...args)
      return outcome.ok ? outcome.device.id : outcome.reason
    }
    expect(await device(AIRROHR_BASIC_AUTH, airrohrPush('airrohr-esp8266-3141592', secret('airrohr-esp8266-3141592')), 'a1')).toBe('airrohr-esp8266-3141592')
    expect(await device(AIRROHR_BASIC_AUTH, airrohrPush('airrohr-garden', secret('airrohr-garden'), 'esp8266-13463212'), 'a1')).toBe('airrohr-garden')
    expect(await device(OSEM_BOX_TOKEN, req({ params: { boxId: BOX }, headers: { authorization: secret(`osem-${BOX}`) } }), 'a1')).toBe(`osem-${BOX}`)
    expect(await device(WU_PASSWORD, req({ query: `ID=ISENSH1&PASSWORD=${secret('wu-isensh1')}` }), 'a1')).toBe('wu-isensh1')
    expect(await device(WOW_SITE_KEY, req({ query: `siteid=1234567&siteAuthenticationKey=${secret('wow-1234567')}` }), 'a1')).toBe('wow-1234567')
    expect(await device(ECOWITT_PATH_TOKEN, req({ params: { device: 'ecowitt-gw1100', token: secret('ecowitt-gw1100') } }), 'a1')).toBe('ecowitt-gw1100')

    expect(await device(WU_PASSWORD, req({ query: `ID=ISENSH1&PASSWORD=${secret('wow-1234567')}` }), 'a2')).toBe('bad_credentials')
    expect(await device(WU_PASSWORD, req({ query: `ID=NOSUCH&PASSWORD=${secret('wu-isensh1')}` }), 'a2')).toBe('bad_credentials')
    expect(await device(WU_PASSWORD, req({ query: `ID=REVOKED&PASSWORD=${secret('wu-revoked')}` }), 'a2')).toBe('bad_credentials')
    expect(await device(ECOWITT_PATH_TOKEN, req({ params: { device: 'ecowitt-gw1100', token: 'x' } }), 'a2')).toBe('bad_credentials')
    expect(auth.stats).toEqual({ accepted: 6, refused: { missing_credentials: 0, malformed_credentials: 0, ambiguous_credentials: 0, bad_credentials: 4, identity_mismatch: 0, throttled: 0 }, throttleEvictions: 0 })
  })

  it("cross-device: one device's valid credentials never open another device's identity, format or a service account", async () => {
    const auth = new HttpAuthenticator(counting(registry.store))
    const reason = async (...args: Parameters<HttpAuthenticator['check']>) => {
      const outcome = await auth.check(...args)
      return outcome.ok ? `accepted as ${outcome.device.id}` : `${outcome.reason}: ${outcome.detail}`
    }
    // airrohr device A authenticating but naming chip B in X-Sensor
    expect(await reason(AIRROHR_BASIC_AUTH, airrohrPush('airrohr-garden', secret('airrohr-garden'), 'esp8266-3141592'), 'b1')).toBe("identity_mismatch: the request names another device's identity")
    // box A's token on box B's path
    expect(await reason(OSEM_BOX_TOKEN, req({ params: { boxId: OTHER_BOX }, headers: { authorization: secret(`osem-${BOX}`) } }), 'b1')).toBe('bad_credentials: credentials not accepted')
    // a Tasmota device's secret on the airrohr route
    expect(await reason(AIRROHR_BASIC_AUTH, airrohrPush('tasmota-shed', secret('tasmota-shed'), 'esp8266-shed'), 'b1')).toBe('identity_mismatch: this route takes airrohr devices only')
    // WU's credentials on the Ecowitt path
    expect(await reason(ECOWITT_PATH_TOKEN, req({ params: { device: 'wu-isensh1', token: secret('wu-isensh1') } }), 'b1')).toBe('identity_mismatch: this route takes ecowitt devices only')
    // the ingest's service account
    expect(await reason(AIRROHR_BASIC_AUTH, airrohrPush(registry.service.ingest.username, registry.service.ingest.password), 'b1')).toBe('identity_mismatch: this route takes airrohr devices only')
  })

  it('throttle: after 5 failures of one (address, identity) it refuses unchecked for 60 s, even the right secret; other addresses unaffected', async () => {
    const auth = new HttpAuthenticator(counting(registry.store), { maxFailures: 5, perAddressMaxFailures: 50, blockMs: 60_000, maxTracked: 100 }, () => clock)
    const wrong = req({ query: 'ID=ISENSH1&PASSWORD=guess' })
    const right = req({ query: `ID=ISENSH1&PASSWORD=${secret('wu-isensh1')}` })
    calls = 0
    const outcomes = []
    for (let i = 0; i < 8; i++) outcomes.push(await auth.check(WU_PASSWORD, wrong, '203.0.113.9'))
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.reason))).toEqual([...Array(5).fill('bad_credentials'), 'throttled', 'throttled', 'throttled'])
    expect(outcomes[4]).toMatchObject({ blockedForS: 60 })
    expect(outcomes[5]).toMatchObject({ retryAfterS: 60 })
    expect(calls).toBe(5) // the three throttled attempts cost no scrypt
    expect(await auth.check(WU_PASSWORD, right, '203.0.113.9')).toMatchObject({ ok: false, reason: 'throttled' })
    expect(await auth.check(WU_PASSWORD, right, '198.51.100.7')).toMatchObject({ ok: true })
    clock += 59_000
    expect(await auth.check(WU_PASSWORD, right, '203.0.113.9')).toMatchObject({ ok: false, reason: 'throttled', retryAfterS: 1 })
    clock += 1_001
    expect(await auth.check(WU_PASSWORD, right, '203.0.113.9')).toMatchObject({ ok: true })
    expect(auth.stats.refused.throttled).toBe(5)
    expect(calls).toBe(7)
  })

  it('throttle: one address trying many identities is blocked as a whole; the table is bounded and counts what it drops', async () => {
    const auth = new HttpAuthenticator(counting(registry.store), { maxFailures: 5, perAddressMaxFailures: 4, blockMs: 60_000, maxTracked: 3 }, () => clock)
    const reasons = []
    for (const station of ['A1', 'A2', 'A3', 'A4', 'A5']) {
      const outcome = await auth.check(WU_PASSWORD, req({ query: `ID=${station}&PASSWORD=guess` }), '203.0.113.10')
      reasons.push(outcome.ok ? 'ok' : outcome.reason)
    }
    expect(reasons).toEqual(['bad_credentials', 'bad_credentials', 'bad_credentials', 'bad_credentials', 'throttled'])
    expect(auth.stats.throttleEvictions).toBe(2) // 4 identity keys + 1 address key, at most 3 kept
  })
})
