import type { Command } from 'commander'
import type { Deadline } from '../../core/drain.ts'
import { runIngest } from '../../services/ingest/main.ts'
import { runWriter } from '../../services/writer/main.ts'
import { runCalibrationWorker } from '../../services/calibration/main.ts'
import { runApi } from '../../services/api/main.ts'
import { serveProcessMetrics } from '../../core/metrics-http.ts'
import { cliContext, fail, runUntilSignal, stopComponent } from '../context.ts'
import { startFrontDoor } from '../front-door.ts'

/** `up`, `broker`, `ingest`, `writer`: the long-running services, together or one per process. */
export function registerServiceCommands(program: Command): void {
  program
    .command('up')
    .description('run broker with its in-process ingest + writer + hourly calibration + API and residents\' page in one process (direct mode without SENSHAGEN_KAFKA_BROKERS)')
    // several instances sharing one InfluxDB need the hourly recalculation once, not once each (README "Scaling out")
    .option('--no-calibration', 'do not run the hourly calibration worker here (another instance or `senshagen calibration` runs it)')
    .action((options: { calibration: boolean }) =>
      serve(async (ctx) => {
        const { broker, ingest, stop: stopFrontDoor } = await startFrontDoor(ctx.config, ctx.logger)
        const writer = ctx.config.kafka ? await runWriter(ctx.config, ctx.logger) : undefined
        const calibration = options.calibration ? await runCalibrationWorker(ctx.config, ctx.logger) : undefined
        const api = await runApi(ctx.config, ctx.logger)
        process.stderr.write(
          `senshagen up: MQTT on ${ctx.config.broker.bind}:${broker.port} (WebSocket ${broker.wsPort}${broker.tlsPort === undefined ? '' : `, MQTTS ${broker.tlsPort}, WSS ${broker.wssPort}`}; ` +
            `devices log in with their id and secret, service accounts from ${ctx.config.registry.serviceCredentialsFile}), ` +
            `HTTP ingest :${ingest.httpPort}, ${ingest.mode} mode, InfluxDB ${ctx.config.influx.url} database ${ctx.config.influx.database}, ` +
            `residents' page and API http://${ctx.config.api.bind}:${api.port}/${calibration ? '' : ', calibration not here (--no-calibration)'}\n`,
        )
        // graceful: the broker and ingest drain, then the writer flushes what they put into Kafka (core/drain.ts)
        return async (deadline) => {
          await stopComponent(ctx.logger, 'api', () => api.stop())
          if (calibration) await stopComponent(ctx.logger, 'calibration', () => calibration.stop())
          await stopFrontDoor(deadline)
          if (writer) await stopComponent(ctx.logger, 'writer', () => writer.stop(deadline))
        }
      }),
    )
  program
    .command('broker')
    .description('run the embedded MQTT broker (aedes) with the ingest in its process (every publish stored before its PUBACK) and the HTTP ingest: one process per instance; writes the service accounts\' secrets to SENSHAGEN_SERVICE_CREDENTIALS')
    .action(() => serve(async (ctx) => (await startFrontDoor(ctx.config, ctx.logger)).stop))
  program
    .command('ingest')
    .description('run the ingest service alone, subscribed to SENSHAGEN_MQTT_URL (an external broker such as Mosquitto): MQTT -> Kafka (or -> InfluxDB in direct mode)')
    .action(() => serve(async (ctx) => (await runIngest(ctx.config, ctx.logger)).stop))
  program
    .command('calibration')
    .description('run the calibration worker alone: every hour, recalculate the last SENSHAGEN_CALIBRATION_WINDOW_H hours')
    .action(() => serve(async (ctx) => (await runCalibrationWorker(ctx.config, ctx.logger)).stop))
  program
    .command('writer')
    .description('run the writer service alone: Kafka -> InfluxDB')
    .action(() => serve(async (ctx) => (await runWriter(ctx.config, ctx.logger)).stop))
}

async function serve(start: (ctx: ReturnType<typeof cliContext>) => Promise<(deadline?: Deadline) => Promise<void>>): Promise<void> {
  const ctx = cliContext()
  try {
    // one /metrics listener per process, serving every service in it (core/metrics-http.ts)
    const closeMetrics = await serveProcessMetrics(ctx.config.metrics, ctx.logger)
    const stop = await start(ctx)
    runUntilSignal(
      ctx.logger,
      async (deadline) => {
        await stop(deadline)
        await closeMetrics()
      },
      ctx.config.drainTimeoutMs,
    )
  } catch (error) {
    fail((error as Error).message)
  }
}
