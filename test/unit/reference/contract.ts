import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RefusedError, UnavailableError } from '../../../core/errors.ts'
import { createLogger } from '../../../core/logger.ts'
import type { Quantity } from '../../../core/quantities.ts'
import { MAX_WINDOW_MS } from '../../../core/reference/common.ts'
import type { ReferenceSourceOptions } from '../../../core/reference/http.ts'
import type { ReferenceQuery, ReferenceSource, ReferenceSourceName } from '../../../core/reference/reference.ts'
import { startFixtureServer, type FixtureHandler, type FixtureServer, type RecordedRequest } from './fixture-server.ts'

const HOUR = 3_600_000

/** What a source implementation supplies to the contract suite: its fixture server and the known answers there. */
export interface ContractSubject {
  name: ReferenceSourceName
  handler: FixtureHandler
  /** The source under test, pointed at the fixture server (`origin` = http://127.0.0.1:<port>). */
  make(origin: string, options: ReferenceSourceOptions): ReferenceSource
  /** A station the source's stations() must list. */
  listedStation: string
  /** A query over real fixture data, its known answers and the requests it takes. */
  known: {
    query: ReferenceQuery
    count: number
    first: { time: number; value: number }
    last: { time: number; value: number }
    periodMs: number
    /** More points that must be in the result exactly. */
    spot?: Array<{ time: number; value: number; flags?: string[] }>
    requests: number
    /** True when the known query's window is served in more than one page. */
    paged: boolean
  }
  /** A query whose API answer is empty. */
  empty: ReferenceQuery
  /** A query with one missing (null / blank) value at `time`: skipped, not NaN, not 0. */
  missing: { query: ReferenceQuery; time: number; count: number }
  /** A query containing a negative value at `time`; `flagged` says whether `negative` applies to the quantity. */
  negative: { query: ReferenceQuery; time: number; value: number; flagged: boolean }
  /** A 10-day query (two windows) and the number of observations it returns. */
  tenDays: { query: ReferenceQuery; count: number }
  /** The time window an observation request asks for (epoch ms, end-of-hour times), undefined for other requests. */
  windowOf(request: RecordedRequest): { from: number; to: number } | undefined
  /** A quantity the source does not serve. */
  unsupported: Quantity
}

const logger = createLogger('silent')
const FAST_RETRY = { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 3 }

/**
 * The one contract every ReferenceSource passes (core/reference/reference.ts), run against a local HTTP server
 * that serves the real fixture responses: known answers with end-of-hour times, paging, the empty answer,
 * missing and negative values, one-week windows, retry on 429/5xx honouring Retry-After, no retry on 4xx,
 * and the on-disk response cache.
 */
