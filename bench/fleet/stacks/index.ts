import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import type { Fleet } from '../fleet-setup.ts'
import { findProcess, type ProcessRef } from '../measure/procs.ts'
import type { CeilingStart } from './ceiling-subscriber.ts'
import { TsChild } from './child.ts'
import { MOSQUITTO_LIMITS, startMosquitto } from './mosquitto.ts'
import { ensureNodeRed, NODE_RED_INFLUXDB_VERSION, NODE_RED_VERSION, startNodeRed } from './node-red.ts'
import type { SensHagenMode, SensHagenStart } from './senshagen-server.ts'
import { runtimeSettings } from '../../../bin/runtime.js'

/** The five stacks the benchmark compares, in the order they run. */
export const STACK_IDS = ['ceiling', 'node-red', 'direct', 'kafka', 'subscribed'] as const
export type StackId = (typeof STACK_IDS)[number]

export const STACK_LABELS: Record<StackId, string> = {
  ceiling: 'ceiling: Mosquitto → bare subscriber → batched line protocol',
  'node-red': `Node-RED ${NODE_RED_VERSION} (mqtt in → function → influxdb out ${NODE_RED_INFLUXDB_VERSION})`,
  direct: 'SensHagen embedded, direct mode (broker + ingest → InfluxDB)',
  kafka: 'SensHagen embedded, Kafka mode (broker + ingest → Kafka → writer)',
  subscribed: 'SensHagen ingest subscribed to Mosquitto (direct mode, window = Mosquitto max_inflight_messages)',
}

export interface StackContext {
  fleet: Fleet
  /** The run's folder for configuration files and logs. */
  dir: string
  influxUrl: string
  database: string
  /** Unique per stack and run: Kafka topic prefix, consumer group, client ids. */
  runId: string
  kafkaBrokers: string
  /** SENSHAGEN_* settings the benchmark sets (rate limit) and the caller's own SENSHAGEN_* knobs. */
  senshagenEnv: Record<string, string>
  /** Where SensHagen's server processes write CPU profiles (node --cpu-prof), or undefined for none. */
  cpuProfDir: string | undefined
  say: (text: string) => void
}

export interface RunningStack {
  /** Where the devices connect. */
  host: string
  port: number
  /** Processes of this stack: CPU and RSS are summed over the `own` ones. */
  processes: ProcessRef[]
  /** Shared daemons reported apart (Kafka's JVM). */
  shared: ProcessRef[]
  stop(): Promise<void>
}

