import { randomBytes } from 'node:crypto'
import { loadConfig, type Config } from '../../core/config.ts'

/** Endpoints of the real services `npm run infra:up` starts (infra/up.sh). */
export const INFLUX_URL = process.env.SENSHAGEN_INFLUX_URL ?? 'http://127.0.0.1:8086'
export const KAFKA_BROKERS = process.env.SENSHAGEN_KAFKA_BROKERS ?? '127.0.0.1:9092'
export const MOSQUITTO_URL = `mqtt://127.0.0.1:${process.env.SENSHAGEN_MOSQUITTO_PORT ?? '1884'}`

/** A short random suffix so every test has its own database, topics, group and client ids. */
export function uniqueId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

/**
 * Environment variables for one isolated test stack: own InfluxDB database, Kafka topic prefix, consumer
 * group, ingest client id and broker ports (0 = any free port unless given).
 */
export function isolatedEnv(id: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    SENSHAGEN_LOG_LEVEL: 'warn',
    SENSHAGEN_INFLUX_URL: INFLUX_URL,
    SENSHAGEN_INFLUX_DATABASE: id,
    SENSHAGEN_KAFKA_TOPIC_PREFIX: id,
    SENSHAGEN_KAFKA_GROUP: `${id}-writer`,
    SENSHAGEN_KAFKA_CLIENT_ID: id,
    SENSHAGEN_INGEST_CLIENT_ID: `${id}-ingest`,
    SENSHAGEN_MQTT_PORT: '0',
    SENSHAGEN_MQTT_WS_PORT: '0',
    SENSHAGEN_HTTP_PORT: '0',
    SENSHAGEN_METRICS_PORT: '0',
    ...overrides,
  }
}

export function isolatedConfig(id: string, overrides: Record<string, string> = {}): Config {
  return loadConfig(isolatedEnv(id, overrides))
}

/** Polls `check` every `intervalMs` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, intervalMs = 200): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  while (Date.now() < deadline) {
    last = await check()
    if (last) return last as NonNullable<T>
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`)
}
