import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { healthWebhookFailures, lastSeenAt, trackFleet } from '../../core/metrics.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { OutageLog, withRetry } from '../../core/retry.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { RunningBroker } from '../broker/broker.ts'
import { watchPresence } from './presence.ts'
import { FleetHealthTracker } from './tracker.ts'
import { HealthWebhook } from './webhook.ts'

export interface RunningFleetHealth {
  /** Resolves once the tracker read its state back and checked once (rejects only when stopped before). */
  ready: Promise<FleetHealthTracker>
  webhook?: HealthWebhook
  stop(): Promise<void>
}

/**
 * Fleet health beside the embedded broker (`senshagen up`, `senshagen broker`): a FleetHealthTracker on its own
 * InfluxDB connection (config.influx) with config.health's thresholds, fed by the broker's device connections
 * (presence.ts), counting registered devices from `registry`, reported in senshagen_devices, and POSTing every
 * transition to config.health.webhookUrl when set (webhook.ts).
 *
 * Returns at once and starts in the background, so the broker never waits for it: a broker in Kafka mode
 * does not need InfluxDB to accept devices, and fleet health must not change that. Until InfluxDB answers, the
 * start is retried (1 s doubling to 30 s, logged once per outage at warn, core/retry.ts OutageLog); devices
 * connected by then are reported online when it starts. `stop` ends it, started or not.
 */
export function runFleetHealth(config: Config, parentLogger: Logger, broker: Pick<RunningBroker, 'aedes' | 'deviceOf'>, registry?: RegistryStore): RunningFleetHealth {
  const logger = parentLogger.child({ service: 'fleet-health' })
  const webhook = config.health.webhookUrl === undefined ? undefined : new HealthWebhook({ url: config.health.webhookUrl, failures: healthWebhookFailures }, logger)
  const controller = new AbortController()
  const outage = new OutageLog(logger, 'fleet-health start (InfluxDB)')
  const stops: Array<() => unknown> = []
  const attempt = async () => {
    const store = await openInfluxStore(config.influx, logger)
    // a first start in Kafka mode may come before the writer created the database
    await store.ensureDatabase()
    const tracker = new FleetHealthTracker({
      store,
      settings: config.health,
      logger,
      onTransition: webhook && ((event) => webhook.notify(event)),
      knownDevices: registry && (async () => (await registry.devices()).filter((d) => d.revokedAt === undefined).map((d) => d.id)),
      seenHere: lastSeenAt,
    })
    const unwatch = watchPresence(broker.aedes, broker.deviceOf, (deviceId, state, at, detail) => tracker.connection(deviceId, state, at, detail))
    try {
      await tracker.start()
    } catch (error) {
      unwatch()
      await tracker.close().catch(() => {})
      throw error
    }
    const untrack = trackFleet(() => tracker.freshCounts())
    stops.push(untrack, unwatch, () => tracker.close(), () => store.close())
    outage.recovered()
    logger.info({ staleAfterMs: config.health.staleAfterMs, stuckAfterMs: config.health.stuckAfterMs, checkMs: config.health.checkMs, webhook: webhook !== undefined }, 'fleet health tracking')
    return tracker
  }
  const ready = withRetry(attempt, {
    initialDelayMs: 1_000,
    maxDelayMs: 30_000,
    maxAttempts: Infinity,
    signal: controller.signal,
    onRetry: (error, attempts) => outage.failed({ err: error, attempts }, 'fleet health cannot start yet'),
  })
  ready.catch((error: unknown) => {
    if (!controller.signal.aborted) logger.error({ err: error }, 'fleet health not running: its start failed for good')
  })
  return {
    ready,
    webhook,
    async stop() {
      controller.abort()
      await ready.catch(() => {})
      for (const step of stops) await step()
      await webhook?.close()
    },
  }
}
