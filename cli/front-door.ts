import type { Config } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { RegistryStore } from '../core/registry/store.ts'
import type { RunningBroker } from '../services/broker/broker.ts'
import { runBroker } from '../services/broker/main.ts'
import { runIngest, type RunningIngest } from '../services/ingest/main.ts'

export interface FrontDoor {
  broker: RunningBroker
  ingest: RunningIngest
  /** Closes the broker first (no new publishes), then the ingest (its sink rejects what is still unacknowledged). */
  stop(): Promise<void>
}

/**
 * The embedded broker with the ingest in its process, as `senshagen up` and `senshagen broker` run them: every
 * device's and the importer's publish is stored (Kafka, or InfluxDB in direct mode) before its PUBACK
 * (services/broker/broker-ingest.ts). The ingest keeps the HTTP ingest and the TTN subscription but does not
 * subscribe to this broker, which would store every message twice. `store`: an open registry the caller closes.
 */
export async function startFrontDoor(config: Config, logger: Logger, store?: RegistryStore): Promise<FrontDoor> {
  const ingest = await runIngest(config, logger, store, { inBroker: true })
  try {
    const core = ingest.core
    const broker = await runBroker(config, logger, store, { ingest: { filters: ingest.mqttFilters, handle: (message) => core.handle(message) } })
    return {
      broker,
      ingest,
      async stop() {
        await broker.close()
        await ingest.stop()
      },
    }
  } catch (error) {
    await ingest.stop()
    throw error
  }
}
