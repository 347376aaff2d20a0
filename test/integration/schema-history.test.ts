import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { openInfluxStore } from '../../core/store/influx.ts'
import { loadSchemaHistory } from '../../services/ingest/ingest-core.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'

// The ingest reads its schema-drift state back at start (ingest-core.ts). On a first start in Kafka mode the
// writer has not created the database yet: that is an empty history, not a warning a new user has to wonder about.
describe('loadSchemaHistory against the real InfluxDB 1.6.7', () => {
  const logger = pino({ level: 'silent' })

  it('reads an empty history from a database that does not exist yet', async () => {
    const store = await openInfluxStore({ url: INFLUX_URL, database: uniqueId('never_created') }, logger)
    try {
      await expect(loadSchemaHistory(store)).resolves.toEqual([])
    } finally {
      await store.close()
    }
  })

  it('still fails for any other refusal (a statement InfluxDB cannot run is not an empty history)', async () => {
    const store = await openInfluxStore({ url: INFLUX_URL, database: uniqueId('never_created') }, logger)
    const refusing = Object.assign(Object.create(store) as typeof store, { influxql: (statement: string) => store.influxql(statement.replace('SELECT', 'SELEKT')) })
    try {
      await expect(loadSchemaHistory(refusing)).rejects.toThrow(/error parsing query/)
    } finally {
      await store.close()
    }
  })
})
