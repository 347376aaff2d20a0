import { KnmiSource } from '../../../core/reference/knmi.ts'
import { LuchtmeetnetSource } from '../../../core/reference/luchtmeetnet.ts'
import { SamenMetenSource } from '../../../core/reference/samenmeten.ts'
import { referenceSourceContract } from './contract.ts'
import type { RecordedRequest } from './fixture-server.ts'
import { knmiHandler, luchtmeetnetHandler, samenMetenHandler } from './servers.ts'

const HOUR = 3_600_000
const at = (iso: string) => Date.parse(iso)

/** Luchtmeetnet: the real NL49012 excerpt (paged 25 + 24 by the fixture server) and the real empty response. */
referenceSourceContract({
  name: 'luchtmeetnet',
  handler: luchtmeetnetHandler,
  make: (origin, options) => new LuchtmeetnetSource(`${origin}/open_api`, options),
  listedStation: 'NL10818',
  known: {
    query: { station: 'NL49012', quantity: 'pm2_5', from: at('2026-02-10T00:00:00Z'), to: at('2026-02-11T00:00:00Z') },
    count: 6,
    // PM25 at 19:00Z = 13.0: timestamp_measured is the end of the hour 18–19Z
    first: { time: at('2026-02-10T14:00:00Z'), value: 16.6 },
    last: { time: at('2026-02-10T19:00:00Z'), value: 13.0 },
    periodMs: HOUR,
    spot: [
      { time: at('2026-02-10T18:00:00Z'), value: 14.7, flags: [] },
      { time: at('2026-02-10T16:00:00Z'), value: 10.7 },
    ],
    requests: 2,
    paged: true,
  },
  empty: { station: 'NL49012', quantity: 'pm2_5', from: at('2026-03-01T00:00:00Z'), to: at('2026-03-02T00:00:00Z') },
  missing: { query: { station: 'NL00001', quantity: 'pm2_5', from: at('2026-02-10T00:00:00Z'), to: at('2026-02-11T00:00:00Z') }, time: at('2026-02-10T17:00:00Z'), count: 5 },
  negative: { query: { station: 'NL00001', quantity: 'pm2_5', from: at('2026-02-10T00:00:00Z'), to: at('2026-02-11T00:00:00Z') }, time: at('2026-02-10T18:00:00Z'), value: -0.5, flagged: true },
  tenDays: { query: { station: 'NL49012', quantity: 'pm2_5', from: at('2026-02-05T00:00:00Z'), to: at('2026-02-15T00:00:00Z') }, count: 6 },
  windowOf: (r: RecordedRequest) => (r.path.endsWith('/measurements') ? { from: at(`${r.query.get('start')}Z`), to: at(`${r.query.get('end')}Z`) } : undefined),
  unsupported: 'air_temperature',
})

const knmiHourEnd = (code: string) => Date.UTC(Number(code.slice(0, 4)), Number(code.slice(4, 6)) - 1, Number(code.slice(6, 8))) + Number(code.slice(8, 10)) * HOUR

/** KNMI: the real uurgeg_260 January 2000 excerpt, served per requested start/end hour. */
referenceSourceContract({
  name: 'knmi',
  handler: knmiHandler,
  make: (origin, options) => new KnmiSource(`${origin}/klimatologie`, options),
  listedStation: '278',
  known: {
    query: { station: '260', quantity: 'air_temperature', from: at('2000-01-01T00:00:00Z'), to: at('2000-01-02T01:00:00Z') },
    count: 24,
    // `260,20000101,    1` → 2000-01-01T01:00Z, T 49 = 4.9 °C; HH 24 → 00:00Z the next day
    first: { time: at('2000-01-01T01:00:00Z'), value: 4.9 },
    last: { time: at('2000-01-02T00:00:00Z'), value: 5.7 },
    periodMs: 0,
    spot: [{ time: at('2000-01-01T04:00:00Z'), value: 5.4, flags: [] }],
    requests: 1,
    paged: false,
  },
  empty: { station: '260', quantity: 'air_temperature', from: at('2000-03-01T00:00:00Z'), to: at('2000-03-02T00:00:00Z') },
  missing: { query: { station: '999', quantity: 'air_temperature', from: at('2000-01-01T00:00:00Z'), to: at('2000-01-02T01:00:00Z') }, time: at('2000-01-01T03:00:00Z'), count: 23 },
  // a real −7.5 °C (`260,20000124,    7`): weather, so not flagged
  negative: { query: { station: '260', quantity: 'air_temperature', from: at('2000-01-24T00:00:00Z'), to: at('2000-01-25T00:00:00Z') }, time: at('2000-01-24T07:00:00Z'), value: -7.5, flagged: false },
  tenDays: { query: { station: '260', quantity: 'air_temperature', from: at('2000-01-01T01:00:00Z'), to: at('2000-01-11T01:00:00Z') }, count: 240 },
  windowOf: (r: RecordedRequest) => {
    if (r.method !== 'POST') return undefined
    const form = new URLSearchParams(r.body)
    return { from: knmiHourEnd(form.get('start')!) - HOUR, to: knmiHourEnd(form.get('end')!) }
  },
  unsupported: 'pm2_5',
})

const filterWindow = (r: RecordedRequest) => {
  const bounds = /ge '([^']+)' and phenomenonTime lt '([^']+)'/.exec(r.query.get('$filter') ?? '')
  return bounds && r.path.endsWith('/Observations') ? { from: at(bounds[1]!), to: at(bounds[2]!) } : undefined
}

/** Samen Meten: the real datastream 2819 excerpt (31 hourly observations), 20 per page with @iot.nextLink. */
referenceSourceContract({
  name: 'samenmeten',
  handler: samenMetenHandler,
  make: (origin, options) => new SamenMetenSource(`${origin}/v1.0`, options),
  listedStation: 'samenmeten:77',
  known: {
    query: { station: 'samenmeten:datastream:2819', quantity: 'pm2_5', from: at('2019-09-09T00:00:00Z'), to: at('2019-09-11T00:00:00Z') },
    count: 31,
    first: { time: at('2019-09-09T00:00:00Z'), value: 4.03 },
    last: { time: at('2019-09-10T06:00:00Z'), value: 20.84 },
    periodMs: HOUR,
    spot: [{ time: at('2019-09-10T05:00:00Z'), value: 21.53, flags: [] }],
    requests: 3, // ObservedProperty + 2 pages
    paged: true,
  },
  empty: { station: 'samenmeten:datastream:2819', quantity: 'pm2_5', from: at('2020-01-01T00:00:00Z'), to: at('2020-01-02T00:00:00Z') },
  missing: { query: { station: 'samenmeten:datastream:9001', quantity: 'pm2_5', from: at('2019-09-09T00:00:00Z'), to: at('2019-09-11T00:00:00Z') }, time: at('2019-09-09T02:00:00Z'), count: 30 },
  negative: { query: { station: 'samenmeten:datastream:9001', quantity: 'pm2_5', from: at('2019-09-09T00:00:00Z'), to: at('2019-09-11T00:00:00Z') }, time: at('2019-09-09T05:00:00Z'), value: -0.5, flagged: true },
  tenDays: { query: { station: 'samenmeten:datastream:2819', quantity: 'pm2_5', from: at('2019-09-05T00:00:00Z'), to: at('2019-09-15T00:00:00Z') }, count: 31 },
  windowOf: filterWindow,
  unsupported: 'air_temperature',
})
