/**
 * The error taxonomy (after kafkajs `src/errors.js`): every error says whether trying again can help.
 * `withRetry` (core/retry.ts) decides from `retriable` alone.
 */
export class SensHagenError extends Error {
  readonly retriable: boolean
  readonly context: Record<string, unknown>

  constructor(message: string, options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause })
    this.name = new.target.name
    this.retriable = options.retriable ?? false
    this.context = options.context ?? {}
  }
}

/** A store (InfluxDB), bus (Kafka) or broker that is unreachable or overloaded: retriable. */
export class UnavailableError extends SensHagenError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { ...options, retriable: true })
  }
}

/** A request the server refused for good (bad line protocol, field type conflict, auth): not retriable. */
export class RefusedError extends SensHagenError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { ...options, retriable: false })
  }
}

/** Invalid configuration, raised at start-up with the offending setting named. */
export class ConfigError extends SensHagenError {}

export function isRetriable(error: unknown): boolean {
  return error instanceof SensHagenError ? error.retriable : false
}
