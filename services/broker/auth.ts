import type { Aedes, AedesOptions, AedesPublishPacket, AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import type { Config } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import { brokerRateLimited } from '../../core/metrics.ts'
import type { DeviceRecord, Principal, RegistryStore } from '../../core/registry/store.ts'
import { serviceRoleOf } from '../../core/registry/device-rules.ts'
import { deviceRights, mayPublish, maySubscribe, nativeTopicDevice, serviceRights, type TopicRights } from '../../core/registry/topic-rights.ts'
import { topicMatches } from '../../core/topics.ts'
import { BrokerIngest, type InBrokerIngest } from './broker-ingest.ts'
import { LoginThrottle } from './login-throttle.ts'
import { RateLimiter } from './rate-limit.ts'
import { RegistryWatch } from './registry-watch.ts'
import { BrokerSecurityStats, type RefusalContext, type RefusalReason } from './security-stats.ts'
import { SessionTable, type Session } from './sessions.ts'

export type BrokerLimits = Config['broker']['limits']

export interface BrokerGuardOptions {
  store: RegistryStore
  limits: BrokerLimits
  /** How often the registry is polled for revoked or rotated devices, ms. */
  registryPollMs: number
  /** Client ids owned by an account from the start (`{ 'senshagen-ingest': '_ingest' }`). */
  reservedClientIds?: Record<string, string>
  /** The in-process ingest: publishes of devices and the importer are stored before their PUBACK (broker-ingest.ts). */
  ingest?: InBrokerIngest
}

/** CONNACK return codes we send (MQTT 3.1.1 §3.2.2.3). */
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const NOT_AUTHORIZED = 5

/**
 * Authentication and authorization of the embedded broker, as aedes hooks; deny by default. What an account may
 * do comes from core/registry/topic-rights.ts alone.
 *
 * CONNECT: username = device id or service account (`_ingest`, `_importer`, `_operator`), password = secret.
 * Every failed login — anonymous, unknown user, wrong secret, revoked device, throttled — gets CONNACK 5 "not
 * authorized" and the connection closes [MQTT-3.2.2-5]: one code, so a client cannot tell an unknown user from a
 * wrong secret (Mosquitto 2 answers the same). A connect refused for authorization after a good login (will not
 * allowed, client id owned by another account, client id that is another account's name) also gets 5. A zero-length client id with CleanSession=0 gets 2
 * "identifier rejected" [MQTT-3.1.3-8]. A failing registry gets 3 "server unavailable".
 *
 * PUBLISH: a refused publish (topic, retain, retained-topic limit) closes the connection, since MQTT 3.1.1 has no
 * negative PUBACK; nothing of it is delivered or retained. A device's publishes wait for its rate-limit token
 * (service accounts are not limited). Subscriptions outside the rights, and beyond the per-client limit, get
 * SUBACK 0x80 [MQTT-3.9.3]; `authorizeForward` drops anything a client may not read (defence in depth: it also
 * covers retained messages and queued offline messages).
 */
export class BrokerGuard {
  readonly stats: BrokerSecurityStats
  readonly sessions: SessionTable
  /** The in-broker ingest, when the broker runs with one. */
  readonly ingest?: BrokerIngest
  private readonly throttle: LoginThrottle
  private readonly rate: RateLimiter
  private readonly watch: RegistryWatch
  /** Account → distinct topics it holds retained messages on (devices only). */
  private readonly retained = new Map<string, Set<string>>()
  /** Publishes per connection whose authorization (and so PUBACK) has not been answered yet. */
  private readonly pending = new WeakMap<Client, number>()
  /** Facts from CONNECT that aedes does not keep: the client id as sent, and the peer address. */
  private readonly connects = new WeakMap<Client, { clientId: string; clean: boolean; remote: string }>()

  constructor(
    private readonly options: BrokerGuardOptions,
    private readonly logger: Logger,
  ) {
    this.stats = new BrokerSecurityStats(logger)
    this.sessions = new SessionTable(options.reservedClientIds)
    this.ingest = options.ingest ? new BrokerIngest(options.ingest, logger.child({ component: 'in-broker-ingest' })) : undefined
    this.throttle = new LoginThrottle({ failures: options.limits.loginFailures, lockoutMs: options.limits.loginLockoutMs })
    this.rate = new RateLimiter({ ratePerS: options.limits.deviceRatePerS, burst: options.limits.deviceBurst })
    this.watch = new RegistryWatch(options.store, options.registryPollMs, (changed) => this.registryChanged(changed), logger)
  }

  /** The aedes options that install the hooks. */
  hooks(): Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>> {
    return {
      preConnect: (client, packet, callback) => this.preConnect(client, packet, callback),
      authenticate: (client, username, password, done) => void this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, callback) => this.authorizePublish(client, packet, callback),
      authorizeSubscribe: (client, sub, callback) => this.authorizeSubscribe(client, sub, callback),
      authorizeForward: (client, packet) => this.authorizeForward(client, packet),
    }
  }

  /** Starts following the registry and the (un)subscriptions of `aedes`. */
  attach(aedes: Aedes): void {
    aedes.on('unsubscribe', (filters, client) => {
      const session = this.sessions.get(client)
      for (const filter of filters) session?.subscriptions.delete(filter)
    })
    // aedes stores every filter of a SUBSCRIBE in a persistent session as soon as one of them is granted
    // (lib/handlers/subscribe.js `storeSubscriptions` passes packet.subscriptions whole), refused ones included,
    // and then queues every matching QoS 1/2 message for them (`enqueueOffline`): a device asking for `#` next
    // to one allowed filter would collect the whole broker's traffic in its queue. Remove refused filters
    // (SUBACK 0x80, reported here as qos 128) from the persistence again; authorizeForward drops whatever was
    // queued in between.
    const persistence = (aedes as unknown as { persistence: { removeSubscriptions(client: Client, topics: string[]): Promise<void> } }).persistence
    aedes.on('subscribe', (subscriptions, client) => {
      const refused = subscriptions.filter((sub) => (sub.qos as number) === 128).map((sub) => sub.topic)
      if (refused.length === 0 || client.clean) return
      persistence.removeSubscriptions(client, refused).catch((error: unknown) => this.logger.error({ err: error, clientId: client.id }, 'could not remove refused subscriptions from the session'))
    })
    this.watch.start()
  }

  /** Polls the registry once now (tests; the timer does the same every registryPollMs). */
  pollRegistry(): Promise<void> {
    return this.watch.poll()
  }

  async close(): Promise<void> {
    this.rate.close()
    await this.watch.close()
  }

  private preConnect(client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void {
    // aedes replaces an empty client id with `aedes_<uuid>` before `authenticate` runs: keep what was sent
    this.connects.set(client, { clientId: packet.clientId, clean: packet.clean !== false, remote: remoteAddress(client) })
    callback(null, true)
  }

  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): Promise<void> {
    const connect = this.connects.get(client) ?? { clientId: client.id, clean: client.clean, remote: remoteAddress(client) }
    const context: RefusalContext = { clientId: connect.clientId, username, remote: connect.remote }
    const refuse = (reason: RefusalReason, message: string, code = NOT_AUTHORIZED, extra: Record<string, unknown> = {}) => {
      this.stats.refuse(reason, { ...context, ...extra }, message)
      done(connackError(code, message), false)
    }
    if (connect.clientId === '' && !connect.clean) return refuse('empty-client-id', 'zero-length client id with CleanSession=0 [MQTT-3.1.3-8]', IDENTIFIER_REJECTED)
    if (username === undefined || username === '') return refuse('anonymous', 'no username')
    const lockedMs = this.throttle.lockedFor(connect.remote, username)
    if (lockedMs > 0) return refuse('login-throttled', 'too many failed logins from this address for this user', NOT_AUTHORIZED, { lockedForMs: lockedMs })

    const authStartedAt = Date.now()
    let principal: Principal | undefined
    try {
      this.stats.credentialChecks++
      principal = await this.options.store.authenticate(username, password?.toString('utf8') ?? '')
    } catch (error) {
      this.logger.error({ err: error, ...context }, 'registry unavailable: login refused with CONNACK 3')
      return done(connackError(SERVER_UNAVAILABLE, 'registry unavailable'), false)
    }
    if (!principal) {
      const lockMs = this.throttle.failed(connect.remote, username)
      return refuse('bad-credentials', 'unknown user, wrong secret or revoked device', NOT_AUTHORIZED, lockMs > 0 ? { lockedForMs: lockMs } : {})
    }
    this.throttle.succeeded(connect.remote, username)
    const session: Session = { principal, rights: rightsOf(principal), clientId: connect.clientId, remote: connect.remote, authStartedAt, subscriptions: new Set() }

    // The will is refused at CONNECT like any publish it would be (topic and retain flag), rather than accepted
    // and dropped silently at delivery: the device learns at once that its will can never be sent. It is checked
    // again when delivered (authorizePublish), when the device may have been revoked meanwhile.
    const will = (client as unknown as { _will?: PublishPacket | null })._will
    if (will) {
      const reason = await Promise.resolve(this.publishRefusal(session, will, false)).catch(() => 'publish-refused' as const)
      if (reason) return refuse('will-refused', `will not allowed (${reason})`, NOT_AUTHORIZED, { topic: will.topic, retain: will.retain })
    }
    const owner = this.sessions.ownerOf(client.id)
    if (owner !== undefined && owner !== principal.username) {
      return refuse('client-id-taken', 'client id is connected or holds a session of another account')
    }
    // A device's id is the client id its firmware uses by default: another account holding it (connected, or a
    // persistent session) would lock that device out with CONNACK 5, as a by-hand trial did with garden-a's
    // secret and client id garden-b. So an account name is reserved as a client id for that account alone.
    if (client.id !== principal.username && (await this.isAccountName(client.id).catch(() => true))) {
      return refuse('client-id-taken', 'client id is the name of another account (reserved for it)')
    }
    if (client.closed) return // gone while we checked; aedes drops the result
    this.sessions.add(client, session)
    done(null, true)
  }

  /** True when `clientId` is a service account's username or a registered device's id (revoked ones included). */
  private async isAccountName(clientId: string): Promise<boolean> {
    if (serviceRoleOf(clientId) !== undefined) return true
    return (await this.options.store.device(clientId)) !== undefined
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const session = client ? this.sessions.get(client) : undefined
    // aedes delivers a will through this hook from Client#close, with the will itself as packet (lib/client.js)
    const isWill = client !== null && packet === (client as unknown as { will?: PublishPacket | null }).will
    // aedes keeps reading a socket while its publishes wait (rate limit, store), so what one connection may have
    // waiting is bounded here: a client that floods without waiting for PUBACKs is disconnected
    let callback = done
    if (client && !isWill) {
      const pending = (this.pending.get(client) ?? 0) + 1
      if (pending > this.options.limits.maxPendingPerClient) {
        if (!client.closed) this.stats.refuse('pending-limit', { clientId: session?.clientId ?? client.id, username: session?.principal.username, remote: session?.remote, limit: this.options.limits.maxPendingPerClient }, 'too many publishes waiting for their PUBACK: connection closed')
        return done(new Error('too many publishes waiting'))
      }
      this.pending.set(client, pending)
      callback = (error) => {
        this.pending.set(client, (this.pending.get(client) ?? 1) - 1)
        done(error)
      }
    }
    // with the in-broker ingest, the publish takes its client's turn now, as it arrives: it is stored and
    // acknowledged in arrival order whatever the checks below take [MQTT-4.6.0-2]
    const turn = this.ingest && client && !isWill ? this.ingest.arrive(client, packet, callback) : undefined
    if (!session || !client) {
      // a will of a client of another broker instance (aedes `_clearWills`): we cannot tell whose it is
      this.stats.refuse(isWill ? 'will-refused' : 'publish-refused', refusalContext(client, session, packet), 'publish without an authenticated session')
      return turn ? turn({ error: new Error('not authorized') }) : callback(new Error('not authorized'))
    }
    // one object carries the publish through the checks below, instead of closures made per publish
    const publish: PublishCheck = { client, session, packet, isWill, turn, callback }
    // a refusal earlier in the same socket read already closed the connection: refuse the rest unlogged
    if (client.closed && !isWill) return this.fail(publish, new Error('connection closed'))
    if (isWill && session.closedBy) {
      this.stats.refuse('will-refused', refusalContext(client, session, packet), `will of a connection closed because the device was ${session.closedBy === 'revoked' ? 'revoked' : 'changed'}`)
      return this.fail(publish, new Error('not authorized'))
    }
    const refusal = this.publishRefusal(session, packet)
    if (!(refusal instanceof Promise)) return this.checked(publish, refusal)
    refusal.then(
      (reason) => this.checked(publish, reason),
      (error: unknown) => {
        this.logger.error({ err: error, ...refusalContext(client, session, packet) }, 'registry unavailable: publish refused')
        this.fail(publish, new Error('registry unavailable'))
      },
    )
  }

  /** Goes on with `publish` once its rights were checked (`reason`: why it is refused, or undefined). */
  private checked(publish: PublishCheck, reason: RefusalReason | undefined): void {
    const { client, session, packet, isWill } = publish
    if (client.closed && !isWill) return this.fail(publish, new Error('connection closed')) // closed while we checked
    if (reason) {
      this.stats.refuse(isWill ? 'will-refused' : reason, { ...refusalContext(client, session, packet), retain: packet.retain }, isWill ? `will not delivered (${reason})` : publishMessage(reason))
      return this.fail(publish, new Error(`not authorized: ${reason}`))
    }
    if (isWill || session.principal.kind !== 'device') return this.pass(publish)
    // the token is mostly there: the closure for a later turn is made only when the device has to wait
    if (this.rate.tryTake(session.principal.device.id)) return this.pass(publish)
    const now = this.rate.take(session.principal.device.id, () => (client.closed ? this.fail(publish, new Error('connection closed')) : this.pass(publish)))
    if (now) return
    this.stats.rateLimited++
    brokerRateLimited.inc()
  }

  /** Lets `publish` through: into the in-broker ingest when it takes it, else on to aedes' delivery. */
  private pass({ client, session, packet, isWill, turn, callback }: PublishCheck): void {
    const ingest = this.ingest
    if (!ingest || !ingestsFrom(session.principal) || !ingest.wants(packet.topic) || ingest.isRetainedClear(packet)) return turn ? turn({ ingest: false }) : callback(null)
    if (isWill) return ingest.will(client, packet, callback)
    turn!({ ingest: true })
  }

  private fail({ turn, callback }: PublishCheck, error: Error): void {
    if (turn) turn({ error })
    else callback(error)
  }

  /**
   * Why `session` may not publish `packet` (topic, retain flag, retained-topic limit, importer's device check), or
   * undefined when it may: at once, or (the importer's device check asks the registry) as a promise, whose
   * errors are the registry's. With `count`, an allowed retained topic counts towards the account's retained
   * topics (not for a will checked at CONNECT: it is counted when delivered).
   */
  private publishRefusal(session: Session, packet: Pick<PublishPacket, 'topic' | 'retain' | 'payload'>, count = true): RefusalReason | undefined | Promise<RefusalReason | undefined> {
    const { rights } = session
    if (!mayPublish(rights, packet.topic, false)) return 'publish-refused'
    if (packet.retain && !mayPublish(rights, packet.topic, true)) return 'retain-refused'
    if (!rights.registeredDevicesOnly) return this.retainedRefusal(session, packet, count)
    const deviceId = nativeTopicDevice(packet.topic)
    if (deviceId === undefined) return 'publish-refused'
    return this.watch.isActive(deviceId).then((active) => (active ? this.retainedRefusal(session, packet, count) : 'publish-refused'))
  }

  private retainedRefusal(session: Session, packet: Pick<PublishPacket, 'topic' | 'retain' | 'payload'>, count: boolean): RefusalReason | undefined {
    if (count && packet.retain && session.principal.kind === 'device') return this.countRetained(session.principal.username, packet.topic, payloadLength(packet.payload))
    return undefined
  }

  /**
   * The retained-topic limit of one device account: an empty retained payload clears the topic [MQTT-3.3.1-10];
   * a topic already held is a replacement; a new topic beyond maxRetainedPerClient is refused.
   */
  private countRetained(account: string, topic: string, bytes: number): RefusalReason | undefined {
    const topics = this.retained.get(account) ?? new Set<string>()
    this.retained.set(account, topics)
    if (bytes === 0) topics.delete(topic)
    else if (!topics.has(topic)) {
      if (topics.size >= this.options.limits.maxRetainedPerClient) return 'retained-limit'
      topics.add(topic)
    }
    return undefined
  }

  private authorizeSubscribe(client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    const session = this.sessions.get(client)
    if (!session) return callback(null, null)
    const context: RefusalContext = { clientId: session.clientId, username: session.principal.username, remote: session.remote, topic: sub.topic }
    if (!maySubscribe(session.rights, sub.topic)) {
      this.stats.refuse('subscribe-refused', context, 'filter not covered by the account\'s rights')
      return callback(null, null) // SUBACK 0x80 [MQTT-3.9.3]
    }
    // service accounts subscribe to what the fleet needs (every decoder's filters); the limit guards against devices
    const limit = this.options.limits.maxSubscriptionsPerClient
    if (session.principal.kind === 'device' && !session.subscriptions.has(sub.topic) && session.subscriptions.size >= limit) {
      this.stats.refuse('subscription-limit', { ...context, limit }, 'too many subscriptions')
      return callback(null, null)
    }
    session.subscriptions.add(sub.topic)
    callback(null, sub)
  }

  private authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const session = this.sessions.get(client)
    if (session && !packet.topic.startsWith('$') && session.rights.subscribe.some((filter) => topicMatches(filter, packet.topic))) return packet
    this.stats.refuse('forward-dropped', { clientId: session?.clientId ?? client.id, username: session?.principal.username, remote: session?.remote, topic: packet.topic }, 'message the client may not read not delivered')
    return null
  }

  /** Registry poll: close connections of revoked devices, and of devices changed after the connection logged in. */
  private registryChanged(changed: DeviceRecord[]): void {
    for (const device of changed) {
      for (const client of this.sessions.clientsOfDevice(device.id)) {
        const session = this.sessions.get(client)
        if (!session || session.closedBy || client.closed) continue
        const revoked = device.revokedAt !== undefined
        if (!revoked && device.updatedAt < session.authStartedAt) continue
        session.closedBy = revoked ? 'revoked' : 'credentials-changed'
        this.stats.refuse(session.closedBy, { clientId: session.clientId, username: session.principal.username, remote: session.remote }, revoked ? 'device revoked: connection closed' : 'device changed after login (secret rotated or edited): connection closed')
        client.close()
      }
    }
  }
}

