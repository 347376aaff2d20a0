import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Creates the one root logger a process uses (JSON lines on stderr, so stdout stays free for command
 * output such as `senshagen query --format csv`). Services receive it and narrow it with
 * `logger.child({ service })`; nothing logs through a global.
 */
export function createLogger(level: string, name = 'senshagen'): Logger {
  return pino({ name, level }, pino.destination(2))
}
