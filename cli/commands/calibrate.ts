import type { Command } from 'commander'
import { Presets, SingleBar } from 'cli-progress'
import { openInfluxStore } from '../../core/store/influx.ts'
import { calibratePeriod } from '../../services/calibration/calibrator.ts'
import { calibratorOptions } from '../../services/calibration/main.ts'
import { cliContext, fail, timeRange } from '../context.ts'

/** `senshagen calibrate --from T --to T [--device D]`: recalculates a period, with a progress bar. */
export function registerCalibrateCommand(program: Command): void {
  program
    .command('calibrate')
    .description('calibrate stored readings of a period against the reference stations; writes calibrated values and reports')
    .requiredOption('--from <time>', 'start (required): ISO-8601 with zone, YYYY-MM-DD (UTC), now, or -2d')
    .requiredOption('--to <time>', 'end (required), exclusive')
    .option('--device <id>', 'only this device (the group method still uses the whole group)')
    .option('--no-progress', 'no progress bar')
    .action(async (options: { from: string; to: string; device?: string; progress: boolean }) => {
      const { config, logger } = cliContext()
      const { from, to } = timeRange(options.from, options.to)
      const bar = options.progress && process.stderr.isTTY ? new SingleBar({ format: ' calibrating [{bar}] {value}/{total} {label}', stream: process.stderr }, Presets.shades_classic) : undefined
      try {
        const store = await openInfluxStore(config.influx, logger)
        let started = false
        const results = await calibratePeriod(store, calibratorOptions(config), {
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
          process.stdout.write(`${r.deviceId} ${r.quantity}: ${r.method} v${r.version} vs ${r.referenceStation}, RMSE ${f(r.before.rmse)} -> ${f(r.after.rmse)}, bias ${f(r.before.mbe)} -> ${f(r.after.mbe)} (n=${r.after.n})${notes}\n`)
        }
        if (options.device !== undefined && results.length === 0) process.stderr.write(`senshagen: no readings of '${options.device}' to calibrate in that period\n`)
        const calibrated = results.filter((r) => r.after.n > 0).length
        process.stderr.write(`${calibrated} of ${results.length} series calibrated; reports in ${config.calibration.reportsDir}/\n`)
      } catch (error) {
        bar?.stop()
        fail((error as Error).message)
      }
    })
}
