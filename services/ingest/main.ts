import { createKafkaBus } from '../../core/bus/kafka.ts'
import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { openWriter } from '../writer/index.ts'
import { MqttIngest } from './mqtt-ingest.ts'
import { directSink, kafkaSink, type IngestSink } from './sinks.ts'

export interface RunningIngest {
  ingest: MqttIngest
  mode: 'kafka' | 'direct'
  stop(): Promise<void>
}

/**
 * Ingest service: subscribes to config.mqtt.url and sends what it decodes to Kafka, or, with no Kafka
 * configured (direct mode), straight to InfluxDB through an in-process writer.
 */
export async function runIngest(config: Config, parentLogger: Logger): Promise<RunningIngest> {
  const logger = parentLogger.child({ service: 'ingest' })
  const abort = new AbortController()
  let sink: IngestSink
  if (config.kafka) {
    const bus = createKafkaBus(config.kafka, logger)
    await bus.ensureTopics([config.kafka.readingsTopic, config.kafka.rejectionsTopic], config.kafka.partitions)
    sink = kafkaSink(await bus.producer(), config.kafka, abort.signal)
  } else {
    sink = directSink((await openWriter(config, logger)).writer)
  }
  const ingest = new MqttIngest(
    { url: config.mqtt.url, clientId: config.mqtt.ingestClientId, username: config.mqtt.username, password: config.mqtt.password, ...config.ingest },
    sink,
    logger,
  )
  await ingest.start()
  const mode = config.kafka ? 'kafka' : 'direct'
  logger.info({ mode }, 'ingest running')
  return {
    ingest,
    mode,
    async stop() {
      await ingest.stop()
      abort.abort(new Error('ingest stopping'))
      await sink.close()
    },
  }
}
