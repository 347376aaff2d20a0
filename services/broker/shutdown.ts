import type { Server as HttpServer } from 'node:http'
import type { Server as NetServer } from 'node:net'
import type { Aedes, AedesOptions, Client } from 'aedes'
import { reportUndrained, settlesBy, type Deadline } from '../../core/drain.ts'
import type { Logger } from '../../core/logger.ts'
import type { BrokerIngest } from './broker-ingest.ts'

/** How long the sockets get to flush their last PUBACKs when the drain deadline has already passed, ms. */
const FLUSH_GRACE_MS = 500

/**
 * The embedded broker's graceful shutdown (SIGTERM/SIGINT, `senshagen up` and `senshagen broker`), before the
 * broker closes:
 * 1. No new work: the listeners stop accepting, a CONNECT read from now on is refused (the connection closes
 *    without CONNACK; the device retries, e.g. at another instance behind the load balancer), and every
 *    connection stops being read (aedes `Client#pause`). A PUBLISH that was not read yet therefore gets no
 *    PUBACK: the device still holds it and resends it after reconnecting [MQTT-4.4.0-1]. Every PUBLISH read
 *    before is processed normally.
 * 2. Drain: waits until every publish already read has had its callback run (BrokerIngest `drain`): for QoS 1
 *    its readings are durable and its PUBACK written, per client in arrival order [MQTT-4.6.0-2], since
 *    BrokerIngest runs one client's callbacks in order and aedes writes the PUBACK synchronously in the callback
 *    (lib/handlers/publish.js).
 * 3. Flush: each connection's writable side is ended, so the PUBACKs written so far reach the device before
 *    `aedes.close()` destroys the socket.
 * All of it ends at `deadline`; publishes still waiting for the store then are logged at error level and counted
 * (core/drain.ts reportUndrained): they get no PUBACK and are resent. QoS 0 publishes and wills handed to the
 * ingest are flushed by the ingest's sink drain, which the caller runs after this (cli/front-door.ts).
 */
export class BrokerShutdown {
  private draining = false
  private readonly clients = new Set<Client>()

  constructor(private readonly logger: Logger) {}

  /** `hooks` with a preConnect that refuses every CONNECT once the drain began. */
  wrap<H extends Pick<AedesOptions, 'preConnect'>>(hooks: H): H {
    const preConnect = hooks.preConnect!
    return {
      ...hooks,
      preConnect: (client, packet, callback) => {
        if (this.draining) return callback(new Error('broker shutting down'), false)
        preConnect(client, packet, callback)
      },
    }
  }

  /** Follows `client` (every accepted connection) until its socket closes. */
  track(client: Client): void {
    this.clients.add(client)
    client.conn.once('close', () => this.clients.delete(client))
  }

  /** Steps 1–3 above; resolves when done or at `deadline` (epoch ms). */
  async drain(aedes: Aedes, servers: ReadonlyArray<NetServer | HttpServer>, ingest: BrokerIngest | undefined, deadline: Deadline): Promise<void> {
    this.draining = true
    for (const server of servers) server.close()
    for (const client of this.clients) pauseReading(client)
    // a login that was being checked when the drain began: paused as soon as it is registered
    aedes.on('client', pauseReading)
    const pending = ingest?.pending ?? 0
    this.logger.info({ connections: this.clients.size, pending }, 'draining: no new connections or publishes; waiting for the publishes read so far')
    const left = ingest ? await ingest.drain(deadline) : 0
    reportUndrained(this.logger, 'embedded_broker', left, 'publishes (no PUBACK sent)')
    const flushed = [...this.clients].map((client) => {
      const conn = client.conn as NodeJS.WritableStream & { writableFinished?: boolean; destroyed?: boolean }
      if (conn.destroyed || conn.writableFinished) return Promise.resolve()
      return new Promise<void>((resolve) => {
        conn.once('finish', resolve)
        conn.once('close', resolve)
        conn.end()
      })
    })
    await settlesBy(Math.max(deadline, Date.now() + FLUSH_GRACE_MS), Promise.all(flushed))
    this.logger.info({ acknowledged: pending - left, left }, 'drained')
  }
}

/** Stops reading `client`'s socket: aedes 1.x `Client#pause` (lib/client.js; not in its typings) makes `nextBatch` parse nothing more. */
function pauseReading(client: Client): void {
  ;(client as Client & { pause(): void }).pause()
}
