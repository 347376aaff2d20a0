import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { SERVICE_USERNAMES } from '../../core/registry/device-rules.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { ensureServiceCredentials } from '../../core/registry/service-credentials.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { startBroker, type RunningBroker } from './broker.ts'
import type { InBrokerIngest } from './broker-ingest.ts'

/**
 * Broker service: the embedded aedes MQTT broker on config.broker's ports, authenticating against the registry
 * (config.registry; or `store` when the caller already opened it, which the caller then closes).
 *
 * Before listening it makes sure the service accounts have secrets and that config.registry.serviceCredentialsFile
 * holds them (written 0600), so `senshagen up` on a fresh clone needs no manual step: the ingest, `replay` and
 * `sim` read their credentials from that file. The ingest's client id (config.mqtt.ingestClientId) belongs to
 * the `_ingest` account from the start, so no device can take over its persistent session. With `options.ingest`
 * the broker stores devices' and the importer's publishes before acknowledging them (broker-ingest.ts).
 * Errors: ConfigError (registry, neighbourhoods or credentials file, TLS files), the listen error of a taken port.
 */
export async function runBroker(config: Config, parentLogger: Logger, store?: RegistryStore, options: { ingest?: InBrokerIngest } = {}): Promise<RunningBroker> {
  const logger = parentLogger.child({ service: 'broker' })
  const registry = store ?? (await openRegistryStore(config.registry))
  try {
    await ensureServiceCredentials(registry, config.registry.serviceCredentialsFile)
    const broker = await startBroker(
      { ...config.broker, store: registry, reservedClientIds: { [config.mqtt.ingestClientId]: SERVICE_USERNAMES.ingest }, ingest: options.ingest },
      logger,
    )
    return {
      ...broker,
      async close(deadline) {
        await broker.close(deadline)
        if (!store) await registry.close()
      },
    }
  } catch (error) {
    if (!store) await registry.close()
    throw error
  }
}
