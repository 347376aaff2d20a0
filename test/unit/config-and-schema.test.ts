import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ENV_SCHEMA, loadConfig } from '../../core/config.ts'
import { nativePayloadJsonSchema } from '../../core/native-payload.ts'
import { QUANTITIES } from '../../core/quantities.ts'
import { influxqlString, readingToLine, rejectionToLine } from '../../core/store/schema.ts'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

describe('configuration', () => {
  it('defaults to direct mode on 127.0.0.1 with the documented ports', () => {
    const config = loadConfig({})
    expect(config.kafka).toBeUndefined()
    expect(config.broker).toEqual({
      bind: '127.0.0.1',
      port: 1883,
      wsPort: 9001,
      limits: { maxPacketBytes: 262_144, deviceRatePerS: 5, deviceBurst: 60, maxRetainedPerClient: 16, maxSubscriptionsPerClient: 32, maxPendingPerClient: 1_000, loginFailures: 5, loginLockoutMs: 60_000 },
      registryPollMs: 2_000,
      tls: undefined,
    })
    expect(config.registry).toEqual({ url: 'data/registry.sqlite', neighbourhoodsFile: 'config/neighbourhoods.json', serviceCredentialsFile: 'data/service-accounts.json' })
    expect(config.mqtt.url).toBe('mqtt://127.0.0.1:1883')
    expect(config.influx).toMatchObject({ url: 'http://127.0.0.1:8086', database: 'senshagen' })
    expect(config.writer).toEqual({ batchSize: 5000, maxInFlight: 4, maxBufferedReadings: 20_000 })
  })

  it('turns on Kafka mode with SENSHAGEN_KAFKA_BROKERS and derives topic names from the prefix', () => {
    const config = loadConfig({ SENSHAGEN_KAFKA_BROKERS: '127.0.0.1:9092, 10.0.0.2:9092', SENSHAGEN_KAFKA_TOPIC_PREFIX: 'zwolle' })
    expect(config.kafka).toMatchObject({ brokers: ['127.0.0.1:9092', '10.0.0.2:9092'], readingsTopic: 'zwolle.readings', rejectionsTopic: 'zwolle.rejections', groupId: 'senshagen-writer' })
  })

  it('names every bad variable and the rule it broke', () => {
    expect(() => loadConfig({ SENSHAGEN_MQTT_PORT: '70000', SENSHAGEN_INFLUX_URL: 'not a url' })).toThrow(
      /SENSHAGEN_MQTT_PORT: Too big: expected number to be <=65535\n\s+SENSHAGEN_INFLUX_URL: Invalid URL/,
    )
    expect(() => loadConfig({ SENSHAGEN_INFLUX_TOKEN: 'changeme' })).toThrow('SENSHAGEN_INFLUX_TOKEN: is a placeholder, not a real secret')
    expect(() => loadConfig({ SENSHAGEN_WRITER_BATCH_SIZE: '500', SENSHAGEN_WRITER_MAX_BUFFER: '100' })).toThrow(
      'SENSHAGEN_WRITER_BATCH_SIZE × SENSHAGEN_WRITER_IN_FLIGHT (500 × 4) must not exceed SENSHAGEN_WRITER_MAX_BUFFER (100)',
    )
    expect(() => loadConfig({ SENSHAGEN_WRITER_IN_FLIGHT: '8' })).toThrow('(5000 × 8) must not exceed SENSHAGEN_WRITER_MAX_BUFFER (20000)')
    expect(() => loadConfig({ SENSHAGEN_WRITER_IN_FLIGHT: '0' })).toThrow(/SENSHAGEN_WRITER_IN_FLIGHT: Too small/)
    expect(() => loadConfig({ SENSHAGEN_HTTP_IDLE_TIMEOUT_MS: '15000' })).toThrow('SENSHAGEN_HTTP_IDLE_TIMEOUT_MS must be above SENSHAGEN_API_LIVE_HEARTBEAT_MS and SENSHAGEN_API_QUERY_TIMEOUT_MS')
    expect(loadConfig({ SENSHAGEN_WRITER_IN_FLIGHT: '8', SENSHAGEN_WRITER_MAX_BUFFER: '40000' }).writer).toEqual({ batchSize: 5000, maxInFlight: 8, maxBufferedReadings: 40_000 })
    expect(() => loadConfig({ SENSHAGEN_INFLUX_USERNAME: 'admin' })).toThrow('SENSHAGEN_INFLUX_PASSWORD is not')
    expect(() => loadConfig({ SENSHAGEN_MQTT_TLS_CERT: 'cert.pem' })).toThrow('SENSHAGEN_MQTT_TLS_CERT and SENSHAGEN_MQTT_TLS_KEY go together')
    expect(() => loadConfig({ SENSHAGEN_MQTT_MAX_PACKET_BYTES: '268435456' })).toThrow('SENSHAGEN_MQTT_MAX_PACKET_BYTES must not exceed 268435455')
    expect(() => loadConfig({ SENSHAGEN_MQTT_DEVICE_RATE: '0' })).toThrow(/SENSHAGEN_MQTT_DEVICE_RATE: Too small/)
    expect(loadConfig({ SENSHAGEN_MQTT_TLS_CERT: 'c.pem', SENSHAGEN_MQTT_TLS_KEY: 'k.pem' }).broker.tls).toEqual({ certFile: 'c.pem', keyFile: 'k.pem', port: 8883, wsPort: 9443 })
  })

  it('is documented: the README configuration table names every variable', () => {
    const missing = Object.keys(ENV_SCHEMA.shape).filter((name) => !readme.includes(`\`${name}\``))
    expect(missing).toEqual([])
  })
})

