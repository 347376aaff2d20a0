import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { healthWebhookFailures, lastSeenAt, trackFleet } from '../../core/metrics.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import type { RunningBroker } from '../broker/broker.ts'
import { watchPresence } from './presence.ts'
import { FleetHealthTracker } from './tracker.ts'
import { HealthWebhook } from './webhook.ts'

export interface RunningFleetHealth {
  tracker: FleetHealthTracker
  webhook?: HealthWebhook
  stop(): Promise<void>
}

/**
 * Fleet health beside the embedded broker (`senshagen up`, `senshagen broker`): a FleetHealthTracker on its own
 * InfluxDB connection (config.influx) with config.health's thresholds, fed by the broker's device connections
 * (presence.ts), counting registered devices from `registry`, reported in senshagen_devices, and POSTing every
 * transition to config.health.webhookUrl when set (webhook.ts). Resolves once the state is read back and the
 * first check ran. Errors: UnavailableError when InfluxDB does not answer.
 */
export async function runFleetHealth(config: Config, parentLogger: Logger, broker: Pick<RunningBroker, 'aedes' | 'deviceOf'>, registry?: RegistryStore): Promise<RunningFleetHealth> {
  const logger = parentLogger.child({ service: 'fleet-health' })
  const store = await openInfluxStore(config.influx, logger)
  const webhook = config.health.webhookUrl === undefined ? undefined : new HealthWebhook({ url: config.health.webhookUrl, failures: healthWebhookFailures }, logger)
  const tracker = new FleetHealthTracker({
    store,
    settings: config.health,
    logger,
    onTransition: webhook && ((event) => webhook.notify(event)),
    knownDevices: registry && (async () => (await registry.devices()).filter((d) => d.revokedAt === undefined).map((d) => d.id)),
    seenHere: lastSeenAt,
  })
  const unwatch = watchPresence(broker.aedes, broker.deviceOf, (deviceId, state, at, detail) => tracker.connection(deviceId, state, at, detail))
  await tracker.start()
  const untrack = trackFleet(() => tracker.counts())
  logger.info({ staleAfterMs: config.health.staleAfterMs, stuckAfterMs: config.health.stuckAfterMs, checkMs: config.health.checkMs, webhook: webhook !== undefined }, 'fleet health tracking')
  return {
    tracker,
    webhook,
    async stop() {
      untrack()
      unwatch()
      await tracker.close()
      await webhook?.close()
      await store.close()
    },
  }
}
