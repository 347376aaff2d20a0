import { z } from 'zod'
import { QUANTITY_NAMES } from '../../../core/quantities.ts'
import type { PublicDevice } from '../../../core/registry/registry.ts'
import { deviceInfos } from '../device-info.ts'
import { DeviceParam, IsoTime, NeighbourhoodParam, PublicLocationOut } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'

/**
 * GET /api/v1/devices[?neighbourhood=N] and GET /api/v1/devices/:id: public (registered, consented) devices
 * only, with coarsened locations. An unknown id and a non-consented one get the same 404 (NOT_PUBLIC).
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
export const DevicesQuerySchema = z.object({ neighbourhood: NeighbourhoodParam.optional() })
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
        200: { description: 'devices sorted by id', content: { 'application/json': DevicesResponseSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => ({ devices: await deviceInfos(deps.store, publicDevicesIn(deps, request.query.neighbourhood)) }),
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
