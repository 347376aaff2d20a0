import { z } from 'zod'
import { QUANTITIES, type Quantity } from '../../../core/quantities.ts'
import type { ReadingRow, ReadingStore } from '../../../core/store/store.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { IsoTime, NeighbourhoodParam, QuantityParam } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { storedCalibration } from '../window-quality.ts'
import { UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/latest[?neighbourhood=N][&quantity=Q]: the newest stored reading per published device and quantity
 * (raw `value` in the canonical unit, observed `time`, `flags`, the calibrated value when the calibration worker
 * wrote one on that point) — what the residents' page shows before the first live event, instead of two hours of
 * raw readings. Only the registry's public devices appear; no position (GET /api/v1/devices has the coarsened one).
 *
 * `label` and `uncertainty` are those of the point's calibrated value as the calibration worker stored them
 * (calibration_label, calibrated_u: core/calibration/uncertainty.ts; a label missing on a calibrated point reads
 * `experimental`, an uncertainty stored as −1 null), the same as GET /api/v1/readings?series=both gives for the
 * reading; without a calibrated value `uncalibrated` and null: the raw value has no assessed uncertainty.
 *
 * Cost: one `last()` query per request plus one point read per (device, quantity) in bounded parallel batches.
 */
export const LatestQuerySchema = z.object({
  neighbourhood: NeighbourhoodParam.optional(),
  quantity: QuantityParam.optional(),
})

export const LatestValueSchema = z.object({
  device: z.string(),
  quantity: z.string(),
  time: IsoTime.describe('observed time'),
  value: z.number().describe('raw sensor value, canonical unit'),
  unit: z.string(),
  flags: z.array(z.string()).describe('quality flags of this reading; empty when none'),
  calibrated: z.number().nullable().describe('calibrated value of the same reading, or null'),
  uncertainty: z.number().nullable().describe('expanded uncertainty (k = 2) of the calibrated value, same unit; null when raw or not assessed'),
  label: z.enum(['indicative', 'experimental', 'uncalibrated']).describe('of the calibrated value; uncalibrated when there is none'),
})
export const LatestResponseSchema = z.object({ latest: z.array(LatestValueSchema) })
export type LatestValue = z.infer<typeof LatestValueSchema>

/** Point reads run in batches of this many at once. */
const POINT_READS_AT_ONCE = 16

/**
 * The newest reading of each (device, quantity) of `devices` (public ids), sorted by device then quantity.
 * Errors: those of the store.
 */
export async function latestValues(store: Pick<ReadingStore, 'lastReadings' | 'readingRows'>, devices: readonly string[], quantity?: Quantity): Promise<LatestValue[]> {
  if (devices.length === 0) return []
  const lasts = await store.lastReadings({ devices, ...(quantity === undefined ? {} : { quantities: [quantity] }) })
  const rows: Array<ReadingRow | undefined> = []
  for (let i = 0; i < lasts.length; i += POINT_READS_AT_ONCE) {
    const batch = lasts.slice(i, i + POINT_READS_AT_ONCE)
    const read = await Promise.all(
      batch.map((last) => store.readingRows({ devices: [last.deviceId], quantities: [last.quantity], from: last.time, to: last.time + 1, fields: ['flags', 'calibrated', 'calibrated_u', 'calibration_label'], limit: 1 })),
    )
    rows.push(...read.map((r) => r[0]))
  }
  return lasts
    .map((last, i) => {
      const flags = rows[i]?.fields.flags
      const { calibrated, uncertainty, label } = storedCalibration(rows[i]?.fields ?? {})
      return {
        device: last.deviceId,
        quantity: last.quantity,
        time: formatIsoMs(last.time),
        value: last.value,
        unit: QUANTITIES[last.quantity].unit,
        flags: typeof flags === 'string' && flags !== '' ? flags.split(',') : [],
        calibrated,
        uncertainty,
        label,
      }
    })
    .sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.quantity < b.quantity ? -1 : a.quantity > b.quantity ? 1 : 0))
}

export function registerLatestRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/latest',
      operationId: 'latest',
      summary: 'the newest reading per public device and quantity (value, time, unit, flags, label)',
      tags: ['readings'],
      querystring: LatestQuerySchema,
      responses: {
        200: { description: 'newest readings, by device then quantity', content: { 'application/json': LatestResponseSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => {
      const { neighbourhood, quantity } = request.query
      if (neighbourhood !== undefined && deps.registry.neighbourhood(neighbourhood) === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
      const devices = deps.registry.publicDevices(neighbourhood).map((d) => d.id)
      return { latest: await latestValues(deps.store, devices, quantity) }
    },
  )
}
