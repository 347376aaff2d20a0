import { z } from 'zod'
import { QUANTITIES, type Quantity } from '../../../core/quantities.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { LUCHTMEETNET_STATIONS, KNMI_STATIONS, nearestStation } from '../../../core/reference/stations.ts'
import { queryReferenceObservations } from '../../../core/reference/reference-store.ts'
import type { ReadingStore } from '../../../core/store/store.ts'
import { classifyLki, classifyTemperature, seasonAt, stookAdvice, type LkiQuantity } from '../air-quality.ts'
import { deviceWindowStats, type DeviceWindowStats } from '../device-info.ts'
import { meanOfMeans } from '../readings-query.ts'
import { UNCALIBRATED, meanCalibration } from '../window-quality.ts'
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
 * those are averaged), else `raw`. This is the rule of every surface (README "Reading the data"): for an `at` on
 * the hour it is GET /api/v1/readings?neighbourhood=…&window=1h&series=both's aggregate of that hour
 * (calibrated_mean, else raw_mean). `label` and `uncertainty` are those of the value: the weakest device label and
 * the mean of the device uncertainties (services/api/window-quality.ts meanCalibration); raw: `uncalibrated`, null.
 * `flaggedDevices` counts the public devices left out because all their readings of the hour are flagged, so the
 * page can say so without naming them (a sensor's location is personal). Classes: services/api/air-quality.ts (LKI for PM2.5, PM10 and NO2;
 * season-aware temperature; wood-burning advice in the cold season).
 *
 * Beside each LKI quantity: the nearest Luchtmeetnet station's newest hourly value in (at − 3 h, at] from the
 * store (measurement `reference`; Luchtmeetnet times mark the end of the hour, UTC), or null. The wind for the
 * wood-burning advice is the nearest KNMI station's newest `wind_speed` in the same span.
 */
export const NOW_QUANTITIES = ['air_temperature', 'relative_humidity', 'pm2_5', 'pm10', 'no2'] as const satisfies readonly Quantity[]
const LKI_QUANTITIES: readonly LkiQuantity[] = ['pm2_5', 'pm10', 'no2']
/** How far back the newest reference value may lie (hours are published with a delay). */
export const REFERENCE_LOOKBACK_MS = 3 * 3_600_000

export const NeighbourhoodSchema = z.object({
  id: z.string(),
  name: z.string(),
  municipality: z.string(),
  center: LatLonOut.describe('the neighbourhood centre (public), snapped to the grid'),
  devices: z.number().int().describe('public devices in the neighbourhood'),
})
export const NeighbourhoodsResponseSchema = z.object({
  neighbourhoods: z.array(NeighbourhoodSchema),
  hostInvite: z.string().optional().describe('where residents can offer to host a sensor (https: or mailto: link, SENSHAGEN_HOST_INVITE_URL); absent when not configured'),
  basemap: z.boolean().describe('whether a street map is configured (SENSHAGEN_BASEMAP_FILE): GET /api/v1/basemap answers it, else 404. The page asks only when true'),
})

