import { isQuantity, type Quantity } from '../../core/quantities.ts'
import type { PublicDevice } from '../../core/registry/registry.ts'
import { READING_MEASUREMENT, influxqlString } from '../../core/store/schema.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { formatIsoMs } from '../../core/time.ts'
import { devicesCondition, timeCondition } from './readings-query.ts'

/**
 * What the API says about public devices, from measurement `reading`: quantities measured, sensor models
 * (field `sensor`), last reading, calibration methods (field `calibration_method`, written by the calibration
 * worker). The location is the registry's coarsened one; nothing else about the household is stored.
 */
export interface DeviceInfo {
  id: string
  neighbourhood: string
  location: { lat: number; lon: number; precisionM: number }
  sensorModels: string[]
  quantities: Quantity[]
  /** ISO-8601 UTC with ms, or null when nothing was ever stored. */
  lastSeen: string | null
  calibration: { status: 'calibrated' | 'uncalibrated'; methods: Partial<Record<Quantity, string>> }
}

/**
 * DeviceInfo for each of `devices` (public ones only: callers take them from the registry), in their order.
 * Three InfluxQL statements over all time, per device and quantity: last(value), the last sensor named
 * (last(sensor) where not ""), last(calibration_method). Errors: those of store.influxql.
 */
export async function deviceInfos(store: Pick<ReadingStore, 'influxql'>, devices: readonly PublicDevice[]): Promise<DeviceInfo[]> {
  const activity = new Map<string, { quantities: Set<Quantity>; models: Set<string>; lastSeen: number | null; methods: Partial<Record<Quantity, string>> }>()
  for (const d of devices) activity.set(d.id, { quantities: new Set(), models: new Set(), lastSeen: null, methods: {} })
  if (devices.length > 0) {
    const where = ` WHERE ${devicesCondition(devices.map((d) => d.id))} GROUP BY "device", "quantity"`
    for (const s of await store.influxql(`SELECT last("value") FROM ${READING_MEASUREMENT}${where}`)) {
      const a = activity.get(s.tags?.device ?? '')
      const quantity = s.tags?.quantity ?? ''
      const time = s.values[0]?.[0]
      if (!a || !isQuantity(quantity) || typeof time !== 'number') continue
      a.quantities.add(quantity)
      a.lastSeen = Math.max(a.lastSeen ?? time, time)
    }
    // `sensor` is "" on readings whose source named none (core/store/schema.ts): the last model named, not the last reading's
    const sensorWhere = ` WHERE ${devicesCondition(devices.map((d) => d.id))} AND "sensor" != '' GROUP BY "device", "quantity"`
    for (const s of await store.influxql(`SELECT last("sensor") FROM ${READING_MEASUREMENT}${sensorWhere}`)) {
      const sensor = s.values[0]?.[1]
      if (typeof sensor === 'string' && sensor !== '') activity.get(s.tags?.device ?? '')?.models.add(sensor)
    }
    for (const s of await store.influxql(`SELECT last("calibration_method") FROM ${READING_MEASUREMENT}${where}`)) {
      const a = activity.get(s.tags?.device ?? '')
      const quantity = s.tags?.quantity ?? ''
      const method = s.values[0]?.[1]
      if (a && isQuantity(quantity) && typeof method === 'string' && method !== '') a.methods[quantity] = method
    }
  }
  return devices.map((d) => {
    const a = activity.get(d.id)!
    return {
      id: d.id,
      neighbourhood: d.neighbourhood,
      location: { lat: d.location.lat, lon: d.location.lon, precisionM: d.location.precisionM },
      sensorModels: [...a.models].sort(),
      quantities: [...a.quantities].sort(),
      lastSeen: a.lastSeen === null ? null : formatIsoMs(a.lastSeen),
      calibration: { status: Object.keys(a.methods).length > 0 ? 'calibrated' : 'uncalibrated', methods: a.methods },
    }
  })
}

/** One device's hourly statistics for GET /neighbourhoods/:id/now. */
export interface DeviceWindowStats {
  device: string
  quantity: Quantity
  rawMean: number | null
  rawCount: number
  calibratedMean: number | null
  calibratedCount: number
}

/**
 * Per device and quantity: mean and count of `value` and of `calibrated` in [from, to), quality-flagged readings
 * left out (`flags = ''`). Errors: those of store.influxql.
 */
export async function deviceWindowStats(
  store: Pick<ReadingStore, 'influxql'>,
  devices: readonly string[],
  quantities: readonly Quantity[],
  from: number,
  to: number,
): Promise<DeviceWindowStats[]> {
  if (devices.length === 0) return []
  const statement =
    `SELECT mean("value"), count("value"), mean("calibrated"), count("calibrated") FROM ${READING_MEASUREMENT}` +
    ` WHERE ${devicesCondition(devices)} AND (${quantities.map((q) => `"quantity" = ${influxqlString(q)}`).join(' OR ')})` +
    ` AND "flags" = '' AND ${timeCondition(from, to)} GROUP BY "device", "quantity"`
  const rows: DeviceWindowStats[] = []
  for (const s of await store.influxql(statement)) {
    const quantity = s.tags?.quantity ?? ''
    const v = s.values[0]
    if (!isQuantity(quantity) || !v) continue
    rows.push({
      device: s.tags?.device ?? '',
      quantity,
      rawMean: (v[1] as number | null) ?? null,
      rawCount: (v[2] as number | null) ?? 0,
      calibratedMean: (v[3] as number | null) ?? null,
      calibratedCount: (v[4] as number | null) ?? 0,
    })
  }
  return rows
}
