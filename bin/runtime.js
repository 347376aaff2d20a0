// Settings of the Node runtime that must be in place before the process starts, for SensHagen's long-running
// services (docs/benchmarks.md "Memory"). Plain JavaScript: bin/senshagen.js applies them before tsx is loaded.

/** Set in the environment of a process started with the settings; its presence means "do not relaunch". */
export const RUNTIME_MARKER = 'SENSHAGEN_RUNTIME_SETTINGS'

/**
 * The environment variables and node flags SensHagen runs with, from `env` (process.env). Each default yields
 * to the operator's own value:
 * - `MALLOC_MMAP_THRESHOLD_` 131072 (glibc's starting value, mallopt(3) M_MMAP_THRESHOLD): fixing it turns off
 *   glibc's dynamic threshold, which after the first scrypt login (16 MiB per hash, RFC 7914 N = 2^14, r = 8, in
 *   libuv's thread pool) would keep every later 16 MiB buffer in the pool threads' malloc arenas for good
 *   (measured: 100 logins left 64 MB resident); above the threshold a buffer is mmap'ed and given back on free.
 * - `MALLOC_ARENA_MAX` 2 (mallopt(3) M_ARENA_MAX; glibc's default is 8 × cores): fewer per-thread arenas, each of
 *   which keeps freed memory.
 * - `SENSHAGEN_HEAP_GROWTH_PERCENT` (default 50; 0 = V8's own choice) → `--heap-growing-percent`: the old
 *   generation may grow to (1 + percent/100) × what survived the last full collection before the next one. V8
 *   picks up to 4× when the program allocates fast, which at 10k msg/s left about 150 MB of garbage resident. It
 *   is a growth factor, not a limit: a larger live set (a backlog) grows the heap and does not crash it. 50, not
 *   25: in paired runs 25 % used 20–36 % more CPU per reading in-process (7–12 % in the fleet benchmark) for
 *   ~15 MB less; direct mode peaked at 250–260 MB at 10k msg/s with 50 (docs/benchmarks.md, 2 December 2026).
 * - `SENSHAGEN_SEMI_SPACE_MB` (default 8; 0 = V8's own, 16 on 64-bit) → `--max-semi-space-size`: the young
 *   generation is two semi-spaces of up to this many MB each (V8 grows them while much of the young survives, as
 *   the ~10k messages in flight at 10k msg/s do). 8 saved ~30 MB peak RSS for no measurable CPU in
 *   bench/hot-path.ts (CPU s / 1k readings 0.0193 → 0.0195, three pairs); 4 saved 10 MB more at +44 % CPU
 *   (docs/benchmarks.md, "2026-12-02 (session 20, Kafka-mode memory)").
 * - `SENSHAGEN_MAX_HEAP_MB` (default: none, V8's limit) → `--max-old-space-size`: a hard cap; past it the
 *   process dies of "heap out of memory", so set it only with room above the largest backlog.
 * Returns `env` (to add to the process's environment) and `execArgv` (node flags, before the script).
 * Throws on a value that is not a whole number ≥ 0 (≥ 1 for the heap cap), naming the variable.
 */
export function runtimeSettings(env) {
  const execArgv = []
  const growth = wholeNumber(env, 'SENSHAGEN_HEAP_GROWTH_PERCENT', 50, 0)
  if (growth > 0) execArgv.push(`--heap-growing-percent=${growth}`)
  const semiSpace = wholeNumber(env, 'SENSHAGEN_SEMI_SPACE_MB', 8, 0)
  if (semiSpace > 0) execArgv.push(`--max-semi-space-size=${semiSpace}`)
  if (env.SENSHAGEN_MAX_HEAP_MB !== undefined && env.SENSHAGEN_MAX_HEAP_MB !== '') {
    execArgv.push(`--max-old-space-size=${wholeNumber(env, 'SENSHAGEN_MAX_HEAP_MB', 0, 1)}`)
  }
  return {
    env: {
      MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
      MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2',
      [RUNTIME_MARKER]: '1',
    },
    execArgv,
  }
}

function wholeNumber(env, name, fallback, min) {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: must be a whole number ≥ ${min}, got '${raw}'`)
  return value
}
