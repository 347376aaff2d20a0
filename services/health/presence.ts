import type { Aedes, Client } from 'aedes'

/** Told of a device's connection changes: `at` epoch ms, `detail` for the event (`via`, `clientId`). */
export type PresenceListener = (deviceId: string, state: 'online' | 'offline', at: number, detail: Record<string, unknown>) => void

/**
 * Follows the embedded broker's device connections (aedes `client`: CONNACK sent; `clientDisconnect`: the
 * connection ended, gracefully or not, after its will went out [MQTT-3.1.2-8]): a device is `online` while it
 * has at least one connection. `offline` is reported only once it had none for `settleMs` (default 2 s), so a
 * takeover by the same client id [MQTT-3.1.4-2] (aedes closes the old connection, then registers the new) or a
 * quick reconnect is no offline/online pair; its `at` is the disconnect's time. `deviceOf` maps an
 * authenticated client to its registry device (RunningBroker.deviceOf); service accounts are ignored.
 * Clients connected already when it starts are reported online. Returns a function that stops following.
 */
export function watchPresence(aedes: Aedes, deviceOf: (client: Client) => string | undefined, report: PresenceListener, settleMs = 2_000): () => void {
  const live = new Map<string, Set<Client>>()
  const settling = new Map<string, NodeJS.Timeout>()
  const onConnect = (client: Client) => {
    const deviceId = deviceOf(client)
    if (deviceId === undefined) return
    const clients = live.get(deviceId) ?? new Set()
    clients.add(client)
    live.set(deviceId, clients)
    clearTimeout(settling.get(deviceId))
    settling.delete(deviceId)
    report(deviceId, 'online', Date.now(), { via: 'mqtt', clientId: client.id })
  }
  const onDisconnect = (client: Client) => {
    const deviceId = deviceOf(client)
    const clients = deviceId === undefined ? undefined : live.get(deviceId)
    if (deviceId === undefined || !clients?.delete(client) || clients.size > 0) return
    live.delete(deviceId)
    const at = Date.now()
    settling.set(
      deviceId,
      setTimeout(() => {
        settling.delete(deviceId)
        report(deviceId, 'offline', at, { via: 'mqtt', clientId: client.id })
      }, settleMs),
    )
  }
  aedes.on('client', onConnect)
  aedes.on('clientDisconnect', onDisconnect)
  // clients that connected before this started watching (aedes keeps them in `clients`, untyped: id → Client)
  for (const client of Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)) onConnect(client)
  return () => {
    aedes.off('client', onConnect)
    aedes.off('clientDisconnect', onDisconnect)
    for (const timer of settling.values()) clearTimeout(timer)
    settling.clear()
  }
}
