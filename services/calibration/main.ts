import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { calibrationSucceeded } from '../../core/metrics.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { stationDistances } from '../../core/reference/stations.ts'
import { influxFitStore } from '../../core/calibration/fits.ts'
import { calibratePeriod, type CalibratorOptions, fitCounts, runCounts } from './calibrator.ts'

const HOUR = 3_600_000

export function calibratorOptions(config: Config): CalibratorOptions {
  const c = config.calibration
  return {
    pmStation: c.pmStation,
    weatherStation: c.weatherStation,
    stationDistanceKm: stationDistances(c.site, [c.pmStation, c.weatherStation]),
    collocated: c.collocated,
    completeness: c.completeness,
    reportsDir: c.reportsDir,
    fitDays: c.fitDays,
    refitHours: c.refitHours,
    pmGroups: c.pmGroups,
  }
}

export interface CalibrationWorkerDeps {
  /** The device registry; default: opened with openRegistryStore(config.registry) and closed on stop. */
  registry?: RegistryStore
}

/**
 * Calibration service: once at start and then every hour at minute 5 (reference data for the hour just ended
 * is usually published by then), applies the stored fits (InfluxDB `calibration_fits`, core/calibration/fits.ts)
 * to the last SENSHAGEN_CALIBRATION_WINDOW_H hours, refitting every method on the last
 * SENSHAGEN_CALIBRATION_FIT_DAYS days first when a device has no fit whose window ended within
 * SENSHAGEN_CALIBRATION_REFIT_HOURS (services/calibration/calibrator.ts: fit window and apply window), and
 * clears the calibrated fields of points that no longer get a value. Recalculating is idempotent (the same
 * points get the same fields), so overlapping windows are harmless.
 *
 * Each run reads the device registry: only registered, active devices are calibrated, and only consented ones
 * shape the group factors (services/calibration/group.ts says why). A registry passed in `deps` stays open on
 * stop; one the worker opened itself is closed.
 */
export async function runCalibrationWorker(config: Config, parentLogger: Logger, deps: CalibrationWorkerDeps = {}): Promise<{ stop(): Promise<void> }> {
  const logger = parentLogger.child({ service: 'calibration' })
  const store = await openInfluxStore(config.influx, logger)
  await store.ensureDatabase()
  const registry = deps.registry ?? (await openRegistryStore(config.registry))
  const options = { ...calibratorOptions(config), fitStore: influxFitStore(store) }
  let running: Promise<unknown> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const tick = () => {
    const to = Math.floor(Date.now() / HOUR) * HOUR
    const from = to - config.calibration.windowHours * HOUR
    running = calibratePeriod(store, registry, options, { from, to }, logger).then(
      (results) => {
        calibrationSucceeded()
        logger.info({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), fitDays: options.fitDays, refitHours: options.refitHours, ...runCounts(results), ...fitCounts(results) }, 'calibration run done')
      },
      (error: unknown) => logger.error({ err: error }, 'calibration run failed; the next run retries'),
    )
    const next = (Math.floor(Date.now() / HOUR) + 1) * HOUR + 5 * 60_000
    timer = setTimeout(tick, next - Date.now())
  }
  tick()
  logger.info({ windowHours: config.calibration.windowHours, pmStation: options.pmStation, weatherStation: options.weatherStation }, 'calibration running')
  return {
    async stop() {
      clearTimeout(timer)
      await running
      if (deps.registry === undefined) await registry.close()
      await store.close()
    },
  }
}
