import { loadConfig, type Config } from '../core/config.ts'
import { deadlineIn, type Deadline } from '../core/drain.ts'
import { ConfigError } from '../core/errors.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import { parseCliTime } from '../core/time.ts'

export interface CliContext {
  config: Config
  logger: Logger
}

/** Loads configuration from the environment once per command; a ConfigError ends the process with its message. */
export function cliContext(env: Record<string, string | undefined> = process.env): CliContext {
  try {
    const config = loadConfig(env)
    return { config, logger: createLogger(config.logLevel) }
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message)
    throw error
  }
}

/** Prints `message` to stderr and exits with status 1 (2 for usage errors). */
export function fail(message: string, status = 1): never {
  process.stderr.write(`senshagen: ${message}\n`)
  process.exit(status)
}

/**
 * Runs until SIGINT/SIGTERM, then calls `stop` once with the drain deadline (epoch ms, `drainTimeoutMs` after the
 * signal; core/drain.ts) and exits 0, or 1 when stopping failed. Used by the long-running commands (up, broker,
 * ingest, writer, sim). A second signal ends the process at once (Node's default action; nothing more drains).
 */
export function runUntilSignal(logger: Logger, stop: (deadline: Deadline) => Promise<void>, drainTimeoutMs = 0): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.info({ signal, drainTimeoutMs }, 'stopping')
    stop(deadlineIn(drainTimeoutMs)).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
}

/** `--from`/`--to` as epoch ms (see parseCliTime for the accepted forms); a usage error (exit 2) when bad or empty. */
export function timeRange(fromText: string, toText: string): { from: number; to: number } {
  let from = 0
  let to = 0
  try {
    from = parseCliTime(fromText, '--from')
    to = parseCliTime(toText, '--to')
  } catch (error) {
    fail((error as Error).message, 2)
  }
  if (to <= from) fail('--to must be after --from', 2)
  return { from, to }
}
