import { z } from 'zod'
import { QUANTITIES, type Quantity } from '../../../core/quantities.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { classifyPm25, classifyTemperature, type Classification } from '../air-quality.ts'
import { deviceWindowStats, type DeviceWindowStats } from '../device-info.ts'
import { IsoTime, LatLonOut, NeighbourhoodParam, timeParam } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { UNKNOWN_NEIGHBOURHOOD } from './devices.ts'

/**
 * GET /api/v1/neighbourhoods and GET /api/v1/neighbourhoods/:id/now (the residents' page).
 *
 * "now" is the hour before `at` (default now), [at − 1 h, at): per quantity the mean over the neighbourhood's
 * public devices of each device's hourly mean (each garden counts once), quality-flagged readings left out.
 * `series` says which values: `calibrated` when any device has calibrated values in that hour (then only
 * those are averaged), else `raw`. Classes: services/api/air-quality.ts.
 */
export const NOW_QUANTITIES = ['air_temperature', 'relative_humidity', 'pm2_5'] as const satisfies readonly Quantity[]

export const NeighbourhoodSchema = z.object({
  id: z.string(),
  name: z.string(),
  municipality: z.string(),
  center: LatLonOut.describe('the neighbourhood centre (public), snapped to the grid'),
  devices: z.number().int().describe('public devices in the neighbourhood'),
})
export const NeighbourhoodsResponseSchema = z.object({ neighbourhoods: z.array(NeighbourhoodSchema) })

export const NowValueSchema = z.object({
  value: z.number().nullable().describe('mean of the device means, canonical unit; null when no public device reported'),
  unit: z.string(),
  series: z.enum(['calibrated', 'raw']).nullable(),
  devices: z.number().int().describe('devices that contributed'),
  count: z.number().int().describe('readings that contributed'),
  class: z.string().nullable().describe('pm2_5: EAQI band good|fair|moderate|poor|very_poor|extremely_poor; air_temperature: normal|warm|hot|frost; else null'),
  advice: z.string().nullable().describe('advice key for the page to translate, e.g. pm_good, heat_warm'),
})
export const NowResponseSchema = z.object({
  neighbourhood: z.string(),
  from: IsoTime,
  to: IsoTime,
  devices: z.number().int().describe('public devices in the neighbourhood'),
  quantities: z.object({ air_temperature: NowValueSchema, relative_humidity: NowValueSchema, pm2_5: NowValueSchema }),
  sources: z.object({ pm2_5: z.string(), heat: z.string() }),
})
export const NeighbourhoodParamsSchema = z.object({ id: NeighbourhoodParam })
export const NowQuerySchema = z.object({ at: timeParam('at', 'now').describe('end of the hour (default now); same forms as from/to') })

const CLASSIFIERS: Partial<Record<Quantity, (value: number) => Classification>> = { pm2_5: classifyPm25, air_temperature: classifyTemperature }

/** The NowValue of one quantity from per-device statistics (pure; tests compute the same by hand). */
export function nowValue(quantity: Quantity, stats: readonly DeviceWindowStats[]): z.infer<typeof NowValueSchema> {
  const mine = stats.filter((s) => s.quantity === quantity)
  const calibrated = mine.filter((s) => s.calibratedCount > 0 && s.calibratedMean !== null)
  const raw = mine.filter((s) => s.rawCount > 0 && s.rawMean !== null)
  const series = calibrated.length > 0 ? 'calibrated' : raw.length > 0 ? 'raw' : null
  const used = series === 'calibrated' ? calibrated.map((s) => [s.calibratedMean!, s.calibratedCount] as const) : raw.map((s) => [s.rawMean!, s.rawCount] as const)
  const value = used.length > 0 ? used.reduce((sum, [mean]) => sum + mean, 0) / used.length : null
  const classification = value === null ? undefined : CLASSIFIERS[quantity]?.(value)
  return {
    value,
    unit: QUANTITIES[quantity].unit,
    series,
    devices: used.length,
    count: used.reduce((sum, [, n]) => sum + n, 0),
    class: classification?.class ?? null,
    advice: classification?.advice ?? null,
  }
}

export function registerNeighbourhoodRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/neighbourhoods',
      operationId: 'listNeighbourhoods',
      summary: 'neighbourhoods with their public centre and number of public devices',
      tags: ['neighbourhoods'],
      responses: { 200: { description: 'neighbourhoods', content: { 'application/json': NeighbourhoodsResponseSchema } } },
    },
    async () => ({
      neighbourhoods: deps.registry.neighbourhoods().map((n) => ({
        id: n.id,
        name: n.name,
        municipality: n.municipality,
        center: { lat: n.center.lat, lon: n.center.lon },
        devices: deps.registry.publicDevices(n.id).length,
      })),
    }),
  )
  router.get(
    {
      method: 'GET',
      url: '/api/v1/neighbourhoods/:id/now',
      operationId: 'neighbourhoodNow',
      summary: 'the last hour in a neighbourhood: temperature, humidity, PM2.5 with plain-language classes',
      description:
        'Mean over the public devices of each device mean in [at − 1 h, at); calibrated values when available. ' +
        'PM2.5 classes: European Air Quality Index bands (EEA, https://airindex.eea.europa.eu/AQI/index.html). ' +
        'Temperature: Nationaal Hitteplan 27 °C (RIVM), KNMI tropical day 30 °C.',
      tags: ['neighbourhoods'],
      params: NeighbourhoodParamsSchema,
      querystring: NowQuerySchema,
      responses: {
        200: { description: 'the last hour', content: { 'application/json': NowResponseSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => {
      const hood = deps.registry.neighbourhood(request.params.id)
      if (hood === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
      const to = request.query.at
      const from = to - 3_600_000
      const devices = deps.registry.publicDevices(hood.id).map((d) => d.id)
      const stats = await deviceWindowStats(deps.store, devices, NOW_QUANTITIES, from, to)
      return {
        neighbourhood: hood.id,
        from: formatIsoMs(from),
        to: formatIsoMs(to),
        devices: devices.length,
        quantities: {
          air_temperature: nowValue('air_temperature', stats),
          relative_humidity: nowValue('relative_humidity', stats),
          pm2_5: nowValue('pm2_5', stats),
        },
        sources: {
          pm2_5: 'European Air Quality Index, hourly PM2.5 bands (EEA): https://airindex.eea.europa.eu/AQI/index.html',
          heat: 'Nationaal Hitteplan 27 °C (RIVM: https://www.rivm.nl/hitte/nationaal-hitteplan); tropical day 30 °C (KNMI)',
        },
      }
    },
  )
}
