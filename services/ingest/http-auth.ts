import type { DeviceFormat, DeviceRecord, RegistryStore } from '../../core/registry/store.ts'
import { normaliseParameterName } from '../../core/decoders/weather-station.ts'

/**
 * Authentication of HTTP pushes (issue 8, item 3): each firmware's own credential mechanism, mapped to the
 * registry's device secret (core/registry/store.ts `authenticate(username, secret)`). The registry's device id is
 * the username; its `nativeId` is the identity the firmware names in the request, which must be the device's own.
 *
 * | route | mechanism (source) | account | identity checked |
 * |---|---|---|---|
 * | airrohr `POST /data.php`, `/v1/push-sensor-data/`, `/airrohr` | HTTP basic auth, the "Send to own API" user and password (opendata-stuttgart/sensors-software `airrohr-firmware.ino`: `basic_auth_custom` = base64(`user_custom:pwd_custom`), RFC 7617) | user = device id | `X-Sensor` (`esp8266-<chipid>`; or `Sensor`, `Node`) = nativeId, or its chip id part = nativeId |
 * | openSenseMap `POST /boxes/:boxId/data`, `/boxes/:boxId/:sensorId` | `Authorization` = the box's access token (sensebox/openSenseMap-API `measurementsController.js`: `box.access_token !== req.headers.authorization` → UnauthorizedError); an optional `Bearer ` prefix is accepted | the `opensensemap` device whose nativeId is the box id (else `osem-<box>`) | box id in the path = nativeId |
 * | WU `GET /weatherstation/updateweatherstation.php` | `ID` and `PASSWORD` parameters (Weather Underground PWS upload protocol) | the `wu` device whose nativeId is ID, any case (else `wu-<id lower case>`) | ID = nativeId (case-insensitive) |
 * | WOW `GET`/`POST /automaticreading` | `siteid` and `siteAuthenticationKey` (Met Office WOW data formats page) | the `wow` device whose nativeId is siteid (else `wow-<siteid>`) | siteid = nativeId |
 * | Ecowitt `POST /data/report/:device/:token` | per-device path token (the gateway's "Customized" upload has no secret of its own: PASSKEY is a hash of its MAC), set in the gateway's Path field as `/data/report/<device id>/<secret>` | the path's device id | the path names the device |
 * | Ecowitt `POST /data/report/`, `/data/report/:token` (old path) | none: always 401 | – | – |
 *
 * Parameter names are matched as the weather-station decoder matches them (trimmed, any case); a credential or
 * identity parameter sent twice with different values is refused (`ambiguous_credentials`). A device must have the
 * route's format (a Tasmota device's secret does not open the airrohr route), service accounts cannot push over
 * HTTP, and a revoked device is refused like a wrong secret (the registry does not tell which).
 *
 * Refusal reasons (HttpAuthStats.refused, the problem document's `reason`, the warn log line):
 * `missing_credentials`, `malformed_credentials` (basic auth that is not base64 `user:password`),
 * `ambiguous_credentials`, `bad_credentials` (unknown account, wrong secret or revoked: one answer),
 * `identity_mismatch` (valid credentials, but the request names another device's identity or has the wrong
 * format), `throttled` (too many failures: not checked at all, answered 429 with Retry-After).
 */

export const REFUSAL_REASONS = ['missing_credentials', 'malformed_credentials', 'ambiguous_credentials', 'bad_credentials', 'identity_mismatch', 'throttled'] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

/** What the authentication reads of a request. */
export interface AuthRequest {
  /** Request headers as Node gives them (lower-case names). */
  headers: Record<string, string | string[] | undefined>
  /** Route parameters (`:boxId`, `:device`, `:token`), percent-decoded by fastify. */
  params: Record<string, string | undefined>
  /** Raw query string, without `?`. */
  query: string
  body: Buffer
}

/** The registry as the HTTP ingest needs it. */
export type HttpRegistry = Pick<RegistryStore, 'authenticate' | 'deviceByNativeId'>

