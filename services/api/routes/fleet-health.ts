import { z } from 'zod'
import { DEFAULT_HEALTH_SETTINGS } from '../../../core/fleet-health.ts'
import { QUANTITY_NAMES } from '../../../core/quantities.ts'
import { queryFleetHealth } from '../../../core/store/health-queries.ts'
import { formatIsoMs } from '../../../core/time.ts'
import { IsoTime, NeighbourhoodParam } from '../params.ts'
import { ProblemSchema } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { publicDevicesIn } from './devices.ts'

/**
 * GET /api/v1/health/devices[?neighbourhood=N]: fleet health (README "Fleet health") of the public devices only —
 * registered, consented, not revoked (registry.publicDevices) — so the health of any other device cannot be read
 * here, not even whether it exists. The operator's view of every device is `senshagen devices status --offline`.
 * Computed from the store at request time (core/store/health-queries.ts queryFleetHealth) with the configured
 * SENSHAGEN_STALE_AFTER_MS and stuck rule, so it agrees with the tracker's events without depending on it.
 * Two times, named for what they are: `lastSeen` is the observed time of the newest reading (store.lastReadings,
 * as /api/v1/devices computes it, so the two endpoints agree), `lastReceived` its receipt time (what "last seen"
 * means in `senshagen devices status --offline` and the fleet-health events, and what staleness counts from).
 */
export const DeviceHealthSchema = z.object({
  id: z.string(),
  neighbourhood: z.string(),
  connection: z.enum(['online', 'offline', 'unknown']).describe('newest availability report: MQTT connect/disconnect, will, or status topic (Tasmota LWT, ESPHome status); unknown when there was none'),
  connectionSince: IsoTime.nullable().describe('time of that report, null when none'),
  lastSeen: IsoTime.nullable().describe('observed time (the device\'s clock) of the newest stored reading, null when none: the same as lastSeen in /api/v1/devices'),
  lastReceived: IsoTime.nullable().describe('when SensHagen received the newest stored reading (field received_ms), null when none: what stale is measured from, so a device with a wrong clock is judged by when it was heard'),
  stale: z.boolean().describe('no reading for SENSHAGEN_STALE_AFTER_MS (default 30 min)'),
  stuck: z.array(z.enum(QUANTITY_NAMES)).describe('quantities repeating one value for SENSHAGEN_STUCK_AFTER_MS (default 2 h; temperature, humidity, pressure)'),
})
export const DevicesHealthResponseSchema = z.object({ devices: z.array(DeviceHealthSchema) })
export const DevicesHealthQuerySchema = z.object({ neighbourhood: NeighbourhoodParam.optional() })

export function registerFleetHealthRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/health/devices',
      operationId: 'listDeviceHealth',
      summary: 'fleet health of the public devices: connection, last seen, stale, stuck',
      tags: ['devices'],
      querystring: DevicesHealthQuerySchema,
      responses: {
        200: { description: 'public devices sorted by id', content: { 'application/json': DevicesHealthResponseSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'unknown neighbourhood', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request) => {
      const devices = publicDevicesIn(deps, request.query.neighbourhood)
      const selection = { devices: devices.map((d) => d.id) }
      const [fleet, last] = devices.length === 0 ? [[], []] : await Promise.all([queryFleetHealth(deps.store, Date.now(), deps.config.health ?? DEFAULT_HEALTH_SETTINGS, selection), deps.store.lastReadings(selection)])
      const health = new Map(fleet.map((h) => [h.deviceId, h]))
      const observed = new Map<string, number>()
      for (const { deviceId, time } of last) observed.set(deviceId, Math.max(observed.get(deviceId) ?? time, time))
      return {
        devices: devices
          .map((d) => {
            const h = health.get(d.id)
            return {
              id: d.id,
              neighbourhood: d.neighbourhood,
              connection: h?.connection ?? ('unknown' as const),
              connectionSince: h?.connectionSince === undefined ? null : formatIsoMs(h.connectionSince),
              lastSeen: observed.has(d.id) ? formatIsoMs(observed.get(d.id)!) : null,
              lastReceived: h?.lastSeen === undefined ? null : formatIsoMs(h.lastSeen),
              stale: h?.stale ?? true,
              stuck: h?.stuck ?? [],
            }
          })
          .sort((a, b) => a.id.localeCompare(b.id)),
      }
    },
  )
}
