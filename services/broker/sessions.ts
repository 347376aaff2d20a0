import type { Client } from 'aedes'
import type { TopicRights } from '../../core/registry/topic-rights.ts'
import type { Principal } from '../../core/registry/store.ts'

/** What the broker knows about one authenticated connection. */
export interface Session {
  principal: Principal
  rights: TopicRights
  /** The client id as the client sent it ('' for an empty one; aedes then uses `aedes_<uuid>` as client.id). */
  clientId: string
  /** Peer address (TCP/TLS socket, or the HTTP request under a WebSocket). */
  remote: string
  /** Epoch ms when the credential check began: a registry change after this closes the connection. */
  authStartedAt: number
  /** Topic filters this connection holds (counted against maxSubscriptionsPerClient). */
  subscriptions: Set<string>
  /** Set when the registry poll closes the connection; its will is then not delivered. */
  closedBy?: 'revoked' | 'credentials-changed'
}

interface Owner {
  username: string
  /** Connections with this client id right now (a takeover briefly has two: old and new). */
  live: Set<Client>
  /**
   * True while the broker keeps a session for the id: the last connection used CleanSession=0, whose
   * subscriptions and queued QoS 1/2 messages outlive it [MQTT-3.1.2-4].
   */
  persistent: boolean
  /** Reserved from configuration (the ingest's client id): never released. */
  reserved: boolean
}

/**
 * The broker's connection table: session per aedes client, connections per device (to close them on revocation),
 * and the owner of every client id in use. A client id belongs to the account that connected with it while it is
 * connected or holds a persistent session, so only that account can take it over [MQTT-3.1.4-2 takeover];
 * reserved ids (the ingest's) belong to their account from the start.
 */
export class SessionTable {
  private readonly sessions = new WeakMap<Client, Session>()
  private readonly byDevice = new Map<string, Set<Client>>()
  private readonly owners = new Map<string, Owner>()

  /** `reserved`: client id → username, owned from the start and never released. */
  constructor(reserved: Record<string, string> = {}) {
    for (const [clientId, username] of Object.entries(reserved)) {
      this.owners.set(clientId, { username, live: new Set(), persistent: true, reserved: true })
    }
  }

  get(client: Client): Session | undefined {
    return this.sessions.get(client)
  }

  /** The account that owns `clientId`, or undefined when the id is free. */
  ownerOf(clientId: string): string | undefined {
    return this.owners.get(clientId)?.username
  }

  /**
   * Records an authenticated connection (call only after checking `ownerOf`). The entry goes away when the
   * connection's stream closes; the client id stays owned while the session persists (CleanSession=0).
   */
  add(client: Client, session: Session): void {
    this.sessions.set(client, session)
    const owner = this.owners.get(client.id) ?? { username: session.principal.username, live: new Set(), persistent: false, reserved: false }
    owner.live.add(client)
    owner.persistent = owner.reserved || !client.clean
    this.owners.set(client.id, owner)
    const deviceId = session.principal.kind === 'device' ? session.principal.device.id : undefined
    if (deviceId !== undefined) {
      const clients = this.byDevice.get(deviceId) ?? new Set()
      clients.add(client)
      this.byDevice.set(deviceId, clients)
    }
    client.conn.once('close', () => this.remove(client, deviceId))
  }

  /** Open connections of a device. */
  clientsOfDevice(deviceId: string): Client[] {
    return [...(this.byDevice.get(deviceId) ?? [])]
  }

  /** Ids of the devices with at least one open connection. */
  connectedDeviceIds(): IterableIterator<string> {
    return this.byDevice.keys()
  }

  /** Client ids owned right now (connected or holding a persistent session). */
  get ownedClientIds(): number {
    return this.owners.size
  }

  private remove(client: Client, deviceId: string | undefined): void {
    if (deviceId !== undefined) {
      const clients = this.byDevice.get(deviceId)
      clients?.delete(client)
      if (clients?.size === 0) this.byDevice.delete(deviceId)
    }
    const owner = this.owners.get(client.id)
    if (!owner) return
    owner.live.delete(client)
    if (owner.live.size === 0 && !owner.persistent) this.owners.delete(client.id)
  }
}
