/**
 * The ceiling's subscriber, a child process of the benchmark: Mosquitto → this bare subscriber → InfluxDB, with
 * nothing SensHagen does in between (no validation, no quality flags, no dead letters, PUBACK on receipt by
 * mqtt.js, not after the store). It writes the same line protocol as SensHagen (core/store/schema.ts
 * readingToLine, checked line for line at start-up), batched: a write goes out at 5,000 lines or 20 ms after the
 * first line waiting, with up to 4 writes in flight. What it measures is what Mosquitto, one Node process
 * parsing JSON and InfluxDB can do on this machine: the ceiling every stack is compared with.
 */
import { Agent, request } from 'node:http'
import mqtt from 'mqtt'
import { QUANTITIES } from '../../../core/quantities.ts'
import type { Reading } from '../../../core/reading.ts'
import { readingToLine } from '../../../core/store/schema.ts'
import { READINGS_FILTER } from '../../../core/topics.ts'

export interface CeilingStart {
  type: 'start'
  url: string
  username: string
  password: string
  influxUrl: string
  database: string
}

const BATCH_LINES = 5_000
const BATCH_MS = 20
const MAX_WRITES_IN_FLIGHT = 4
const UNITS = Object.fromEntries(Object.entries(QUANTITIES).map(([name, q]) => [name, q.unit])) as Record<string, string>

/** One reading as SensHagen writes it (whole: raw_value = value, source_unit "" when not converted), without building a Point: fields in the order Point sorts them. */
function line(device: string, quantity: string, value: number, unit: string, sensor: string, observedMs: number, receivedMs: number): string {
  return `reading,device=${device},quantity=${quantity} flags="",raw_value=${value},received_ms=${receivedMs}i,sensor="${sensor}",source="senshagen-v1",source_unit="",time_source="device",unit="${unit}",value=${value} ${observedMs}`
}

function checkSameLineProtocol(): void {
  const reading: Reading = { deviceId: 'bench-000', quantity: 'pm2_5', value: 7.1, unit: 'µg/m³', observedAt: 1_790_000_000_123, receivedAt: 1_790_000_000_456, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'BME280+SDS011', flags: [] }
  const ours = line(reading.deviceId, reading.quantity, reading.value, reading.unit, reading.sensorModel!, reading.observedAt, reading.receivedAt)
  if (ours !== readingToLine(reading)) throw new Error(`ceiling line protocol differs from readingToLine:\n  ${ours}\n  ${readingToLine(reading)}`)
}

async function start(options: CeilingStart): Promise<void> {
  checkSameLineProtocol()
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_WRITES_IN_FLIGHT })
  const path = `/write?${new URLSearchParams({ db: options.database, precision: 'ms' })}`
  const { hostname, port } = new URL(options.influxUrl)
  let waiting: string[] = []
  let inFlight = 0
  let timer: NodeJS.Timeout | undefined
  let failures = 0

  const post = (lines: string[]): void => {
    inFlight++
    const body = lines.join('\n')
    const req = request({ hostname, port, path, method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => {
        inFlight--
        if (res.statusCode !== 204) retry(lines, `HTTP ${res.statusCode}`)
        else flush()
      })
    })
    req.on('error', (error) => {
      inFlight--
      retry(lines, error.message)
    })
    req.end(body)
  }
  const retry = (lines: string[], why: string): void => {
    if (failures++ % 100 === 0) console.error(`ceiling: write failed (${why}), retrying`)
    setTimeout(() => post(lines), 100)
  }
  const flush = (): void => {
    clearTimeout(timer)
    timer = undefined
    while (waiting.length > 0 && inFlight < MAX_WRITES_IN_FLIGHT) {
      post(waiting.length <= BATCH_LINES ? waiting : waiting.slice(0, BATCH_LINES))
      waiting = waiting.length <= BATCH_LINES ? [] : waiting.slice(BATCH_LINES)
    }
  }

  const client = await mqtt.connectAsync(options.url, { protocolVersion: 4, clientId: 'bench-ceiling', clean: true, username: options.username, password: options.password })
  client.on('message', (topic, payload) => {
    const device = topic.split('/')[3]!
    const message = JSON.parse(payload.toString('utf8')) as { time: string; sensor: string; readings: Record<string, number | null> }
    const observed = Date.parse(message.time)
    const received = Date.now()
    for (const quantity in message.readings) {
      const value = message.readings[quantity]
      if (typeof value === 'number') waiting.push(line(device, quantity, value, UNITS[quantity]!, message.sensor, observed, received))
    }
    if (waiting.length >= BATCH_LINES) flush()
    else timer ??= setTimeout(flush, BATCH_MS)
  })
  await client.subscribeAsync(READINGS_FILTER, { qos: 1 })
  process.send!({ type: 'ready' })
  process.on('message', (message: { type: string }) => {
    if (message.type === 'stop') void client.endAsync().finally(() => process.exit(0))
  })
}

process.once('message', (message: CeilingStart) => {
  start(message).catch((error: Error) => {
    process.send!({ type: 'error', message: error.message })
    process.exit(1)
  })
})
process.on('disconnect', () => process.exit(0))
