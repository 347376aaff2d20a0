import { z } from 'zod'
import { QUANTITIES, QUANTITY_NAMES } from '../../core/quantities.ts'
import { DeviceIdSchema } from '../../core/reading.ts'
import { parseCliTime } from '../../core/time.ts'

/**
 * Zod models shared by several routes: parameters (validated by fastify through services/api/routing.ts and
 * documented in /openapi.json from the same objects) and response pieces.
 */

/**
 * The times a query may name: InfluxDB's timestamp range (int64 nanoseconds, 1677-09-21T00:12:43Z …
 * 2262-04-11T23:47:16Z; https://docs.influxdata.com/influxdb/v1/troubleshooting/frequently-asked-questions/),
 * a day inside each end. Outside it InfluxDB refuses the statement.
 */
export const TIME_MIN_MS = Date.UTC(1677, 8, 22)
export const TIME_MAX_MS = Date.UTC(2262, 3, 10)

/**
 * A time parameter: ISO-8601 with zone, `YYYY-MM-DD` (midnight UTC), `now`, `-<n><s|m|h|d>` back from now
 * (core/time.ts parseCliTime, as on the command line), or epoch milliseconds (digits only, as Grafana sends).
 * Output: epoch ms UTC within TIME_MIN_MS … TIME_MAX_MS; anything else is an issue naming the rule.
 */
export function timeParam(name: string, fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      let ms: number
      try {
        ms = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : parseCliTime(text, name)
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(`${name}: `, '').replace(/\)$/, ', or epoch milliseconds)') })
        return z.NEVER
      }
      if (!Number.isFinite(ms) || ms < TIME_MIN_MS || ms > TIME_MAX_MS) {
        ctx.addIssue({ code: 'custom', message: `'${text.slice(0, 40)}' is outside the storable times ${new Date(TIME_MIN_MS).toISOString()} … ${new Date(TIME_MAX_MS).toISOString()}` })
        return z.NEVER
      }
      return ms
    })
    .describe(`ISO-8601 date-time with zone (2024-01-15T10:00:00Z, …+01:00), YYYY-MM-DD (midnight UTC), now, -6h / -2d / -30m, or epoch milliseconds (1705312800000) (default ${fallback})`)
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

/**
 * CSV dialect: `,` (default; RFC 4180, pandas, R) or `;` with decimal commas, which Excel with Dutch (and most
 * continental) regional settings opens as columns. Without `sep`, `Accept-Language: nl…` as the first language
 * chooses `;`.
 */
export const SepParam = z
  .enum([',', ';'])
  .optional()
  .describe('CSV separator: , (default) or ; (with decimal commas, for Excel with Dutch settings; also chosen by Accept-Language: nl)')

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
export const CSV_CONTENT = { schema: { type: 'string', description: 'comma- (or with sep=; semicolon-) separated, header line first, UTF-8; text cells starting with = + - @ are prefixed with \' (OWASP CSV injection)' } }
export const SVG_CONTENT = { schema: { type: 'string', description: 'SVG image' } }
