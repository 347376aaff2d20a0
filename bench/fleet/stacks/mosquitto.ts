import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort } from '../../../test/helpers/processes.ts'
import type { Fleet } from '../fleet-setup.ts'
import { spawnLogged, stopProcess } from './child.ts'

/**
 * A dedicated Mosquitto 2.0 for one stack (ceiling, Node-RED, SensHagen subscribed), on a free loopback port,
 * with the password and ACL files generated from the benchmark's registry: every client logs in as in
 * production, and the devices may publish only their own topics.
 *
 * Two limits are raised above Mosquitto's defaults, for every stack alike:
 * - max_queued_messages (default 1000): beyond it Mosquitto drops QoS 1 messages queued for a slow subscriber,
 *   which would be the broker's loss, not the subscriber's;
 * - max_inflight_messages (default 20): QoS 1 messages sent to one subscriber and not yet acknowledged, so that
 *   a subscriber that acknowledges in batches is not held to 20 per round trip.
 */
export const MOSQUITTO_LIMITS = { maxInflightMessages: 1000, maxQueuedMessages: 2_000_000 }

export interface RunningMosquitto {
  port: number
  url: string
  pid: number
  stop(): Promise<void>
}

export async function startMosquitto(fleet: Fleet, dir: string, logFile: string): Promise<RunningMosquitto> {
  const port = await freePort()
  const confFile = join(dir, `mosquitto-${port}.conf`)
  writeFileSync(
    confFile,
    [
      `# written by bench/fleet/stacks/mosquitto.ts for one benchmark stack`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${fleet.mosquitto.passwordFile}`,
      `acl_file ${fleet.mosquitto.aclFile}`,
      // the benchmark runs as root here; the generated files are 0600 root's
      'user root',
      'persistence false',
      `max_inflight_messages ${MOSQUITTO_LIMITS.maxInflightMessages}`,
      `max_queued_messages ${MOSQUITTO_LIMITS.maxQueuedMessages}`,
      'max_queued_bytes 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'connection_messages true',
      '',
    ].join('\n'),
  )
  const child = spawnLogged(process.env.SENSHAGEN_BENCH_MOSQUITTO ?? '/usr/sbin/mosquitto', ['-c', confFile], logFile)
  const deadline = Date.now() + 10_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}; see ${logFile}`)
    if (Date.now() > deadline) throw new Error(`mosquitto not listening on :${port} after 10 s; see ${logFile}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, stop: () => stopProcess(child) }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}
