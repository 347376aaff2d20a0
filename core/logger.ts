import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Creates the one root logger a process uses (JSON lines on stderr, so stdout stays free for command
 * output such as `senshagen query --format csv`). Services receive it and narrow it with
 * `logger.child({ service })`; nothing logs through a global.
 */
export function createLogger(level: string, name = 'senshagen'): Logger {
  // sync: an asynchronous destination hands each line to libuv's thread pool, and at process.exit its last lines can
  // land after (or without) the ones flushed on exit when the pool is busy: the shutdown log came out as
  // `stopped, writer stopped`. Written synchronously (as Node writes process.stderr to a pipe or file on Linux),
  // every line is on stderr, in order, before the process exits.
  return pino({ name, level }, pino.destination({ dest: 2, sync: true }))
}
