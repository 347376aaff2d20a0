import type { Logger } from '../../core/logger.ts'
import { brokerRefusals } from '../../core/metrics.ts'

/**
 * Why the broker refused something. Each reason is one counter in BrokerSecurityStats and one `reason` value in
 * the warn log line (README "Security").
 *
 * | reason               | what happened                                                        | client sees           |
 * |----------------------|----------------------------------------------------------------------|-----------------------|
 * | `anonymous`          | CONNECT without a username                                           | CONNACK 5             |
 * | `bad-credentials`    | unknown user, wrong secret or revoked device (the store tells none)  | CONNACK 5             |
 * | `login-throttled`    | too many failures for this address and username; secret not checked | CONNACK 5             |
 * | `empty-client-id`    | zero-length client id with CleanSession=0 [MQTT-3.1.3-8]             | CONNACK 2, closed     |
 * | `client-id-taken`    | client id connected or holding a session of another account          | CONNACK 5             |
 * | `will-refused`       | will topic or will retain not allowed (at CONNECT, or at delivery)   | CONNACK 5 / no will   |
 * | `publish-refused`    | topic not in the account's publish rights                            | connection closed     |
 * | `retain-refused`     | retain flag on a topic the account may not retain on                 | connection closed     |
 * | `retained-limit`     | one more distinct retained topic than the account may hold           | connection closed     |
 * | `subscribe-refused`  | filter not covered by the account's subscribe rights (`#`, `$SYS/#`) | SUBACK 0x80           |
 * | `subscription-limit` | one more subscription than a client may hold                         | SUBACK 0x80           |
 * | `forward-dropped`    | a message the client may not read reached its delivery (never sent)  | nothing               |
 * | `packet-too-large`   | fixed header announced more than maxPacketBytes                      | connection closed     |
 * | `pending-limit`      | one more publish waiting for its PUBACK than maxPendingPerClient     | connection closed     |
 * | `revoked`            | registry poll: device revoked while connected                        | connection closed     |
 * | `credentials-changed`| registry poll: secret rotated or device edited after this login      | connection closed     |
 */
export const REFUSAL_REASONS = [
  'anonymous',
  'bad-credentials',
  'login-throttled',
  'empty-client-id',
  'client-id-taken',
  'will-refused',
  'publish-refused',
  'retain-refused',
  'retained-limit',
  'subscribe-refused',
  'subscription-limit',
  'forward-dropped',
  'packet-too-large',
  'pending-limit',
  'revoked',
  'credentials-changed',
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

/** Log flood guard: per reason and account/address, log the first LOG_FIRST refusals, then every LOG_EVERY-th. */
const LOG_FIRST = 10
const LOG_EVERY = 1_000
/** Most (reason, account) pairs remembered for the flood guard before the memory is cleared (a bound, not a window). */
const LOG_KEYS = 10_000

/** Who was refused: never the password. `remote` is the peer address as the socket reports it. */
export interface RefusalContext {
  clientId?: string
  username?: string
  remote?: string
  topic?: string
  [key: string]: unknown
}

/**
 * Counters of what the broker refused (by reason) and of publishes the per-device rate limit held back.
 * Exposed on RunningBroker.security; the numbers only ever grow.
 */
export class BrokerSecurityStats {
  readonly refused = Object.fromEntries(REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<RefusalReason, number>
  /** Publishes whose authorization waited for a rate-limit token (delayed, not refused). */
  rateLimited = 0
  /** Logins the store checked (scrypt ran); throttled and anonymous tries are not checked. */
  credentialChecks = 0

  /** Refusals so far per (reason, account or address), for the log's flood guard; cleared when it grows past LOG_KEYS. */
  private readonly seen = new Map<string, number>()

  constructor(private readonly logger: Logger) {}

  /**
   * Counts one refusal and logs it at warn with its reason and context. Every refusal is counted; of a flood
   * from one account or address (10,000 refused subscriptions in one SUBSCRIBE) the first LOG_FIRST of each reason
   * are logged, then every LOG_EVERY-th with the running count, so an attacker cannot fill the log.
   */
  refuse(reason: RefusalReason, context: RefusalContext, message: string): void {
    this.refused[reason]++
    brokerRefusals.inc({ reason })
    const key = `${reason}|${context.username ?? context.remote ?? '?'}`
    const n = (this.seen.get(key) ?? 0) + 1
    if (this.seen.size >= LOG_KEYS) this.seen.clear()
    this.seen.set(key, n)
    if (n <= LOG_FIRST) this.logger.warn({ reason, ...context }, `mqtt refused: ${message}`)
    else if (n % LOG_EVERY === 0) this.logger.warn({ reason, ...context, refusedSoFar: n }, `mqtt refused: ${message} (${n} of this reason from this client so far; the rest only counted)`)
  }

  /** Sum of all refusal counters. */
  totalRefused(): number {
    return REFUSAL_REASONS.reduce((sum, reason) => sum + this.refused[reason], 0)
  }
}
