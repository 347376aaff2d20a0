import { z } from 'zod'
import { QUANTITIES, QUANTITY_NAMES } from '../../core/quantities.ts'
import { DeviceIdSchema } from '../../core/reading.ts'
import { parseCliTime } from '../../core/time.ts'

/**
 * Zod models shared by several routes: parameters (validated by fastify through services/api/routing.ts and
 * documented in /openapi.json from the same objects) and response pieces.
 */

/**
 * A time parameter: ISO-8601 with zone, `YYYY-MM-DD` (midnight UTC), `now`, or `-<n><s|m|h|d>` back from now
 * (core/time.ts parseCliTime, as on the command line). Output: epoch ms UTC.
 */
export function timeParam(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseCliTime(text, name)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(`${name}: `, '') })
        return z.NEVER
      }
    })
    .describe(`ISO-8601 date-time with zone (2024-01-15T10:00:00Z, …+01:00), YYYY-MM-DD (midnight UTC), now, or -6h / -2d / -30m (default ${fallback})`)
}

export const QuantityParam = z
  .enum(QUANTITY_NAMES, { error: (issue) => `unknown quantity '${String(issue.input)}'; one of ${QUANTITY_NAMES.join(', ')}` })
  .describe(`one of ${QUANTITY_NAMES.map((q) => `${q} (${QUANTITIES[q].unit})`).join(', ')}`)

export const DeviceParam = DeviceIdSchema.describe('device id, e.g. sim-000')

export const NeighbourhoodParam = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a neighbourhood id such as stadshagen')
  .describe('neighbourhood id, e.g. stadshagen (GET /api/v1/neighbourhoods)')

export const FormatParam = z.enum(['json', 'csv']).default('json').describe('json (default) or csv (text/csv, streamed)')

/** ISO-8601 UTC with milliseconds. */
export const IsoTime = z.string().describe('ISO-8601 UTC with milliseconds, e.g. 2024-01-15T10:00:00.000Z')

export const LatLonOut = z.object({
  lat: z.number().describe('degrees north: centre of a 0.002° × 0.003° grid cell'),
  lon: z.number().describe('degrees east: centre of a 0.002° × 0.003° grid cell'),
})

export const PublicLocationOut = LatLonOut.extend({
  precisionM: z.number().int().describe('the device lies within this many metres of the published point (half the grid cell diagonal, or the neighbourhood radius)'),
})

/** Plain JSON Schemas for non-JSON bodies. */
export const CSV_CONTENT = { schema: { type: 'string', description: 'comma-separated, header line first, UTF-8' } }
export const SVG_CONTENT = { schema: { type: 'string', description: 'SVG image' } }
