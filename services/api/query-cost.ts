import { setMaxListeners } from 'node:events'
import type { ApiServerConfig } from './config.ts'
import { ProblemError } from './problem.ts'
import type { Window } from './window-quality.ts'

/**
 * The cost of a readings query, computed before it runs, and the limits it must keep.
 *
 * - windows = series (devices × quantities) × windows in [from, to): what InfluxDB's `GROUP BY time()` walks. 1970–2100 in 10-minute
 *   windows is 6.8 million windows for one device: refused before any query.
 * - points = the readings an aggregate scans, estimated per device as (min(to, its newest reading) − from) /
 *   its reporting interval (services/api/window-quality.ts). Raw pages are not limited here: they read at most
 *   `limit` rows (≤ 100 000) oldest first, and InfluxDB stops there.
 * Over a limit: 413 naming the limit, its setting and the numbers. A query within the limits still runs under
 * `queryTimeoutMs`: past it the request is aborted, the InfluxDB query killed (KILL QUERY on 1.x) and the answer
 * is 504.
 */
export interface CostLimits {
  /** Most series × windows (SENSHAGEN_API_MAX_QUERY_WINDOWS). */
  maxWindows: number
  /** Most estimated readings scanned by an aggregate (SENSHAGEN_API_MAX_QUERY_POINTS). */
  maxPoints: number
  /** ms (SENSHAGEN_API_QUERY_TIMEOUT_MS). */
  timeoutMs: number
}

export const DEFAULT_COST_LIMITS: CostLimits = { maxWindows: 1_000_000, maxPoints: 20_000_000, timeoutMs: 10_000 }

export function costLimits(config: ApiServerConfig): CostLimits {
  return {
    maxWindows: config.api.maxQueryWindows ?? DEFAULT_COST_LIMITS.maxWindows,
    maxPoints: config.api.maxQueryPoints ?? DEFAULT_COST_LIMITS.maxPoints,
    timeoutMs: config.api.queryTimeoutMs ?? DEFAULT_COST_LIMITS.timeoutMs,
  }
}

/** Nominal window lengths, ms (a local day counts as 24 h). */
const WINDOW_MS: Record<Window, number> = { '10m': 600_000, '1h': 3_600_000, '1d': 86_400_000 }

export interface QueryCost {
  series: number
  /** Windows per series (0 for raw readings). */
  windows: number
  /** Estimated readings scanned. */
  points: number
}

/**
 * The cost of a query over `devices` × quantities in [from, to): `intervals` holds one map per quantity asked,
 * with each device's reporting interval and newest reading for it when known. Every (device, quantity) is a series.
 */
export function estimateCost(q: {
  devices: readonly string[]
  from: number
  to: number
  window?: Window
  intervals: ReadonlyArray<Map<string, { intervalMs: number; newest: number }>>
}): QueryCost {
  const windows = q.window === undefined ? 0 : Math.ceil((q.to - q.from) / WINDOW_MS[q.window])
  let points = 0
  for (const perDevice of q.intervals) {
    for (const device of q.devices) {
      const known = perDevice.get(device)
      if (known === undefined) points += 1
      else points += Math.max(0, Math.min(q.to, known.newest + 1) - q.from) / known.intervalMs
    }
  }
  return { series: q.devices.length * q.intervals.length, windows, points: Math.ceil(points) }
}

/** Throws a 413 problem when an aggregate's cost is over a limit. */
export function refuseCostly(cost: QueryCost, limits: CostLimits): void {
  const cells = cost.series * cost.windows
  if (cells > limits.maxWindows) {
    throw new ProblemError(
      413,
      `query too costly: ${cost.series} series × ${cost.windows} windows = ${cells} windows, more than the limit of ${limits.maxWindows} ` +
        '(SENSHAGEN_API_MAX_QUERY_WINDOWS); narrow from/to, use a larger window or fewer devices',
    )
  }
  if (cost.windows > 0 && cost.points > limits.maxPoints) {
    throw new ProblemError(
      413,
      `query too costly: about ${cost.points} readings to scan (${cost.series} series), more than the limit of ${limits.maxPoints} ` +
        '(SENSHAGEN_API_MAX_QUERY_POINTS); narrow from/to or ask fewer devices',
    )
  }
}

/**
 * An abort signal for one request's store queries: aborted after `timeoutMs` (reason: a 504 problem naming the
 * limit) or when the client goes away. `done` clears the timer.
 */
export function requestDeadline(timeoutMs: number, response: NodeJS.EventEmitter & { writableFinished: boolean }): { signal: AbortSignal; done(): void } {
  const controller = new AbortController()
  // every InfluxDB statement of the request listens on this signal and stops listening when it ends; a
  // neighbourhood of many devices and quantities runs more than Node's default 10 at once, which is no leak
  setMaxListeners(0, controller.signal)
  const timer = setTimeout(
    () => controller.abort(new ProblemError(504, `the query ran longer than the limit of ${timeoutMs} ms (SENSHAGEN_API_QUERY_TIMEOUT_MS) and was stopped; narrow from/to or use a larger window`)),
    timeoutMs,
  )
  const gone = () => {
    if (!response.writableFinished) controller.abort(new ProblemError(499, 'the client went away'))
  }
  response.once('close', gone)
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer)
      response.off('close', gone)
    },
  }
}
