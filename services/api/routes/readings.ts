import type { FastifyReply } from 'fastify'
import { z } from 'zod'
import { QUANTITY_NAMES, type Quantity } from '../../../core/quantities.ts'
import { isValidTimeZone, formatIsoMs } from '../../../core/time.ts'
import { RefusedError } from '../../../core/errors.ts'
import { csvDialect, csvStream } from '../csv.ts'
import { DataLicenceSchema, licenceLinks, licencesOf } from '../licence.ts'
import { listParam } from '../list-param.ts'
import { DeviceParam, FormatParam, IsoTime, NeighbourhoodParam, QuantityParam, CSV_CONTENT, SepParam, timeParam } from '../params.ts'
import { ProblemSchema, badParam, notFound } from '../problem.ts'
import { costLimits, estimateCost, refuseCostly, requestDeadline } from '../query-cost.ts'
import {
  type Page,
  type Row,
  compareIds,
  decodeCursor,
  encodeCursor,
  keyColumns,
  queryNeighbourhoodWindows,
  queryReadingsPage,
  queryWindowPage,
} from '../readings-query.ts'
import { readingsDocument } from '../readings-document.ts'
import type { ApiDeps, ApiRequest, ApiRouter } from '../routing.ts'
import { abortOnError } from '../streamed.ts'
import { FLAG_NAMES, parseIncludeFlags, reportingIntervals } from '../window-quality.ts'
import { NOT_PUBLIC_DEVICE, UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/readings: readings or window aggregates of public devices (`device=a,b`) or of a neighbourhood's
 * public devices, of one or more quantities (`quantity=pm2_5,pm10`), JSON or CSV, paged
 * (services/api/readings-query.ts). A request names at most MAX_SERIES series (devices × quantities; 400 beyond). Rows carry the CSV columns as keys:
 * time, [local_time when tz is given,] device, quantity, unit, then `value` (series raw or calibrated) or
 * `raw,calibrated` (both), `uncertainty,label` and `flags`; with a window `mean,min,max,count` (or
 * `raw_mean,…,calibrated_count`), `uncertainty,label`, `expected,completeness,partial` (services/api/window-quality.ts), `time` being the window start. With a window
 * and a neighbourhood the pooled neighbourhood aggregate comes too: JSON `aggregate`, CSV rows with device
 * `neighbourhood:<id>` before the device rows of their window. Aggregates leave flagged readings out unless
 * `include_flags` names them. Cost limits and the query timeout: services/api/query-cost.ts.
 */
export const MAX_LIMIT = 100_000

/**
 * Most series (devices × quantities) one request may name with `device=`: each is its own InfluxDB series, and a
 * raw page reads `limit + 2·series + 1` rows. Wider requests: a neighbourhood, or several requests.
 */
export const MAX_SERIES = 50

/**
 * `device=` and `quantity=`: comma-separated lists (services/api/list-param.ts), each item a device id or a
 * quantity name. `senshagen query --device/--quantity` parses its options with these same schemas and
 * tooManySeries, so the command line and the API accept the same lists with the same messages.
 */
export const DevicesParam = listParam(DeviceParam, MAX_SERIES, 'device ids', `one or more public device ids, comma-separated (sim-000,sim-001); at most ${MAX_SERIES} series (devices × quantities) per request`)
export const QuantitiesParam = listParam(QuantityParam, QUANTITY_NAMES.length, 'quantities', `one or more quantities, comma-separated, each ${QuantityParam.description}`)

/** The reason a request naming `devices` × `quantities` series is refused (more than MAX_SERIES), or undefined. */
export function tooManySeries(devices: number, quantities: number): string | undefined {
  const series = devices * quantities
  return series > MAX_SERIES ? `${devices} devices × ${quantities} quantities = ${series} series, more than the limit of ${MAX_SERIES} series per request` : undefined
}

export const ReadingsQuerySchema = z
  .object({
    device: DevicesParam.optional(),
    neighbourhood: NeighbourhoodParam.optional(),
    quantity: QuantitiesParam,
    from: timeParam('from', '-24h'),
    to: timeParam('to', 'now'),
    series: z.enum(['raw', 'calibrated', 'both']).default('raw').describe('raw values, calibrated values (only readings that have one), or both'),
    window: z.enum(['10m', '1h', '1d']).optional().describe('aggregate per window and device (InfluxQL GROUP BY time(window) tz(tz))'),
    tz: z
      .string()
      .max(64)
      .refine(isValidTimeZone, { message: 'is not an IANA time zone such as Europe/Amsterdam' })
      .optional()
      .describe('IANA zone (e.g. Europe/Amsterdam): windows follow it (1d = local days; default UTC) and every row gets a local_time label'),
    include_flags: z
      .string()
      .max(400)
      .optional()
      .describe(
        `quality flags whose readings count: comma-separated (${FLAG_NAMES.join(', ')}) or all. ` +
          'Default: aggregates take only unflagged readings, raw rows are all returned with their flags',
      ),
    format: FormatParam,
    sep: SepParam,
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(10_000).describe(`rows per page, 1…${MAX_LIMIT}`),
    cursor: z.string().max(400).optional().describe('opaque: the `next` of the previous page'),
  })
  .superRefine((q, ctx) => {
    if ((q.device === undefined) === (q.neighbourhood === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['device'], message: 'give exactly one of device and neighbourhood' })
    }
    const tooMany = tooManySeries(q.device?.length ?? 0, q.quantity?.length ?? 0)
    if (tooMany !== undefined) ctx.addIssue({ code: 'custom', path: ['device'], message: tooMany })
    if (typeof q.from === 'number' && typeof q.to === 'number' && q.to <= q.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' })
    try {
      parseIncludeFlags(q.include_flags)
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['include_flags'], message: (error as Error).message })
    }
  })