export function referenceSourceContract(subject: ContractSubject): void {
  describe(`ReferenceSource contract: ${subject.name}`, () => {
    let server: FixtureServer
    let cacheDir: string
    const make = (options: Partial<ReferenceSourceOptions> = {}) => subject.make(server.origin, { logger, cacheDir: null, retry: FAST_RETRY, ...options })
    const windows = (from = 0) => server.requests.slice(from).map(subject.windowOf).filter((w) => w !== undefined)

    beforeAll(async () => {
      server = await startFixtureServer(subject.handler)
    })
    afterAll(async () => {
      await server.close()
    })
    beforeEach(() => {
      server.requests.length = 0
      cacheDir = mkdtempSync(join(tmpdir(), `senshagen-ref-${subject.name}-`))
    })
    afterEach(() => {
      rmSync(cacheDir, { recursive: true, force: true })
    })

    it('names itself and lists stations with coordinates', async () => {
      const source = make()
      expect(source.name).toBe(subject.name)
      const stations = await source.stations()
      expect(stations.map((s) => s.id)).toContain(subject.listedStation)
      for (const s of stations) {
        expect(s.source).toBe(subject.name)
        expect(Math.abs(s.lat)).toBeLessThanOrEqual(90)
        expect(Math.abs(s.lon)).toBeLessThanOrEqual(180)
      }
    })

    it('returns the known observations: end-of-hour times, canonical units, oldest first, within [from, to)', async () => {
      const { query, count, first, last, periodMs, spot = [] } = subject.known
      const observations = await make().observations(query)
      expect(observations).toHaveLength(count)
      expect(observations[0]).toMatchObject({ station: query.station, quantity: query.quantity, source: subject.name, time: first.time, value: first.value, periodMs })
      expect(observations.at(-1)).toMatchObject({ time: last.time, value: last.value })
      for (const point of spot) expect(observations.find((o) => o.time === point.time)).toMatchObject({ value: point.value, ...(point.flags ? { flags: point.flags } : {}) })
      for (const [i, o] of observations.entries()) {
        expect(o.time % HOUR).toBe(0)
        expect(o.time).toBeGreaterThanOrEqual(query.from)
        expect(o.time).toBeLessThan(query.to)
        expect(Number.isFinite(o.value)).toBe(true)
        if (i > 0) expect(o.time).toBeGreaterThan(observations[i - 1]!.time)
      }
      expect(server.requests).toHaveLength(subject.known.requests)
    })

    if (subject.known.paged) {
      it('follows the paging to the last page', async () => {
        await make().observations(subject.known.query)
        const pages = windows()
        expect(pages.length).toBeGreaterThan(1)
        expect(new Set(pages.map((w) => `${w.from}/${w.to}`)).size).toBe(1)
      })
    }

    it('answers an empty period with no observations, not an error', async () => {
      expect(await make().observations(subject.empty)).toEqual([])
    })

    it('skips a missing value instead of storing NaN or 0', async () => {
      const observations = await make().observations(subject.missing.query)
      expect(observations).toHaveLength(subject.missing.count)
      expect(observations.find((o) => o.time === subject.missing.time)).toBeUndefined()
    })

    it('keeps a negative value, flagged negative where the quantity cannot be negative', async () => {
      const observations = await make().observations(subject.negative.query)
      const point = observations.find((o) => o.time === subject.negative.time)
      expect(point?.value).toBe(subject.negative.value)
      expect(point?.flags.includes('negative')).toBe(subject.negative.flagged)
    })

    it('splits a 10-day query into two requests of at most one week', async () => {
      const { query, count } = subject.tenDays
      const observations = await make().observations(query)
      expect(observations).toHaveLength(count)
      const seen = [...new Map(windows().map((w) => [`${w.from}/${w.to}`, w])).values()]
      expect(seen).toHaveLength(2)
      for (const w of seen) {
        expect(w.to - w.from).toBeLessThanOrEqual(MAX_WINDOW_MS)
        expect(w.from).toBeGreaterThanOrEqual(query.from - HOUR)
        expect(w.to).toBeLessThanOrEqual(query.to)
      }
    })

    it('retries after 429 and 503, then returns the same answer', async () => {
      const expected = await make().observations(subject.known.query)
      server.requests.length = 0
      server.failNext(1, 429, { 'retry-after': '0' })
      server.failNext(1, 503)
      expect(await make().observations(subject.known.query)).toEqual(expected)
      expect(server.requests).toHaveLength(subject.known.requests + 2)
    })

    it('waits the Retry-After of a 429 before trying again', async () => {
      server.failNext(1, 429, { 'retry-after': '1' })
      const started = Date.now()
      await make().observations(subject.known.query)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    })

    it('gives up with UnavailableError when the retries are used up', async () => {
      server.failNext(FAST_RETRY.maxAttempts, 503)
      await expect(make().observations(subject.known.query)).rejects.toBeInstanceOf(UnavailableError)
      expect(server.requests).toHaveLength(FAST_RETRY.maxAttempts)
    })

    it('does not retry a refused request (4xx other than 408/429)', async () => {
      server.failNext(1, 400)
      await expect(make().observations(subject.known.query)).rejects.toBeInstanceOf(RefusedError)
      expect(server.requests).toHaveLength(1)
    })

    it('refuses a quantity it does not serve, without a request', async () => {
      await expect(make().observations({ ...subject.known.query, quantity: subject.unsupported })).rejects.toBeInstanceOf(RefusedError)
      expect(server.requests).toHaveLength(0)
    })

    it('answers a repeated query from the disk cache, also in a new instance', async () => {
      const first = await make({ cacheDir }).observations(subject.known.query)
      expect(server.requests).toHaveLength(subject.known.requests)
      const again = await make({ cacheDir }).observations(subject.known.query)
      expect(again).toEqual(first)
      expect(server.requests).toHaveLength(subject.known.requests)
      await make({ cacheDir: null }).observations(subject.known.query)
      expect(server.requests).toHaveLength(2 * subject.known.requests)
    })

    it('does not cache a window that ended recently (its data may still change)', async () => {
      const now = () => subject.known.query.to + HOUR
      await make({ cacheDir, now }).observations(subject.known.query)
      const windowRequests = windows().length
      await make({ cacheDir, now }).observations(subject.known.query)
      expect(windows()).toHaveLength(2 * windowRequests)
    })
  })
}
