import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { scatterSvg, type PlotPoint } from '../../core/calibration/plots.ts'
import { fileSafeName } from '../../core/calibration/report.ts'
import type { Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry, type DeviceRegistry } from '../../core/registry/registry.ts'
import { READING_MEASUREMENT } from '../../core/store/schema.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { modelOptions, regionalTruth } from '../../firmware-sim/model.ts'

/**
 * Test data for the residents' page: a registry with Stadshagen and a second neighbourhood, a week of readings
 * (every 10 minutes) from simulated gardens, calibrated values on the PM2.5 and temperature points of the
 * calibrated devices (fields `calibrated`, `calibration_method`, `calibrated_u`, `calibration_label`, as services/calibration/calibrator.ts writes
 * them) and the scatter plot of one calibration report.
 */
export const HOUR = 3_600_000
const STEP = 10 * 60_000
const DAYS = 7

/** Exact (private) garden positions; the API publishes only grid cells. */
export const DEVICES = [
  { id: 'sim-000', location: { lat: 52.5312, lon: 6.0571 }, offset: 0.2, calibrated: true },
  { id: 'sim-001', location: { lat: 52.5268, lon: 6.0534 }, offset: -0.3, calibrated: true },
  { id: 'sim-002', location: { lat: 52.5347, lon: 6.0642 }, offset: 0.5, calibrated: true },
  { id: 'sim-003', location: { lat: 52.5289, lon: 6.0687 }, offset: -0.1, calibrated: true },
  { id: 'sim-004', location: { lat: 52.5241, lon: 6.0598 }, offset: 0.8, calibrated: false },
  { id: 'sim-005', location: { lat: 52.5335, lon: 6.0509 }, offset: -0.6, calibrated: false },
] as const

export const NEIGHBOURHOOD = { id: 'stadshagen', name: 'Stadshagen', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1500 }

/**
 * An archive-like neighbourhood (as `archief` in config/devices.json): two consented devices 800 km apart whose
 * only readings are one day, two years ago. Its name already says more in brackets.
 */
export const ARCHIVE = {
  id: 'archief',
  name: 'Archief (sensor.community, Aberdeen/Stuttgart)',
  municipality: 'sensor.community archive',
  center: { lat: 57.1497, lon: -2.0943 },
  radiusM: 50_000,
}
export const ARCHIVE_DEVICES = [
  { id: 'sc-5331', location: { lat: 57.138, lon: -2.077 }, offset: 0 },
  { id: 'sc-92', location: { lat: 48.8, lon: 9.003 }, offset: 1.5 },
] as const

export function testRegistry(): DeviceRegistry {
  return parseRegistry(
    {
      neighbourhoods: [NEIGHBOURHOOD, { id: 'assendorp', name: 'Assendorp', municipality: 'Zwolle', center: { lat: 52.503, lon: 6.099 }, radiusM: 800 }, ARCHIVE],
      devices: [
        ...DEVICES.map((d) => ({ id: d.id, neighbourhood: 'stadshagen', consent: true, location: d.location })),
        { id: 'sim-099', neighbourhood: 'stadshagen', consent: false, location: { lat: 52.5277, lon: 6.0476 } },
        ...ARCHIVE_DEVICES.map((d) => ({ id: d.id, neighbourhood: ARCHIVE.id, consent: true, location: d.location })),
      ],
    },
    'test/browser/fixtures.ts',
  )
}

const model = modelOptions({ seed: 42 })

/** The simulated sensor values of device `i` at time t (firmware-sim's regional model plus a per-garden offset). */
export function sensorValues(i: number, t: number): Record<'air_temperature' | 'relative_humidity' | 'pm2_5', number> {
  const truth = regionalTruth(model, t)
  const device = DEVICES[i]!
  const pm = (truth.pm25BackgroundUgM3 + truth.pm25EpisodeUgM3) * (1 + 1.5 * (truth.relativeHumidityPct / 100) ** 4)
  return {
    air_temperature: round(truth.airTemperatureC + device.offset, 2),
    relative_humidity: round(Math.min(100, Math.max(0, truth.relativeHumidityPct - 2 * device.offset)), 1),
    pm2_5: round(pm * (1 + device.offset / 10), 1),
  }
}

