import type { Deadline } from '../../../core/drain.ts'
import { serveProcessMetrics } from '../../../core/metrics-http.ts'
import { runApi } from '../../../services/api/main.ts'
import { runCalibrationWorker } from '../../../services/calibration/main.ts'
import { runIngest } from '../../../services/ingest/main.ts'
import { runWriter } from '../../../services/writer/main.ts'
import { cliContext, fail, runUntilSignal, stopComponent } from '../../context.ts'
import { startFrontDoor } from '../../front-door.ts'

/** `senshagen up` (cli/commands/services.ts): every service in one process. */
export function runUp(options: { calibration: boolean }): Promise<void> {
  return serve(async (ctx) => {
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
  })
}

/** `senshagen broker`: the embedded broker with its in-process ingest and the HTTP ingest. */
export function runBrokerService(): Promise<void> {
  return serve(async (ctx) => (await startFrontDoor(ctx.config, ctx.logger)).stop)
}

/** `senshagen ingest`: the ingest alone, subscribed to an external broker. */
export function runIngestService(): Promise<void> {
  return serve(async (ctx) => (await runIngest(ctx.config, ctx.logger)).stop)
}

/** `senshagen calibration`: the hourly calibration worker alone. */
export function runCalibrationService(): Promise<void> {
  return serve(async (ctx) => (await runCalibrationWorker(ctx.config, ctx.logger)).stop)
}

/** `senshagen writer`: the writer alone (Kafka -> InfluxDB). */
export function runWriterService(): Promise<void> {
  return serve(async (ctx) => (await runWriter(ctx.config, ctx.logger)).stop)
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
