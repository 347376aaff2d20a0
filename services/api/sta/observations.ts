import { isQuantity, type Quantity } from '../../../core/quantities.ts'
import type { PublicDevice } from '../../../core/registry/registry.ts'
import { splitFlags } from '../../../core/store/influx-queries.ts'
import { badParam, notFound } from '../problem.ts'
import { storedCalibration } from '../window-quality.ts'
import { type Entity, observation, type ObservationFacts } from './entities.ts'
import { DEFAULT_TOP, MAX_SKIP, type StaQuery, parseExpand, parseTimeFilter, parseTimeOrder } from './query-options.ts'
import { NO_SUCH_ENTITY, type StaContext, nextLink } from './context.ts'

/**
 * Observations of one Datastream (device × quantity) from the store's readingRows (oldest first, with a limit):
 * - ascending: one query of `$skip + $top + 1` rows (the extra row tells whether there is a next page);
 * - descending: the count first (countReadings), then the oldest `count − $skip` rows, of which the last `$top`
 *   reversed — refused with a 400 naming `$orderby` when that is more than MAX_SKIP rows, so a client narrows
 *   with `$filter` on phenomenonTime. The count can change between the two queries when readings arrive.
 */
const FIELDS = ['value', 'calibrated', 'flags', 'calibrated_u', 'calibration_label'] as const

function facts(device: string, quantity: Quantity, rows: Awaited<ReturnType<StaContext['store']['readingRows']>>): ObservationFacts[] {
  return rows
    .filter((r) => typeof r.fields.value === 'number')
    .map((r) => ({
      device, quantity, time: r.time, value: r.fields.value as number,
      flags: splitFlags(r.fields.flags), ...calibration(r.fields),
    }))
}

/** The calibrated value with its label and uncertainty, read as GET /api/v1/readings reads them. */
function calibration(fields: Parameters<typeof storedCalibration>[0]): Pick<ObservationFacts, 'calibrated' | 'calibratedUncertainty' | 'calibrationLabel'> {
  const { calibrated, uncertainty, label } = storedCalibration(fields)
  return { calibrated, calibratedUncertainty: uncertainty, calibrationLabel: label }
}

export async function observationsPage(ctx: StaContext, device: string, quantity: Quantity, q: StaQuery): Promise<Entity> {
  parseExpand(q.$expand, [])
  const range = parseTimeFilter(q.$filter)
  const order = parseTimeOrder(q.$orderby)
  const top = q.$top ?? DEFAULT_TOP
  const skip = q.$skip ?? 0
  const selection = { devices: [device], quantities: [quantity], from: range.from, to: range.to }
  const needCount = q.$count === 'true' || order === 'desc'
  const count = needCount && range.from < range.to ? ((await ctx.store.countReadings(selection))[0]?.count ?? 0) : 0
  let page: ObservationFacts[] = []
  let more = false
  if (range.from < range.to && top > 0) {
    if (order === 'asc') {
      const rows = facts(device, quantity, await ctx.store.readingRows({ ...selection, fields: FIELDS, limit: skip + top + 1 }))
      page = rows.slice(skip, skip + top)
      more = rows.length > skip + top
    } else if (count > skip) {
      if (count - skip > MAX_SKIP) throw badParam('$orderby', `phenomenonTime desc reads at most ${MAX_SKIP} observations (MAX_SKIP); narrow the range with $filter on phenomenonTime`)
      const rows = facts(device, quantity, await ctx.store.readingRows({ ...selection, fields: FIELDS, limit: count - skip }))
      page = rows.slice(Math.max(0, rows.length - top)).reverse()
      more = rows.length > top
    }
  }
  return {
    ...(q.$count === 'true' ? { '@iot.count': count } : {}),
    value: page.map((o) => observation(ctx.links, o)),
    ...(more ? { '@iot.nextLink': nextLink(ctx, skip + top) } : {}),
  }
}

/** Observations('<device>~<quantity>~<epoch ms>'). Errors: the same 404 for a malformed, unknown or hidden one. */
export async function observationById(ctx: StaContext, id: string, publicDevice: (id: string) => PublicDevice): Promise<Entity> {
  const [deviceId, quantity, ms, extra] = id.split('~')
  if (extra !== undefined || quantity === undefined || !isQuantity(quantity) || ms === undefined || !/^\d{1,15}$/.test(ms)) throw notFound(NO_SUCH_ENTITY)
  const device = publicDevice(deviceId!)
  const time = Number(ms)
  const rows = facts(device.id, quantity, await ctx.store.readingRows({ devices: [device.id], quantities: [quantity], from: time, to: time + 1, fields: FIELDS, limit: 1 }))
  if (rows.length === 0) throw notFound(NO_SUCH_ENTITY)
  return observation(ctx.links, rows[0]!)
}
