import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../core/logger.ts'
import { ResponseCache } from '../../../core/reference/cache.ts'
import { splitWindows, valueFlags } from '../../../core/reference/common.ts'
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../../core/reference/http.ts'
import type { ReferenceObservation } from '../../../core/reference/reference.ts'
import { referenceToLine, writeReferenceObservations } from '../../../core/reference/reference-store.ts'

const logger = createLogger('silent')
const DAY = 86_400_000

describe('windows and flags', () => {
  it('splits [from, to) into windows of at most a week', () => {
    expect(splitWindows(0, 10 * DAY)).toEqual([{ from: 0, to: 7 * DAY }, { from: 7 * DAY, to: 10 * DAY }])
    expect(splitWindows(0, 7 * DAY)).toHaveLength(1)
    expect(splitWindows(5, 5)).toEqual([])
  })

  it('flags negative only for quantities that cannot be negative', () => {
    expect(valueFlags('pm2_5', -0.5)).toEqual(['negative'])
    expect(valueFlags('air_temperature', -7.5)).toEqual([])
    expect(valueFlags('pm2_5', 0)).toEqual([])
  })
})

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it('reads seconds and HTTP dates, caps long waits, ignores junk', () => {
    expect(parseRetryAfter('120')).toBe(120_000)
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:30Z'))).toBe(30_000)
    expect(parseRetryAfter('99999')).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(null)).toBeUndefined()
  })
})

describe('ResponseCache', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'senshagen-cache-'))
    dirs.push(d)
    return d
  }

  it('keys by method, URL and form; honours a maximum age; an unreadable entry is a miss', async () => {
    const cache = new ResponseCache(dir(), logger)
    const request = { method: 'POST' as const, url: 'http://x/uurgegevens', form: { stns: '260', start: '2000010101' } }
    await cache.set('knmi', request, 'body', 1_000)
    expect(await cache.get('knmi', request, Infinity, 2_000)).toBe('body')
    expect(await cache.get('knmi', { ...request, form: { stns: '278', start: '2000010101' } })).toBeUndefined()
    expect(await cache.get('knmi', request, 500, 2_000)).toBeUndefined()
    const [file] = readdirSync(join(cache.dir, 'knmi'))
    expect(file).toBe(`${ResponseCache.key(request)}.json`)
    writeFileSync(join(cache.dir, 'knmi', file!), '{broken')
    expect(await cache.get('knmi', request)).toBeUndefined()
  })
})

describe('reference line protocol', () => {
  const obs: ReferenceObservation = { station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: -0.5, time: Date.UTC(2026, 1, 10, 18), periodMs: 3_600_000, flags: ['negative'] }

  it('tags station, quantity, source; float value, integer period_ms, string flags; ms time', () => {
    expect(referenceToLine(obs)).toBe(`reference,quantity=pm2_5,source=luchtmeetnet,station=NL10818 flags="negative",period_ms=3600000i,value=-0.5 ${obs.time}`)
    expect(referenceToLine({ ...obs, station: 'samenmeten:datastream:1', value: 20, flags: [] })).toContain('flags="",period_ms=3600000i,value=20 ')
  })

  it('writes in batches through writeLines', async () => {
    const batches: number[] = []
    const many = Array.from({ length: 12_001 }, (_, i) => ({ ...obs, time: obs.time + i * 3_600_000 }))
    const progress: number[] = []
    await writeReferenceObservations({ writeLines: async (lines) => void batches.push(lines.length) }, many, (done) => progress.push(done))
    expect(batches).toEqual([5_000, 5_000, 2_001])
    expect(progress).toEqual([5_000, 10_000, 12_001])
  })
})
