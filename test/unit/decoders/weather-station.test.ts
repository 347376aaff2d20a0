import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Candidate, DecodeResult, InboundMessage } from '../../../core/decoders/decoder.ts'
import {
  PASSKEY_SHA256_HEADER, WEATHER_STATION_FORMAT, WEATHER_STATION_TOPIC, createWeatherStationDecoder, normaliseParameterName, redactWeatherStationSecrets,
} from '../../../core/decoders/weather-station.ts'
import { isQuantity } from '../../../core/quantities.ts'
import { DeviceIdSchema, RejectionSchema, type Reading } from '../../../core/reading.ts'
import { validateCandidates } from '../../../core/validate.ts'

const decoder = createWeatherStationDecoder({ deviceTimeZone: 'Europe/Amsterdam' })
const DIR = new URL('../../fixtures/devices/wow-wu-ecowitt/', import.meta.url)
const VALIDATE = { maxFutureMs: 300_000, maxAgeMs: decoder.maxAgeMs! }
const AT = Date.UTC(2024, 0, 15, 10, 30, 0)
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/**
 * Test-only reader for the fixtures: a `#` comment line, the request line, headers, and for POST a blank line and
 * the body (the file's final newline is not part of it).
 */
function parseRequest(text: string): { method: string; target: string; headers: Record<string, string>; body: string } {
  const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n')
  if (lines[0]?.startsWith('#')) lines.shift()
  const [method = '', target = ''] = (lines.shift() ?? '').split(' ')
  const headers: Record<string, string> = {}
  let line: string | undefined
  while ((line = lines.shift()) !== undefined && line !== '') {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { method, target, headers, body: lines.join('\n') }
}

/**
 * The message as the ingest's HTTP layer builds it: payload = query (GET) or body (POST) with secrets redacted,
 * lower-case headers plus `:path` and `:query` (redacted too), and for Ecowitt the SHA-256 of the original PASSKEY.
 */
function httpMessage(method: string, target: string, headers: Record<string, string>, body: string, receivedAt: number): InboundMessage {
  const [path = '', query = ''] = target.split('?')
  const params = method === 'GET' ? query : body
  const passkey = new URLSearchParams(params).get('PASSKEY')
  return {
    topic: WEATHER_STATION_TOPIC,
    payload: Buffer.from(redactWeatherStationSecrets(params), 'utf8'),
    receivedAt,
    headers: {
      ...headers, ':path': path, ':query': redactWeatherStationSecrets(query),
      ...(passkey === null ? {} : { [PASSKEY_SHA256_HEADER]: sha256(passkey) }),
    },
  }
}

function fixtureMessage(file: string, receivedAt: number): InboundMessage {
  const r = parseRequest(readFileSync(new URL(file, DIR), 'utf8'))
  return httpMessage(r.method, r.target, r.headers, r.body, receivedAt)
}

const get = (query: string, path = '/weatherstation/updateweatherstation.php', headers: Record<string, string> = {}, receivedAt = AT) =>
  httpMessage('GET', `${path}?${query}`, headers, '', receivedAt)

function c(deviceId: string, quantity: string, value: string, path: string, observedAt: number, timeSource: Candidate['timeSource'], sensorModel?: string, unit?: string): Candidate {
  return { deviceId, quantity, value, ...(unit ? { unit } : {}), path, observedAt, timeSource, ...(sensorModel ? { sensorModel } : {}), sourceFormat: WEATHER_STATION_FORMAT }
}
const ign = (deviceId: string, entries: string) =>
  entries.split(' ').map((e) => { const [path = '', t = 'n'] = e.split(':'); return { deviceId, path, type: t === 's' ? 'string' : 'numeric-string' } })

/** Reading fields that matter here (unit, flags, receivedAt … checked by the validate tests). */
const r = (quantity: string, value: number, sourceUnit?: string, rawValue?: number) => ({ quantity, value, ...(sourceUnit ? { sourceUnit, rawValue } : {}) })
const pick = (readings: Reading[]) => readings.map((x) => ({ quantity: x.quantity, value: x.value, ...(x.sourceUnit ? { sourceUnit: x.sourceUnit, rawValue: x.rawValue } : {}) }))

const WOW = 'wow-1234567'
const WOW_AT = Date.UTC(2024, 0, 15, 10, 28, 30) // dateutc=2024-01-15+10%3A28%3A30
const WU = 'wu-isensh1'
const ECO = 'ecowitt-cd6c1f7d1dc6' // sha256('0123456789ABCDEF0123456789ABCDEF') = cd6c1f7d1dc6717d…
const ECO_AT = Date.UTC(2024, 5, 28, 9, 17, 20) // dateutc=2024-06-28+09%3A17%3A20

interface FixtureCase { receivedAt: number; decoded: DecodeResult; readings: ReturnType<typeof r>[] }
const FIXTURES: Record<string, FixtureCase> = {
  'written_wow-automaticreading.txt': {
    receivedAt: WOW_AT + 5_000,
    decoded: {
      candidates: [
        c(WOW, 'air_temperature', '47.16', 'tempf', WOW_AT, 'device', 'senshagen-0.1', '°F'),
        c(WOW, 'relative_humidity', '81', 'humidity', WOW_AT, 'device', 'senshagen-0.1'),
        c(WOW, 'wind_speed', '6.9', 'windspeedmph', WOW_AT, 'device', 'senshagen-0.1', 'mph'),
        c(WOW, 'wind_from_direction', '235', 'winddir', WOW_AT, 'device', 'senshagen-0.1'),
      ],
      rejections: [],
      ignored: ign(WOW, 'siteid siteAuthenticationKey:s softwaretype:s dateutc:s dewptf baromin rainin dailyrainin windgustmph'),
    },
    // (47.16 − 32) × 5/9 = 75.8/9 = 8.4222…; 6.9 × 0.44704 = 3.084576
    readings: [r('air_temperature', 8.42222222222, '°F', 47.16), r('relative_humidity', 81), r('wind_speed', 3.084576, 'mph', 6.9), r('wind_from_direction', 235)],
  },
  'written_wunderground-updateweatherstation.txt': {
    receivedAt: AT,
    decoded: {
      candidates: [
        c(WU, 'air_temperature', '47.2', 'tempf', AT, 'receipt', 'EasyWeatherV1.6.6', '°F'),
        c(WU, 'relative_humidity', '81', 'humidity', AT, 'receipt', 'EasyWeatherV1.6.6'),
        c(WU, 'wind_speed', '6.9', 'windspeedmph', AT, 'receipt', 'EasyWeatherV1.6.6', 'mph'),
        c(WU, 'wind_from_direction', '235', 'winddir', AT, 'receipt', 'EasyWeatherV1.6.6'),
      ],
      rejections: [],
      ignored: ign(WU, 'ID:s PASSWORD:s action:s dateutc:s dewptf baromin rainin dailyrainin windgustmph softwaretype:s'),
    },
    // (47.2 − 32) × 5/9 = 76/9 = 8.4444…
    readings: [r('air_temperature', 8.44444444444, '°F', 47.2), r('relative_humidity', 81), r('wind_speed', 3.084576, 'mph', 6.9), r('wind_from_direction', 235)],
  },
  'written_ecowitt-customized-post.txt': {
    receivedAt: ECO_AT + 5_000,
    decoded: {
      candidates: [
        c(ECO, 'air_pressure', '29.816', 'baromabsin', ECO_AT, 'device', 'GW1100B_V2.3.2', 'inHg'),
        c(ECO, 'air_temperature', '64.40', 'tempf', ECO_AT, 'device', 'GW1100B_V2.3.2', '°F'),
        c(ECO, 'relative_humidity', '87', 'humidity', ECO_AT, 'device', 'GW1100B_V2.3.2'),
        c(ECO, 'wind_from_direction', '234', 'winddir', ECO_AT, 'device', 'GW1100B_V2.3.2'),
        c(ECO, 'wind_speed', '2.91', 'windspeedmph', ECO_AT, 'device', 'GW1100B_V2.3.2', 'mph'),
        c(ECO, 'pm2_5', '7.0', 'pm25_ch1', ECO_AT, 'device', 'GW1100B_V2.3.2'),
      ],
      rejections: [],
      ignored: ign(ECO, 'PASSKEY:s stationtype:s runtime heap dateutc:s tempinf humidityin baromrelin windgustmph maxdailygust solarradiation uv '
        + 'rainratein eventrainin hourlyrainin dailyrainin weeklyrainin monthlyrainin yearlyrainin pm25_avg_24h_ch1 pm25batt1 wh65batt freq:s model:s'),
    },
    // 29.816 × 33.8638866667 = 1009.685644854… → 12 digits; (64.40 − 32) × 5/9 = 18; 2.91 × 0.44704 = 1.3008864
    readings: [
      r('air_pressure', 1009.68564485, 'inHg', 29.816), r('air_temperature', 18, '°F', 64.4), r('relative_humidity', 87),
      r('wind_from_direction', 234), r('wind_speed', 1.3008864, 'mph', 2.91), r('pm2_5', 7),
    ],
  },
}

describe('weather-station decoder: every fixture in test/fixtures/devices/wow-wu-ecowitt/', () => {
  it('covers all fixture files', () => {
    expect(readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()).toEqual(Object.keys(FIXTURES).sort())
  })

  for (const [file, expected] of Object.entries(FIXTURES)) {
    it(`${file}: candidates, ignored keys, then canonical readings`, () => {
      const message = fixtureMessage(file, expected.receivedAt)
      const decoded = decoder.decode(message)
      expect(decoded).toEqual(expected.decoded)
      const validated = validateCandidates(message, decoded.candidates, VALIDATE)
      expect(validated.rejections).toEqual([])
      expect(pick(validated.readings)).toEqual(expected.readings)
      for (const reading of validated.readings) {
        expect(reading).toMatchObject({ receivedAt: expected.receivedAt, sourceFormat: WEATHER_STATION_FORMAT, flags: [] })
      }
    })
  }

  it('the secrets of the fixtures reach neither the decoder nor any rejection', () => {
    const secrets = ['siteAuthenticationKey=123456', 'PASSWORD=xxxx', '0123456789ABCDEF0123456789ABCDEF']
    for (const file of Object.keys(FIXTURES)) {
      const message = fixtureMessage(file, AT + 400 * 86_400_000) // dated uploads are now too old: time_past
      const text = message.payload.toString('utf8') + JSON.stringify(message.headers)
      for (const secret of secrets) expect(text).not.toContain(secret)
      const withUnknown = { ...message, payload: Buffer.concat([message.payload, Buffer.from('&bogus=1')]) }
      const decoded = decoder.decode(withUnknown)
      const rejections = [...decoded.rejections, ...validateCandidates(withUnknown, decoded.candidates, VALIDATE).rejections]
      expect(rejections.length).toBeGreaterThan(0)
      for (const secret of secrets) expect(JSON.stringify(rejections)).not.toContain(secret)
    }
  })
})

describe('weather-station decoder: time, identity, keys', () => {
  it("reads dateutc as UTC; 'now', empty or absent is receipt time; a bad one rejects the whole message", () => {
    const one = (query: string) => decoder.decode(get(`ID=X1&${query}`)).candidates[0]
    expect(one('dateutc=2024-01-15+10%3A28%3A30&tempf=50')).toMatchObject({ observedAt: WOW_AT, timeSource: 'device' })
    expect(one('dateutc=2024-01-15 10:28:30&tempf=50')).toMatchObject({ observedAt: WOW_AT, timeSource: 'device' })
    for (const q of ['dateutc=now&tempf=50', 'dateutc=NOW&tempf=50', 'dateutc=&tempf=50', 'tempf=50']) {
      expect(one(q)).toMatchObject({ observedAt: AT, timeSource: 'receipt' })
    }
    for (const bad of ['2024-13-45+10%3A28%3A30', 'yesterday', '1705314510', '2024-01-15+25%3A00%3A00']) {
      const decoded = decoder.decode(get(`ID=X1&PASSWORD=pw&dateutc=${bad}&tempf=50`))
      expect(decoded.candidates).toEqual([])
      expect(decoded.rejections).toEqual([expect.objectContaining({ deviceId: 'wu-x1', path: 'dateutc', rule: 'schema', raw: `ID=X1&PASSWORD=***&dateutc=${bad}&tempf=50` })])
    }
    const twice = decoder.decode(get('ID=X1&dateutc=now&dateutc=2024-01-15+10%3A28%3A30&tempf=50'))
    expect(twice.rejections).toEqual([expect.objectContaining({ path: 'dateutc', rule: 'schema', value: ['now', '2024-01-15 10:28:30'] })])
  })

  it('rejects an upload without identity as a whole, naming the missing parameter', () => {
    const whole = (m: InboundMessage) => {
      const decoded = decoder.decode(m)
      expect(decoded.candidates).toEqual([])
      expect(decoded.rejections).toHaveLength(1)
      return decoded.rejections[0]!
    }
    expect(whole(get('PASSWORD=x&tempf=50'))).toMatchObject({ deviceId: 'unknown', path: 'ID', rule: 'schema', raw: 'PASSWORD=***&tempf=50', topic: WEATHER_STATION_TOPIC, receivedAt: AT })
    expect(whole(get('ID=&tempf=50'))).toMatchObject({ path: 'ID', rule: 'schema' })
    expect(whole(get('ID=a+b&tempf=50'))).toMatchObject({ path: 'ID', rule: 'schema', value: 'a b' })
    expect(whole(get('ID=A&ID=B&tempf=50'))).toMatchObject({ path: 'ID', rule: 'schema', value: ['A', 'B'] })
    expect(whole(get('siteAuthenticationKey=1&tempf=50', '/automaticreading'))).toMatchObject({ path: 'siteid', rule: 'schema', message: expect.stringContaining('siteid') })
    expect(whole(httpMessage('POST', '/data/report/', {}, 'stationtype=GW1100B&tempf=50', AT))).toMatchObject({ path: 'PASSKEY', rule: 'schema' })
    expect(whole(httpMessage('POST', '/data/report/', { [PASSKEY_SHA256_HEADER]: 'abc' }, 'stationtype=GW1100B&tempf=50', AT))).toMatchObject({ path: PASSKEY_SHA256_HEADER })
    expect(whole({ topic: WEATHER_STATION_TOPIC, payload: Buffer.from('tempf=50'), receivedAt: AT })).toMatchObject({ path: '$', rule: 'schema' })
  })

  it('takes the dialect from :path, else from the parameters; WU ids are lower-cased, WOW site ids kept', () => {
    const ids = (m: InboundMessage) => decoder.decode(m).candidates.map((x) => x.deviceId)
    expect(ids(get('siteid=AbC-9&ID=X1&tempf=50', '/automaticreading/'))).toEqual(['wow-AbC-9'])
    expect(ids(get('siteid=AbC-9&ID=X1&tempf=50'))).toEqual(['wu-x1'])
    expect(ids({ topic: WEATHER_STATION_TOPIC, payload: Buffer.from('siteid=7&tempf=50'), receivedAt: AT })).toEqual(['wow-7'])
    expect(ids({ topic: WEATHER_STATION_TOPIC, payload: Buffer.from('id=K9&tempf=50'), receivedAt: AT, headers: { ':path': '/other' } })).toEqual(['wu-k9'])
    expect(ids(httpMessage('POST', '/elsewhere', {}, 'PASSKEY=abc&tempf=50', AT))).toEqual([`ecowitt-${sha256('abc').slice(0, 12)}`])
  })

  it('rejects unknown keys alone (never dropped), conflicting repeats alone, and keeps the rest', () => {
    const decoded = decoder.decode(get('ID=X1&dateutc=now&tempf=50&TempF=50&humidity=80&humidity=81&co2=412&=5&soilmoisture2=30&wh80batt=3.1&UV=2'))
    expect(decoded.candidates).toEqual([c('wu-x1', 'air_temperature', '50', 'tempf', AT, 'receipt', undefined, '°F')])
    expect(decoded.rejections.map((x) => [x.path, x.rule, x.value])).toEqual([
      ['humidity', 'schema', ['80', '81']],
      ['co2', 'unknown_quantity', '412'],
      ['', 'unknown_quantity', '5'],
    ])
    expect(decoded.ignored?.map((x) => x.path)).toEqual(['ID', 'dateutc', 'soilmoisture2', 'wh80batt', 'UV'])
    for (const rejection of decoded.rejections) expect(rejection).toMatchObject({ deviceId: 'wu-x1', observedAt: AT, raw: expect.stringContaining('co2=412') })
  })

  it('passes values through as sent: the validate step rejects bad ones and converts units', () => {
    const m = get('ID=X1&tempf=-40&windspeedmph=nan&humidity=&winddir=1%2C5&baromabsin=29.92')
    const decoded = decoder.decode(m)
    expect(decoded.candidates.map((x) => x.value)).toEqual(['-40', 'nan', '', '1,5', '29.92'])
    const validated = validateCandidates(m, decoded.candidates, VALIDATE)
    expect(pick(validated.readings)).toEqual([r('air_temperature', -40, '°F', -40), r('air_pressure', 1013.20748907, 'inHg', 29.92)]) // 29.92 × 33.8638866667 = 1013.2074890677
    expect(validated.rejections.map((x) => [x.path, x.rule])).toEqual([['windspeedmph', 'not_finite'], ['humidity', 'missing'], ['winddir', 'number_format']])
  })

  it('skips an empty Ecowitt upload', () => {
    const decoded = decoder.decode(httpMessage('POST', '/data/report/', { [PASSKEY_SHA256_HEADER]: sha256('k') }, '', AT))
    expect(decoded).toEqual({ candidates: [], rejections: [], skipped: 'upload without parameters' })
  })
})

describe('redactWeatherStationSecrets', () => {
  it('replaces the credentials, any case and encoding of the name, and nothing else', () => {
    expect(redactWeatherStationSecrets('ID=X&PASSWORD=s3cret&tempf=47.2')).toBe('ID=X&PASSWORD=***&tempf=47.2')
    expect(redactWeatherStationSecrets('siteid=1&siteAuthenticationKey=123456')).toBe('siteid=1&siteAuthenticationKey=***')
    expect(redactWeatherStationSecrets('PASSKEY=ABC&passkey=def&PassWord=%41b&PASS%57ORD=x&+password+=y')).toBe('PASSKEY=***&passkey=***&PassWord=***&PASS%57ORD=***&+password+=***')
    // any name containing a credential word counts, punctuation and control characters ignored (decoder.ts isSecretName)
    expect(redactWeatherStationSecrets('?PASSWORD=x&PASSWORDS=y&tempf=1&PASSWORD')).toBe('?PASSWORD=***&PASSWORDS=***&tempf=1&PASSWORD')
    expect(redactWeatherStationSecrets('PASSWORD%00=a&site_authentication_key=b&Pass-Word=c&temp=1')).toBe('PASSWORD%00=***&site_authentication_key=***&Pass-Word=***&temp=1')
    expect(redactWeatherStationSecrets('')).toBe('')
  })

  it('the decoder redacts its own rejections when the HTTP layer did not', () => {
    const decoded = decoder.decode({ topic: WEATHER_STATION_TOPIC, payload: Buffer.from('ID=X1&PASSWORD=hunter2&co2=1'), receivedAt: AT })
    expect(decoded.rejections).toEqual([expect.objectContaining({ path: 'co2', raw: 'ID=X1&PASSWORD=***&co2=1' })])
    expect(decoded.ignored).toContainEqual({ deviceId: 'wu-x1', path: 'PASSWORD', type: 'string' })
  })
})

describe('weather-station decoder: properties', () => {
  const SECRET = 'Zq7SecretValue'
  const known = ['ID', 'siteid', 'dateutc', 'tempf', 'humidity', 'windspeedmph', 'winddir', 'baromabsin', 'baromin', 'pm25_ch1', 'rainin', 'stationtype', 'softwaretype', 'wh65batt', 'co2', 'constructor', '__proto__', 'toString']
  const secretName = fc.constantFrom('PASSWORD', 'password', 'siteAuthenticationKey', 'PASSKEY', 'PassKey', ' PASSWORD', 'PASS%57ORD', 'pass%4Bey')
  const value = fc.oneof(fc.constantFrom('47.2', 'now', '2024-01-15+10%3A28%3A30', '', 'nan', 'ISENSH1', '%', '%zz', '1%2C5'), fc.string({ maxLength: 12 }))
  const pair = fc.oneof(
    fc.tuple(fc.oneof(fc.constantFrom(...known), fc.string({ maxLength: 8 })), value).map(([k, v]) => `${k}=${v}`),
    fc.tuple(secretName, fc.nat()).map(([k, n]) => `${k}=${SECRET}${n}`),
    fc.string({ maxLength: 10 }),
  )
  const path = fc.oneof(fc.constantFrom('/automaticreading', '/weatherstation/updateweatherstation.php', '/data/report/', '/DATA/REPORT', 'constructor', '__proto__'), fc.string({ maxLength: 10 }))
  const identity = fc.constantFrom('', 'ID=ISENSH1&', 'siteid=42&', 'PASSKEY=k&', 'ID=bad id&')
  /** Half the time a path with its own identity parameter, so that many uploads get past the identity check. */
  const target = fc.oneof(
    fc.constantFrom(['/automaticreading', 'siteid=42&'], ['/weatherstation/updateweatherstation.php', 'ID=ISENSH1&'], ['/data/report/', 'PASSKEY=k&']),
    fc.tuple(path, identity),
  )
  const params = fc.oneof(
    fc.tuple(target, fc.array(pair, { maxLength: 10 })).map(([[p, id], pairs]) => [p, id + pairs.join('&')] as const),
    fc.tuple(path, fc.string({ maxLength: 40 })),
  )
  const hash = fc.option(fc.oneof(fc.constant(sha256('x')), fc.string({ maxLength: 70 })), { nil: undefined, freq: 3 })

  it('never throws; rejections well-formed and secret-free; ids valid; each parameter accounted for once', () => {
    fc.assert(
      fc.property(params, hash, fc.boolean(), ([p, text], h, redactFirst) => {
        const payload = Buffer.from(redactFirst ? redactWeatherStationSecrets(text) : text, 'utf8')
        const message: InboundMessage = { topic: WEATHER_STATION_TOPIC, payload, receivedAt: AT, headers: { ':path': p, ...(h === undefined ? {} : { [PASSKEY_SHA256_HEADER]: h }) } }
        const decoded = decoder.decode(message)
        for (const x of decoded.rejections) {
          expect(x.rule).not.toBe('')
          expect(x.message).not.toBe('')
          expect(RejectionSchema.safeParse(x).success).toBe(true)
          expect(JSON.stringify(x)).not.toContain(SECRET)
        }
        for (const x of [...decoded.candidates, ...(decoded.ignored ?? [])]) expect(DeviceIdSchema.safeParse(x.deviceId).success).toBe(true)
        for (const x of decoded.candidates) expect(isQuantity(x.quantity)).toBe(true)
        const validated = validateCandidates(message, decoded.candidates, VALIDATE)
        expect(validated.readings.length + validated.rejections.length).toBe(decoded.candidates.length)
        if (redactFirst) for (const x of validated.rejections) expect(JSON.stringify(x)).not.toContain(SECRET)
        if (decoded.candidates.length + (decoded.ignored?.length ?? 0) > 0) {
          const names = [...new URLSearchParams(payload.toString('utf8').trim())].map(([k]) => normaliseParameterName(k))
          const seen = [...decoded.candidates, ...(decoded.ignored ?? []), ...decoded.rejections].map((x) => normaliseParameterName(x.path))
          expect(seen.sort()).toEqual([...new Set(names)].sort())
        }
      }),
      { numRuns: 1000 },
    )
  })
})