const NumberOrNull = z.number().nullable()
const RowKey = {
  time: IsoTime,
  local_time: z.string().optional().describe('the time in the tz zone, ISO-8601 with offset (only when tz is given)'),
  device: z.string(),
  quantity: z.string(),
  unit: z.string().describe('unit of every value of the row'),
}
/** Every row: core/calibration/uncertainty.ts; a window's: services/api/window-quality.ts windowCalibration. */
const CalibratedLabel = {
  uncertainty: NumberOrNull.describe('expanded uncertainty (k = 2) of the calibrated value (a window: the mean of its readings\' U), same unit; null when not assessed or raw'),
  label: z.enum(['indicative', 'experimental', 'uncalibrated']).describe('indicative only where the EU objective is met on held-out data; a window: its weakest reading; raw: uncalibrated'),
}
const Flags = { flags: z.array(z.string()).describe('quality flags of the reading (core/quality.ts); [] for none') }
const Quality = {
  expected: z.number().int().nullable().describe("readings expected in the part of the window inside the range, from the device's median reporting interval; null when unknown"),
  completeness: NumberOrNull.describe('count / expected, 3 decimals (may exceed 1)'),
  partial: z.boolean().describe('the range cuts this window (it starts before from or ends after to)'),
}
export const ReadingRowSchema = z.union([
  z.object({ ...RowKey, value: NumberOrNull, ...CalibratedLabel, ...Flags }),
  z.object({ ...RowKey, raw: NumberOrNull, calibrated: NumberOrNull, ...CalibratedLabel, ...Flags }),
  z.object({ ...RowKey, mean: NumberOrNull, min: NumberOrNull, max: NumberOrNull, count: z.number().int(), ...CalibratedLabel, ...Quality }),
  z.object({
    ...RowKey,
    raw_mean: NumberOrNull, raw_min: NumberOrNull, raw_max: NumberOrNull, raw_count: z.number().int(),
    calibrated_mean: NumberOrNull, calibrated_min: NumberOrNull, calibrated_max: NumberOrNull, calibrated_count: z.number().int(),
    ...CalibratedLabel,
    ...Quality,
  }),
])
export const ReadingsResponseSchema = z.object({
  device: z.string().nullable().describe('the device when one was asked, else null (see devices)'),
  devices: z.array(z.string()).describe('the devices asked for (a neighbourhood: its public devices)'),
  neighbourhood: z.string().nullable(),
  quantity: z.string().nullable().describe('the quantity when one was asked, else null (see quantities)'),
  quantities: z.array(z.string()).describe('the quantities asked for'),
  unit: z.string().nullable().describe('the unit when one quantity was asked; every row names its own'),
  series: z.enum(['raw', 'calibrated', 'both']),
  window: z.enum(['10m', '1h', '1d']).nullable(),
  tz: z.string().nullable(),
  include_flags: z.union([z.array(z.string()), z.literal('all')]).describe('flags whose readings count in aggregates ([] = unflagged only)'),
  licence: z.array(DataLicenceSchema).describe('data licence of each source in this answer'),
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
      summary: 'readings or window aggregates of public devices or a neighbourhood, one or more quantities, JSON or CSV, paged',
      description:
        `Several devices and quantities: \`device=a,b&quantity=pm2_5,pm10\`, at most ${MAX_SERIES} series (devices × quantities) per request; ` +
        'rows are ordered by time, quantity, device and each names its device, quantity and unit. ' +
        'Paging: at most `limit` rows; `next` (JSON) and the `Link: <…>; rel="next"` header give the next page (the cursor holds time, quantity and device, ' +
        'so every row comes exactly once). Each page is one InfluxQL statement per quantity (the store is not chunked); CSV is written in chunks.',
      tags: ['readings'],
      querystring: ReadingsQuerySchema,
      responses: {
        200: {
          description: 'a page',
          content: { 'application/json': ReadingsResponseSchema, 'text/csv': CSV_CONTENT },
          headers: { Link: { description: '<url>; rel="next" when there is a next page, and <licence url>; rel="license" per data source' } },
        },
        400: { description: 'bad or unknown parameter (named in invalid-params)', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'no public device with this id, or unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
        413: { description: 'the query is over a cost limit (named, with the numbers, in detail)', content: { 'application/problem+json': ProblemSchema } },
        503: { description: 'the measurement store is unavailable', content: { 'application/problem+json': ProblemSchema } },
        504: { description: 'the query ran past the time limit and was stopped', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => answerReadings(deps, request, reply),
  )
}

async function answerReadings(deps: ApiDeps, request: ReadingsRequest, reply: FastifyReply): Promise<unknown> {
  const q = request.query
  const devices = publicDevices(deps, q.device, q.neighbourhood)
  const quantities: Quantity[] = q.quantity
  const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
  if (q.cursor !== undefined && cursor === undefined) throw badParam('cursor', 'is not a cursor from this API')
  const includeFlags = q.window === undefined && q.include_flags === undefined ? undefined : parseIncludeFlags(q.include_flags)
  const limits = costLimits(deps.config)
  const deadline = requestDeadline(limits.timeoutMs, reply.raw)
  const base = {
    devices,
    quantity: quantities,
    from: q.from,
    to: q.to,
    series: q.series,
    limit: q.limit,
    includeFlags,
    signal: deadline.signal,
    ...(q.tz === undefined ? {} : { labelZone: q.tz }),
    ...(cursor ? { cursor } : {}),
  }
  let page: Page
  let aggregate: Row[] | undefined
  try {
    if (q.window === undefined) {
      page = await queryReadingsPage(deps.store, base)
    } else {
      const intervals = new Map<Quantity, Awaited<ReturnType<typeof reportingIntervals>>>()
      for (const quantity of quantities) intervals.set(quantity, await reportingIntervals(deps.store, devices, quantity, q.to, deadline.signal))
      refuseCostly(estimateCost({ devices, from: cursor ? Math.max(q.from, cursor.t) : q.from, to: q.to, window: q.window, intervals: [...intervals.values()] }), limits)
      const windowQuery = { ...base, window: q.window, tz: q.tz ?? 'UTC', intervals }
      page = await queryWindowPage(deps.store, windowQuery)
      if (q.neighbourhood !== undefined) aggregate = await queryNeighbourhoodWindows(deps.store, windowQuery, q.neighbourhood, page)
    }
  } catch (error) {
    // InfluxDB's zone database may lack a zone the runtime knows
    if (error instanceof RefusedError && /time zone|tz/i.test(error.message)) throw badParam('tz', 'is not a zone the measurement store knows')
    throw error
  } finally {
    deadline.done()
  }
  const next = page.next ? encodeCursor(page.next) : null
  const licence = licencesOf(devices)
  reply.header('link', [...(next === null ? [] : [`<${nextUrl(request.url, next)}>; rel="next"`]), licenceLinks(licence)].join(', '))
  const header = [...keyColumns(q.tz), ...page.columns]
  if (q.format === 'csv') {
    const rows = aggregate ? mergeAggregate(page.rows, aggregate) : page.rows
    reply.type('text/csv; charset=utf-8')
    const body = csvStream(header, rows, (r) => header.map((c) => (c === 'time' ? formatIsoMs(r.time as number) : r[c])), csvDialect(q.sep, request.headers['accept-language']))
    return reply.send(abortOnError(body, request, reply, deps.logger))
  }
  return readingsDocument({
    asked: q.device,
    devices,
    licence,
    neighbourhood: q.neighbourhood,
    quantities,
    series: q.series,
    window: q.window,
    tz: q.tz,
    includeFlags,
    from: q.from,
    to: q.to,
    columns: header,
    rows: page.rows,
    aggregate,
    next,
  })
}

/** The public device ids the request asks for, in id order; the same 404 for unknown and non-consented devices. */
function publicDevices(deps: ApiDeps, device: readonly string[] | undefined, neighbourhood: string | undefined): string[] {
  if (device !== undefined) {
    if (device.some((id) => deps.registry.publicDevice(id) === undefined)) throw notFound(NOT_PUBLIC_DEVICE)
    return [...device].sort(compareIds)
  }
  if (deps.registry.neighbourhood(neighbourhood!) === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
  return deps.registry.publicDevices(neighbourhood).map((d) => d.id)
}

/** Aggregate rows placed before the device rows of their window and quantity (CSV); both lists in (time, quantity) order. */
function mergeAggregate(rows: Row[], aggregate: Row[]): Row[] {
  const out: Row[] = []
  const notAfter = (a: Row, row: Row) => (a.time as number) - (row.time as number) || compareIds(a.quantity as string, row.quantity as string)
  let a = 0
  for (const row of rows) {
    while (a < aggregate.length && notAfter(aggregate[a]!, row) <= 0) out.push(aggregate[a++]!)
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
