import { z } from 'zod'
import { QUANTITY_NAMES } from '../../../core/quantities.ts'
import type { PublicDevice } from '../../../core/registry/registry.ts'
import { deviceInfos, type DeviceInfo } from '../device-info.ts'
import { BboxParam, GEOJSON_MEDIA_TYPE, NearParam, RadiusParam, featureCollectionSchema, insideBox, insideCircle, pointFeature } from '../geo-filter.ts'
import { listParam } from '../list-param.ts'
import { DeviceParam, IsoTime, NeighbourhoodParam, PublicLocationOut } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * GET /api/v1/devices[?neighbourhood=N&device=a,b&bbox=…&near=lat,lon&radius_m=…] and GET /api/v1/devices/:id:
 * public (registered, consented) devices only, with coarsened locations; the spatial filters test the published
 * position (services/api/geo-filter.ts). JSON, or an RFC 7946 FeatureCollection with `format=geojson` or
 * `Accept: application/geo+json`. An unknown id and a non-consented one get the same 404 (NOT_PUBLIC); in a
 * `device=` list they are simply absent, like devices outside the box.
 */
export const NOT_PUBLIC_DEVICE = 'no public device with this id'
export const UNKNOWN_NEIGHBOURHOOD = 'no neighbourhood with this id'

export const DeviceSchema = z.object({
  id: z.string(),
  neighbourhood: z.string(),
  location: PublicLocationOut,
  sensorModels: z.array(z.string()).describe('sensor models the device reported (field sensor), e.g. BME280+SDS011'),
  quantities: z.array(z.enum(QUANTITY_NAMES)),
  lastSeen: IsoTime.nullable().describe('observed time (the device\'s clock) of the newest stored reading, null when none; its receipt time is lastReceived in /api/v1/health/devices'),
  calibration: z.object({
    status: z.enum(['calibrated', 'uncalibrated']),
    methods: z.record(z.string(), z.string()).describe('quantity → calibration method of the newest calibrated reading'),
  }),
})
export const DevicesResponseSchema = z.object({ devices: z.array(DeviceSchema) })
const { location: _location, ...deviceProperties } = DeviceSchema.shape
export const DeviceFeatureCollectionSchema = featureCollectionSchema(
  z.object({ ...deviceProperties, precisionM: PublicLocationOut.shape.precisionM }),
)
/** Most devices one `device=` list may name. */
export const MAX_DEVICE_LIST = 100
export const DevicesQuerySchema = z
  .object({
    neighbourhood: NeighbourhoodParam.optional(),
    device: listParam(DeviceParam, MAX_DEVICE_LIST, 'device ids').optional(),
    bbox: BboxParam.optional(),
    near: NearParam.optional(),
    radius_m: RadiusParam.optional(),
    format: z.enum(['json', 'geojson']).optional().describe('json (default) or geojson (RFC 7946; also chosen by Accept: application/geo+json)'),
  })
  .superRefine((q, ctx) => {
    if ((q.near === undefined) !== (q.radius_m === undefined)) {
      ctx.addIssue({ code: 'custom', path: [q.near === undefined ? 'near' : 'radius_m'], message: 'near and radius_m go together' })
    }
  })
export const DeviceIdParamsSchema = z.object({ id: DeviceParam })

/** The public device `id`, or the NOT_PUBLIC 404 (the same for unknown and for non-consented ids). */
export function requirePublicDevice(deps: ApiDeps, id: string): PublicDevice {
  const device = deps.registry.publicDevice(id)
  if (device === undefined) throw notFound(NOT_PUBLIC_DEVICE)
  return device
}

/** The public devices of `neighbourhood` (all when undefined), or the UNKNOWN_NEIGHBOURHOOD 404. */
export function publicDevicesIn(deps: ApiDeps, neighbourhood: string | undefined): readonly PublicDevice[] {
  if (neighbourhood !== undefined && deps.registry.neighbourhood(neighbourhood) === undefined) throw notFound(UNKNOWN_NEIGHBOURHOOD)
  return deps.registry.publicDevices(neighbourhood)
}

/** True when the Accept header prefers GeoJSON: it names application/geo+json before any JSON type. */
export function wantsGeoJson(accept: string | undefined): boolean {
  const types = (accept ?? '').split(',').map((t) => t.split(';')[0]!.trim().toLowerCase())
  const geo = types.indexOf(GEOJSON_MEDIA_TYPE)
  const json = types.indexOf('application/json')
  return geo !== -1 && (json === -1 || geo < json)
}

/** A device as an RFC 7946 Point feature at its published position; precisionM among the properties. */
export function deviceFeature(info: DeviceInfo) {
  const { location, ...rest } = info
  return pointFeature(info.id, location, { ...rest, precisionM: location.precisionM })
}

export function registerDeviceRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/devices',
      operationId: 'listDevices',
      summary: 'public devices with coarsened locations, quantities, last reading and calibration',
      tags: ['devices'],
      querystring: DevicesQuerySchema,
      responses: {
        200: { description: 'devices sorted by id', content: { 'application/json': DevicesResponseSchema, [GEOJSON_MEDIA_TYPE]: DeviceFeatureCollectionSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => {
      const q = request.query
      const devices = publicDevicesIn(deps, q.neighbourhood).filter(
        (d) =>
          (q.device === undefined || q.device.includes(d.id)) &&
          (q.bbox === undefined || insideBox(d, q.bbox)) &&
          (q.near === undefined || q.radius_m === undefined || insideCircle(d, { ...q.near, radiusM: q.radius_m })),
      )
      const infos = await deviceInfos(deps.store, devices)
      reply.header('vary', 'Accept') // the body's form follows Accept (RFC 9110 §12.5.5)
      const geojson = q.format === 'geojson' || (q.format === undefined && wantsGeoJson(request.headers.accept))
      if (!geojson) return { devices: infos }
      reply.type(GEOJSON_MEDIA_TYPE)
      return { type: 'FeatureCollection', features: infos.map(deviceFeature) }
    },
  )
  router.get(
    {
      method: 'GET',
      url: '/api/v1/devices/:id',
      operationId: 'getDevice',
      summary: 'one public device',
      tags: ['devices'],
      params: DeviceIdParamsSchema,
      responses: {
        200: { description: 'the device', content: { 'application/json': DeviceSchema } },
        404: { description: 'no public device with this id (unknown and non-consented look the same)', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => {
      const device = requirePublicDevice(deps, request.params.id)
      return (await deviceInfos(deps.store, [device]))[0]
    },
  )
}
