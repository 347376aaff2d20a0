import { createConnection, createServer, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a real service, to cut the connection the way a network outage or a restarting
 * server does: `down()` refuses and drops every connection, `up()` forwards again.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  let forwarding = true
  const sockets = new Set<Socket>()
  // half-open on both sides, as a real network is: a client's FIN reaches the server after its last bytes, and the
  // client's socket closes only once the server has answered with its own (MQTT DISCONNECT, then close)
  const server = createServer({ allowHalfOpen: true }, (client) => {
    if (!forwarding) return client.destroy()
    const upstream = createConnection({ ...target, allowHalfOpen: true })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => undefined)
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    down() {
      forwarding = false
      for (const s of sockets) s.destroy()
    },
    up() {
      forwarding = true
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}
