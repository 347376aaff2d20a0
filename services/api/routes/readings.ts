import type { FastifyReply } from 'fastify'
import { z } from 'zod'
import { QUANTITIES } from '../../../core/quantities.ts'
import { isValidTimeZone, formatIsoMs } from '../../../core/time.ts'
import { RefusedError } from '../../../core/errors.ts'
import { csvStream } from '../csv.ts'
import { DeviceParam, FormatParam, IsoTime, NeighbourhoodParam, QuantityParam, CSV_CONTENT, timeParam } from '../params.ts'
import { ProblemSchema, badParam, notFound } from '../problem.ts'
import {
  type Page,
  type Row,
  decodeCursor,
  encodeCursor,
  queryNeighbourhoodWindows,
  queryReadingsPage,
  queryWindowPage,
} from '../readings-query.ts'
import type { ApiDeps, ApiRequest, ApiRouter } from '../routing.ts'
import { NOT_PUBLIC_DEVICE, UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/readings: readings or window aggregates of one public device or of a neighbourhood's public
 * devices, JSON or CSV, paged (services/api/readings-query.ts). Rows carry the CSV columns as keys:
 * time, device, quantity, then `value` (series raw or calibrated) or `raw,calibrated` (both); with a window
 * `mean,min,max,count` (or `raw_mean,…,calibrated_count`), `time` being the window start. With a window and a
 * neighbourhood the pooled neighbourhood aggregate comes too: JSON `aggregate`, CSV rows with device
 * `neighbourhood:<id>` before the device rows of their window.
 */
export const MAX_LIMIT = 100_000

export const ReadingsQuerySchema = z
  .object({
    device: DeviceParam.optional(),
    neighbourhood: NeighbourhoodParam.optional(),
    quantity: QuantityParam,
    from: timeParam('from', '-24h'),
    to: timeParam('to', 'now'),
    series: z.enum(['raw', 'calibrated', 'both']).default('raw').describe('raw values, calibrated values (only readings that have one), or both'),
    window: z.enum(['10m', '1h', '1d']).optional().describe('aggregate per window and device (InfluxQL GROUP BY time(window) tz(tz))'),
    tz: z
      .string()
      .refine(isValidTimeZone, { message: 'is not an IANA time zone such as Europe/Amsterdam' })
      .default('UTC')
      .describe('IANA zone the windows follow (1d = local days); ignored without window'),
    format: FormatParam,
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(10_000).describe(`rows per page, 1…${MAX_LIMIT}`),
    cursor: z.string().max(400).optional().describe('opaque: the `next` of the previous page'),
  })
  .superRefine((q, ctx) => {
    if ((q.device === undefined) === (q.neighbourhood === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['device'], message: 'give exactly one of device and neighbourhood' })
    }
    if (typeof q.from === 'number' && typeof q.to === 'number' && q.to <= q.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' })
  })

const NumberOrNull = z.number().nullable()
/** With series calibrated or both (not windows): core/calibration/uncertainty.ts. */
const CalibratedLabel = {
  uncertainty: NumberOrNull.optional().describe('expanded uncertainty (k = 2) of the calibrated value, same unit; null when not assessed'),
  label: z.enum(['indicative', 'experimental', 'uncalibrated']).optional().describe('indicative only where the EU objective is met on held-out data'),
}
export const ReadingRowSchema = z.union([
  z.object({ time: IsoTime, device: z.string(), quantity: z.string(), value: NumberOrNull, ...CalibratedLabel }),
  z.object({ time: IsoTime, device: z.string(), quantity: z.string(), raw: NumberOrNull, calibrated: NumberOrNull, ...CalibratedLabel }),
  z.object({ time: IsoTime, device: z.string(), quantity: z.string(), mean: NumberOrNull, min: NumberOrNull, max: NumberOrNull, count: z.number().int() }),
  z.object({
    time: IsoTime, device: z.string(), quantity: z.string(),
    raw_mean: NumberOrNull, raw_min: NumberOrNull, raw_max: NumberOrNull, raw_count: z.number().int(),
    calibrated_mean: NumberOrNull, calibrated_min: NumberOrNull, calibrated_max: NumberOrNull, calibrated_count: z.number().int(),
  }),
])
export const ReadingsResponseSchema = z.object({
  device: z.string().nullable(),
  neighbourhood: z.string().nullable(),
  quantity: z.string(),
  unit: z.string(),
  series: z.enum(['raw', 'calibrated', 'both']),
  window: z.enum(['10m', '1h', '1d']).nullable(),
  tz: z.string().nullable(),
  from: IsoTime,
  to: IsoTime,
  columns: z.array(z.string()).describe('keys of each row, in CSV order'),
  rows: z.array(ReadingRowSchema),
  aggregate: z.array(ReadingRowSchema).optional().describe('window + neighbourhood: pooled over the neighbourhood devices; device is neighbourhood:<id>'),
  next: z.string().nullable().describe('cursor of the next page, null on the last page'),
})

type ReadingsRequest = ApiRequest<typeof ReadingsQuerySchema, undefined>

export function registerReadingRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/readings',
      operationId: 'readings',
      summary: 'readings or window aggregates of a public device or a neighbourhood, JSON or CSV, paged',
      description:
        'Paging: at most `limit` rows; `next` (JSON) and the `Link: <…>; rel="next"` header give the next page. ' +
        'Each page is one InfluxQL statement (the store is not chunked); CSV is written in chunks.',
      tags: ['readings'],
      querystring: ReadingsQuerySchema,
      responses: {
        200: {
          description: 'a page',
          content: { 'application/json': ReadingsResponseSchema, 'text/csv': CSV_CONTENT },
          headers: { Link: { description: '<url>; rel="next" when there is a next page' } },
        },
        400: { description: 'bad parameter (named in invalid-params)', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'no public device with this id, or unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => answerReadings(deps, request, reply),
  )
}

async function answerReadings(deps: ApiDeps, request: ReadingsRequest, reply: FastifyReply): Promise<unknown> {
  const q = request.query
  const devices = publicDevices(deps, q.device, q.neighbourhood)
  const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
  if (q.cursor !== undefined && cursor === undefined) throw badParam('cursor', 'is not a cursor from this API')
  const base = { devices, quantity: q.quantity, from: q.from, to: q.to, series: q.series, limit: q.limit, ...(cursor ? { cursor } : {}) }
  let page: Page
  let aggregate: Row[] | undefined
  try {
    if (q.window === undefined) {
      page = await queryReadingsPage(deps.store, base)
    } else {
      const windowQuery = { ...base, window: q.window, tz: q.tz }
      page = await queryWindowPage(deps.store, windowQuery)
      if (q.neighbourhood !== undefined) aggregate = await queryNeighbourhoodWindows(deps.store, windowQuery, q.neighbourhood, page)
    }
  } catch (error) {
    // InfluxDB's zone database may lack a zone the runtime knows
    if (error instanceof RefusedError && /time zone|tz/i.test(error.message)) throw badParam('tz', 'is not a zone the measurement store knows')
    throw error
  }
  const next = page.next ? encodeCursor(page.next) : null
  if (next !== null) reply.header('link', `<${nextUrl(request.url, next)}>; rel="next"`)
  const format = (rows: Row[]) => rows.map((r) => ({ ...r, time: formatIsoMs(r.time as number) }))
  if (q.format === 'csv') {
    const rows = aggregate ? mergeAggregate(page.rows, aggregate) : page.rows
    const header = ['time', 'device', 'quantity', ...page.columns]
    reply.type('text/csv; charset=utf-8')
    return reply.send(csvStream(header, rows, (r) => [formatIsoMs(r.time as number), r.device, r.quantity, ...page.columns.map((c) => r[c])]))
  }
  return {
    device: q.device ?? null,
    neighbourhood: q.neighbourhood ?? null,
    quantity: q.quantity,
    unit: QUANTITIES[q.quantity].unit,
    series: q.series,
    window: q.window ?? null,
    tz: q.window === undefined ? null : q.tz,
    from: formatIsoMs(q.from),
    to: formatIsoMs(q.to),
    columns: ['time', 'device', 'quantity', ...page.columns],
    rows: format(page.rows),
    ...(aggregate ? { aggregate: format(aggregate) } : {}),
    next,
  }
}

/** The public device ids the request asks for; the same 404 for unknown and non-consented devices. */
function publicDevices(deps: ApiDeps, device: string | undefined, neighbourhood: string | undefined): string[] {
  if (device !== undefined) {
    if (deps.registry.publicDevice(device) === undefined) throw notFound(NOT_PUBLIC_DEVICE)
    return [device]
  }
  if (deps.registry.neighbourhood(neighbourhood!) === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
  return deps.registry.publicDevices(neighbourhood).map((d) => d.id)
}

/** Aggregate rows placed before the device rows of their window (CSV). */
function mergeAggregate(rows: Row[], aggregate: Row[]): Row[] {
  const out: Row[] = []
  let a = 0
  for (const row of rows) {
    while (a < aggregate.length && (aggregate[a]!.time as number) <= (row.time as number)) out.push(aggregate[a++]!)
    out.push(row)
  }
  return out.concat(aggregate.slice(a))
}

/** The request's path and query with `cursor` replaced: a relative reference, resolved against the request URI. */
export function nextUrl(requestUrl: string, cursor: string): string {
  const url = new URL(requestUrl, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `${url.pathname}?${url.searchParams.toString()}`
}
