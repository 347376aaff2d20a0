import { Presets, SingleBar } from 'cli-progress'
import { openRegistryStore } from '../../../core/registry/open.ts'
import type { RegistryStore } from '../../../core/registry/store.ts'
import { openInfluxStore } from '../../../core/store/influx.ts'
import type { CalibrationResult } from '../../../core/calibration/types.ts'
import { QUANTITIES } from '../../../core/quantities.ts'
import { influxFitStore } from '../../../core/calibration/fits.ts'
import { calibratePeriod, fitCounts, type RunCounts, runCounts, type SeriesResult } from '../../../services/calibration/calibrator.ts'
import { calibrationRole } from '../../../services/calibration/group.ts'
import { calibratorOptions } from '../../../services/calibration/main.ts'
import { cliContext, fail, timeRange } from '../../context.ts'

export interface CalibrateOptions {
  from: string
  to: string
  device?: string
  refit?: boolean
  progress: boolean
}

/** `senshagen calibrate` (cli/commands/calibrate.ts): recalculates the period with a progress bar, one line per series. */
export async function runCalibrate(options: CalibrateOptions): Promise<void> {
  const { config, logger } = cliContext()
  const { from, to } = timeRange(options.from, options.to)
  const bar = options.progress && process.stderr.isTTY ? new SingleBar({ format: ' calibrating [{bar}] {value}/{total} {label}', stream: process.stderr }, Presets.shades_classic) : undefined
  let registry: RegistryStore | undefined
  let problem: string | undefined
  try {
    const store = await openInfluxStore(config.influx, logger)
    registry = await openRegistryStore(config.registry)
    const role = options.device === undefined ? undefined : calibrationRole(await registry.device(options.device))
    if (role === 'unregistered') problem = `device '${options.device}' is not registered, so it is not calibrated (senshagen devices add|import)`
    else if (role === 'revoked') problem = `device '${options.device}' is revoked, so it is not calibrated`
    else {
      let started = false
      const results = await calibratePeriod(store, registry, { ...calibratorOptions(config), fitStore: influxFitStore(store) }, {
        from,
        to,
        deviceId: options.device,
        refit: options.refit === true,
        onProgress: (done, total, label) => {
          if (!bar) return
          if (!started) bar.start(total, 0, { label })
          started = true
          bar.update(done, { label })
        },
      }, logger)
      bar?.stop()
      for (const r of results) process.stdout.write(`${resultLine(r)}\n`)
      if (options.device !== undefined && results.length === 0) process.stderr.write(`senshagen: no readings of '${options.device}' to calibrate in that period\n`)
      process.stderr.write(`${fitLine(results)}\n${countsLine(runCounts(results))}; reports in ${config.calibration.reportsDir}/\n`)
    }
  } catch (error) {
    bar?.stop()
    problem = (error as Error).message
  } finally {
    await registry?.close()
  }
  if (problem !== undefined) fail(problem)
}

/**
 * The summary line of a run: `<considered> series considered, <calibrated> calibrated, <written> points written,
 * <cleared> points cleared` (counts defined at RunCounts, services/calibration/calibrator.ts).
 */
export function countsLine(c: RunCounts): string {
  return `${c.considered} series considered, ${c.calibrated} calibrated, ${c.written} points written, ${c.cleared} points cleared`
}

/**
 * Whether the run fitted or reused stored fits: `fitted now: N series` and/or `reused a fit of <ISO time>: M series`
 * (the oldest reused fit's time), joined by `; `; `no fit: nothing calibrated` when neither.
 */
export function fitLine(results: readonly SeriesResult[]): string {
  const c = fitCounts(results)
  const parts = [
    ...(c.fitted > 0 ? [`fitted now: ${c.fitted} series`] : []),
    ...(c.reusedFittedAt !== undefined ? [`reused a fit of ${new Date(c.reusedFittedAt).toISOString()}: ${c.reused} series`] : []),
  ]
  return parts.length > 0 ? parts.join('; ') : 'no fit: nothing calibrated'
}

/**
 * One result as a line: label first (core/calibration/uncertainty.ts; `uncalibrated` when nothing was written),
 * its uncertainty, then the metrics on held-out hours (the improvement) and in-sample for comparison, and notes.
 * e.g. `g-1 pm2_5: indicative, U 6.1 µg/m³ = 24.4 % at 25 µg/m³ (daily, n=21), capture 97.2 %; pm-group-ratio v2 vs
 * NL10818; held out: RMSE 9.412 -> 2.113, bias 6.003 -> 0.212 (n=480); in-sample RMSE 9.4 -> 1.9, 1440 points written,
 * 0 cleared; fitted now on 2026-05-01T00:00:00.000Z – 2026-05-22T00:00:00.000Z` (or `reused fit of <time> on …`). The
 * point counts and the fit are those of a worker run (services/calibration/calibrator.ts SeriesResult).
 */
export function resultLine(r: CalibrationResult & Partial<Pick<SeriesResult, 'points'>>): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-')
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`
  const { unit } = QUANTITIES[r.quantity]
  const u = r.uncertainty
  let label = 'uncalibrated'
  if (u) {
    const size = u.expandedUncertainty === null ? 'U not computed' : `U ${u.expandedUncertainty.toFixed(2)} ${unit}`
    const relative = u.objective && u.relativeExpandedUncertainty !== null ? ` = ${pct(u.relativeExpandedUncertainty)} at ${u.objective.limitValue} ${unit}` : ''
    label = `${u.label}, ${size}${relative} (${u.averaging === 'day' ? 'daily' : 'hourly'}, n=${u.n}), capture ${pct(u.dataCapture)}`
  }
  const held = r.heldOut ? `held out: RMSE ${f(r.heldOut.before.rmse)} -> ${f(r.heldOut.after.rmse)}, bias ${f(r.heldOut.before.mbe)} -> ${f(r.heldOut.after.mbe)} (n=${r.heldOut.after.n})` : 'held out: too few hours'
  const notes = [...(u?.reasons ?? []), ...(r.notes ?? [])]
  const fit = r.fit ? `; ${r.fit.reused ? `reused fit of ${new Date(r.fit.fittedAt).toISOString()}` : 'fitted now'} on ${new Date(r.fit.from).toISOString()} – ${new Date(r.fit.to).toISOString()}` : ''
  return `${r.deviceId} ${r.quantity}: ${label}; ${r.method} v${r.version} vs ${r.referenceStation}; ${held}; in-sample RMSE ${f(r.before.rmse)} -> ${f(r.after.rmse)} (n=${r.after.n})${r.points ? `, ${r.points.written} points written, ${r.points.cleared} cleared` : ''}${fit}${notes.length ? `; ${notes.join('; ')}` : ''}`
}
