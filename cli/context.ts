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
 * signal; core/drain.ts) and exits 0 after a last info line `stopped`, or 1 when stopping failed (logged at error). Used by the long-running commands (up, broker,
 * ingest, writer, sim). A second signal ends the process at once (Node's default action; nothing more drains).
 */
export function runUntilSignal(logger: Logger, stop: (deadline: Deadline) => Promise<void>, drainTimeoutMs = 0): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.info({ signal, drainTimeoutMs }, 'stopping')
    const startedAt = Date.now()
    stop(deadlineIn(drainTimeoutMs)).then(
      () => {
        logger.info({ signal, ms: Date.now() - startedAt }, 'stopped')
        process.exit(0)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
}

/**
 * Runs one component's `stop` and logs `<component> stopped` at info level with how long it took (ms), so the
 * shutdown log shows each component of a process (`senshagen up`: api, calibration, fleet health, broker,
 * ingest, writer) leaving in order. Errors: `stop`'s, not logged here (runUntilSignal logs them).
 */
export async function stopComponent(logger: Logger, component: string, stop: () => Promise<unknown>): Promise<void> {
  const startedAt = Date.now()
  await stop()
  logger.info({ component, ms: Date.now() - startedAt }, `${component} stopped`)
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