export const NowValueSchema = z.object({
  value: z.number().nullable().describe('mean of the device means, canonical unit; null when no public device reported'),
  unit: z.string(),
  series: z.enum(['calibrated', 'raw']).nullable(),
  label: z.enum(['indicative', 'experimental', 'uncalibrated']).describe('of the value: the weakest label of the devices averaged; raw values: uncalibrated'),
  uncertainty: z.number().nullable().describe('expanded uncertainty (k = 2) of the value, same unit: the mean of the device uncertainties (full correlation, GUM 5.2.2); null when raw or not assessed'),
  devices: z.number().int().describe('devices that contributed'),
  count: z.number().int().describe('readings that contributed'),
  flaggedDevices: z
    .number()
    .int()
    .describe(
      'public devices left out of value because every reading of theirs in the hour carries a quality flag (core/quality.ts); ' +
        'devices without consent are in no count (only data of participants who accepted the terms is published)',
    ),
  class: z
    .string()
    .nullable()
    .describe('pm2_5, pm10, no2: LKI class good|moderate|insufficient|poor|very_poor; air_temperature: warm season normal|warm|hot|frost, cold season frost|cold|mild (warm|hot at ≥ 27 °C); else null'),
  advice: z.string().nullable().describe('advice key for the page to translate, e.g. lki_good, heat_warm, cold_frost'),
  index: z.number().int().min(1).max(11).nullable().optional().describe('LKI 1–11 (RIVM) of pm2_5, pm10, no2'),
  reference: z
    .object({
      station: z.string(),
      name: z.string(),
      distanceKm: z.number(),
      time: IsoTime.describe('end of the hour'),
      value: z.number(),
      index: z.number().int().min(1).max(11),
      class: z.string(),
    })
    .nullable()
    .optional()
    .describe('pm2_5, pm10, no2: the nearest Luchtmeetnet station, its newest hourly value in (at − 3 h, at], or null'),
})
export const StookSchema = z.object({
  code: z.enum(['yellow', 'orange', 'red']).nullable().describe('null: an input is missing (see missing) and the known one does not already give red'),
  reason: z.enum(['wind', 'air', 'none', 'missing']),
  missing: z.array(z.enum(['wind', 'pm2_5'])).describe('inputs that were not known: wind (no KNMI wind speed in (at − 3 h, at]), pm2_5 (no PM2.5 from the neighbourhood this hour)'),
  windMs: z.number().nullable().describe('newest KNMI wind speed, m/s, or null'),
  windStation: z.string().nullable(),
})
export const NowResponseSchema = z.object({
  neighbourhood: z.string(),
  from: IsoTime,
  to: IsoTime,
  devices: z.number().int().describe('public devices in the neighbourhood'),
  quantities: z.object({ air_temperature: NowValueSchema, relative_humidity: NowValueSchema, pm2_5: NowValueSchema, pm10: NowValueSchema, no2: NowValueSchema }),
  season: z.enum(['warm', 'cold']).describe('warm: 1 May – 30 September (Europe/Amsterdam date of `to`)'),
  stook: StookSchema.nullable().describe('wood-burning advice (Stookwijzer-style), cold season only'),
  sources: z.object({ lki: z.string(), heat: z.string(), stook: z.string() }),
})
export const NeighbourhoodParamsSchema = z.object({ id: NeighbourhoodParam })
export const NowQuerySchema = z.object({ at: timeParam('at', 'now').describe('end of the hour (default now); same forms as from/to') })

function classify(quantity: Quantity, value: number, at: number): { class: string; advice: string; index?: number } | undefined {
  if (quantity === 'air_temperature') return classifyTemperature(value, at)
  return (LKI_QUANTITIES as readonly string[]).includes(quantity) ? classifyLki(quantity as LkiQuantity, value) : undefined
}

/**
 * The NowValue of one quantity from per-device statistics at `at` (epoch ms, for the season; pure): the mean of
 * the device means by readings-query.ts meanOfMeans, the rule of every surface, over the devices with calibrated
 * values when there are any, else over the raw means.
 */
export function nowValue(quantity: Quantity, stats: readonly DeviceWindowStats[], at: number = Date.now()): z.infer<typeof NowValueSchema> {
  const mine = stats.filter((s) => s.quantity === quantity)
  const part = (mean: number | null, count: number) => ({ mean, min: null, max: null, count })
  const calibratedParts = mine.filter((s) => s.calibratedCount > 0 && s.calibratedMean !== null)
  const calibrated = meanOfMeans(calibratedParts.map((s) => part(s.calibratedMean, s.calibratedCount)))
  const raw = meanOfMeans(mine.map((s) => part(s.rawMean, s.rawCount)))
  const series = calibrated.devices > 0 ? 'calibrated' : raw.devices > 0 ? 'raw' : null
  const used = series === 'calibrated' ? calibrated : raw
  const { label, uncertainty } = series === 'calibrated' ? meanCalibration(calibratedParts.map((s) => s.calibration)) : UNCALIBRATED
  const classification = used.mean === null ? undefined : classify(quantity, used.mean, at)
  return {
    value: used.mean,
    unit: QUANTITIES[quantity].unit,
    series,
    label,
    uncertainty,
    devices: used.devices,
    count: used.count,
    // left out by the flags alone: no unflagged reading, some flagged ones
    flaggedDevices: mine.filter((s) => s.rawCount === 0 && s.flaggedCount > 0).length,
    class: classification?.class ?? null,
    advice: classification?.advice ?? null,
    ...((LKI_QUANTITIES as readonly string[]).includes(quantity) ? { index: classification?.index ?? null } : {}),
  }
}

