/**
 * Deterministic randomness for the firmware simulator: no `Math.random`, no hidden state.
 *
 * Every random number is addressed by a key (seed, stream, integers…): the key is hashed to 32 bits and
 * the hash seeds a mulberry32 generator (Tommy Ettinger's public-domain 32-bit PRNG, passes gjrand and
 * PractRand up to 2^32 outputs). The same key always gives the same number, so the weather model can be a
 * pure function of (seed, device, time) and be evaluated at any time in any order.
 */

/** mulberry32: returns a generator of uniform floats in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * 32-bit hash of a list of integers (each may be negative or up to 2^53, e.g. epoch milliseconds: it is
 * split into its low and high 32-bit words). FNV-1a over the words, finished with the murmur3 fmix32
 * avalanche so that neighbouring keys give unrelated hashes.
 */
export function hashKey(parts: readonly number[]): number {
  let h = 0x811c9dc5
  for (const part of parts) {
    const lo = part >>> 0
    const hi = Math.floor(part / 4_294_967_296) >>> 0
    h = Math.imul(h ^ lo, 0x01000193)
    h = Math.imul(h ^ hi, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A generator for one key; draw several numbers from it for one event (e.g. an episode's start, size, decay). */
export function keyedRandom(...parts: number[]): () => number {
  return mulberry32(hashKey(parts))
}

/** One uniform float in [0, 1) for the key. */
export function uniform(...parts: number[]): number {
  return keyedRandom(...parts)()
}

/** One standard normal deviate (mean 0, sd 1) for the key, by the Box–Muller transform. */
export function gaussian(...parts: number[]): number {
  const next = keyedRandom(...parts)
  const u1 = 1 - next() // (0, 1], so the log is finite
  const u2 = next()
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}

/**
 * Smooth noise in time: standard normal values at knots every `periodMs`, joined by a Catmull–Rom spline
 * (continuous with a continuous slope). Returns roughly N(0, 0.8²) between knots and exactly the knot value at
 * a knot. Used for the slow regional drifts (pressure systems, air-mass temperature, PM background).
 */
export function smoothNoise(seed: number, stream: number, timeMs: number, periodMs: number): number {
  const x = timeMs / periodMs
  const k = Math.floor(x)
  const f = x - k
  const p0 = gaussian(seed, stream, k - 1)
  const p1 = gaussian(seed, stream, k)
  const p2 = gaussian(seed, stream, k + 1)
  const p3 = gaussian(seed, stream, k + 2)
  return (
    p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * (3 * (p1 - p2) + p3 - p0)))
  )
}
