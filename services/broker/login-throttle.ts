/**
 * Failed-login throttling per (remote address, username), so that guessing a device's secret costs the attacker
 * time and costs the broker no CPU: after `failures` failed logins in a row the pair is locked for `lockoutMs`,
 * and tries during the lock are refused without checking the secret (no scrypt). A failure after a lock ran out
 * locks the pair again for twice as long (at most `maxLockoutMs`); a successful login forgets the pair.
 *
 * Memory is bounded: at most `maxEntries` pairs are remembered; beyond that the oldest entry is forgotten
 * (an attacker who spreads tries over more than `maxEntries` pairs still pays one scrypt per try).
 */
export interface LoginThrottleOptions {
  /** Failed logins in a row before the pair is locked. */
  failures: number
  /** First lock, in ms; doubles with each further lock. */
  lockoutMs: number
  /** Longest lock, in ms (default 24 h). */
  maxLockoutMs?: number
  /** Pairs remembered at most (default 10,000). */
  maxEntries?: number
  /** Clock in epoch ms (tests pass their own). */
  now?: () => number
}

interface Entry {
  failures: number
  /** Epoch ms until which tries are refused unchecked; 0 = not locked. */
  lockedUntil: number
  /** Length of the next lock in ms. */
  nextLockMs: number
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>()
  private readonly maxLockoutMs: number
  private readonly maxEntries: number
  private readonly now: () => number

  constructor(private readonly options: LoginThrottleOptions) {
    this.maxLockoutMs = options.maxLockoutMs ?? 86_400_000
    this.maxEntries = options.maxEntries ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** Milliseconds the pair stays locked (0 = the secret may be checked now). */
  lockedFor(remote: string, username: string): number {
    const entry = this.entries.get(key(remote, username))
    return entry ? Math.max(0, entry.lockedUntil - this.now()) : 0
  }

  /** Records a failed check; returns the lock in ms it started (0 when the pair is not locked yet). */
  failed(remote: string, username: string): number {
    const k = key(remote, username)
    let entry = this.entries.get(k)
    if (!entry) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
      entry = { failures: 0, lockedUntil: 0, nextLockMs: this.options.lockoutMs }
      this.entries.set(k, entry)
    }
    entry.failures++
    if (entry.failures < this.options.failures) return 0
    const lockMs = entry.nextLockMs
    entry.lockedUntil = this.now() + lockMs
    entry.nextLockMs = Math.min(lockMs * 2, this.maxLockoutMs)
    return lockMs
  }

  /** Records a successful login: the pair starts afresh. */
  succeeded(remote: string, username: string): void {
    this.entries.delete(key(remote, username))
  }

  /** Pairs currently remembered. */
  get size(): number {
    return this.entries.size
  }
}

function key(remote: string, username: string): string {
  return `${remote}\u0000${username}`
}
