import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { loadConfig, type Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { SERVICE_USERNAMES } from '../../core/registry/device-rules.ts'
import { startBroker, type RunningBroker } from '../../services/broker/broker.ts'
import type { InBrokerIngest } from '../../services/broker/broker-ingest.ts'
import type { TestRegistry } from './registry.ts'

/** The broker limits of the default configuration (README "Security"). */
export const DEFAULT_LIMITS: Config['broker']['limits'] = loadConfig({}).broker.limits

export interface TestBroker extends RunningBroker {
  url: string
  wsUrl: string
  /** Connects an mqtt.js client (protocol 3.1.1, no reconnect) as a registered device with its secret. */
  device(id: string, options?: IClientOptions): Promise<MqttClient>
  /** Connects as a service account (`ingest`, `importer`, `operator`). */
  service(role: keyof TestRegistry['service'], options?: IClientOptions): Promise<MqttClient>
}

/**
 * The embedded broker on free ports of 127.0.0.1, authenticating against `registry`, with the default limits
 * unless overridden. `ingestClientId`, when given, is reserved for `_ingest` as runBroker does; `ingest` runs the
 * in-broker ingest (services/broker/broker-ingest.ts).
 */
export async function testBroker(
  registry: TestRegistry,
  logger: Logger,
  overrides: { limits?: Partial<Config['broker']['limits']>; registryPollMs?: number; tls?: Config['broker']['tls']; ingestClientId?: string; ingest?: InBrokerIngest } = {},
): Promise<TestBroker> {
  const broker = await startBroker(
    {
      bind: '127.0.0.1',
      port: 0,
      wsPort: 0,
      limits: { ...DEFAULT_LIMITS, ...overrides.limits },
      registryPollMs: overrides.registryPollMs ?? 2_000,
      tls: overrides.tls,
      store: registry.store,
      reservedClientIds: overrides.ingestClientId ? { [overrides.ingestClientId]: SERVICE_USERNAMES.ingest } : {},
      ingest: overrides.ingest,
    },
    logger,
  )
  const url = `mqtt://127.0.0.1:${broker.port}`
  const connect = (username: string, password: string, options: IClientOptions = {}) =>
    mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, username, password, ...options })
  return {
    ...broker,
    url,
    wsUrl: `ws://127.0.0.1:${broker.wsPort}`,
    device: (id, options) => connect(id, registry.secrets.get(id) ?? 'no-secret', options),
    service: (role, options) => connect(registry.service[role].username, registry.service[role].password, options),
  }
}
