/**
 * The load generator, a child process of bench/fleet/main.ts (IPC messages in ./messages.ts). Each device is its
 * own MQTT connection with its own login. A step publishes `rate` msg/s for `durationMs`: every 1 ms or so a
 * pacing tick works out how many messages are due since the step began and hands them round-robin to the
 * devices, so each device publishes rate/devices msg/s, whatever the acknowledgements do. A device with `window`
 * unacknowledged publishes skips its turn (counted as windowFull: the offered rate was not reached).
 *
 * Each message is a native payload v1 (core/native-payload.ts) with five readings from the firmware simulator's
 * weather model (firmware-sim/model.ts) and `time` = the moment it is written to the socket (ms, ISO 8601). The
 * observed time therefore is the publish time, which is how bench/fleet/measure/visibility.ts measures
 * publish → queryable without a second clock. Two messages of one device never share a millisecond (the point
 * key is device, quantity, time): a second one in the same ms gets the next ms (counted as bumped).
 */
import { deviceReadings, modelOptions, SENSOR_MODEL } from '../../../firmware-sim/model.ts'
import { readingsTopic } from '../../../core/topics.ts'
import { WireClient } from './wire.ts'
import type { AckedReport, DeviceLogin, FromGenerator, PublishedReport, ToGenerator } from './messages.ts'

const KEEPALIVE_S = 60
const VARIANTS = 16

interface Device {
  client: WireClient
  topic: Buffer
  head: string
  readings: string[]
  lastObserved: number
}

let devices: Device[] = []
let next = 0
const acks = new Map<number, number[]>()

function send(message: FromGenerator): void {
  process.send!(message)
}

async function connectAll(host: string, port: number, logins: DeviceLogin[], concurrency: number): Promise<void> {
  const model = modelOptions({ seed: 9, sensorFailureRate: 0 })
  const day = Date.UTC(2026, 10, 29)
  devices = new Array(logins.length)
  let index = 0
  const worker = async () => {
    while (index < logins.length) {
      const i = index++
      const login = logins[i]!
      const client = await WireClient.connect({ host, port, clientId: login.id, username: login.id, password: login.secret, keepaliveS: KEEPALIVE_S })
      client.onAck = (sentAt, step) => acks.get(step)?.push(performance.now() - sentAt)
      devices[i] = {
        client,
        topic: Buffer.from(readingsTopic(login.id), 'latin1'),
        head: `{"v":1,"device":"${login.id}","time":"`,
        readings: Array.from({ length: VARIANTS }, (_, k) => `","sensor":"${SENSOR_MODEL}","readings":${JSON.stringify(deviceReadings(model, i, day + k * 3_600_000))}}`),
        lastObserved: 0,
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, logins.length) }, worker))
}

function publishStep(step: number, rate: number, durationMs: number, window: number): Promise<PublishedReport> {
  const report: PublishedReport = { type: 'published', step, published: 0, publishedPerDevice: new Array<number>(devices.length).fill(0), windowFull: 0, disconnected: 0, firstObservedMs: 0, lastObservedMs: 0, spanMs: 0, bumped: 0, maxTickGapMs: 0 }
  acks.set(step, [])
  const start = performance.now()
  let due = 0
  let lastTick = start
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      report.maxTickGapMs = Math.max(report.maxTickGapMs, now - lastTick)
      lastTick = now
      const elapsed = Math.min(now - start, durationMs)
      const target = Math.floor((rate * elapsed) / 1000)
      const touched = new Set<Device>()
      for (; due < target; due++) {
        const index = next
        const device = devices[index]!
        next = (next + 1) % devices.length
        if (device.client.closed) {
          report.disconnected++
          continue
        }
        let observed = Date.now()
        if (observed <= device.lastObserved) {
          observed = device.lastObserved + 1
          report.bumped++
        }
        const payload = device.head + new Date(observed).toISOString() + device.readings[observed % VARIANTS]!
        if (!device.client.publish(device.topic, payload, window, step)) {
          report.windowFull++
          continue
        }
        device.lastObserved = observed
        report.publishedPerDevice[index]!++
        if (report.published++ === 0) report.firstObservedMs = observed
        report.lastObservedMs = Math.max(report.lastObservedMs, observed)
        touched.add(device)
      }
      for (const device of touched) device.client.flush()
      if (now - start >= durationMs) {
        report.spanMs = performance.now() - start
        resolve(report)
      } else {
        setTimeout(tick, 1)
      }
    }
    tick()
  })
}

async function waitForAcks(step: number, waitMs: number): Promise<AckedReport> {
  const deadline = performance.now() + waitMs
  const pending = () => devices.reduce((n, d) => n + [...d.client.inFlight.values()].filter((f) => f.step === step).length, 0)
  while (pending() > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const latencies = (acks.get(step) ?? []).sort((a, b) => a - b)
  acks.delete(step)
  const closed: Record<string, number> = {}
  for (const d of devices) if (d.client.closed) closed[d.client.closeReason ?? '?'] = (closed[d.client.closeReason ?? '?'] ?? 0) + 1
  const at = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! : 0)
  return { type: 'acked', step, acked: latencies.length, unacked: pending(), pubackP50Ms: at(0.5), pubackP99Ms: at(0.99), pubackMaxMs: latencies.at(-1) ?? 0, closed }
}

process.on('message', (message: ToGenerator) => {
  void (async () => {
    try {
      if (message.type === 'connect') {
        const t0 = performance.now()
        await connectAll(message.host, message.port, message.devices, message.concurrency)
        send({ type: 'connected', ms: performance.now() - t0 })
      } else if (message.type === 'run') {
        send(await publishStep(message.step, message.rate, message.durationMs, message.window))
        send(await waitForAcks(message.step, message.ackWaitMs))
      } else {
        await Promise.all(devices.filter(Boolean).map((d) => d.client.end()))
        process.exit(0)
      }
    } catch (error) {
      send({ type: 'error', message: (error as Error).message })
    }
  })()
})
process.on('disconnect', () => process.exit(0))
