import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import type { IncomingMessage } from 'node:http'
import { Aedes, type Client, type Connection } from 'aedes'
import * as mqttPacket from 'mqtt-packet'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Config } from '../../core/config.ts'
import type { Deadline } from '../../core/drain.ts'
import { ConfigError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { trackBroker } from '../../core/metrics.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { BrokerGuard } from './auth.ts'
import type { BrokerIngestStats, InBrokerIngest } from './broker-ingest.ts'
import { guardPacketSize } from './packet-guard.ts'
import { markRedeliveriesDup } from './redelivery.ts'
import { skipUnheardPublishes } from './unheard-publishes.ts'
import { BrokerShutdown } from './shutdown.ts'
import type { BrokerSecurityStats } from './security-stats.ts'

/**
 * What the broker needs: config.broker (ports, limits, registry poll, TLS) and the registry. `store` and
 * `limits` are required, so no broker without authentication and limits can be built by accident.
 */
export type BrokerOptions = Config['broker'] & {
  store: RegistryStore
  /** Client ids owned by an account from the start: `{ [config.mqtt.ingestClientId]: '_ingest' }`. */
  reservedClientIds?: Record<string, string>
  /**
   * The in-process ingest (`senshagen up`, `senshagen broker`): devices' and the importer's publishes are stored
   * before their PUBACK (broker-ingest.ts). Without it the broker only relays, and an ingest subscribes.
   */
  ingest?: InBrokerIngest
}

export interface RunningBroker {
  aedes: Aedes
  port: number
  wsPort: number
  /** MQTT over TLS and over secure WebSocket, when options.tls is set. */
  tlsPort?: number
  wssPort?: number
  /** Refusals by reason, rate-limited publishes, credential checks. */
  security: BrokerSecurityStats
  /** What the in-broker ingest acknowledged, refused and dropped (only with options.ingest). */
  ingest?: BrokerIngestStats
  /** Polls the registry for revoked or rotated devices now (the broker also does so every registryPollMs). */
  pollRegistry(): Promise<void>
  /** The registry device an authenticated client logged in as; undefined for service accounts (fleet health). */
  deviceOf(client: Client): string | undefined
  /**
   * Closes every connection and listener. With `deadline` (epoch ms, graceful shutdown) it first drains:
   * no new connections or publishes, and what was read is stored and acknowledged until then (shutdown.ts).
   */
  close(deadline?: Deadline): Promise<void>
}

/**
 * The embedded MQTT broker: aedes (MQTT 3.1.1, QoS 0/1/2, retained messages, persistent sessions with offline
 * queueing, all in memory) on TCP and WebSocket, and on MQTTS and WSS when a certificate is configured. Every
 * client authenticates against the registry and may use only its own topics (services/broker/auth.ts); packets
 * larger than limits.maxPacketBytes close the connection before they are buffered (packet-guard.ts).
 * With `options.ingest` a PUBACK means stored, so a crash loses nothing acknowledged; sessions, subscriptions,
 * retained messages and QoS 0 messages not yet stored live in memory and are lost when the process stops
 * (README "Brokers and crashes"). A publish no granted filter matches skips aedes' delivery steps
 * (unheard-publishes.ts). The listeners open last, with the ingest already attached.
 * Errors: ConfigError when the TLS files cannot be read; the listen error when a port is taken.
 */
export async function startBroker(options: BrokerOptions, logger: Logger): Promise<RunningBroker> {
  const tls = options.tls ? readTls(options.tls) : undefined
  const guard = new BrokerGuard(options, logger)
  const shutdown = new BrokerShutdown(logger)
  // aedes writes packets with mqtt-packet, which by default builds a 2-byte Buffer for each of the 65,536 packet
  // ids on first use: ~6.6 MB of live heap, kept for good, to save writing two bytes per PUBACK (no difference
  // in CPU measured; docs/benchmarks.md "2026-12-02 (session 20, Kafka-mode memory)")
  mqttPacket.writeToStream.cacheNumbers = false
  const aedes = await Aedes.createBroker(shutdown.wrap(guard.hooks()))
  guard.attach(aedes)
  markRedeliveriesDup(aedes)
  skipUnheardPublishes(aedes)
  aedes.on('clientError', (client, error) => logger.debug({ clientId: client?.id, err: error }, 'mqtt client error'))
  aedes.on('client', (client) => logger.debug({ clientId: client.id }, 'mqtt client connected'))

  const maxBytes = options.limits.maxPacketBytes
  const handle = (stream: Connection, request?: IncomingMessage) => {
    const client = aedes.handle(stream, request)
    shutdown.track(client)
    guardPacketSize(client, maxBytes, (error, cmd) => {
      const remote = (stream as Socket).remoteAddress ?? request?.socket.remoteAddress
      guard.stats.refuse('packet-too-large', { clientId: client.id ?? undefined, remote, cmd, bytes: error.packetBytes, limit: maxBytes }, 'packet too large: connection closed')
    })
    return client
  }
  // ws buffers a whole WebSocket message before handing it on: cap it at the MQTT packet limit too
  const websocket = (server: HttpServer) => {
    const wss = new WebSocketServer({ server, maxPayload: maxBytes })
    wss.on('connection', (socket, request) => {
      socket.on('error', (error: Error & { code?: string }) => {
        if (error.code !== 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return
        guard.stats.refuse('packet-too-large', { remote: request.socket.remoteAddress, limit: maxBytes }, 'WebSocket message larger than the packet limit: connection closed')
      })
      handle(createWebSocketStream(socket), request)
    })
    return wss
  }

  const tcp = createNetServer((socket) => handle(socket))
  const http = createHttpServer()
  const servers: Array<NetServer | HttpServer> = [tcp, http]
  const sockets = [websocket(http)]
  const port = await listen(tcp, options.port, options.bind)
  const wsPort = await listen(http, options.wsPort, options.bind)
  let tlsPort: number | undefined
  let wssPort: number | undefined
  if (tls && options.tls) {
    const mqtts = createTlsServer(tls, (socket) => handle(socket))
    const https = createHttpsServer(tls)
    sockets.push(websocket(https))
    servers.push(mqtts, https)
    tlsPort = await listen(mqtts, options.tls.port, options.bind)
    wssPort = await listen(https, options.tls.wsPort, options.bind)
  }
  const untrack = trackBroker({ connections: () => aedes.connectedClients, devicesOnline: () => guard.sessions.connectedDeviceIds(), devicesRegistered: cachedActiveDevices(options.store) })
  logger.info({ bind: options.bind, port, wsPort, tlsPort, wssPort, registry: options.store.source, limits: options.limits }, 'mqtt broker listening')

  return {
    aedes,
    port,
    wsPort,
    tlsPort,
    wssPort,
    security: guard.stats,
    ingest: guard.ingest?.stats,
    pollRegistry: () => guard.pollRegistry(),
    deviceOf: (client) => ((p) => (p?.kind === 'device' ? p.device.id : undefined))(guard.sessions.get(client)?.principal),
    async close(deadline) {
      // graceful (SIGTERM): stop taking work, let what was read be stored and acknowledged (shutdown.ts)
      if (deadline !== undefined) await shutdown.drain(aedes, servers, guard.ingest, deadline)
      untrack()
      await guard.close()
      // aedes first: it disconnects its clients, so the servers have no open connections left to wait for
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      for (const wss of sockets) for (const client of wss.clients) client.terminate()
      await Promise.all(servers.map(closeServer))
    },
  }
}

/** Registered, not revoked device ids for the device gauges (core/metrics.ts), read at most every DEVICES_CACHE_MS. */
const DEVICES_CACHE_MS = 30_000
function cachedActiveDevices(store: RegistryStore): () => Promise<string[]> {
  let cached: { at: number; ids: Promise<string[]> } | undefined
  return () => {
    if (!cached || Date.now() - cached.at > DEVICES_CACHE_MS) {
      const ids = store.devices().then((devices) => devices.filter((d) => d.revokedAt === undefined).map((d) => d.id))
      cached = { at: Date.now(), ids }
      ids.catch(() => (cached = undefined))
    }
    return cached.ids
  }
}

function readTls(tls: NonNullable<Config['broker']['tls']>): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file)
    } catch (cause) {
      throw new ConfigError(`cannot read the MQTT TLS ${what} ${file}: ${(cause as Error).message}`, { cause })
    }
  }
  return { cert: read(tls.certFile, 'certificate (SENSHAGEN_MQTT_TLS_CERT)'), key: read(tls.keyFile, 'key (SENSHAGEN_MQTT_TLS_KEY)') }
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    })
  })
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections()
    server.close(() => resolve())
  })
}