/** The calibration the fixtures pretend was fitted: PM2.5 divided by a humidity-growth factor, temperature − 0.4 °C. */
export function calibrate(quantity: Quantity, value: number): number {
  return quantity === 'pm2_5' ? round(value / 1.25, 2) : round(value - 0.4, 2)
}

const round = (v: number, digits: number) => Number(v.toFixed(digits))

export function reading(deviceId: string, quantity: Quantity, value: number, time: number): Reading {
  const unit = quantity === 'air_temperature' ? '°C' : quantity === 'relative_humidity' ? '%' : 'µg/m³'
  return {
    deviceId,
    quantity,
    value,
    unit,
    observedAt: time,
    receivedAt: time + 1_000,
    timeSource: 'device',
    sourceFormat: 'senshagen-v1',
    sensorModel: quantity === 'pm2_5' ? 'SDS011' : 'BME280',
    flags: [],
  }
}

/**
 * Writes a week of readings up to `end` (epoch ms) for every fixture device (also the non-consented one, which the
 * page must never show) and the calibrated fields; writes the scatter plot of sim-003's PM2.5 report into
 * `reportsDir`. Returns the number of readings written.
 */
export async function seed(store: ReadingStore, end: number, reportsDir: string): Promise<number> {
  const start = Math.floor((end - DAYS * 24 * HOUR) / STEP) * STEP
  const quantities = ['air_temperature', 'relative_humidity', 'pm2_5'] as const
  let count = 0
  const ids = [...DEVICES.map((d) => d.id), 'sim-099']
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!
    const readings: Reading[] = []
    const calibratedLines: string[] = []
    const calibrated = DEVICES[i]?.calibrated ?? false
    for (let t = start; t < end; t += STEP) {
      const values = sensorValues(Math.min(i, DEVICES.length - 1), t)
      for (const quantity of quantities) {
        readings.push(reading(id, quantity, values[quantity], t))
        if (calibrated && quantity !== 'relative_humidity') {
          const method = quantity === 'pm2_5' ? 'pm-group-ratio' : 'hour-of-day-bias'
          // with the uncertainty (U, k = 2) and label the worker stores: PM2.5 indicative ± 4 µg/m³, temperature experimental ± 0.6 °C
          const [u, label] = quantity === 'pm2_5' ? [4, 'indicative'] : [0.6, 'experimental']
          calibratedLines.push(`${READING_MEASUREMENT},device=${id},quantity=${quantity} calibrated=${calibrate(quantity, values[quantity])},calibration_method="${method}",calibrated_u=${u},calibration_label="${label}" ${t}`)
        }
      }
    }
    await store.write({ readings, rejections: [] })
    if (calibratedLines.length > 0) await store.writeLines(calibratedLines)
    count += readings.length
  }

  // sim-003's PM2.5 report plot, drawn by the same code the calibration worker uses
  const points: PlotPoint[] = []
  for (let t = start + HOUR; t <= end; t += HOUR) {
    const raw = sensorValues(3, t).pm2_5
    const truth = regionalTruth(model, t)
    points.push({ time: t, raw, calibrated: calibrate('pm2_5', raw), reference: round(truth.pm25BackgroundUgM3 + truth.pm25EpisodeUgM3, 1) })
  }
  const dir = join(reportsDir, fileSafeName('sim-003'))
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'pm2_5-scatter.svg'), scatterSvg(points, { deviceId: 'sim-003', quantity: 'pm2_5', referenceStation: 'NL10818', method: 'pm-group-ratio' }))
  return count
}

/** One day of readings (every 10 minutes) up to `end` for each archive device (raw only, as the archive import). */
export async function seedArchive(store: ReadingStore, end: number): Promise<number> {
  const start = Math.floor((end - 24 * HOUR) / STEP) * STEP
  const quantities = ['air_temperature', 'relative_humidity', 'pm2_5'] as const
  let count = 0
  for (const device of ARCHIVE_DEVICES) {
    const readings: Reading[] = []
    for (let t = start; t <= end; t += STEP) {
      const values = sensorValues(0, t)
      for (const quantity of quantities) readings.push(reading(device.id, quantity, round(values[quantity] + (quantity === 'air_temperature' ? device.offset : 0), 2), t))
    }
    await store.write({ readings, rejections: [] })
    count += readings.length
  }
  return count
}