export async function startStack(id: StackId, ctx: StackContext): Promise<RunningStack> {
  switch (id) {
    case 'ceiling':
      return withMosquitto(ctx, 'ceiling', async (mqttPort) => {
        const child = new TsChild<CeilingStart | { type: 'stop' }, { type: 'ready' } | { type: 'error'; message: string }>(new URL('./ceiling-subscriber.ts', import.meta.url), log(ctx, 'ceiling-subscriber'))
        child.send({ type: 'start', url: `mqtt://127.0.0.1:${mqttPort}`, ...ctx.fleet.service.operator, influxUrl: ctx.influxUrl, database: ctx.database })
        await child.next('ready', 30_000)
        return { process: { name: 'bare subscriber', pid: child.pid, own: true }, stop: () => child.stop({ type: 'stop' }) }
      })
    case 'node-red':
      await ensureNodeRed(ctx.say)
      return withMosquitto(ctx, 'node-red', async (mqttPort) => {
        const red = await startNodeRed({ mqtt: { port: mqttPort, ...ctx.fleet.service.operator }, influx: { url: ctx.influxUrl, database: ctx.database }, logFile: log(ctx, 'node-red') })
        return { process: { name: 'node-red', pid: red.pid, own: true }, stop: red.stop }
      })
    case 'subscribed':
      return withMosquitto(ctx, 'subscribed', async (mqttPort) => {
        // the subscribed ingest's window matches the broker's in-flight limit (core/registry/mosquitto.ts says why)
        const window = ctx.senshagenEnv.SENSHAGEN_INGEST_WINDOW ?? String(MOSQUITTO_LIMITS.maxInflightMessages)
        const server = await startSensHagen(ctx, 'subscribed', { SENSHAGEN_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`, SENSHAGEN_INGEST_WINDOW: window })
        return { process: server.process, stop: server.stop }
      })
    case 'direct':
    case 'kafka': {
      const server = await startSensHagen(ctx, id, {})
      const jvm = id === 'kafka' ? findProcess(/\bkafka\.Kafka\b/) : undefined
      return { host: '127.0.0.1', port: server.port!, processes: [server.process], shared: jvm ? [{ name: 'Kafka JVM (shared)', pid: jvm, own: false }] : [], stop: server.stop }
    }
  }
}

/** A dedicated Mosquitto with one subscriber process behind it; stops the subscriber first. */
async function withMosquitto(ctx: StackContext, name: string, subscriber: (mqttPort: number) => Promise<{ process: ProcessRef; stop: () => Promise<void> }>): Promise<RunningStack> {
  const mosquitto = await startMosquitto(ctx.fleet, ctx.dir, log(ctx, `${name}-mosquitto`))
  try {
    const sub = await subscriber(mosquitto.port)
    return {
      host: '127.0.0.1',
      port: mosquitto.port,
      processes: [{ name: 'mosquitto', pid: mosquitto.pid, own: true }, sub.process],
      shared: [],
      async stop() {
        await sub.stop()
        await mosquitto.stop()
      },
    }
  } catch (error) {
    await mosquitto.stop()
    throw error
  }
}

async function startSensHagen(ctx: StackContext, mode: SensHagenMode, extra: Record<string, string>): Promise<{ port?: number; process: ProcessRef; stop: () => Promise<void> }> {
  const id = `${ctx.runId}_${mode}`
  const env: Record<string, string> = {
    ...ctx.senshagenEnv,
    ...ctx.fleet.registryEnv,
    SENSHAGEN_INFLUX_URL: ctx.influxUrl,
    SENSHAGEN_INFLUX_DATABASE: ctx.database,
    SENSHAGEN_MQTT_PORT: '0',
    SENSHAGEN_MQTT_WS_PORT: '0',
    SENSHAGEN_HTTP_PORT: '0',
    SENSHAGEN_INGEST_CLIENT_ID: `${id}-ingest`,
    ...(mode === 'kafka' ? { SENSHAGEN_KAFKA_BROKERS: ctx.kafkaBrokers, SENSHAGEN_KAFKA_TOPIC_PREFIX: id, SENSHAGEN_KAFKA_GROUP: `${id}-writer`, SENSHAGEN_KAFKA_CLIENT_ID: id } : {}),
    ...extra,
  }
  if (mode !== 'kafka') delete env.SENSHAGEN_KAFKA_BROKERS
  // the runtime settings bin/senshagen.js starts `senshagen up` with (malloc, V8 heap), from the same variables
  const runtime = runtimeSettings({ ...process.env, ...env })
  const child = new TsChild<SensHagenStart | { type: 'stop' }, { type: 'ready'; port?: number } | { type: 'error'; message: string }>(
    new URL('./senshagen-server.ts', import.meta.url),
    log(ctx, `senshagen-${mode}`),
    [
      ...runtime.execArgv,
      // one folder per stack: node writes a profile per thread (tsx's module-loader thread too), named by pid and thread
      ...(ctx.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(ctx.cpuProfDir, `senshagen-${mode}`)}`]),
    ],
    runtime.env,
  )
  child.send({ type: 'start', mode, env })
  const ready = await child.next('ready', 60_000)
  return {
    port: ready.port,
    process: { name: `senshagen ${mode}`, pid: child.pid, own: true },
    async stop() {
      await child.stop({ type: 'stop' })
      if (mode === 'kafka') await deleteTopics(ctx.kafkaBrokers, id)
    },
  }
}

/** Removes the run's Kafka topics and consumer group from the shared broker. */
async function deleteTopics(brokers: string, prefix: string): Promise<void> {
  const admin = new Kafka({ clientId: `${prefix}-cleanup`, brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    await admin.deleteTopics({ topics: ['readings', 'rejections', 'events'].map((t) => `${prefix}.${t}`) }).catch(() => {})
    await admin.deleteGroups([`${prefix}-writer`]).catch(() => {})
  } finally {
    await admin.disconnect()
  }
}

function log(ctx: StackContext, name: string): string {
  return join(ctx.dir, `${name}.log`)
}
