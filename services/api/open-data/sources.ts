import { SC_ARCHIVE_FORMAT } from '../../../core/decoders/sc-archive.ts'
import { SC_DATA_API_FORMAT } from '../../../core/decoders/sc-data-api.ts'

/**
 * Who the open data comes from, and under which licence each part may be reused. A reading's source is decided
 * by the decoder that produced it (field `source` of measurement `reading`, core/store/schema.ts):
 * - `sensor-community`: readings replayed from the sensor.community archive (`sc-archive`) or fetched from its
 *   data API (`sc-data-api`). sensor.community publishes them under the Open Data Commons Database Contents
 *   License 1.0 (the archive index at archive.sensor.community links it; test/fixtures/sensor-community-archive/
 *   SOURCES.md). We pass that licence on and do not relabel the data as ours.
 * - `senshagen`: everything our participants' devices sent (any other decoder), CC BY 4.0, attribution
 *   "SensHagen / Gemeente Zwolle".
 */
export const OPEN_DATA_SOURCES = {
  senshagen: {
    title: 'SensHagen citizen sensors',
    attribution: 'SensHagen / Gemeente Zwolle',
    licence: { name: 'CC-BY-4.0', path: 'https://creativecommons.org/licenses/by/4.0/', title: 'Creative Commons Attribution 4.0 International' },
  },
  'sensor-community': {
    title: 'sensor.community (ex luftdaten.info), replayed into SensHagen',
    attribution: 'sensor.community',
    licence: { name: 'DbCL-1.0', path: 'https://opendatacommons.org/licenses/dbcl/1-0/', title: 'Open Data Commons Database Contents License 1.0' },
  },
} as const

export type OpenDataSource = keyof typeof OPEN_DATA_SOURCES
export const OPEN_DATA_SOURCE_NAMES = Object.keys(OPEN_DATA_SOURCES) as OpenDataSource[]

const SENSOR_COMMUNITY_DECODERS: ReadonlySet<string> = new Set([SC_ARCHIVE_FORMAT, SC_DATA_API_FORMAT])

/** The open-data source of a reading from the decoder that produced it (its `source` field). */
export function sourceOfDecoder(decoder: string | null | undefined): OpenDataSource {
  return decoder !== null && decoder !== undefined && SENSOR_COMMUNITY_DECODERS.has(decoder) ? 'sensor-community' : 'senshagen'
}

export function isOpenDataSource(name: string): name is OpenDataSource {
  return Object.hasOwn(OPEN_DATA_SOURCES, name)
}
