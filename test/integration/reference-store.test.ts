import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { KNMI_QUANTITIES, parseKnmiHourly } from '../../core/reference/knmi.ts'
import type { ReferenceObservation } from '../../core/reference/reference.ts'
import { queryReferenceObservations, writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { KNMI_TEXT } from '../unit/reference/fixtures.ts'

const logger = createLogger('silent')
const HOUR = 3_600_000
const at = (iso: string) => Date.parse(iso)
const JANUARY = { from: at('2000-01-01T00:00:00Z'), to: at('2000-02-01T00:00:01Z') }

/** The `reference` measurement against the real InfluxDB (own database, dropped after). */
describe('reference observations in InfluxDB (real server)', () => {
  const database = uniqueId('reference')
  const parsed = parseKnmiHourly(KNMI_TEXT)
  let store: InfluxReadingStore

  const count = async () => {
    const series = await store.influxql('SELECT COUNT("value") FROM reference')
    return series[0]?.values[0]?.[1]
  }
  const query = (quantity: ReferenceObservation['quantity'], station = '260') => queryReferenceObservations(store, { station, quantity, ...JANUARY })

  beforeAll(async () => {
    store = await openInfluxStore({ url: INFLUX_URL, database }, logger)
    await store.ensureDatabase()
  })
  afterAll(async () => {
    await store.influxql(`DROP DATABASE "${database}"`)
  })

  it('stores the KNMI excerpt and reads every quantity back exactly, oldest first', async () => {
    expect(await writeReferenceObservations(store, parsed.observations)).toBe(4423)
    expect(await count()).toBe(4423)
    for (const quantity of KNMI_QUANTITIES) {
      const expected = parsed.observations.filter((o) => o.quantity === quantity).sort((a, b) => a.time - b.time)
      expect(await query(quantity)).toEqual(expected)
    }
  })

  it('spot checks, written out', async () => {
    const t = await query('air_temperature')
    expect(t).toHaveLength(744)
    expect(t[0]).toEqual({ station: '260', source: 'knmi', quantity: 'air_temperature', value: 4.9, time: at('2000-01-01T01:00:00Z'), periodMs: 0, flags: [] })
    expect(t.at(-1)).toEqual({ station: '260', source: 'knmi', quantity: 'air_temperature', value: 9.5, time: at('2000-02-01T00:00:00Z'), periodMs: 0, flags: [] })
    expect(t.find((o) => o.time === at('2000-01-24T07:00:00Z'))!.value).toBe(-7.5)
    const u = await query('relative_humidity')
    expect(u[0]).toMatchObject({ value: 96, periodMs: 0 })
    const rain = await query('precipitation')
    expect(rain.find((o) => o.time === at('2000-01-01T04:00:00Z'))).toEqual({ station: '260', source: 'knmi', quantity: 'precipitation', value: 0, time: at('2000-01-01T04:00:00Z'), periodMs: HOUR, flags: ['trace'] })
    expect(rain.find((o) => o.time === at('2000-01-01T05:00:00Z'))!.value).toBe(0.4)
    expect((await query('wind_from_direction'))[0]).toMatchObject({ value: 200, periodMs: 600_000 })
    expect(await query('air_temperature', '278')).toEqual([])
  })

  it('is idempotent: writing the same observations again keeps the count', async () => {
    await writeReferenceObservations(store, parsed.observations)
    expect(await count()).toBe(4423)
  })

  it('a later value for the same station, quantity and hour replaces the earlier one; [from, to) bounds hold', async () => {
    const time = at('2026-02-10T18:00:00Z')
    const obs: ReferenceObservation = { station: 'NL49012', source: 'luchtmeetnet', quantity: 'pm2_5', value: -0.5, time, periodMs: HOUR, flags: ['negative'] }
    await writeReferenceObservations(store, [obs, { ...obs, time: time + HOUR, value: 20, flags: [] }])
    await writeReferenceObservations(store, [{ ...obs, value: 1.5, flags: [] }])
    const rows = await queryReferenceObservations(store, { station: 'NL49012', quantity: 'pm2_5', from: time, to: time + HOUR })
    expect(rows).toEqual([{ ...obs, value: 1.5, flags: [] }])
    const fields = await store.influxql('SHOW FIELD KEYS FROM reference')
    expect(fields[0]!.values).toEqual(expect.arrayContaining([['value', 'float'], ['period_ms', 'integer'], ['flags', 'string']]))
  })
})
