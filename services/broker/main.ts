import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { startBroker, type RunningBroker } from './broker.ts'

/** Broker service: the embedded aedes MQTT broker on config.broker's TCP and WebSocket ports. */
export function runBroker(config: Config, logger: Logger): Promise<RunningBroker> {
  return startBroker(config.broker, logger.child({ service: 'broker' }))
}
