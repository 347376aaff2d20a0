import type { Config } from '../core/config.ts'
import type { Deadline } from '../core/drain.ts'
import type { Logger } from '../core/logger.ts'
import { openRegistryStore } from '../core/registry/open.ts'
import type { RegistryStore } from '../core/registry/store.ts'
import type { RunningBroker } from '../services/broker/broker.ts'
import { runBroker } from '../services/broker/main.ts'
import { runIngest, type RunningIngest } from '../services/ingest/main.ts'
import { runFleetHealth } from '../services/health/main.ts'
import { stopComponent } from './context.ts'

export interface FrontDoor {
  broker: RunningBroker
  ingest: RunningIngest
  /**
   * Closes the broker first (no new publishes), then the ingest (its sink rejects what is still unacknowledged).
   * With `deadline` (graceful shutdown, epoch ms, core/drain.ts) both drain first: the broker refuses new
   * CONNECTs, reads no more publishes, and waits until those it read are stored and their PUBACKs sent
   * (services/broker/shutdown.ts); then the ingest flushes what QoS 0 publishes, wills and HTTP pushes left in
   * its sink.
   */
  stop(deadline?: Deadline): Promise<void>
}

/**
 * The embedded broker with the ingest in its process, as `senshagen up` and `senshagen broker` run them: every
 * device's and the importer's publish is stored (Kafka, or InfluxDB in direct mode) before its PUBACK
 * (services/broker/broker-ingest.ts). The ingest keeps the HTTP ingest and the TTN subscription but does not
 * subscribe to this broker, which would store every message twice. Both share one registry connection: `store`
 * when the caller opened it (the caller closes it), else one opened from config.registry and closed by `stop`.
 *
 * Start order, so that no device publish arrives before it can be stored: the ingest first (its sink ready:
 * Kafka producer connected and topics present, or InfluxDB answering /ping with the database created), then the
 * broker, whose listeners open last and with the ingest already attached. A store that does not answer fails
 * the start (UnavailableError) before anything listens: an early device is refused at the socket and retries.
 * Later outages hold PUBACKs until the write succeeds. Fleet health (services/health) follows the broker's devices. test/integration/front-door-readiness.test.ts proves both.
 */
export async function startFrontDoor(config: Config, logger: Logger, store?: RegistryStore): Promise<FrontDoor> {
  // one registry connection for the broker's logins and the HTTP ingest's, closed here when we opened it
  const registry = store ?? (await openRegistryStore(config.registry))
  const closeRegistry = () => (store ? Promise.resolve() : registry.close())
  let ingest: RunningIngest | undefined
  try {
    // the order matters (above): the ingest and its sink are ready before the broker listens
    ingest = await runIngest(config, logger, registry, { inBroker: true })
    const core = ingest.core
    const broker = await runBroker(config, logger, registry, { ingest: { filters: ingest.mqttFilters, handle: (message) => core.handle(message) } })
    const health = runFleetHealth(config, logger, broker, registry)
    const running = ingest
    return {
      broker,
      ingest: running,
      async stop(deadline) {
        await stopComponent(logger, 'fleet health', () => health.stop())
        await stopComponent(logger, 'broker', () => broker.close(deadline))
        await stopComponent(logger, 'ingest', () => running.stop(deadline))
        await closeRegistry()
      },
    }
  } catch (error) {
    await ingest?.stop()
    await closeRegistry()
    throw error
  }
}
