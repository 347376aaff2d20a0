/** What the coordinator (bench/fleet/main.ts) and the load generator (bench/fleet/load/generator.ts) say over IPC. */

export interface DeviceLogin {
  id: string
  secret: string
}

export type ToGenerator =
  | { type: 'connect'; host: string; port: number; devices: DeviceLogin[]; concurrency: number }
  /** Publish `rate` msg/s for `durationMs`, spread round-robin over the devices; then wait ≤ ackWaitMs for PUBACKs. */
  | { type: 'run'; step: number; rate: number; durationMs: number; window: number; ackWaitMs: number }
  | { type: 'close' }

export interface PublishedReport {
  type: 'published'
  step: number
  /** Messages written to a socket (each one QoS 1 PUBLISH with five readings). */
  published: number
  /** The same per device, in the order of the `connect` message's devices. */
  publishedPerDevice: number[]
  /** Messages due by the schedule but not sent: their device's in-flight window was full. */
  windowFull: number
  /** Messages due for a device whose connection had closed. */
  disconnected: number
  /** Observed time (= publish time, epoch ms) of the first and last message: the step's time range in InfluxDB. */
  firstObservedMs: number
  lastObservedMs: number
  /** Wall-clock span of the publishing, ms. */
  spanMs: number
  /** Observed times moved 1 ms or more past the publish time so that a device's points never share a timestamp. */
  bumped: number
  /** Longest gap between two pacing ticks, ms (a busy generator sends in bursts). */
  maxTickGapMs: number
}

export interface AckedReport {
  type: 'acked'
  step: number
  acked: number
  /** Still unacknowledged after ackWaitMs. */
  unacked: number
  /** PUBACK latency (publish → PUBACK at the device), ms. */
  pubackP50Ms: number
  pubackP99Ms: number
  pubackMaxMs: number
  /** Device connections closed so far (reason → count). */
  closed: Record<string, number>
}

export type FromGenerator = { type: 'connected'; ms: number } | PublishedReport | AckedReport | { type: 'error'; message: string }
