import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type Server as NetServer } from 'node:net'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Logger } from '../../core/logger.ts'

export interface BrokerOptions {
  bind: string
  /** MQTT over TCP; 0 picks a free port. */
  port: number
  /** MQTT over WebSocket (path any, subprotocol `mqtt`); 0 picks a free port. */
  wsPort: number
}

export interface RunningBroker {
  aedes: Aedes
  port: number
  wsPort: number
  close(): Promise<void>
}

/**
 * The embedded MQTT broker: aedes (MQTT 3.1.1, QoS 0/1/2, retained messages, persistent sessions with
 * offline queueing, all in memory) on TCP and WebSocket. State is lost when the process stops; devices
 * resend, and a producer that needs the broker to survive restarts should point at Mosquitto instead.
 */
export async function startBroker(options: BrokerOptions, logger: Logger): Promise<RunningBroker> {
  const aedes = await Aedes.createBroker()
  aedes.on('clientError', (client, error) => logger.debug({ clientId: client?.id, err: error }, 'mqtt client error'))
  aedes.on('client', (client) => logger.debug({ clientId: client.id }, 'mqtt client connected'))

  const tcp = createNetServer(aedes.handle)
  const http = createHttpServer()
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', (socket, request) => aedes.handle(createWebSocketStream(socket) as never, request as never))

  const port = await listen(tcp, options.port, options.bind)
  const wsPort = await listen(http, options.wsPort, options.bind)
  logger.info({ bind: options.bind, port, wsPort }, 'mqtt broker listening')

  return {
    aedes,
    port,
    wsPort,
    async close() {
      // aedes first: it disconnects its clients, so the servers have no open connections left to wait for
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      for (const client of wss.clients) client.terminate()
      await Promise.all([closeServer(tcp), closeServer(http)])
    },
  }
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
