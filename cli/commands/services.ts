import type { Command } from 'commander'
import { lazyAction } from '../lazy-action.ts'

const load = () => import('./impl/services.ts')

/** `up`, `broker`, `ingest`, `calibration`, `writer`: the long-running services, together or one per process (cli/commands/impl/services.ts). */
export function registerServiceCommands(program: Command): void {
  program
    .command('up')
    .description('run broker with its in-process ingest + writer + hourly calibration + API and residents\' page in one process (direct mode without SENSHAGEN_KAFKA_BROKERS)')
    // several instances sharing one InfluxDB need the hourly recalculation once, not once each (README "Scaling out")
    .option('--no-calibration', 'do not run the hourly calibration worker here (another instance or `senshagen calibration` runs it)')
    .action(lazyAction(load, 'runUp'))
  program
    .command('broker')
    .description('run the embedded MQTT broker (aedes) with the ingest in its process (every publish stored before its PUBACK) and the HTTP ingest: one process per instance; writes the service accounts\' secrets to SENSHAGEN_SERVICE_CREDENTIALS')
    .action(lazyAction(load, 'runBrokerService'))
  program
    .command('ingest')
    .description('run the ingest service alone, subscribed to SENSHAGEN_MQTT_URL (an external broker such as Mosquitto): MQTT -> Kafka (or -> InfluxDB in direct mode)')
    .action(lazyAction(load, 'runIngestService'))
  program
    .command('calibration')
    .description('run the calibration worker alone: every hour, recalculate the last SENSHAGEN_CALIBRATION_WINDOW_H hours')
    .action(lazyAction(load, 'runCalibrationService'))
  program
    .command('writer')
    .description('run the writer service alone: Kafka -> InfluxDB')
    .action(lazyAction(load, 'runWriterService'))
}