/** Whose publishes the in-broker ingest stores: devices' and the importer's (`replay`, `sim`). */
function ingestsFrom(principal: Principal): boolean {
  return principal.kind === 'device' || principal.role === 'importer'
}

function rightsOf(principal: Principal): TopicRights {
  return principal.kind === 'device' ? deviceRights(principal.device) : serviceRights(principal.role)
}

function connackError(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

function payloadLength(payload: PublishPacket['payload']): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
}

function publishMessage(reason: RefusalReason): string {
  switch (reason) {
    case 'retain-refused':
      return 'retain flag not allowed on this topic: connection closed'
    case 'retained-limit':
      return 'too many distinct retained topics: connection closed'
    default:
      return 'topic not in the account\'s publish rights: connection closed'
  }
}

/** The peer address of an aedes client: its socket's, or under a WebSocket the HTTP request's. */
export function remoteAddress(client: Client): string {
  const conn = client.conn as { remoteAddress?: string }
  return conn.remoteAddress ?? client.req?.socket?.remoteAddress ?? 'unknown'
}

/** A publish on its way through authorizePublish's checks (a will: `isWill`, no turn). */
interface PublishCheck {
  client: Client
  session: Session
  packet: PublishPacket
  isWill: boolean
  /** Its turn in the in-broker ingest (broker-ingest.ts `arrive`); undefined without one. */
  turn: ((outcome: { error: Error } | { ingest: boolean }) => void) | undefined
  /** aedes' callback (counting the client's pending publishes down). */
  callback: (error?: Error | null) => void
}

/** Who published what, for a refusal's log line and counter; made only when a publish is refused. */
function refusalContext(client: Client | null, session: Session | undefined, packet: PublishPacket): RefusalContext {
  return { clientId: session?.clientId ?? client?.id, username: session?.principal.username, remote: session?.remote, topic: packet.topic }
}