/** An account and secret a request claims, not yet checked. */
export interface Claim {
  /** The username, or how to find it: the device of `format` whose nativeId is one of `nativeIds` (else `fallbackId`). */
  account: { username: string } | { format: DeviceFormat; nativeIds: string[]; fallbackId: string }
  secret: string
  /** The claimed username or native identity, for throttling and logs (never the secret). */
  identity: string
  /** True when the identity the request names belongs to the authenticated device. */
  belongs(device: DeviceRecord): boolean
}

export interface Refusal {
  reason: RefusalReason
  /** For the client: what is wrong, never which of account, secret or revocation failed. */
  detail: string
  identity?: string
}

/** One way a firmware proves who it is. */
export interface HttpAuthMechanism {
  /** In logs and stats: `basic`, `osem-token`, `wu-password`, `wow-key`, `path-token`, `none`. */
  name: string
  /** Registry formats allowed to push through it. */
  formats: readonly DeviceFormat[]
  /** `WWW-Authenticate` value sent with a 401, for mechanisms that are HTTP authentication schemes (RFC 9110 §11.6.1). */
  challenge?: string
  claim(request: AuthRequest): Claim | Refusal
}

/** airrohr "Send to own API": HTTP basic auth; the X-Sensor header must name the device's own chip. */
export const AIRROHR_BASIC_AUTH: HttpAuthMechanism = {
  name: 'basic',
  formats: ['airrohr'],
  challenge: 'Basic realm="senshagen", charset="UTF-8"',
  claim(request) {
    const credentials = basicCredentials(headerValue(request, 'authorization'))
    if ('reason' in credentials) return credentials
    const sensor = ['x-sensor', 'sensor', 'node'].map((name) => headerValue(request, name)?.trim()).find((v) => v !== undefined && v !== '')
    if (sensor === undefined) return { reason: 'identity_mismatch', detail: 'no X-Sensor header naming the device', identity: credentials.user }
    return { account: { username: credentials.user }, secret: credentials.password, identity: credentials.user, belongs: (device) => airrohrSensorBelongs(device.nativeId, sensor) }
  },
}

/** openSenseMap: the box's access token in `Authorization`; the path's box must be the device's. */
export const OSEM_BOX_TOKEN: HttpAuthMechanism = {
  name: 'osem-token',
  formats: ['opensensemap'],
  claim(request) {
    const box = request.params.boxId ?? ''
    const header = headerValue(request, 'authorization')?.trim()
    if (header === undefined || header === '') return { reason: 'missing_credentials', detail: "no Authorization header with the box's access token", identity: box }
    const token = /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '') : header
    return { account: { format: 'opensensemap', nativeIds: [box], fallbackId: `osem-${box}` }, secret: token, identity: box, belongs: (device) => device.nativeId === box }
  },
}

/** Weather Underground PWS protocol: `ID` and `PASSWORD` (station ids are case-insensitive). */
export const WU_PASSWORD: HttpAuthMechanism = {
  name: 'wu-password',
  formats: ['wu'],
  claim(request) {
    const params = parameters(request)
    const id = single(params, 'id', 'ID')
    const password = single(params, 'password', 'PASSWORD')
    if ('reason' in id) return id
    if ('reason' in password) return { ...password, identity: id.value }
    const station = id.value
    return {
      account: { format: 'wu', nativeIds: [...new Set([station, station.toLowerCase(), station.toUpperCase()])], fallbackId: `wu-${station.toLowerCase()}` },
      secret: password.value,
      identity: station,
      belongs: (device) => device.nativeId.toLowerCase() === station.toLowerCase(),
    }
  },
}

/** Met Office WOW: `siteid` and `siteAuthenticationKey`. */
export const WOW_SITE_KEY: HttpAuthMechanism = {
  name: 'wow-key',
  formats: ['wow'],
  claim(request) {
    const params = parameters(request)
    const site = single(params, 'siteid', 'siteid')
    const key = single(params, 'siteauthenticationkey', 'siteAuthenticationKey')
    if ('reason' in site) return site
    if ('reason' in key) return { ...key, identity: site.value }
    return { account: { format: 'wow', nativeIds: [site.value], fallbackId: `wow-${site.value}` }, secret: key.value, identity: site.value, belongs: (device) => device.nativeId === site.value }
  },
}

