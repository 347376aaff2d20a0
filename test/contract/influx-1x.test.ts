import { afterAll } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { storeContract } from './store-contract.ts'

// The real InfluxDB 1.6.7 (npm run infra:up), a database of this run's own, dropped afterwards.
const database = uniqueId('contract')
let store: InfluxReadingStore | undefined
afterAll(async () => {
  await store?.influxql(`DROP DATABASE "${database}"`)
})

storeContract('InfluxDB 1.6.7', async () => {
  store = await openInfluxStore({ url: INFLUX_URL, database }, createLogger('silent'))
  await store.ensureDatabase()
  return store
})
