import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RefusedError } from '../../../core/errors.ts'
import { createLogger } from '../../../core/logger.ts'
import { SamenMetenSource, type SamenMetenOptions } from '../../../core/reference/samenmeten.ts'
import { startFixtureServer, type FixtureServer } from './fixture-server.ts'
import { samenMetenHandler } from './servers.ts'

const at = (iso: string) => Date.parse(iso)
const query = { quantity: 'pm2_5' as const, from: at('2019-09-09T00:00:00Z'), to: at('2019-09-11T00:00:00Z') }

/** Samen Meten specifics beyond the contract: Thing-level stations, the calibrated series, the time convention. */
describe('SamenMetenSource', () => {
  let server: FixtureServer
  const make = (options: Partial<SamenMetenOptions> = {}) => new SamenMetenSource(`${server.origin}/v1.0`, { logger: createLogger('silent'), cacheDir: null, ...options })

  beforeAll(async () => {
    server = await startFixtureServer(samenMetenHandler)
  })
  afterAll(async () => {
    await server.close()
  })

  it('a Thing station takes its calibrated _kal datastream by default, flagged calibrated', async () => {
    server.requests.length = 0
    const observations = await make().observations({ ...query, station: 'samenmeten:77' })
    expect(server.requests[0]!.path).toBe('/v1.0/Things(77)/Datastreams')
    expect(server.requests[0]!.query.get('$expand')).toBe('ObservedProperty')
    expect(server.requests[1]!.path).toBe('/v1.0/Datastreams(9001)/Observations')
    expect(observations).toHaveLength(30)
    expect(observations.every((o) => o.flags.includes('calibrated') && o.station === 'samenmeten:77')).toBe(true)
  })

  it('preferCalibrated false takes the raw datastream', async () => {
    const observations = await make({ preferCalibrated: false }).observations({ ...query, station: 'samenmeten:77' })
    expect(observations).toHaveLength(31)
    expect(observations.some((o) => o.flags.includes('calibrated'))).toBe(false)
  })

  it('phenomenonTime start: asks one hour earlier and stamps the end of each hour', async () => {
    server.requests.length = 0
    const observations = await make({ phenomenonTime: 'start' }).observations({ ...query, station: 'samenmeten:datastream:2819', from: at('2019-09-09T01:00:00Z') })
    expect(server.requests[1]!.query.get('$filter')).toBe("phenomenonTime ge '2019-09-09T00:00:00.000Z' and phenomenonTime lt '2019-09-10T23:00:00.000Z'")
    expect(observations[0]).toMatchObject({ time: at('2019-09-09T01:00:00Z'), value: 4.03 })
    expect(observations).toHaveLength(31)
  })

  it('refuses a datastream that observes another property, and malformed station ids', async () => {
    await expect(make().observations({ ...query, quantity: 'pm10', station: 'samenmeten:datastream:2819' })).rejects.toThrow(/observes 'pm25', not pm10/)
    await expect(make().observations({ ...query, station: '2819' })).rejects.toBeInstanceOf(RefusedError)
    await expect(make().observations({ ...query, quantity: 'no2', station: 'samenmeten:77' })).rejects.toThrow(/no datastream for no2/)
  })

  it('stations(): Things of the filter (default: Zwolle) with location and quantities', async () => {
    server.requests.length = 0
    expect(await make().stations()).toEqual([{ id: 'samenmeten:77', source: 'samenmeten', name: 'LTD_TEST', lat: 52.54, lon: 6.07, quantities: ['pm2_5'] }])
    expect(server.requests[0]!.query.get('$filter')).toBe("properties/codegemeente eq '193'")
    expect(server.requests[0]!.url).toContain('$expand=Locations%2CDatastreams%2FObservedProperty')
  })
})