/** Ecowitt "Customized": `/data/report/<device id>/<secret>` as the gateway's Path. */
export const ECOWITT_PATH_TOKEN: HttpAuthMechanism = {
  name: 'path-token',
  formats: ['ecowitt'],
  claim(request) {
    const device = request.params.device ?? ''
    const token = request.params.token ?? ''
    if (device === '' || token === '') return { reason: 'missing_credentials', detail: 'the path must be /data/report/<device id>/<secret>', identity: device }
    return { account: { username: device }, secret: token, identity: device, belongs: () => true }
  },
}

/** The old unauthenticated Ecowitt path: always refused, naming the path to configure. */
export const ECOWITT_NO_TOKEN: HttpAuthMechanism = {
  name: 'none',
  formats: [],
  claim: () => ({ reason: 'missing_credentials', detail: "Ecowitt uploads need the device's path token: set the gateway's Path to /data/report/<device id>/<secret>" }),
}

/** True when airrohr's `X-Sensor` (`esp8266-3141592`, `esp32-cf12d3e5f6`) is the device's: the whole value or its chip id part, any case. */
export function airrohrSensorBelongs(nativeId: string, sensor: string): boolean {
  const own = nativeId.toLowerCase()
  const named = sensor.toLowerCase()
  const dash = named.indexOf('-')
  return own === named || (dash > 0 && own === named.slice(dash + 1))
}

/**
 * `Authorization: Basic <base64(user:password)>` (RFC 7617 §2; the scheme name in any case): user and password, or
 * a refusal. The password may contain `:`; the user may not.
 */
