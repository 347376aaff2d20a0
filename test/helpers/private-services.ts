import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './env.ts'
import { portOpen } from './mosquitto.ts'
import { freePort } from './processes.ts'

/**
 * InfluxDB and Kafka daemons of a test's own, on free ports with data folders in a temporary directory, for the
 * faults that stop or restart them (the shared ones of infra/up.sh serve other engineers and must stay up).
 * Started the way infra/up.sh starts its own: `influxd -config` with a generated file; Kafka in KRaft mode
 * (broker and controller in one JVM) from the jars up.sh fetched from Maven Central.
 */
interface Daemon {
  /** Starts the process (again) on the same folder; resolves once it answers. */
  start(): Promise<void>
  /** SIGTERM (a clean shutdown) or SIGKILL; resolves when the process is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
  /** Stops it and removes its folder. */
  remove(): Promise<void>
  /** Its log (stdout and stderr) over every start. */
  log(): string
}

function daemon(command: string, args: string[], folder: string, ready: () => Promise<boolean>, readyTimeoutMs: number): Daemon {
  let child: ChildProcess | undefined
  let log = ''
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    const running = child
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise((done) => running.once('exit', done))
    running.kill(signal)
    const escalate = setTimeout(() => running.kill('SIGKILL'), 60_000)
    await exited
    clearTimeout(escalate)
  }
  return {
    async start() {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
      child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')))
      const started = child
      await waitFor(`${command} ready`, async () => {
        if (started.exitCode !== null) throw new Error(`${command} exited with ${started.exitCode}:\n${log.slice(-2000)}`)
        return ready()
      }, readyTimeoutMs, 250)
    },
    stop,
    async remove() {
      await stop('SIGKILL')
      rmSync(folder, { recursive: true, force: true })
    },
    log: () => log,
  }
}

export interface PrivateInflux extends Daemon {
  url: string
}

/** An InfluxDB 1.x (`influxd` from apt, as infra/up.sh) of the test's own; not started yet. */
export async function privateInflux(): Promise<PrivateInflux> {
  const folder = mkdtempSync(join(tmpdir(), 'senshagen-influx-'))
  const [http, rpc] = [await freePort(), await freePort()]
  writeFileSync(
    join(folder, 'influxdb.conf'),
    `reporting-disabled = true\nbind-address = "127.0.0.1:${rpc}"\n[meta]\n  dir = "${folder}/meta"\n[data]\n  dir = "${folder}/data"\n  wal-dir = "${folder}/wal"\n  query-log-enabled = false\n` +
      `[http]\n  enabled = true\n  bind-address = "127.0.0.1:${http}"\n  auth-enabled = false\n  log-enabled = false\n[monitor]\n  store-enabled = false\n[logging]\n  level = "warn"\n`,
  )
  const url = `http://127.0.0.1:${http}`
  const ping = async () => (await fetch(`${url}/ping`).catch(() => undefined))?.status === 204
  return { url, ...daemon('influxd', ['-config', join(folder, 'influxdb.conf')], folder, ping, 60_000) }
}

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The Kafka jars infra/up.sh fetched (`infra/.state/kafka/libs-<version>`): in this clone, else in the main
 * checkout of this git worktree; SENSHAGEN_KAFKA_LIBS names another folder. Undefined when there are none.
 */
export function kafkaLibs(): string | undefined {
  if (process.env.SENSHAGEN_KAFKA_LIBS) return process.env.SENSHAGEN_KAFKA_LIBS
  const clones = [REPO]
  try {
    clones.push(dirname(resolve(REPO, execFileSync('git', ['rev-parse', '--git-common-dir'], { cwd: REPO, encoding: 'utf8' }).trim())))
  } catch {
    // not a git checkout: this clone only
  }
  for (const clone of clones) {
    const state = join(clone, 'infra/.state/kafka')
    const libs = existsSync(state) ? readdirSync(state).filter((name) => name.startsWith('libs-') && existsSync(join(state, name, '.complete'))) : []
    if (libs.length > 0) return join(state, libs.sort().at(-1)!)
  }
  return undefined
}

export interface PrivateKafka extends Daemon {
  brokers: string
}

/** A single-node KRaft Kafka of the test's own (the broker settings of infra/up.sh), storage formatted; not started yet. */
export async function privateKafka(libs: string): Promise<PrivateKafka> {
  const folder = mkdtempSync(join(tmpdir(), 'senshagen-kafka-'))
  const [port, controller] = [await freePort(), await freePort()]
  const properties = join(folder, 'server.properties')
  mkdirSync(join(folder, 'data'))
  writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${folder}/data`,
      'num.partitions=3',
      'default.replication.factor=1',
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'min.insync.replicas=1',
      'auto.create.topics.enable=true',
      'group.initial.rebalance.delay.ms=0',
    ].join('\n'),
  )
  const log4j = `-Dlog4j2.configurationFile=${join(REPO, 'infra/kafka/log4j2.properties')}`
  const classpath = `${libs}/*`
  const clusterId = execFileSync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).trim()
  execFileSync('java', ['-cp', classpath, log4j, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties], { stdio: 'ignore' })
  const ready = async () => {
    if (!(await portOpen(port))) return false
    try {
      execFileSync(process.execPath, [join(REPO, 'infra/kafka-ready.mjs'), '5'], { env: { ...process.env, SENSHAGEN_KAFKA_PORT: String(port) }, stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  }
  const java = ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true', log4j, '-cp', classpath, 'kafka.Kafka', properties]
  return { brokers: `127.0.0.1:${port}`, ...daemon('java', java, folder, ready, 120_000) }
}
