/**
 * What the benchmark asks InfluxDB 1.x over its HTTP API (/query, InfluxQL, epoch=ms). Every stack writes
 * measurement `reading` with tags device and quantity (core/store/schema.ts), so one point per device, quantity
 * and observed time: counting points counts unique readings, a redelivered one overwrites itself.
 */

export interface Series {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
  partial?: boolean
}

interface QueryBody {
  results?: Array<{ series?: Series[]; error?: string; partial?: boolean }>
  error?: string
}

/** A restriction to one quantity and/or some devices (ids are the benchmark's own: [a-z0-9-] only). */
export interface Only {
  quantity?: string
  devices?: readonly string[]
}

/** `Only` as the start of a WHERE clause, each condition followed by AND. */
function where(only: Only): string {
  const devices = only.devices?.length ? `(${only.devices.map((d) => `"device" = '${d}'`).join(' OR ')}) AND ` : ''
  return `${only.quantity === undefined ? '' : `"quantity" = '${only.quantity}' AND `}${devices}`
}

export class InfluxBench {
  constructor(
    readonly url: string,
    readonly database: string,
  ) {}

  /** Runs one statement (POST for CREATE/DROP, GET otherwise); throws on an InfluxDB error. */
  async query(statement: string): Promise<Series[]> {
    const body = (await this.request(statement, false))[0]
    return body?.results?.[0]?.series ?? []
  }

  async createDatabase(): Promise<void> {
    await this.query(`CREATE DATABASE "${this.database}"`)
  }

  async dropDatabase(): Promise<void> {
    await this.query(`DROP DATABASE "${this.database}"`)
  }

  /** Readings stored with observed time in [fromMs, toMs]; all of them, or those of `only` (quantity, devices). */
  async count(fromMs: number, toMs: number, only: Only = {}): Promise<number> {
    const series = await this.query(`SELECT count("value") FROM "reading" WHERE ${where(only)}time >= ${fromMs}ms AND time <= ${toMs}ms`)
    return Number(series[0]?.values[0]?.[1] ?? 0)
  }

  /** Per device (of `only.devices`), the newest observed time (ms) of `only.quantity` at or after `fromMs`. */
  async newestPerDevice(only: Only, fromMs: number): Promise<Map<string, number>> {
    const series = await this.query(`SELECT last("value") FROM "reading" WHERE ${where(only)}time >= ${fromMs}ms GROUP BY "device"`)
    return new Map(series.map((s) => [s.tags?.device ?? '', Number(s.values[0]?.[0])]))
  }

  /** Per device (of `only.devices`), every observed time (ms) in [fromMs, toMs], ascending. Chunked: may be 100k+ rows. */
  async observedTimes(only: Only, fromMs: number, toMs: number): Promise<Map<string, number[]>> {
    const bodies = await this.request(`SELECT "value" FROM "reading" WHERE ${where(only)}time >= ${fromMs}ms AND time <= ${toMs}ms GROUP BY "device"`, true)
    const times = new Map<string, number[]>()
    for (const body of bodies) {
      for (const s of body.results?.[0]?.series ?? []) {
        const device = s.tags?.device ?? ''
        const list = times.get(device) ?? []
        for (const row of s.values) list.push(Number(row[0]))
        times.set(device, list)
      }
    }
    return times
  }

  /** One statement; a chunked answer is one JSON object per line, each parsed. */
  private async request(statement: string, chunked: boolean): Promise<QueryBody[]> {
    const write = !/^\s*(SELECT|SHOW)\b/i.test(statement)
    const params = new URLSearchParams({ db: this.database, q: statement, epoch: 'ms', ...(chunked ? { chunked: 'true', chunk_size: '20000' } : {}) })
    const response = await fetch(`${this.url}/query?${params}`, { method: write ? 'POST' : 'GET', signal: AbortSignal.timeout(60_000) })
    const text = await response.text()
    if (!response.ok) throw new Error(`InfluxDB ${response.status} for ${statement}: ${text.slice(0, 300)}`)
    const bodies = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as QueryBody)
    const error = bodies.map((b) => b.error ?? b.results?.[0]?.error).find((e) => e !== undefined)
    if (error !== undefined) throw new Error(`InfluxDB refused ${statement}: ${error}`)
    return bodies
  }
}
