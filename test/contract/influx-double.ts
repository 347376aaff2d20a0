import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A recorded InfluxDB 2.x/3.x HTTP double: a local server that answers the store's requests (core/store/influx.ts
 * with a token: `/ping`, `/health`, `/api/v2/orgs|buckets|dbrps`, `POST /api/v2/write`, `GET /query`) from a
 * recording, so the 2.x and 3.x code path runs here, where there is no Docker and no real 2.x or 3.x.
 *
 * Where the recordings come from — they were NOT captured from a real InfluxDB 2.x or 3.x:
 * - `/ping`, `/health` and the org, bucket and DBRP answers are hand-written from InfluxData's documentation:
 *   https://docs.influxdata.com/influxdb/v2/api/ (GET /ping, GET /health, GET|POST /api/v2/orgs, /api/v2/buckets,
 *   /api/v2/dbrps), https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/dbrp/ and, for 3.x,
 *   https://docs.influxdata.com/influxdb3/core/api/v3/ (GET /ping, GET /health);
 * - `POST /api/v2/write` (https://docs.influxdata.com/influxdb/v2/api/#operation/PostWrite, the v2-compatible
 *   write of 3.x: https://docs.influxdata.com/influxdb3/core/write-data/http-api/compatibility-apis/) was
 *   forwarded, in `record` mode, to the real InfluxDB 1.6.7 here as `/write?db=…&precision=ms`; its 204, or its
 *   error re-shaped as the v2 API's `{"code":"invalid","message":…}`;
 * - `GET /query` (the v1-compatible InfluxQL API, https://docs.influxdata.com/influxdb/v2/api-guide/influxdb-1x/query/,
 *   whose JSON answer is the 1.x one) was forwarded to the same InfluxDB 1.6.7 and its answer kept as it came.
 * So the double proves the request shapes (token header, v2 write path, bucket/DBRP set-up, InfluxQL over /query)
 * and that the store reads those answers right. It does not prove what a real 2.x/3.x InfluxQL engine answers
 * where it differs from 1.6.7 (3.x's InfluxQL, for one, lacks some functions); test/integration/influx-v2.test.ts
 * runs a real 2.x where Docker exists.
 *
 * Matching: a request is method, path, its query parameters sorted, and its body; each recorded answer is given
 * once, in recorded order among equal requests. A request with no answer left gets 400 with a message naming it
 * and is listed in `unmatched`; a request without the recording's token gets 401 (the v2 API's answer).
 */
export interface Exchange {
  request: { method: string; path: string; body: string }
  response: { status: number; headers: Record<string, string>; body: string }
}

export interface Recording {
  about: string
  generation: 2 | 3
  token: string
  org: string
  bucket: string
  exchanges: Exchange[]
}

export interface InfluxDouble {
  url: string
  /** Requests that found no recorded answer (replay). */
  unmatched: string[]
  /** Recorded answers not asked for (replay). */
  remaining(): number
  /** What was recorded so far (record mode). */
  recording: Recording
  close(): Promise<void>
}

const HEADERS = { json: { 'content-type': 'application/json; charset=utf-8' } }

/** The hand-written answers (see above) for a generation, by request key. */
function documented(generation: 2 | 3, org: string, bucket: string): Map<string, Exchange['response']> {
  const version = generation === 2 ? 'v2.7.11' : '3.1.0'
  const json = (status: number, body: unknown) => ({ status, headers: HEADERS.json, body: JSON.stringify(body) })
  const answers = new Map<string, Exchange['response']>([
    ['GET /ping', { status: 204, headers: { 'x-influxdb-version': version, 'x-influxdb-build': generation === 2 ? 'OSS' : 'Core' }, body: '' }],
    [
      'GET /health',
      generation === 2
        ? json(200, { name: 'influxdb', message: 'ready for queries and writes', status: 'pass', checks: [], version, commit: '' })
        : { status: 200, headers: { 'content-type': 'text/plain' }, body: 'OK' },
    ],
  ])
  if (generation === 2) {
    const orgID = '0a1b2c3d4e5f6a7b'
    const bucketID = '1b2c3d4e5f6a7b8c'
    answers.set(`GET /api/v2/orgs?org=${org}`, json(200, { links: { self: '/api/v2/orgs' }, orgs: [{ id: orgID, name: org }] }))
    answers.set(`GET /api/v2/buckets?name=${bucket}&orgID=${orgID}`, json(200, { links: { self: '/api/v2/buckets' }, buckets: [] }))
    answers.set(`POST /api/v2/buckets`, json(201, { id: bucketID, orgID, type: 'user', name: bucket, retentionRules: [] }))
    answers.set(`GET /api/v2/dbrps?db=${bucket}&orgID=${orgID}`, json(200, { content: [] }))
    answers.set(`POST /api/v2/dbrps`, json(201, { content: { id: '2c3d4e5f6a7b8c9d', database: bucket, retention_policy: 'autogen', default: true, orgID, bucketID } }))
  }
  return answers
}

function requestKey(method: string, url: string): string {
  const parsed = new URL(url, 'http://double')
  const params = [...parsed.searchParams.entries()].filter(([k]) => k !== 'u' && k !== 'p').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `${method} ${parsed.pathname}${params.length ? `?${params.map(([k, v]) => `${k}=${v}`).join('&')}` : ''}`
}

/**
 * Starts the double on a free local port. `replay`: answers from the recording. `record`: answers the documented
 * requests itself, forwards writes and queries to the InfluxDB 1.x at `upstream` (a database of its own, dropped
 * on close) and keeps every exchange in `recording`.
 */
export async function startInfluxDouble(mode: { replay: Recording } | { record: Omit<Recording, 'exchanges'>; upstream: string }): Promise<InfluxDouble> {
  const spec = 'replay' in mode ? mode.replay : mode.record
  const recording: Recording = { ...spec, exchanges: [] }
  const queue = new Map<string, Exchange['response'][]>()
  if ('replay' in mode) {
    for (const { request, response } of mode.replay.exchanges) {
      const key = `${request.method} ${request.path}\n${request.body}`
      ;(queue.get(key) ?? queue.set(key, []).get(key)!).push(response)
    }
  }
  const unmatched: string[] = []
  const upstreamDb = `double_${randomBytes(4).toString('hex')}`
  const answers = documented(spec.generation, spec.org, spec.bucket)
  const upstream = 'upstream' in mode ? mode.upstream : ''
  if (upstream) await fetch(`${upstream}/query?q=${encodeURIComponent(`CREATE DATABASE "${upstreamDb}"`)}`, { method: 'POST' })

  const answer = async (req: IncomingMessage, body: string): Promise<Exchange['response']> => {
    const key = requestKey(req.method!, req.url!)
    const path = key.split(' ')[1]!.split('?')[0]!
    if (path !== '/ping' && path !== '/health' && req.headers.authorization !== `Token ${spec.token}`) {
      return { status: 401, headers: HEADERS.json, body: JSON.stringify({ code: 'unauthorized', message: 'unauthorized access' }) }
    }
    if ('replay' in mode) {
      const recorded = queue.get(`${key}\n${body}`)?.shift()
      if (recorded) return recorded
      unmatched.push(`${key} ${body.slice(0, 200)}`)
      return { status: 400, headers: HEADERS.json, body: JSON.stringify({ code: 'invalid', message: `influx double: no recorded answer for ${key}` }) }
    }
    return answers.get(key) ?? answers.get(`${req.method} ${path}`) ?? forward(upstream, upstreamDb, req.method!, req.url!, body)
  }

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    for await (const chunk of req) body += chunk
    const response = await answer(req, body)
    if (!('replay' in mode)) recording.exchanges.push({ request: { method: req.method!, path: requestKey(req.method!, req.url!).slice(req.method!.length + 1), body }, response })
    res.writeHead(response.status, response.headers).end(response.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    unmatched,
    remaining: () => [...queue.values()].reduce((n, q) => n + q.length, 0),
    recording,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (upstream) await fetch(`${upstream}/query?q=${encodeURIComponent(`DROP DATABASE "${upstreamDb}"`)}`, { method: 'POST' })
    },
  }
}

/** Record mode: a write or query sent on to InfluxDB 1.x, its answer as the v2 API would shape it. */
async function forward(upstream: string, db: string, method: string, path: string, body: string): Promise<Exchange['response']> {
  const url = new URL(path, upstream)
  if (url.pathname === '/api/v2/write') {
    const response = await fetch(`${upstream}/write?db=${db}&precision=${url.searchParams.get('precision') ?? 'ns'}`, { method: 'POST', body })
    if (response.status === 204) return { status: 204, headers: {}, body: '' }
    const error = ((await response.json()) as { error?: string }).error ?? response.statusText
    return { status: response.status, headers: HEADERS.json, body: JSON.stringify({ code: 'invalid', message: error }) }
  }
  if (url.pathname === '/query') {
    url.searchParams.set('db', db)
    const response = await fetch(url, { method })
    return { status: response.status, headers: HEADERS.json, body: await response.text() }
  }
  return { status: 404, headers: HEADERS.json, body: JSON.stringify({ code: 'not found', message: `influx double: ${method} ${url.pathname} is not recorded` }) }
}
