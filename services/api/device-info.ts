import type { Quantity } from '../../core/quantities.ts'
import type { PublicDevice } from '../../core/registry/registry.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { formatIsoMs } from '../../core/time.ts'
import { CALIBRATION_FIELDS, type LabelledUncertainty, windowCalibration } from './window-quality.ts'

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
 * Over all time, per device and quantity: the last reading (store.lastReadings), the last sensor named and the
 * last calibration method (store.readingLabels). Errors: those of the store.
 */
export async function deviceInfos(store: Pick<ReadingStore, 'lastReadings' | 'readingLabels'>, devices: readonly PublicDevice[]): Promise<DeviceInfo[]> {
  const activity = new Map<string, { quantities: Set<Quantity>; models: Set<string>; lastSeen: number | null; methods: Partial<Record<Quantity, string>> }>()
  for (const d of devices) activity.set(d.id, { quantities: new Set(), models: new Set(), lastSeen: null, methods: {} })
  if (devices.length > 0) {
    const selection = { devices: devices.map((d) => d.id) }
    for (const last of await store.lastReadings(selection)) {
      const a = activity.get(last.deviceId)
      if (!a) continue
      a.quantities.add(last.quantity)
      a.lastSeen = Math.max(a.lastSeen ?? last.time, last.time)
    }
    for (const labels of await store.readingLabels(selection)) {
      const a = activity.get(labels.deviceId)
      if (a && labels.sensor !== undefined) a.models.add(labels.sensor)
      if (a && labels.calibrationMethod !== undefined) a.methods[labels.quantity] = labels.calibrationMethod
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
  /** Of the unflagged readings only. */
  rawMean: number | null
  rawCount: number
  calibratedMean: number | null
  calibratedCount: number
  /** Label and uncertainty of calibratedMean (services/api/window-quality.ts windowCalibration). */
  calibration: LabelledUncertainty
  /** Readings in the window that carry a quality flag (core/quality.ts), left out of the means above. */
  flaggedCount: number
}

/**
 * Per device and quantity: mean and count of `value` and of `calibrated` in [from, to), with the label and
 * uncertainty of the calibrated mean, quality-flagged readings left out (`flags = ''`) but counted in
 * `flaggedCount`; a device whose every reading was flagged has a row with counts 0 and its flaggedCount. Two
 * queries (unflagged readings, all readings). Errors: those of store.aggregateReadings.
 */
export async function deviceWindowStats(
  store: Pick<ReadingStore, 'aggregateReadings'>,
  devices: readonly string[],
  quantities: readonly Quantity[],
  from: number,
  to: number,
): Promise<DeviceWindowStats[]> {
  if (devices.length === 0) return []
  const [unflagged, all] = await Promise.all([
    store.aggregateReadings({ devices, quantities, from, to, unflaggedOnly: true, fields: ['value', 'calibrated', ...CALIBRATION_FIELDS], perDevice: true }),
    store.aggregateReadings({ devices, quantities, from, to, fields: ['value'], perDevice: true }),
  ])
  const key = (deviceId: string | undefined, quantity: Quantity) => `${deviceId ?? ''} ${quantity}`
  const stats = new Map(unflagged.map((g) => [key(g.deviceId, g.quantity), g]))
  return all.map(({ deviceId, quantity, stats: every }) => {
    const s = stats.get(key(deviceId, quantity))?.stats ?? {}
    const rawCount = s.value?.count ?? 0
    return {
      device: deviceId ?? '',
      quantity,
      rawMean: s.value?.mean ?? null,
      rawCount,
      calibratedMean: s.calibrated?.mean ?? null,
      calibratedCount: s.calibrated?.count ?? 0,
      calibration: windowCalibration(s),
      flaggedCount: (every.value?.count ?? 0) - rawCount,
    }
  })
}
