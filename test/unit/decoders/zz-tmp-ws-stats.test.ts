import fc from 'fast-check'
import { it } from 'vitest'
import { createWeatherStationDecoder, redactWeatherStationSecrets, PASSKEY_SHA256_HEADER } from '/work/main/core/decoders/weather-station.ts'
const d = createWeatherStationDecoder({ deviceTimeZone: 'UTC' })
it('stats', () => {
  const SECRET = 'Zq7SecretValue'
  const known = ['ID', 'siteid', 'dateutc', 'tempf', 'humidity', 'windspeedmph', 'winddir', 'baromabsin', 'baromin', 'pm25_ch1', 'rainin', 'stationtype', 'softwaretype', 'wh65batt', 'co2']
  const secretName = fc.constantFrom('PASSWORD', 'password', 'siteAuthenticationKey', 'PASSKEY', 'PassKey', ' PASSWORD', 'PASS%57ORD', 'pass%4Bey')
  const value = fc.oneof(fc.constantFrom('47.2', 'now', '2024-01-15+10%3A28%3A30', '', 'nan', 'ISENSH1', '%', '%zz', '1%2C5'), fc.string({ maxLength: 12 }))
  const pair = fc.oneof(fc.tuple(fc.oneof(fc.constantFrom(...known), fc.string({ maxLength: 8 })), value).map(([k, v]) => `${k}=${v}`), fc.tuple(secretName, fc.nat()).map(([k, n]) => `${k}=${SECRET}${n}`), fc.string({ maxLength: 10 }))
  const params = fc.oneof(fc.tuple(fc.constantFrom('', 'ID=ISENSH1&', 'siteid=42&', 'PASSKEY=k&', 'ID=bad id&'), fc.array(pair, { maxLength: 10 })).map(([id, pairs]) => id + pairs.join('&')), fc.string({ maxLength: 40 }))
  const path = fc.oneof(fc.constantFrom('/automaticreading', '/weatherstation/updateweatherstation.php', '/data/report/', '/DATA/REPORT'), fc.string({ maxLength: 10 }))
  fc.statistics(fc.tuple(params, path, fc.option(fc.constant('a'.repeat(64)), { nil: undefined })), ([t, p, h]) => {
    const r = d.decode({ topic: 'http/weather-station', payload: Buffer.from(redactWeatherStationSecrets(t)), receivedAt: 0, headers: { ':path': p, ...(h ? { [PASSKEY_SHA256_HEADER]: h } : {}) } })
    return r.candidates.length > 0 ? 'candidates' : (r.ignored?.length ?? 0) > 0 ? 'ignored only' : r.rejections.length > 1 ? 'key rejections' : r.rejections.length === 1 ? 'one rejection' : 'empty'
  }, { numRuns: 1000 })
})
