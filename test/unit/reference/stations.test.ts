import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RefusedError } from '../../../core/errors.ts'
import { createLogger } from '../../../core/logger.ts'
import { LuchtmeetnetSource } from '../../../core/reference/luchtmeetnet.ts'
import { EARTH_RADIUS_KM, KNMI_STATIONS, LUCHTMEETNET_STATIONS, STADSHAGEN, distanceKm, knmiStationsFromHydropandas, nearestStation, stationDistances, stationsByDistance } from '../../../core/reference/stations.ts'
import { startFixtureServer, type FixtureServer } from './fixture-server.ts'
import { KNMI_META } from './fixtures.ts'
import { luchtmeetnetHandler } from './servers.ts'

describe('distanceKm (haversine, R = 6371.0088 km)', () => {
  it('one degree of latitude is 2πR/360 km; a point is 0 km from itself', () => {
    expect(distanceKm({ lat: 52, lon: 6 }, { lat: 53, lon: 6 })).toBeCloseTo((2 * Math.PI * EARTH_RADIUS_KM) / 360, 9)
    expect(distanceKm(STADSHAGEN, STADSHAGEN)).toBe(0)
  })
})

describe('nearestStation from Stadshagen (52.530 N, 6.060 E)', () => {
  it('KNMI metadata fixture: 278 Heino (17.3 km), then 273 Marknesse', () => {
    const stations = knmiStationsFromHydropandas(KNMI_META)
    expect(stations.length).toBe(47)
    const nearest = nearestStation(stations, STADSHAGEN, 'air_temperature')!
    expect(nearest.station).toMatchObject({ id: '278', name: 'Heino' })
    expect(nearest.distanceKm).toBeCloseTo(17.3, 1)
    expect(stationsByDistance(stations, STADSHAGEN, 'air_temperature').slice(0, 2).map((s) => s.station.id)).toEqual(['278', '273'])
    expect(nearestStation(stations.filter((s) => s.id !== '278'), STADSHAGEN, 'air_temperature')!.station.id).toBe('273')
  })

  it('the static KNMI table equals the fixture conversion (open stations with hourly data)', () => {
    expect(KNMI_STATIONS).toEqual(knmiStationsFromHydropandas(KNMI_META))
    expect(knmiStationsFromHydropandas(KNMI_META, { includeClosed: true }).length).toBe(50)
    expect(knmiStationsFromHydropandas('nonsense')).toEqual([])
  })

  it('Luchtmeetnet snapshot, pm2_5: NL10818 Barsbeek-De Veenen (≈ 14.1 km)', () => {
    const nearest = nearestStation(LUCHTMEETNET_STATIONS, STADSHAGEN, 'pm2_5')!
    expect(nearest.station.id).toBe('NL10818')
    expect(nearest.distanceKm).toBeCloseTo(14.1, 1)
  })

  it('falls back to NL10807 (≈ 28.1 km) when NL10818 is known to lack the component', () => {
    const stations = LUCHTMEETNET_STATIONS.map((s) => (s.id === 'NL10818' ? { ...s, quantities: ['no2' as const, 'pm10' as const] } : s))
    const nearest = nearestStation(stations, STADSHAGEN, 'pm2_5')!
    expect(nearest.station.id).toBe('NL10807')
    expect(nearest.distanceKm).toBeCloseTo(28.1, 1)
    expect(nearestStation(stations, STADSHAGEN, 'pm10')!.station.id).toBe('NL10818')
  })

  it('a configured override wins; an unknown override is refused', () => {
    expect(nearestStation(LUCHTMEETNET_STATIONS, STADSHAGEN, 'pm2_5', 'NL10617')).toMatchObject({ station: { id: 'NL10617' }, overridden: true })
    expect(() => nearestStation(LUCHTMEETNET_STATIONS, STADSHAGEN, 'pm2_5', 'NL99999')).toThrow(RefusedError)
    expect(nearestStation([], STADSHAGEN, 'pm2_5')).toBeUndefined()
  })

  it('stationDistances gives the report distances of configured stations', () => {
    const d = stationDistances(STADSHAGEN, ['NL10818', '278', 'nope'])
    expect(Object.keys(d).sort()).toEqual(['278', 'NL10818'])
    expect(d.NL10818).toBeCloseTo(14.1, 1)
    expect(d['278']).toBeCloseTo(17.3, 1)
  })
})

describe('nearestStation on the live-shaped Luchtmeetnet station list', () => {
  let server: FixtureServer
  beforeAll(async () => {
    server = await startFixtureServer(luchtmeetnetHandler)
  })
  afterAll(async () => {
    await server.close()
  })

  it('uses the components from /stations/{n}: the fixture server says NL10818 has no PM25, so NL10807', async () => {
    const source = new LuchtmeetnetSource(`${server.origin}/open_api`, { logger: createLogger('silent'), cacheDir: null })
    const stations = await source.stations()
    expect(stations.map((s) => s.id)).toEqual(['NL10818', 'NL10807', 'NL10617'])
    expect(server.requests.map((r) => r.path)).toEqual(['/open_api/stations', '/open_api/stations', '/open_api/stations/NL10818', '/open_api/stations/NL10807', '/open_api/stations/NL10617'])
    expect(nearestStation(stations, STADSHAGEN, 'pm2_5')!.station.id).toBe('NL10807')
    expect(nearestStation(stations, STADSHAGEN, 'no2')!.station.id).toBe('NL10818')
  })
})