describe('InfluxDB schema', () => {
  const reading = { deviceId: 'sc-5331', quantity: 'pm10' as const, value: 20, unit: 'µg/m³', observedAt: 1507379391000, receivedAt: 1795975200000, timeSource: 'device' as const, sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags: [] as string[] }

  it('writes every value as a float field, also a whole one, with a ms timestamp', () => {
    expect(readingToLine(reading)).toBe(
      'reading,device=sc-5331,quantity=pm10 flags="",raw_value=20,received_ms=1795975200000i,sensor="SDS011",source="senshagen-v1",source_unit="",time_source="device",unit="µg/m³",value=20 1507379391000',
    )
    expect(readingToLine({ ...reading, value: 20.1 })).toContain(',value=20.1 ')
  })

  it('escapes rejection text so any payload can be kept', () => {
    const line = rejectionToLine({ deviceId: 'unknown', topic: 'a b', sourceFormat: 'senshagen-v1', receivedAt: 1, path: '$', rule: 'json', message: 'bad "x"', raw: 'line1\nline2 \\ "q"' })
    // digest: the first 16 hex digits of `printf 'a b\0line1\nline2 \\ "q"\0$\0json\0' | sha1sum` (topic, raw, path, rule, no value)
    expect(line).toBe('rejection,device=unknown,digest=11e19ead2d226d7e,rule=json message="bad \\"x\\"",path="$",raw="line1\nline2 \\\\ \\"q\\"",received_ms=1i,source="senshagen-v1",topic="a b" 1')
  })

  it('quotes InfluxQL string literals', () => {
    expect(influxqlString("it's")).toBe("'it\\'s'")
  })

  it('documents the native payload JSON schema exactly as the code defines it', () => {
    const committed = JSON.parse(readFileSync(new URL('../../docs/native-payload-v1.schema.json', import.meta.url), 'utf8'))
    expect(committed).toEqual(nativePayloadJsonSchema())
  })

  it('has a unit for every quantity of the vocabulary and names them as the README does', () => {
    for (const [name, info] of Object.entries(QUANTITIES)) expect(readme, name).toContain(`| \`${name}\` | ${info.unit} |`)
  })
})
