import { pbkdf2, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

/**
 * Device and service secrets: how they are made and how the registry keeps them (never in clear, issue 8).
 *
 * - A secret is 32 random bytes (256 bits) in base64url: 43 characters of `A-Z a-z 0-9 - _`, safe in an MQTT
 *   password, an HTTP basic-auth password, a URL path token and a firmware's settings page.
 * - The registry stores a scrypt hash (RFC 7914) in a self-describing string, so the cost can be raised later
 *   without breaking stored hashes: `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`.
 * - For operators who run Mosquitto instead of our broker it also stores Mosquitto's own PBKDF2-SHA512 hash,
 *   the line format of a Mosquitto 2.0 password file (`mosquitto_passwd`; Mosquitto 2.0 `common/password_mosq.c`).
 */

const scryptAsync = promisify(scrypt) as (password: string | Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>
const pbkdf2Async = promisify(pbkdf2)

/**
 * scrypt cost: N = 2^14, r = 8, p = 1, the interactive-login parameters of RFC 7914 §2 ("N = 16384 … r = 8,
 * p = 1" for < 100 ms) and OWASP's Password Storage Cheat Sheet minimum. Memory 128·N·r = 16 MiB per hash;
 * about 50 ms on the 2-core demo machine.
 */
export const SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1 } as const
const SCRYPT_SALT_BYTES = 16
const SCRYPT_HASH_BYTES = 32
/** Refuse stored parameters beyond this (a tampered row must not make one login cost gigabytes). */
const SCRYPT_MAX_N = 1 << 20

/**
 * PBKDF2 iterations of the Mosquitto hash. mosquitto_passwd's default is 101 in Mosquitto 2.0
 * (`common/password_mosq.h` `PW_DEFAULT_ITERATIONS`; 1000 in later releases); `mosquitto_passwd -I` and the
 * broker accept any count, since each line names its own. 20 000 is 200 times that default while one check stays
 * about 13 ms on the demo machine: Mosquitto verifies on its single event-loop thread at every CONNECT, so a much
 * higher count (OWASP asks 210 000 for human-chosen passwords) would let a storm of logins stall every client.
 * Our secrets are 256 random bits, not human passwords, so the count is not what keeps them from being guessed.
 */
export const MOSQUITTO_ITERATIONS = 20_000
const MOSQUITTO_SALT_BYTES = 12
const MOSQUITTO_HASH_BYTES = 64

/** A fresh secret: 32 random bytes as base64url (43 characters, no padding). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * The scrypt hash of `secret` with a fresh 16-byte salt: `scrypt$16384$8$1$<salt>$<hash>` (base64url, 32-byte
 * hash; RFC 7914). Async: the work runs on libuv's thread pool, not the event loop.
 */
export async function hashSecret(secret: string): Promise<string> {
  const { N, r, p } = SCRYPT_PARAMS
  const salt = randomBytes(SCRYPT_SALT_BYTES)
  const hash = await scryptAsync(secret, salt, SCRYPT_HASH_BYTES, { N, r, p, maxmem: scryptMaxmem(N, r) })
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`
}

/**
 * True when `secret` hashes to `stored` (a `hashSecret` string, with the parameters it names). The final
 * comparison is constant-time (`timingSafeEqual`); the scrypt work itself does not depend on the secret's
 * correctness. A malformed `stored` string is false, never an exception (it then costs no scrypt: callers that
 * must hide whether a user exists use `spendVerification`).
 */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parsed = parseScrypt(stored)
  if (parsed === undefined) return false
  const { N, r, p, salt, hash } = parsed
  const candidate = await scryptAsync(secret, salt, hash.length, { N, r, p, maxmem: scryptMaxmem(N, r) })
  return timingSafeEqual(candidate, hash)
}

let dummyHash: Promise<string> | undefined

/**
 * Spends one scrypt verification against a throwaway hash and answers false: for an unknown username, so that
 * its answer takes as long as a wrong secret for a known one and the timing does not tell which names exist.
 */
export async function spendVerification(secret: string): Promise<false> {
  dummyHash ??= hashSecret(newSecret())
  await verifySecret(secret, await dummyHash)
  return false
}

/**
 * Mosquitto 2.0 password-file hash of `secret`: `$7$<iterations>$<salt base64>$<hash base64>`, PBKDF2-HMAC-SHA512
 * over the UTF-8 secret with a fresh 12-byte salt, 64-byte hash, standard base64 with padding (Mosquitto 2.0
 * `common/password_mosq.c` `pw__hash`, hash type 7 = `pw_sha512_pbkdf2`, `SALT_LEN 12`; what
 * `mosquitto_passwd -c -b file user secret` writes, with its own salt and count). A file line is
 * `<username>:<this>`. Iterations: MOSQUITTO_ITERATIONS (20 000, reasons there).
 */
export async function mosquittoHash(secret: string): Promise<string> {
  const salt = randomBytes(MOSQUITTO_SALT_BYTES)
  const hash = await pbkdf2Async(secret, salt, MOSQUITTO_ITERATIONS, MOSQUITTO_HASH_BYTES, 'sha512')
  return `$7$${MOSQUITTO_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`
}

function parseScrypt(stored: string): { N: number; r: number; p: number; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined
  const [N, r, p] = parts.slice(1, 4).map((part) => (/^[1-9][0-9]{0,8}$/.test(part) ? Number(part) : NaN))
  if (!(N! >= 2 && N! <= SCRYPT_MAX_N && (N! & (N! - 1)) === 0 && r! >= 1 && r! <= 32 && p! >= 1 && p! <= 16)) return undefined
  const salt = Buffer.from(parts[4]!, 'base64url')
  const hash = Buffer.from(parts[5]!, 'base64url')
  if (salt.length < 8 || hash.length < 16) return undefined
  return { N: N!, r: r!, p: p!, salt, hash }
}

/** scrypt needs 128·N·r bytes (RFC 7914 §6 ROMix); Node refuses above `maxmem` (default 32 MiB). */
function scryptMaxmem(N: number, r: number): number {
  return 128 * N * r + 16 * 1024 * 1024
}
