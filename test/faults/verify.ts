import type { FleetMessage } from '../helpers/fleet.ts'

/**
 * What the store holds after a fault, compared with what the devices were acknowledged: read straight from
 * InfluxDB's 1.x `/query` endpoint (epoch ms), not through the code under test.
 */
export interface Outcome {
  ackedMessages: number
  ackedReadings: number
  stored: number
  /** Acknowledged readings with no point. */
  lost: number
  /** Acknowledged messages with at least one reading lost. */
  lostMessages: number
  /** Points that are no acknowledged reading (a second copy under another key). */
  duplicated: number
  /** Points whose value is not the last acknowledged one, or that disagree with themselves (raw_value ≠ value, a source unit on an unconverted value). */
  contradicting: number
  rejectionsExpected: number
  /** Expected rejections found, rule by rule (one point per distinct digest). */
  rejectionsKept: number
  /** Rejection points beyond one per digest (the same rejection kept twice). */
  rejectionsDuplicated: number
  /** Distinct rejections no message was expected to cause. */
  rejectionsUnexpected: number
  /** Conflicting readings recorded in `conflict` device events (each event lists those of one device and write). */
  conflicts: number
  /** `conflict` device event points. */
  conflictEvents: number
  /** A few examples of what went wrong, for the failure message. */
  examples: string[]
}

const QUANTITIES = ['air_temperature', 'relative_humidity', 'air_pressure', 'pm2_5', 'pm10']
// every point, including a device clock's future ones (1.x bounds a query without a time condition only when grouping by time)
const ALL_TIME = "time >= '2000-01-01T00:00:00Z' AND time < now() + 1d"

export async function influxql(url: string, database: string, q: string): Promise<unknown[][]> {
  const response = await fetch(`${url}/query?${new URLSearchParams({ db: database, epoch: 'ms', q })}`)
  const body = (await response.json()) as { results?: Array<{ error?: string; series?: Array<{ values: unknown[][] }> }>; error?: string }
  const error = body.error ?? body.results?.[0]?.error
  if (error) throw new Error(`InfluxQL ${q}: ${error}`)
  return (body.results?.[0]?.series ?? []).flatMap((s) => s.values)
}

/** Points of measurement `reading` (all quantities) and `rejection`, counted. */
export async function storedCounts(url: string, database: string): Promise<{ readings: number; rejections: number }> {
  const count = async (q: string) => Number((await influxql(url, database, q).catch(() => []))[0]?.[1] ?? 0)
  return {
    readings: await count(`SELECT count("value") FROM reading WHERE ${ALL_TIME}`),
    rejections: await count(`SELECT count("path") FROM rejection WHERE ${ALL_TIME}`),
  }
}

/** `acked`: every acknowledged message, in acknowledgement order (a later one for the same key wins). */
export async function verify(url: string, database: string, acked: FleetMessage[]): Promise<Outcome> {
  const expected = new Map<string, number>()
  /** Reading key → the acknowledged message that last carried it. */
  const carriedBy = new Map<string, FleetMessage>()
  const rejectionsExpected = new Map<string, number>()
  for (const message of acked) {
    for (const r of message.readings) {
      expected.set(`${r.device}|${r.quantity}|${r.time}`, r.value)
      carriedBy.set(`${r.device}|${r.quantity}|${r.time}`, message)
    }
    for (const rule of message.rejections) rejectionsExpected.set(rule, (rejectionsExpected.get(rule) ?? 0) + 1)
  }
  const examples: string[] = []
  const note = (text: string) => void (examples.length < 10 && examples.push(text))
  let stored = 0
  let duplicated = 0
  let contradicting = 0
  const seen = new Set<string>()
  for (const quantity of QUANTITIES) {
    const rows = await influxql(url, database, `SELECT "value", "raw_value", "source_unit", "device" FROM reading WHERE quantity = '${quantity}' AND ${ALL_TIME}`)
    for (const [time, value, raw, sourceUnit, device] of rows) {
      stored++
      const key = `${device as string}|${quantity}|${time as number}`
      const want = expected.get(key)
      if (want === undefined || seen.has(key)) {
        duplicated++
        note(`extra point ${key} = ${value as number}`)
        continue
      }
      seen.add(key)
      if (value !== want || raw !== value || sourceUnit !== '') {
        contradicting++
        note(`${key}: value ${value as number}, raw_value ${raw as number}, source_unit '${sourceUnit as string}'; acknowledged ${want}`)
      }
    }
  }
  const lostKeys = [...expected.keys()].filter((key) => !seen.has(key))
  for (const key of lostKeys.slice(0, 5)) note(`lost ${key}`)

  const rejectionRows = await influxql(url, database, `SELECT "path", "rule", "digest" FROM rejection WHERE ${ALL_TIME}`)
  const digestsByRule = new Map<string, Set<string>>()
  for (const [, , rule, digest] of rejectionRows) {
    const digests = digestsByRule.get(rule as string) ?? new Set<string>()
    digests.add(digest as string)
    digestsByRule.set(rule as string, digests)
  }
  const distinct = [...digestsByRule.values()].reduce((n, d) => n + d.size, 0)
  let rejectionsKept = 0
  for (const [rule, count] of rejectionsExpected) {
    const kept = digestsByRule.get(rule)?.size ?? 0
    rejectionsKept += Math.min(kept, count)
    if (kept !== count) note(`rejections ${rule}: ${count} expected, ${kept} kept`)
  }
  for (const rule of digestsByRule.keys()) if (!rejectionsExpected.has(rule)) note(`unexpected rejections ${rule}: ${digestsByRule.get(rule)!.size}`)
  // one event per device and write holds every conflicting reading of it (README "InfluxDB schema")
  const events = await influxql(url, database, `SELECT "detail" FROM device_event WHERE kind = 'conflict' AND ${ALL_TIME}`)
  const conflicts = events.reduce((n, [, detail]) => n + (JSON.parse(detail as string) as { conflicts: unknown[] }).conflicts.length, 0)
  return {
    ackedMessages: acked.length,
    ackedReadings: expected.size,
    stored,
    lost: lostKeys.length,
    lostMessages: new Set(lostKeys.map((key) => carriedBy.get(key))).size,
    duplicated,
    contradicting,
    rejectionsExpected: [...rejectionsExpected.values()].reduce((a, b) => a + b, 0),
    rejectionsKept,
    rejectionsDuplicated: rejectionRows.length - distinct,
    rejectionsUnexpected: distinct - rejectionsKept,
    conflicts,
    conflictEvents: events.length,
    examples,
  }
}
