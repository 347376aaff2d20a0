import type { Command } from 'commander'
import { Presets, SingleBar } from 'cli-progress'
import { openRegistryStore } from '../../core/registry/open.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { calibratePeriod, type RunCounts, runCounts } from '../../services/calibration/calibrator.ts'
import { calibrationRole } from '../../services/calibration/group.ts'
import { calibratorOptions } from '../../services/calibration/main.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/**
 * The summary line of a run: `<considered> series considered, <calibrated> calibrated, <written> points written,
 * <cleared> points cleared` (counts defined at RunCounts, services/calibration/calibrator.ts).
 */
export function countsLine(c: RunCounts): string {
  return `${c.considered} series considered, ${c.calibrated} calibrated, ${c.written} points written, ${c.cleared} points cleared`
}

/**
 * `senshagen calibrate --from T --to T [--device D]`: recalculates a period, with a progress bar. Temperature and
 * humidity are fitted on the SENSHAGEN_CALIBRATION_FIT_DAYS days before --to (or the whole period when longer) and
 * applied to the period. Reads the
 * device registry (SENSHAGEN_DEVICE_REGISTRY): only registered, active devices are calibrated and only consented
 * ones shape the group factors (services/calibration/group.ts); the others are named in one warning on stderr.
 */
export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description('calibrate stored readings of a period against the reference stations; writes calibrated values and reports')
    .requiredOption('--from <time>', 'start (required): ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -2d')
    .requiredOption('--to <time>', 'end (required), exclusive')
    .option('--device <id>', 'only this device (the group method still uses the whole group of registered, consented devices)')
    .option('--no-progress', 'no progress bar')
    .action(async (options: { from: string; to: string; device?: string; progress: boolean }) => {
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
          const results = await calibratePeriod(store, registry, calibratorOptions(config), {
            from,
            to,
            deviceId: options.device,
            onProgress: (done, total, label) => {
              if (!bar) return
              if (!started) bar.start(total, 0, { label })
              started = true
              bar.update(done, { label })
            },
          }, logger)
          bar?.stop()
          for (const r of results) {
            const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-')
            const notes = r.notes?.length ? `; ${r.notes.join('; ')}` : ''
            process.stdout.write(`${r.deviceId} ${r.quantity}: ${r.method} v${r.version} vs ${r.referenceStation}, RMSE ${f(r.before.rmse)} -> ${f(r.after.rmse)}, bias ${f(r.before.mbe)} -> ${f(r.after.mbe)} (n=${r.after.n}), ${r.points.written} points written, ${r.points.cleared} cleared${notes}\n`)
          }
          if (options.device !== undefined && results.length === 0) process.stderr.write(`senshagen: no readings of '${options.device}' to calibrate in that period\n`)
          process.stderr.write(`${countsLine(runCounts(results))}; reports in ${config.calibration.reportsDir}/\n`)
        }
      } catch (error) {
        bar?.stop()
        problem = (error as Error).message
      } finally {
        await registry?.close()
      }
      if (problem !== undefined) fail(problem)
    })
}
