import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { isSelfHealing } from '../../core/bus/kafka.ts'
import { OutageLog } from '../../core/retry.ts'

/** A debug-level pino logger writing into `lines` (level as its name, msg and the fields). */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug', base: undefined, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  })
  return { logger, lines }
}

describe('OutageLog: one warning per self-healing outage', () => {
  it('warns at the first failure, keeps the repeats at debug, and logs one info line with length and attempts on recovery', () => {
    const { logger, lines } = capturingLogger()
    let now = 1_000_000
    const outage = new OutageLog(logger, 'Kafka', () => now)
    outage.failed({ broker: '127.0.0.1:9092' }, 'Connection error: connect ECONNREFUSED')
    now += 1_500
    outage.failed({ broker: '127.0.0.1:9092' }, 'Connection error: connect ECONNREFUSED')
    now += 2_700
    outage.failed({ broker: '127.0.0.1:9092' }, 'Failed to connect to broker, reconnecting')
    expect(outage.failing).toBe(true)
    now += 800
    outage.recovered()
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'Connection error: connect ECONNREFUSED (Kafka: retrying; logged once until it recovers)'],
      ['debug', 'Connection error: connect ECONNREFUSED'],
      ['debug', 'Failed to connect to broker, reconnecting'],
      ['info', 'Kafka recovered after 5 s / 3 failed attempts'],
    ])
    expect(lines[0]).toMatchObject({ broker: '127.0.0.1:9092', outage: 'Kafka' })
    expect(lines[2]).toMatchObject({ attempt: 3 })
    expect(lines[3]).toMatchObject({ seconds: 5, failedAttempts: 3 })
    expect(outage.stats).toEqual({ episodes: 1, failures: 3, recoveries: 1 })
    expect(outage.failing).toBe(false)
  })

  it('logs nothing for successes outside an outage, and starts a new episode with a warning after a recovery', () => {
    const { logger, lines } = capturingLogger()
    let now = 0
    const outage = new OutageLog(logger, 'InfluxDB write', () => now)
    outage.recovered()
    outage.recovered()
    expect(lines).toEqual([])
    outage.failed({}, 'write failed')
    now += 250
    outage.recovered()
    outage.recovered()
    outage.failed({}, 'write failed again')
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'write failed (InfluxDB write: retrying; logged once until it recovers)'],
      ['info', 'InfluxDB write recovered after 0.3 s / 1 failed attempt'],
      ['warn', 'write failed again (InfluxDB write: retrying; logged once until it recovers)'],
    ])
    expect(outage.stats).toEqual({ episodes: 2, failures: 2, recoveries: 1 })
  })
})

describe('isSelfHealing: which kafkajs 2.2 ERROR lines are an outage it heals itself', () => {
  // messages as kafkajs 2.2.4 writes them (src/network/connection.js, cluster/brokerPool.js, consumer/*.js)
  it.each([
    ['Connection error: connect ECONNREFUSED 127.0.0.1:9092', {}],
    ['Connection timeout', {}],
    ['Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retryCount: 0, retryTime: 300 }],
    ['Failed to connect to broker, reconnecting', { retryCount: 2, retryTime: 800 }],
    ['Restarting the consumer in 300ms', { retryCount: 5, retryTime: 300, groupId: 'g' }],
    ['The group is rebalancing, re-joining', { groupId: 'g' }],
    ['The coordinator is not aware of this member, re-joining the group', { groupId: 'g' }],
    ['Response Metadata(key: 3, version: 6)', { error: 'There is no leader for this topic-partition as we are in the middle of a leadership election' , retryCount: 1 }],
    ['Response Produce(key: 0, version: 7)', { error: 'This server is not the leader for that topic-partition' }],
    ['Response CreateTopics(key: 19, version: 3)', { error: 'Topic with this name already exists' }],
  ])('%s: outage', (message, extra) => {
    expect(isSelfHealing(message, extra)).toBe(true)
  })

  it.each([
    ['Error when calling eachBatch', { error: 'Cannot read properties of undefined' }],
    ['Response SaslAuthenticate(key: 36, version: 1)', { error: 'Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN' }],
    ['Response Produce(key: 0, version: 7)', { error: 'The request included message batch larger than the configured segment size on the server' }],
    ['Offset out of range, resetting to default offset', { topic: 't', partition: 0 }],
  ])('%s: a failure, stays at error', (message, extra) => {
    expect(isSelfHealing(message, extra)).toBe(false)
  })
})
