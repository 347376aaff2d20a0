import { z } from 'zod'

/**
 * The data licence of each source the API serves (not the software's, which is MIT):
 * - SensHagen's own devices: CC BY 4.0, attribution "SensHagen / Gemeente Zwolle" (as the open-data export
 *   has said since it was written, services/api/open-data-export.ts).
 * - sensor.community devices (`sc-<sensor_id>`, replayed from its archive or data API): the source's own
 *   licence, Open Data Commons Database Contents License 1.0 (https://sensor.community/en/ and
 *   https://archive.sensor.community/ state it); relabelling it CC BY would misstate it.
 * Responses name the licences of the devices they carry: the `licence` field of JSON bodies and one
 * `Link: <url>; rel="license"` per licence (RFC 4946's link relation).
 */
export const DataLicenceSchema = z.object({
  id: z.string().describe('SPDX identifier'),
  name: z.string(),
  url: z.string(),
  attribution: z.string().describe('credit line to give with the data'),
  source: z.string().describe('the data source it applies to'),
})
export type DataLicence = z.infer<typeof DataLicenceSchema>

export const SENSHAGEN_DATA_LICENCE: DataLicence = {
  id: 'CC-BY-4.0',
  name: 'Creative Commons Attribution 4.0 International',
  url: 'https://creativecommons.org/licenses/by/4.0/',
  attribution: 'SensHagen / Gemeente Zwolle',
  source: 'SensHagen',
}

export const SENSOR_COMMUNITY_LICENCE: DataLicence = {
  id: 'DbCL-1.0',
  name: 'Open Data Commons Database Contents License 1.0',
  url: 'https://opendatacommons.org/licenses/dbcl/1-0/',
  attribution: 'sensor.community',
  source: 'sensor.community',
}

/** The licence of one device's data: sensor.community's for `sc-…` ids, else SensHagen's. */
export function licenceOf(deviceId: string): DataLicence {
  return deviceId.startsWith('sc-') ? SENSOR_COMMUNITY_LICENCE : SENSHAGEN_DATA_LICENCE
}

/** The distinct licences of these devices' data, SensHagen's first; SensHagen's alone for none. */
export function licencesOf(deviceIds: readonly string[]): DataLicence[] {
  const ids = new Set(deviceIds.map((d) => licenceOf(d).id))
  const all = [SENSHAGEN_DATA_LICENCE, SENSOR_COMMUNITY_LICENCE].filter((l) => ids.has(l.id))
  return all.length === 0 ? [SENSHAGEN_DATA_LICENCE] : all
}

/** `Link` header value: one `rel="license"` link per licence. */
export function licenceLinks(licences: readonly DataLicence[]): string {
  return licences.map((l) => `<${l.url}>; rel="license"; title="${l.id}"`).join(', ')
}
