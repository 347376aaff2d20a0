import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { QUANTITIES } from '../../../core/quantities.ts'
import { READINGS_FILTER } from '../../../core/topics.ts'
import { freePort } from '../../../test/helpers/processes.ts'
import { spawnLogged, stopProcess } from './child.ts'

/**
 * Node-RED as a citizen-science group would set it up: Node-RED 4.x and node-red-contrib-influxdb, a default flow
 * `mqtt in` (QoS 1, parsed JSON) → `function` (native payload → five points of our schema) → `influxdb out`
 * (InfluxDB 1.x, one write per message), its own user directory, nothing tuned.
 *
 * Installed by the benchmark into bench/.node-red/ (gitignored) with npm at the first run, reused after.
 * Differences from our schema that node-red-contrib-influxdb imposes on 1.x: every number is written as a float,
 * so `received_ms` is a float field there (each stack has its own database, so no field-type conflict).
 */
export const NODE_RED_VERSION = '4.1.8'
export const NODE_RED_INFLUXDB_VERSION = '0.7.0'
const HOME = fileURLToPath(new URL('../../.node-red/', import.meta.url))

function installedVersion(name: string): string | undefined {
  const file = join(HOME, 'node_modules', name, 'package.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined
}

/** Installs Node-RED and the InfluxDB nodes into bench/.node-red/ unless the pinned versions are there. */
export async function ensureNodeRed(say: (text: string) => void): Promise<void> {
  if (installedVersion('node-red') === NODE_RED_VERSION && installedVersion('node-red-contrib-influxdb') === NODE_RED_INFLUXDB_VERSION) return
  say(`installing node-red@${NODE_RED_VERSION} and node-red-contrib-influxdb@${NODE_RED_INFLUXDB_VERSION} into bench/.node-red/ (first run only)`)
  mkdirSync(HOME, { recursive: true })
  writeFileSync(
    join(HOME, 'package.json'),
    JSON.stringify({ private: true, description: 'Node-RED for npm run bench (bench/fleet/stacks/node-red.ts)', dependencies: { 'node-red': NODE_RED_VERSION, 'node-red-contrib-influxdb': NODE_RED_INFLUXDB_VERSION } }, null, 2),
  )
  await promisify(execFile)('npm', ['install', '--prefix', HOME, '--no-audit', '--no-fund'], { maxBuffer: 16 * 1024 * 1024 })
}

export interface NodeRedOptions {
  mqtt: { port: number; username: string; password: string }
  influx: { url: string; database: string }
  logFile: string
}

export interface RunningNodeRed {
  pid: number
  stop(): Promise<void>
}

/**
 * Starts Node-RED with the default flow, its user directory bench/.node-red/user/ (settings, flow and credentials
 * rewritten each run), and resolves once its MQTT node is connected to the broker.
 */
export async function startNodeRed(options: NodeRedOptions): Promise<RunningNodeRed> {
  // inside bench/.node-red/, whose package.json makes settings.js CommonJS (the repository's is "type": "module")
  const userDir = join(HOME, 'user')
  mkdirSync(userDir, { recursive: true })
  const port = await freePort()
  writeFileSync(
    join(userDir, 'settings.js'),
    `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1',
      uiPort: port,
      flowFile: 'flows.json',
      credentialSecret: false,
      telemetry: { enabled: false, updateNotification: false },
      diagnostics: { enabled: false, ui: false },
      logging: { console: { level: 'info', metrics: false, audit: false } },
    })}\n`,
  )
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow(options), null, 2))
  writeFileSync(join(userDir, 'flows_cred.json'), JSON.stringify({ 'bench-broker': { user: options.mqtt.username, password: options.mqtt.password } }))
  const child = spawnLogged(process.execPath, [join(HOME, 'node_modules', 'node-red', 'red.js'), '--userDir', userDir], options.logFile)
  const deadline = Date.now() + 60_000
  for (;;) {
    const log = existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8') : ''
    if (/Connected to broker/.test(log)) break
    if (child.exitCode !== null) throw new Error(`Node-RED exited with ${child.exitCode}; see ${options.logFile}`)
    if (Date.now() > deadline) {
      await stopProcess(child)
      throw new Error(`Node-RED's MQTT node did not connect within 60 s; see ${options.logFile}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return { pid: child.pid!, stop: () => stopProcess(child) }
}

/** The flow: mqtt in → function → influxdb out, plus the broker and InfluxDB config nodes. */
function flow(options: NodeRedOptions): object[] {
  const units = Object.fromEntries(Object.entries(QUANTITIES).map(([name, q]) => [name, q.unit]))
  const influx = new URL(options.influx.url)
  const func = [
    `const UNITS = ${JSON.stringify(units)};`,
    `const device = msg.topic.split('/')[3];`,
    `const p = msg.payload;`,
    `const time = Date.parse(p.time);`,
    `const received = Date.now();`,
    `const points = [];`,
    `for (const quantity in p.readings) {`,
    `  const value = p.readings[quantity];`,
    `  if (typeof value !== 'number') continue;`,
    `  points.push([{ value, unit: UNITS[quantity], source: 'senshagen-v1', time_source: 'device', received_ms: received, flags: '', sensor: p.sensor, time }, { device, quantity }]);`,
    `}`,
    `msg.payload = points;`,
    `return msg;`,
  ].join('\n')
  return [
    { id: 'bench-tab', type: 'tab', label: 'SensHagen benchmark' },
    {
      id: 'bench-broker',
      type: 'mqtt-broker',
      name: 'bench mosquitto',
      broker: '127.0.0.1',
      port: String(options.mqtt.port),
      clientid: 'bench-node-red',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
    },
    { id: 'bench-in', type: 'mqtt in', z: 'bench-tab', name: 'readings', topic: READINGS_FILTER, qos: '1', datatype: 'json', broker: 'bench-broker', nl: false, rap: true, rh: 0, inputs: 0, x: 120, y: 80, wires: [['bench-fn']] },
    { id: 'bench-fn', type: 'function', z: 'bench-tab', name: 'native v1 → points', func, outputs: 1, timeout: 0, noerr: 0, x: 320, y: 80, wires: [['bench-out']] },
    { id: 'bench-influx', type: 'influxdb', hostname: influx.hostname, port: influx.port || '8086', protocol: 'http', database: options.influx.database, name: 'bench influx', usetls: false, influxdbVersion: '1.x' },
    { id: 'bench-out', type: 'influxdb out', z: 'bench-tab', influxdb: 'bench-influx', name: 'reading', measurement: 'reading', precision: 'ms', retentionPolicy: '', x: 520, y: 80, wires: [] },
  ]
}
