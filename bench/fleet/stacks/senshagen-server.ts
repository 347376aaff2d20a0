/**
 * SensHagen's server side for one benchmark stack, a child process (so that its CPU time and peak RSS are its
 * own), started with a configuration environment over IPC:
 * - `direct`: the embedded broker with the ingest inside it writing to InfluxDB (cli/front-door.ts, as
 *   `senshagen up` without Kafka);
 * - `kafka`: the same with SENSHAGEN_KAFKA_BROKERS set, plus the writer (Kafka → InfluxDB) in this process, as
 *   `senshagen up` runs them; the Kafka broker is a separate JVM, measured apart;
 * - `subscribed`: the ingest alone (services/ingest runIngest), subscribed to an external broker (Mosquitto)
 *   at SENSHAGEN_MQTT_URL, in direct mode.
 */
import { loadConfig } from '../../../core/config.ts'
import { createLogger } from '../../../core/logger.ts'
import { startFrontDoor } from '../../../cli/front-door.ts'
import { runIngest } from '../../../services/ingest/main.ts'
import { runWriter } from '../../../services/writer/index.ts'
import { sampleMemory } from '../measure/memory.ts'

export type SensHagenMode = 'direct' | 'kafka' | 'subscribed'

export interface SensHagenStart {
  type: 'start'
  mode: SensHagenMode
  env: Record<string, string>
}

async function start({ mode, env }: SensHagenStart): Promise<void> {
  const config = loadConfig(env)
  const logger = createLogger(config.logLevel)
  const stops: Array<() => Promise<void>> = []
  // what the peak RSS was made of, for docs/benchmarks.md "Memory": one JSON line in the process's log at stop
  const memory = sampleMemory(100)
  stops.push(async () => memory.stop((peak) => process.stdout.write(`${JSON.stringify({ msg: 'memory at peak RSS', memory: peak })}\n`)))
  let port: number | undefined
  if (mode === 'subscribed') {
    stops.push((await runIngest(config, logger)).stop)
  } else {
    const frontDoor = await startFrontDoor(config, logger)
    port = frontDoor.broker.port
    stops.push(frontDoor.stop)
    if (mode === 'kafka') stops.unshift((await runWriter(config, logger)).stop)
  }
  process.send!({ type: 'ready', port })
  process.on('message', (message: { type: string }) => {
    if (message.type !== 'stop') return
    // front door first (no new publishes), then the writer; exit() also writes a --cpu-prof profile
    void (async () => {
      for (const stop of stops.reverse()) await stop().catch((error: Error) => logger.error({ err: error }, 'stop failed'))
      process.exit(0)
    })()
  })
}

process.once('message', (message: SensHagenStart) => {
  start(message).catch((error: Error) => {
    process.send!({ type: 'error', message: `${error.message}` })
    process.exit(1)
  })
})
process.on('disconnect', () => process.exit(0))