export function basicCredentials(header: string | undefined): { user: string; password: string } | Refusal {
  if (header === undefined || header.trim() === '') return { reason: 'missing_credentials', detail: 'HTTP basic authentication required: user = device id, password = its secret' }
  const match = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header.trim())
  if (!match) return { reason: 'malformed_credentials', detail: 'Authorization must be Basic <base64 of user:password>' }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return { reason: 'malformed_credentials', detail: 'Authorization must be Basic <base64 of user:password>' }
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/** One header's value; a repeated header counts as missing only if empty (Node joins most repeats with `, `). */
function headerValue(request: AuthRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** Query and (form) body parameters together: WOW accepts POST with the parameters in the body. */
function parameters(request: AuthRequest): Array<[name: string, value: string]> {
  const all = [...new URLSearchParams(request.query)]
  const body = request.body.toString('utf8')
  if (body.includes('=') && !/^\s*[[{]/.test(body)) all.push(...new URLSearchParams(body.trim()))
  return all
}

/** The one value of a parameter (normalised name), or a refusal when it is missing or sent with different values. */
function single(params: Array<[string, string]>, name: string, label: string): { value: string } | Refusal {
  const values = [...new Set(params.filter(([key]) => normaliseParameterName(key) === name).map(([, value]) => value.trim()))].filter((v) => v !== '')
  if (values.length === 0) return { reason: 'missing_credentials', detail: `parameter ${label} is missing` }
  if (values.length > 1) return { reason: 'ambiguous_credentials', detail: `parameter ${label} sent more than once with different values` }
  return { value: values[0]! }
}

/**
 * Throttling of failed attempts, so that guessing cannot burn CPU on scrypt (about 50 ms and 16 MiB per check,
 * core/registry/credentials.ts): after `maxFailures` failures of one (address, mechanism, identity) within
 * `blockMs`, or `perAddressMaxFailures` of one address whatever identity it tries, that key is refused unchecked
 * for `blockMs`. A success clears its (address, identity) key, not the address's. Failures that cost no hash
 * (missing or malformed credentials) do not count. At most `maxTracked` keys are held; the least recently failed
 * is dropped first (counted in HttpAuthStats.throttleEvictions).
 */
export interface AuthThrottleOptions {
  maxFailures: number
  perAddressMaxFailures: number
  blockMs: number
  maxTracked: number
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = { maxFailures: 5, perAddressMaxFailures: 50, blockMs: 60_000, maxTracked: 10_000 }

export interface HttpAuthStats {
  /** Requests whose credentials were accepted. */
  accepted: number
  /** Requests refused, by reason. */
  refused: Record<RefusalReason, number>
  /** Throttle keys dropped because maxTracked was reached. */
  throttleEvictions: number
}

/** The device a request authenticated as and the secrets to redact; or why it was refused. */
export type AuthOutcome =
  | { ok: true; device: DeviceRecord; secrets: string[]; identity: string }
  | (Refusal & { ok: false; /** Seconds until a throttled key is checked again. */ retryAfterS?: number; /** Set when this failure started a block, its length in seconds. */ blockedForS?: number })

/** Checks HTTP pushes against the registry (mechanisms above), with throttling and refusal counts. */
export class HttpAuthenticator {
  readonly stats: HttpAuthStats = { accepted: 0, refused: Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>, throttleEvictions: 0 }
  private readonly failures = new Map<string, { count: number; last: number; blockedUntil: number }>()

  constructor(
    private readonly registry: HttpRegistry,
    private readonly throttle: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** `address` is the client's IP address (the throttle key). Never throws for bad input; registry errors propagate. */
  async check(mechanism: HttpAuthMechanism, request: AuthRequest, address: string): Promise<AuthOutcome> {
    const claim = mechanism.claim(request)
    if ('reason' in claim) return this.refuse(claim)
    const keys: Array<[string, number]> = [[`${address} ${mechanism.name} ${claim.identity}`, this.throttle.maxFailures], [address, this.throttle.perAddressMaxFailures]]
    const blockedMs = Math.max(0, ...keys.map(([key]) => (this.failures.get(key)?.blockedUntil ?? 0) - this.now()))
    if (blockedMs > 0) {
      return this.refuse({ reason: 'throttled', detail: 'too many failed attempts from this address; try again later', identity: claim.identity }, { retryAfterS: Math.ceil(blockedMs / 1000) })
    }
    const verified = await this.verify(mechanism, claim)
    if ('reason' in verified) {
      const started = keys.map(([key, limit]) => this.fail(key, limit)).some(Boolean)
      return this.refuse({ ...verified, identity: claim.identity }, started ? { blockedForS: Math.ceil(this.throttle.blockMs / 1000) } : {})
    }
    this.failures.delete(keys[0]![0])
    this.stats.accepted++
    return { ok: true, device: verified, secrets: [claim.secret], identity: claim.identity }
  }

  private async verify(mechanism: HttpAuthMechanism, claim: Claim): Promise<DeviceRecord | Refusal> {
    let username: string
    if ('username' in claim.account) {
      username = claim.account.username
    } else {
      let found: DeviceRecord | undefined
      for (const nativeId of claim.account.nativeIds) if ((found = await this.registry.deviceByNativeId(claim.account.format, nativeId))) break
      username = found?.id ?? claim.account.fallbackId
    }
    const principal = await this.registry.authenticate(username, claim.secret)
    if (principal === undefined) return { reason: 'bad_credentials', detail: 'credentials not accepted' }
    if (principal.kind !== 'device' || !mechanism.formats.includes(principal.device.format)) {
      return { reason: 'identity_mismatch', detail: `this route takes ${mechanism.formats.join(', ')} devices only` }
    }
    if (!claim.belongs(principal.device)) return { reason: 'identity_mismatch', detail: "the request names another device's identity" }
    return principal.device
  }

  /** Counts one failure of `key`; true when it starts a block. */
  private fail(key: string, limit: number): boolean {
    const now = this.now()
    const previous = this.failures.get(key)
    const fresh = previous === undefined || (now - previous.last > this.throttle.blockMs && previous.blockedUntil <= now)
    const entry = fresh ? { count: 0, last: now, blockedUntil: 0 } : previous
    entry.count++
    entry.last = now
    const started = entry.count >= limit
    if (started) {
      entry.blockedUntil = now + this.throttle.blockMs
      entry.count = 0
    }
    this.failures.delete(key) // re-inserted last: Map order is least recently failed first
    this.failures.set(key, entry)
    while (this.failures.size > this.throttle.maxTracked) {
      this.failures.delete(this.failures.keys().next().value!)
      this.stats.throttleEvictions++
    }
    return started
  }

  private refuse(refusal: Refusal, extra: { retryAfterS?: number; blockedForS?: number } = {}): AuthOutcome {
    this.stats.refused[refusal.reason]++
    return { ok: false, ...refusal, ...extra }
  }
}
