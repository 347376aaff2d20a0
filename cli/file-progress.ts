import { basename } from 'node:path'
import { Presets, SingleBar } from 'cli-progress'

/** A progress bar per file, on stderr: `onProgress` for an importer's per-file callback, `stop` when done. */
export interface FileProgress {
  /** `done` of `total` `unit` of `file`; a new file stops the previous file's bar and starts its own. */
  onProgress(file: string, done: number, total: number): void
  /** Stops the current bar (again is harmless). */
  stop(): void
}

/**
 * One bar per file (` file [====] 42% | 420/1000 <unit>`), shown only when `enabled` and stderr is a terminal
 * (a pipe or CI log gets none); otherwise both methods do nothing. Used by `senshagen replay` (bytes) and
 * `senshagen reference import` (observations).
 */
export function fileProgress(enabled: boolean, unit: string): FileProgress {
  const bar = enabled && process.stderr.isTTY ? new SingleBar({ format: ` {file} [{bar}] {percentage}% | {value}/{total} ${unit}`, stream: process.stderr }, Presets.shades_classic) : undefined
  let current = ''
  return {
    onProgress(file, done, total) {
      if (!bar) return
      if (file !== current) {
        if (current) bar.stop()
        current = file
        bar.start(total, 0, { file: basename(file) })
      }
      bar.update(done)
    },
    stop: () => bar?.stop(),
  }
}