/** The newest observation of `quantity` at `station` in (at − REFERENCE_LOOKBACK_MS, at], or undefined. */
async function newestReference(store: Pick<ReadingStore, 'referenceObservations'>, station: string, quantity: Quantity, at: number) {
  const observations = await queryReferenceObservations(store, { station, quantity, from: at - REFERENCE_LOOKBACK_MS + 1, to: at + 1 })
  return observations.at(-1)
}

/** The nearest Luchtmeetnet station's newest value of an LKI quantity near `center`, with its LKI, or null. */
export async function referenceBeside(store: Pick<ReadingStore, 'referenceObservations'>, center: { lat: number; lon: number }, quantity: LkiQuantity, at: number) {
  const nearest = nearestStation(LUCHTMEETNET_STATIONS, center, quantity)
  if (nearest === undefined) return null
  const observation = await newestReference(store, nearest.station.id, quantity, at)
  if (observation === undefined) return null
  const lki = classifyLki(quantity, observation.value)
  return {
    station: nearest.station.id,
    name: nearest.station.name,
    distanceKm: Math.round(nearest.distanceKm * 10) / 10,
    time: formatIsoMs(observation.time),
    value: observation.value,
    index: lki.index,
    class: lki.class,
  }
}

/** Wood-burning advice from the neighbourhood's PM2.5 and the nearest KNMI station's newest wind speed. */
async function stookNow(store: Pick<ReadingStore, 'referenceObservations'>, center: { lat: number; lon: number }, pm25: number | null, at: number) {
  const station = nearestStation(KNMI_STATIONS, center, 'wind_speed')
  const wind = station === undefined ? undefined : await newestReference(store, station.station.id, 'wind_speed', at)
  const windMs = wind?.value ?? null
  return { ...stookAdvice(pm25, windMs), windMs, windStation: wind === undefined ? null : station!.station.id }
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
      ...(deps.config.api.hostInviteUrl === undefined ? {} : { hostInvite: deps.config.api.hostInviteUrl }),
      basemap: deps.config.api.basemapFile !== undefined,
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
        'PM2.5, PM10, NO2: Dutch air quality index LKI 1–11 (RIVM report 2014-0050), with the nearest Luchtmeetnet station beside. ' +
        'Temperature: warm season Nationaal Hitteplan 27 °C (RIVM), KNMI tropical day 30 °C; cold season frost/cold/mild and Stookwijzer-style wood-burning advice.',
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
      const values = Object.fromEntries(NOW_QUANTITIES.map((q) => [q, nowValue(q, stats, to)])) as Record<(typeof NOW_QUANTITIES)[number], z.infer<typeof NowValueSchema>>
      const references = await Promise.all(LKI_QUANTITIES.map((q) => referenceBeside(deps.store, hood.center, q, to)))
      LKI_QUANTITIES.forEach((q, i) => (values[q].reference = references[i]))
      const season = seasonAt(to)
      return {
        neighbourhood: hood.id,
        from: formatIsoMs(from),
        to: formatIsoMs(to),
        devices: devices.length,
        quantities: values,
        season,
        stook: season === 'cold' ? await stookNow(deps.store, hood.center, values.pm2_5.value, to) : null,
        sources: {
          lki: 'Luchtkwaliteitsindex (LKI) 1–11, RIVM report 2014-0050: https://www.rivm.nl/bibliotheek/rapporten/2014-0050.pdf; reference values: Luchtmeetnet (RIVM)',
          heat: 'Nationaal Hitteplan 27 °C (RIVM: https://www.rivm.nl/hitte/nationaal-hitteplan); tropical day 30 °C (KNMI)',
          stook: 'Stookwijzer criteria (RIVM): code red at wind force 2 Bft or less, or poor air; https://www.rivm.nl/nieuws/nieuwe-criteria-stookwijzer-op-basis-van-overlast',
        },
      }
    },
  )
}
