import mqtt from 'mqtt'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createDecoders } from '../../core/decoders/index.ts'
import { readingsTopic } from '../../core/topics.ts'
import { IngestCore } from '../../services/ingest/ingest-core.ts'
import { MqttSource } from '../../services/ingest/mqtt-ingest.ts'
import { MOSQUITTO_URL, uniqueId, waitFor } from '../helpers/env.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

/**
 * The subscribed ingest's reconnects on the Mosquitto of infra/up.sh, through a TCP proxy that goes down for a
 * while: a self-healing outage is one warning, its failed attempts stay at debug, and the recovery is one info
 * line (core/retry.ts OutageLog) — not a warning per attempt. Own client id; its session is removed afterwards.
 */
describe('subscribed ingest: one warning per lost connection', () => {
  const clientId = uniqueId('reconnect-log')
  afterAll(async () => {
    await (await mqtt.connectAsync(MOSQUITTO_URL, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 })).endAsync()
  })

  it('warns once when the broker goes away, keeps the retries at debug, and says once that it recovered', async () => {
    const lines: Array<{ level: string; msg: string; failedAttempts?: number }> = []
    const logger = pino({ level: 'debug', base: undefined, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, {
      write: (line: string) => void lines.push(JSON.parse(line) as { level: string; msg: string }),
    })
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(MOSQUITTO_URL).port) })
    const sink = { accept: async () => undefined, close: async () => undefined }
    const core = new IngestCore({ maxPayloadBytes: 65_536, maxFutureMs: 300_000, decoders: createDecoders() }, sink, pino({ level: 'silent' }))
    const url = proxy.url.replace('http://', 'mqtt://')
    const source = new MqttSource({ url, clientId, filters: [readingsTopic(uniqueId('dev'))], reconnect: { initialDelayMs: 50, maxDelayMs: 100 } }, core, logger)
    try {
      await source.start()
      proxy.down()
      await waitFor('three failed reconnects', () => source.connectionOutage.stats.failures >= 4, 10_000, 20)
      proxy.up()
      await waitFor('reconnected', () => source.stats.connections === 2, 10_000, 20)
    } finally {
      await source.stop()
      await proxy.close()
    }
    const outageLines = lines.filter((l) => l.level !== 'info' || /recovered/.test(l.msg))
    const byLevel = (level: string) => outageLines.filter((l) => l.level === level)
    expect(byLevel('warn').map((l) => l.msg)).toEqual([
      'connection to the broker lost: reconnecting (unacknowledged messages come again) (MQTT broker connection: retrying; logged once until it recovers)',
    ])
    expect(byLevel('error')).toEqual([])
    expect(byLevel('debug').filter((l) => l.msg === 'reconnect failed: trying again').length).toBeGreaterThanOrEqual(3)
    const recovered = byLevel('info')
    expect(recovered).toHaveLength(1)
    expect(recovered[0]!.msg).toMatch(/^MQTT broker connection recovered after \d+(\.\d)? s \/ \d+ failed attempts$/)
    expect(recovered[0]!.failedAttempts).toBe(source.connectionOutage.stats.failures)
    expect(source.connectionOutage.stats).toMatchObject({ episodes: 1, recoveries: 1 })
  })
})
