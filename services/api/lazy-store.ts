import { UnavailableError } from '../../core/errors.ts'
import type { ReadingStore } from '../../core/store/store.ts'

/**
 * A ReadingStore that opens the real one on first use, so the API starts while InfluxDB is down: until `open`
 * succeeds every call rejects with UnavailableError (the API answers 503 problems and GET /api/v1/health says
 * `degraded`), and `open` is tried again at most every `retryMs` (default 2 s) as requests come in. Once open,
 * calls go straight through; later outages surface as the real store's errors.
 */
export const REOPEN_MS = 2_000

export function lazyStore(open: () => Promise<ReadingStore>, meta: { database: string }, retryMs = REOPEN_MS): ReadingStore {
  let store: ReadingStore | undefined
  let opening: Promise<ReadingStore> | undefined
  let lastTry = 0
  const current = async (): Promise<ReadingStore> => {
    if (store) return store
    if (!opening) {
      if (Date.now() - lastTry < retryMs) throw new UnavailableError('the measurement store is not reachable yet')
      lastTry = Date.now()
      opening = open().then(
        (s) => (store = s),
        (error: unknown) => {
          opening = undefined
          throw error instanceof UnavailableError ? error : new UnavailableError('the measurement store could not be opened', { cause: error })
        },
      )
    }
    return opening
  }
  return new Proxy({} as ReadingStore, {
    get(_target, key: keyof ReadingStore) {
      if (key === 'database') return meta.database
      if (key === 'generation') return store?.generation ?? 1
      if (key === 'close') return async () => store?.close()
      return async (...args: unknown[]) => {
        const s = await current()
        return (s[key] as (...a: unknown[]) => unknown).apply(s, args)
      }
    },
  })
}
