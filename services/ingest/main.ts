import { readFileSync } from 'node:fs'
import { createKafkaBus } from '../../core/bus/kafka.ts'
import type { Deadline } from '../../core/drain.ts'
import { ConfigError } from '../../core/errors.ts'
import type { Config } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { TTN_V3_FORMAT } from '../../core/decoders/ttn-v3.ts'
import type { Logger } from '../../core/logger.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { clientCredentials } from '../../core/registry/service-credentials.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { openWriter } from '../../core/store/open.ts'
import { startHttpIngest } from './http-ingest.ts'
import { HTTP_ROUTES } from './http-routes.ts'
import { IngestCore, loadSchemaHistory } from './ingest-core.ts'
import { MqttSource } from './mqtt-ingest.ts'
import { directSink, kafkaSink, type IngestSink } from './sinks.ts'

export interface RunningIngest {
  core: IngestCore
  mode: 'kafka' | 'direct'
  /** Every MQTT decoder's topic filters: what the ingest subscribes to, or what an in-broker ingest handles. */
  mqttFilters: string[]
  httpPort: number
  /** HTTP pushes accepted and refused by reason (services/ingest/http-auth.ts). */
  httpAuth: Awaited<ReturnType<typeof startHttpIngest>>['stats']
  /**
   * Stops the HTTP ingest (requests in progress are answered), the subscriptions and the sink. With `deadline`
   * (graceful shutdown, epoch ms, core/drain.ts) each drains first: subscribed messages' PUBACKs go out in order
   * and the sink's pending batch is flushed, until the deadline.
   */
  stop(deadline?: Deadline): Promise<void>
}

export interface IngestRunOptions {
  /**
   * The embedded broker hands every publish to `core` itself (services/broker/broker-ingest.ts): do not
   * subscribe to config.mqtt.url as well, which would store every message twice. TTN and HTTP stay.
   */
  inBroker?: boolean
}

/**
 * Ingest service: subscribes to config.mqtt.url (every MQTT decoder's topics; not with `inBroker`, when the
 * embedded broker feeds `core` directly), to The Things Stack when
 * config.ttn is set (TTN topics only, its own credentials), and serves the HTTP ingest on config.http; sends
 * what it decodes to Kafka, or, with no Kafka configured (direct mode), straight to InfluxDB through an
 * in-process writer. HTTP pushes are authenticated against the device registry (config.registry, or `store` when
 * the caller opened it already, which the caller then closes).
 */
export async function runIngest(config: Config, parentLogger: Logger, store?: RegistryStore, options: IngestRunOptions = {}): Promise<RunningIngest> {
  const logger = parentLogger.child({ service: 'ingest' })
  // the HTTP ingest checks each firmware's credentials against the registry (services/ingest/http-auth.ts)
  const registry = store ?? (await openRegistryStore(config.registry))
  let sink: IngestSink
  // where the schema-drift state is read back from on start (both modes: the ingest keeps that state)
  let history: () => ReturnType<typeof loadSchemaHistory>
  if (config.kafka) {
    history = async () => {
      const store = await openInfluxStore(config.influx, logger)
      try {
        return await loadSchemaHistory(store)
      } finally {
        await store.close()
      }
    }
    const bus = createKafkaBus(config.kafka, logger)
    await bus.ensureTopics([config.kafka.readingsTopic, config.kafka.rejectionsTopic, config.kafka.eventsTopic], config.kafka.partitions)
    const { batchMs, batchMessages, maxBufferedRecords } = config.ingest
    sink = kafkaSink(await bus.producer(), { ...config.kafka, batchMs, batchMessages, maxBufferedRecords }, logger)
  } else {
    const { writer, store } = await openWriter(config, logger)
    sink = directSink(writer)
    history = () => loadSchemaHistory(store)
  }
  const decoders = createDecoders({ deviceTimeZone: config.ingest.deviceTimeZone, openSenseMapSensors: readSensorsFile(config.ingest.openSenseMapSensorsFile) })
  const core = new IngestCore({ ...config.ingest, decoders }, sink, logger, history)
  const mqttFilters = [...new Set(decoders.flatMap((d) => d.topicFilters).filter((f) => !f.startsWith('http/')))]
  const sources: MqttSource[] = []
  if (!options.inBroker) {
    const { url, ingestClientId: clientId, shareGroup } = config.mqtt
    sources.push(new MqttSource({ url, clientId, shareGroup, ...ingestCredentials(config, logger), filters: mqttFilters, window: config.ingest.window }, core, logger))
  }
  if (config.ttn) {
    const ttnFilters = decoders.filter((d) => d.format === TTN_V3_FORMAT).flatMap((d) => d.topicFilters)
    sources.push(new MqttSource({ ...config.ttn, filters: ttnFilters, window: config.ingest.window }, core, logger.child({ source: 'ttn' })))
  }
  for (const source of sources) await source.start()
  const http = await startHttpIngest(core, HTTP_ROUTES, { ...config.http, bodyLimit: config.ingest.maxPayloadBytes * 4 }, logger, registry)
  const mode = config.kafka ? 'kafka' : 'direct'
  logger.info({ mode, httpPort: http.port, inBroker: options.inBroker ?? false }, 'ingest running')
  return {
    core,
    mode,
    mqttFilters,
    httpPort: http.port,
    httpAuth: http.stats,
    async stop(deadline) {
      await http.close()
      for (const source of sources) await source.stop(deadline)
      await core.close(deadline)
      if (!store) await registry.close()
    },
  }
}

/** The ingest's MQTT login (core/registry/service-credentials.ts clientCredentials); without one it says so once. */
export function ingestCredentials(config: Config, logger: Logger): { username?: string; password?: string } {
  const credentials = clientCredentials(config, 'ingest')
  if (credentials.username === undefined) {
    logger.info({ serviceCredentialsFile: config.registry.serviceCredentialsFile }, 'no MQTT credentials (SENSHAGEN_MQTT_USERNAME unset, no ingest entry in the service credentials file): connecting anonymously')
  }
  return credentials
}

/** SENSHAGEN_OSEM_SENSORS_FILE: `{"<sensorId>": {"quantity": "pm2_5", "unit": "µg/m³", "model": "SDS011"}}`. */
function readSensorsFile(file: string | undefined): Record<string, { quantity: string; unit?: string; model?: string }> | undefined {
  if (file === undefined) return undefined
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, { quantity: string; unit?: string; model?: string }>
  } catch (cause) {
    throw new ConfigError(`SENSHAGEN_OSEM_SENSORS_FILE: cannot read ${file} as JSON: ${(cause as Error).message}`, { cause })
  }
}
