import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './env.ts'

const MOSQUITTO = '/usr/sbin/mosquitto'
const CONF_SH = fileURLToPath(new URL('../../infra/mosquitto/conf.sh', import.meta.url))

/**
 * One Mosquitto process of a test's own on `port`, with the configuration the project ships
 * (infra/mosquitto/conf.sh, as infra/up.sh and docker-compose.yml run it) and its persistence in `dir`; `env`
 * overrides its limits (SENSHAGEN_MOSQUITTO_MAX_QUEUED, _MAX_INFLIGHT). Restartable on the same folder.
 */
export class ShippedMosquitto {
  private child: ChildProcess | undefined
  /** Everything Mosquitto wrote to stderr (its log), over every start. */
  log = ''
  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    // started as root, Mosquitto would switch to user "mosquitto", which cannot write our temporary folder
    const runAs = process.getuid?.() === 0 ? { SENSHAGEN_MOSQUITTO_RUN_AS: 'root' } : {}
    const conf = execFileSync('sh', [CONF_SH, String(this.port), this.dir], { env: { ...process.env, ...runAs, ...this.env }, encoding: 'utf8' })
    writeFileSync(join(this.dir, 'mosquitto.conf'), conf)
    const child = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr!.on('data', (chunk: Buffer) => (this.log += chunk.toString('utf8')))
    this.child = child
    await waitFor(`mosquitto on :${this.port}`, () => portOpen(this.port), 10_000, 50)
  }

  /** SIGKILL: no save runs. Resolves when the process is gone. */
  async kill9(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}
