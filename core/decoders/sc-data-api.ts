import { parseIsoTimestamp } from '../time.ts'
import { SC_METADATA, SC_VALUE_TYPES, scValue, type ArchiveRecord, type ArchiveRowRejection } from './sc-archive.ts'

/**
 * sensor.community data-API JSON (data.sensor.community `/airrohr/v1/…`, `/static/v2/data.json`): an array of
 * measurements, e.g.
 * `[{"id":…,"timestamp":"2024-01-15 10:28:30","location":{…},"sensor":{"id":90002,"pin":"1",
 *   "sensor_type":{"name":"SDS011"}},"sensordatavalues":[{"value_type":"P1","value":"12.47"}]}]`
 * Timestamps are UTC with a space and no zone; values and coordinates are strings (device-formats research
 * §1c). Device `sc-<sensor.id>`, the same id as in the archive files; value types as in the archive
 * (SC_VALUE_TYPES: P1 is PM10, pressure in Pa). Locations are not used (a garden's position is personal data).
 *
 * Produces the same records as the archive CSV, so `senshagen replay` sends both the same way.
 * `line` is the 1-based index of the entry in the array.
 */
export const SC_DATA_API_FORMAT = 'sc-data-api'

export function parseDataApiJson(text: string): { records: ArchiveRecord[]; rejections: ArchiveRowRejection[] } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return { records: [], rejections: [{ line: 0, rule: 'schema', message: `not JSON: ${(error as Error).message}`, raw: text.slice(0, 1000) }] }
  }
  const entries = Array.isArray(json) ? json : [json]
  const records: ArchiveRecord[] = []
  const rejections: ArchiveRowRejection[] = []
  entries.forEach((entry: unknown, index) => {
    const line = index + 1
    const reject = (message: string, rule: ArchiveRowRejection['rule'] = 'schema') =>
      rejections.push({ line, rule, message: `entry ${line}: ${message}`, raw: entryText(entry) })
    if (!isObject(entry)) return reject('is not an object')
    const sensor = isObject(entry.sensor) ? entry.sensor : undefined
    const sensorId = sensor?.id
    if (typeof sensorId !== 'number' && typeof sensorId !== 'string') return reject('sensor.id is missing')
    if (!/^\d+$/.test(String(sensorId))) return reject(`sensor.id '${String(sensorId)}' is not a number`)
    if (typeof entry.timestamp !== 'string') return reject('timestamp is missing')
    const time = parseIsoTimestamp(entry.timestamp, { assumeZone: 'UTC' })
    if (!time.ok) return reject(`timestamp '${entry.timestamp}' ${time.message}`, time.rule === 'time_zone' ? 'time_zone' : 'schema')
    if (!Array.isArray(entry.sensordatavalues)) return reject('sensordatavalues is not an array')
    const sensorType = isObject(sensor?.sensor_type) ? sensor.sensor_type.name : undefined
    const readings: ArchiveRecord['readings'] = {}
    const units: ArchiveRecord['units'] = {}
    for (const value of entry.sensordatavalues) {
      if (!isObject(value) || typeof value.value_type !== 'string') continue
      if (SC_METADATA.has(value.value_type)) continue
      const mapped = SC_VALUE_TYPES[value.value_type]
      const name = mapped?.quantity ?? value.value_type // unknown names go on, to be dead-lettered by the ingest
      readings[name] = typeof value.value === 'number' ? value.value : scValue(typeof value.value === 'string' ? value.value : '')
      if (mapped?.unit) units[mapped.quantity] = mapped.unit
    }
    records.push({ line, deviceId: `sc-${sensorId}`, sensorModel: typeof sensorType === 'string' ? sensorType : 'unknown', observedAt: time.ms, readings, units })
  })
  return { records, rejections }
}

/**
 * An entry as JSON text for its rejection. JSON.parse reads any depth, but JSON.stringify recurses and throws a
 * RangeError on an entry nested thousands of levels deep (found by test/fuzz): that entry keeps a note instead, so
 * one pathological entry cannot abort the replay of the whole file.
 */
function entryText(entry: unknown): string {
  try {
    return JSON.stringify(entry) ?? String(entry)
  } catch (error) {
    return `(entry not kept: ${(error as Error).message})`
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
