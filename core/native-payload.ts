import { z } from 'zod'
import { DeviceIdSchema } from './reading.ts'

/**
 * SensHagen native payload v1: one message = one device, one observed time, several quantities.
 * Published on `senshagen/v1/devices/{device}/readings` (core/topics.ts). The JSON Schema generated from
 * this definition is committed as docs/native-payload-v1.schema.json (test/unit/native-payload.test.ts keeps
 * the two equal).
 *
 * ```json
 * {"v":1,"device":"garden-017","time":"2026-11-29T18:00:00.000Z","sensor":"BME280",
 *  "readings":{"air_temperature":7.4,"relative_humidity":88.1,"air_pressure":1012.6}}
 * ```
 *
 * - `readings` maps a quantity name (core/quantities.ts) to a JSON number in that quantity's canonical unit,
 *   or `null` when the sensor reported no value (stored as a `missing` rejection, so gaps are visible).
 *   Each value is validated on its own: one bad value never drops the others.
 * - `time`: RFC 3339 with a zone (`Z` or `±hh:mm`) or epoch milliseconds; absent = receipt time is used.
 * - `device`: optional, must equal the topic's `{device}` when present.
 * - `units`: optional, quantity → unit of that value when it is not the canonical one (`{"air_pressure":"Pa"}`);
 *   the ingest converts it (core/units.ts) and keeps the source unit and raw value on the reading.
 */
export const NativePayloadV1Schema = z
  .object({
    v: z.literal(1).describe('payload version'),
    device: DeviceIdSchema.optional().describe('device id; must equal the topic level when present'),
    time: z
      .union([z.string(), z.number().int().nonnegative()])
      .optional()
      .describe('observed time: RFC 3339 with zone, or epoch milliseconds; absent = receipt time'),
    sensor: z.string().min(1).max(64).optional().describe('sensor model, e.g. SDS011, BME280'),
    readings: z
      .record(z.string(), z.union([z.number(), z.null()]))
      .describe('quantity name -> value in the canonical unit, or null when the sensor gave none'),
    units: z
      .record(z.string(), z.string())
      .optional()
      .describe('quantity name -> unit the value is in, when it is not the canonical one (e.g. {"air_pressure":"Pa"})'),
  })
  .describe('SensHagen native payload v1')

export type NativePayloadV1 = z.infer<typeof NativePayloadV1Schema>

/** The JSON Schema (draft 2020-12) of native payload v1. */
export function nativePayloadJsonSchema(): unknown {
  return z.toJSONSchema(NativePayloadV1Schema, { io: 'input' })
}
