import { afterAll, beforeAll } from 'vitest'
import type { Logger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, uniqueId } from './env.ts'

/**
 * A database of its own on the real InfluxDB for the enclosing `describe`: created (with its store) before its
 * tests, dropped after them. Read `.store` inside hooks and tests, not while the suite is being collected.
 */
export function throwawayDatabase(prefix: string, logger: Logger): { readonly store: InfluxReadingStore; readonly database: string } {
  const holder = { database: uniqueId(prefix) } as { store: InfluxReadingStore; database: string }
  beforeAll(async () => {
    holder.store = await openInfluxStore({ url: INFLUX_URL, database: holder.database }, logger)
    await holder.store.ensureDatabase()
  })
  afterAll(async () => {
    await holder.store?.influxql(`DROP DATABASE "${holder.database}"`)
  })
  return holder
}
