import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { INFLUX_URL, KAFKA_BROKERS, isolatedEnv } from '../helpers/env.ts'
import { ShippedMosquitto } from '../helpers/mosquitto.ts'
import { kafkaLibs, privateInflux, privateKafka, type PrivateInflux, type PrivateKafka } from '../helpers/private-services.ts'
import { freePort, startCli, type CliProcess } from '../helpers/processes.ts'

/**
 * One deployment under test, as an operator runs it: `senshagen` processes (each its own OS process, killable
 * with SIGKILL), a database of its own, Kafka topics and consumer group of its own, and where a fault needs it,
 * a Mosquitto, InfluxDB or Kafka of its own (the shared daemons of infra/up.sh are never stopped).
 *   - `broker`: `senshagen broker` (the embedded broker with the ingest in its process; direct mode writes to
 *     InfluxDB from it) + `senshagen writer` in Kafka mode;
 *   - `up`: `senshagen up` alone (broker, ingest, writer, calibration, API in one process);
 *   - `mosquitto`: the shipped Mosquitto configuration + `senshagen ingest` subscribed to it (+ `senshagen writer`).
 */
export type Mode = 'direct' | 'kafka'
export type Topology = 'broker' | 'up' | 'mosquitto'
export type Service = 'broker' | 'writer' | 'ingest' | 'up' | 'calibration'

const READY: Record<Service, string> = {
  broker: 'mqtt broker listening',
  writer: 'writer running',
  ingest: 'ingest running',
  up: 'senshagen up:',
  calibration: 'calibration running',
}

export interface StackOptions {
  id: string
  mode: Mode
  topology: Topology
  /** `senshagen calibration` as a process of its own beside the others. */
  calibration?: boolean
  privateInflux?: boolean
  privateKafka?: boolean
  /** SENSHAGEN_DEVICE_REGISTRY, SENSHAGEN_NEIGHBOURHOODS, SENSHAGEN_SERVICE_CREDENTIALS. */
  registryEnv: Record<string, string>
}

export class Stack {
  readonly processes = new Map<Service, CliProcess>()
  /** Every process started, killed ones included. */
  private readonly started: CliProcess[] = []
  mosquitto?: ShippedMosquitto
  influx?: PrivateInflux
  kafka?: PrivateKafka
  env: Record<string, string> = {}
  mqttUrl = ''
  private folder = mkdtempSync(join(tmpdir(), 'senshagen-fault-'))
  /** Services in start order. */
  readonly services: Service[]

  constructor(readonly options: StackOptions) {
    const { topology, mode } = options
    this.services = [
      ...(topology === 'up' ? (['up'] as const) : topology === 'broker' ? (['broker'] as const) : (['ingest'] as const)),
      ...(mode === 'kafka' && topology !== 'up' ? (['writer'] as const) : []),
      ...(options.calibration ? (['calibration'] as const) : []),
    ]
  }

  get influxUrl(): string {
    return this.influx?.url ?? INFLUX_URL
  }

  get database(): string {
    return this.options.id
  }

  async start(): Promise<void> {
    const { id, mode } = this.options
    if (this.options.privateInflux) {
      this.influx = await privateInflux()
      await this.influx.start()
    }
    if (this.options.privateKafka) {
      const libs = kafkaLibs()
      if (!libs) throw new Error('no Kafka jars (infra/.state/kafka/libs-*): run npm run infra:up once, or set SENSHAGEN_KAFKA_LIBS')
      this.kafka = await privateKafka(libs)
      await this.kafka.start()
    }
    const port = await freePort()
    if (this.options.topology === 'mosquitto') {
      this.mosquitto = new ShippedMosquitto(await freePort(), mkdtempSync(join(this.folder, 'mosquitto-')))
      await this.mosquitto.start()
    }
    this.mqttUrl = this.mosquitto?.url ?? `mqtt://127.0.0.1:${port}`
    this.env = isolatedEnv(id, {
      ...this.options.registryEnv,
      SENSHAGEN_INFLUX_URL: this.influxUrl,
      SENSHAGEN_MQTT_PORT: String(port),
      SENSHAGEN_MQTT_WS_PORT: String(await freePort()),
      SENSHAGEN_API_PORT: '0',
      SENSHAGEN_REPORTS_DIR: join(this.folder, 'reports'),
      ...(this.mosquitto ? { SENSHAGEN_MQTT_URL: this.mosquitto.url } : {}),
      ...(mode === 'kafka' ? { SENSHAGEN_KAFKA_BROKERS: this.kafka?.brokers ?? KAFKA_BROKERS } : {}),
    })
    for (const service of this.services) await this.startService(service)
  }

  async startService(service: Service): Promise<void> {
    const args = service === 'up' ? ['up'] : [service]
    const started = await startCli(args, this.env, READY[service], 90_000)
    this.started.push(started)
    this.processes.set(service, started)
  }

  /** SIGKILL of `service`, then (after `downMs`) the same command again. */
  async kill9AndRestart(service: Service, downMs = 1_000): Promise<void> {
    await this.processes.get(service)!.kill9()
    await new Promise((resolve) => setTimeout(resolve, downMs))
    await this.startService(service)
  }

  /** Log lines of every senshagen process started (killed ones included) that contain `text`. */
  logLines(text: string): string[] {
    return this.started.flatMap((p) => p.stderr().split('\n').filter((line) => line.includes(text)))
  }

  /** Everything the senshagen processes logged at error level (pino level 50 and above), over every start. */
  errorLines(): string[] {
    return this.started.flatMap((p) => p.stderr().split('\n').filter((line) => /"level":(5|6)\d/.test(line)))
  }

  async stop(): Promise<void> {
    await Promise.all(this.started.map((p) => p.stop()))
    await fetch(`${this.influxUrl}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${this.database}"` }) }).catch(() => undefined)
    await this.mosquitto?.kill9()
    await this.influx?.remove()
    await this.kafka?.remove()
    rmSync(this.folder, { recursive: true, force: true })
  }
}
