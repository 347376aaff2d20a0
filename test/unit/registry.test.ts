import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GRID, distanceM, gridLocation, gridPrecisionM, isGridCentre, neighbourhoodLocation, snapToGrid } from '../../core/registry/coarsen.ts'
import { parseRegistry, positionAt, publicRegistry } from '../../core/registry/registry.ts'
import { openSqliteRegistry } from '../../core/registry/sqlite.ts'

const demo = JSON.parse(readFileSync(new URL('../../config/devices.json', import.meta.url), 'utf8'))
const example = JSON.parse(readFileSync(new URL('../../config/devices.example.json', import.meta.url), 'utf8'))

const hood = { id: 'stadshagen', name: 'Stadshagen', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }
const device = (over: Record<string, unknown> = {}) => ({ id: 'garden-1', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 }, ...over })
const registryWith = (devices: unknown[], neighbourhoods: unknown[] = [hood]) => ({ neighbourhoods, devices })

describe('grid coarsening', () => {
  it('snaps to the centre of the 0.002° × 0.003° cell, printing exactly', () => {
    expect(snapToGrid({ lat: 52.5312, lon: 6.0571 })).toEqual({ lat: 52.531, lon: 6.0585 })
    expect(snapToGrid({ lat: 52.53, lon: 6.06 })).toEqual({ lat: 52.531, lon: 6.0615 }) // an edge belongs to the cell above
    expect(snapToGrid({ lat: 57.138, lon: -2.077 })).toEqual({ lat: 57.139, lon: -2.0775 })
    expect(snapToGrid({ lat: -33.8688, lon: 151.2093 })).toEqual({ lat: -33.869, lon: 151.2105 })
    expect(String(snapToGrid({ lat: 52.5361, lon: 6.0583 }).lat)).toBe('52.537')
  })

  it('documents its size: 222 m north-south, 203 m east-west and 151 m precision at 52.5° N', () => {
    expect(GRID).toEqual({ latDeg: 0.002, lonDeg: 0.003 })
    expect(distanceM({ lat: 52.53, lon: 6.06 }, { lat: 52.532, lon: 6.06 })).toBeCloseTo(222.4, 0)
    expect(distanceM({ lat: 52.5, lon: 6.06 }, { lat: 52.5, lon: 6.063 })).toBeCloseTo(203.2, 0)
    expect(gridPrecisionM(52.5)).toBe(151)
    expect(gridLocation({ lat: 52.5312, lon: 6.0571 })).toEqual({ lat: 52.531, lon: 6.0585, precisionM: 151 })
  })

  it('property: the published point is a cell centre, within half a cell of the true one, and snapping it again changes nothing', () => {
    fc.assert(
      fc.property(fc.double({ min: -89.99, max: 89.99, noNaN: true }), fc.double({ min: -179.99, max: 179.99, noNaN: true }), (lat, lon) => {
        const snapped = snapToGrid({ lat, lon })
        expect(isGridCentre(snapped.lat, snapped.lon)).toBe(true)
        expect(Math.abs(snapped.lat - lat)).toBeLessThanOrEqual(GRID.latDeg / 2 + 1e-6)
        expect(Math.abs(snapped.lon - lon)).toBeLessThanOrEqual(GRID.lonDeg / 2 + 1e-6)
        expect(snapToGrid(snapped)).toEqual(snapped)
        expect(distanceM({ lat, lon }, snapped)).toBeLessThanOrEqual(gridPrecisionM(snapped.lat) + 1)
      }),
    )
  })

  it('recognises non-centres: exact coordinates and cell edges are never grid centres', () => {
    expect(isGridCentre(52.5312, 6.0571)).toBe(false)
    expect(isGridCentre(52.53, 6.06)).toBe(false)
    expect(isGridCentre(52.531, 6.06)).toBe(false)
    expect(isGridCentre(52.531, 6.0585)).toBe(true)
  })

  it('neighbourhood coarsening publishes the snapped centre with the radius as precision', () => {
    expect(neighbourhoodLocation({ lat: 52.53, lon: 6.06 }, 1500)).toEqual({ lat: 52.531, lon: 6.0615, precisionM: 1500 })
    expect(neighbourhoodLocation({ lat: 52.53, lon: 6.06 }, 10).precisionM).toBe(151) // never finer than the grid
  })
})

describe('device registry', () => {
  it('publishes consented devices only, sorted, with coarsened positions and no exact coordinates', () => {
    const registry = parseRegistry(
      registryWith([device({ id: 'b' }), device({ id: 'a', coarsen: 'neighbourhood' }), device({ id: 'c', consent: false })]),
      'test.json',
    )
    expect(registry.publicDevices().map((d) => d.id)).toEqual(['a', 'b'])
    expect(registry.publicDevice('c')).toBeUndefined()
    expect(registry.publicDevice('unknown')).toBeUndefined()
    const cell = { lat: 52.531, lon: 6.0585, precisionM: 151 }
    expect(registry.publicDevice('b')).toEqual({ id: 'b', neighbourhood: 'stadshagen', coarsen: 'grid', location: cell, positions: [{ validFrom: 0, location: cell }] })
    expect(registry.publicDevice('a')!.location).toEqual({ lat: 52.531, lon: 6.0615, precisionM: 1000 })
    expect(registry.neighbourhoods()).toEqual([{ ...hood, center: { lat: 52.531, lon: 6.0615 }, radiusM: 1000 }])
    expect(JSON.stringify([registry.publicDevices(), registry.neighbourhoods()])).not.toMatch(/52\.5312|6\.0571|52\.53\b|6\.06\b/)
  })

  it('names the field of every error, with the file', () => {
    const bad = registryWith([
      { id: 'x', neighbourhood: 'stadshagen', location: { lat: 52.5, lon: 6.1 } },
      device({ id: 'y', neighbourhood: 'nowhere' }),
      device({ id: 'y' }),
      device({ id: 'z', location: { lat: 95, lon: 6 } }),
      device({ id: 'w', consnet: true }),
      device({ id: 'v', coarsen: 'street' }),
      device({ id: 'u', coarsen: 'neighbourhood', location: { lat: 52.6, lon: 6.06 } }),
    ])
    let message = ''
    try {
      parseRegistry(bad, 'config/devices.json')
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toContain('config/devices.json: devices[0].consent: Invalid input: expected boolean')
    expect(message).toContain('config/devices.json: devices[3].location.lat: Too big')
    expect(message).toContain("devices[4]: Unrecognized key: \"consnet\"")
    expect(message).toContain('devices[5].coarsen: Invalid option')
    // cross-field checks run once the fields are valid
    const cross = () => parseRegistry(registryWith([device({ id: 'y', neighbourhood: 'nowhere' }), device({ id: 'y' }), device({ id: 'u', coarsen: 'neighbourhood', location: { lat: 52.6, lon: 6.06 } })]), 'r.json')
    expect(cross).toThrow("r.json: devices[0].neighbourhood: no neighbourhood 'nowhere' in neighbourhoods")
    expect(cross).toThrow("r.json: devices[1].id: duplicate device id 'y'")
    expect(cross).toThrow("r.json: devices[2].location: lies outside neighbourhood 'stadshagen'")
    expect(() => parseRegistry(registryWith([device({ id: 'neighbourhood:x' })]), 'r.json')).toThrow('devices[0].id: must not start with neighbourhood:')
    expect(() => parseRegistry({ neighbourhoods: [] }, 'r.json')).toThrow('r.json: devices: Invalid input')
  })

  it('reads the demo registry: 10 simulated gardens (sim-009 without consent) and the 10 archive devices', () => {
    const registry = parseRegistry(demo, 'config/devices.json')
    expect(registry.neighbourhoods().map((n) => n.id)).toEqual(['stadshagen', 'archief'])
    expect(registry.neighbourhood('archief')!.name).toBe('Archief (sensor.community, Aberdeen/Stuttgart)')
    expect(registry.publicDevices('stadshagen').map((d) => d.id)).toEqual(['sim-000', 'sim-001', 'sim-002', 'sim-003', 'sim-004', 'sim-005', 'sim-006', 'sim-007', 'sim-008'])
    expect(registry.publicDevice('sim-009')).toBeUndefined()
    expect(registry.publicDevices('archief').map((d) => d.id).sort()).toEqual(
      ['sc-5331', 'sc-5332', 'sc-8733', 'sc-15093', 'sc-22885', 'sc-92', 'sc-2184', 'sc-90001', 'sc-90002', 'sc-90003'].sort(),
    )
    // the simulated gardens spread over about 1.5 km around 52.530 N 6.060 E
    const sims = (demo.devices as Array<{ id: string; location: { lat: number; lon: number } }>).filter((d) => d.id.startsWith('sim-'))
    expect(sims).toHaveLength(10)
    for (const d of sims) expect(distanceM(d.location, { lat: 52.53, lon: 6.06 })).toBeLessThan(1_000)
    for (const d of registry.publicDevices()) expect(isGridCentre(d.location.lat, d.location.lon)).toBe(true)
  })

  it('reads the example registry', () => {
    const registry = parseRegistry(example, 'config/devices.example.json')
    expect(registry.publicDevices().map((d) => d.id)).toEqual(['garden-017', 'garden-018'])
  })
})

describe('public view of the registry store', () => {
  it('publishes active, consented devices only, coarsened; a snapshot, so a revoke shows in the next one', async () => {
    const store = await openSqliteRegistry(':memory:')
    await store.upsertNeighbourhood({ ...hood, radiusM: 1500 })
    await store.addDevice({ id: 'b', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
    await store.addDevice({ id: 'a', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' })
    await store.addDevice({ id: 'c', neighbourhood: 'stadshagen', consent: false, location: { lat: 52.5264, lon: 6.0552 } })
    await store.addDevice({ id: 'd', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5301, lon: 6.0611 } })
    await store.addDevice({ id: 'e', neighbourhood: 'stadshagen', consent: true }) // no location: the neighbourhood centre
    await store.revoke('d')
    const registry = await publicRegistry(store)
    expect(registry.source).toBe(':memory:')
    const centre = { lat: 52.531, lon: 6.0615, precisionM: 1500 }
    const cell = { lat: 52.531, lon: 6.0585, precisionM: 151 }
    expect(registry.publicDevices()).toEqual([
      { id: 'a', neighbourhood: 'stadshagen', coarsen: 'neighbourhood', location: centre, positions: [{ validFrom: 0, location: centre }] },
      { id: 'b', neighbourhood: 'stadshagen', coarsen: 'grid', location: cell, positions: [{ validFrom: 0, location: cell }] },
      { id: 'e', neighbourhood: 'stadshagen', coarsen: 'neighbourhood', location: centre, positions: [{ validFrom: 0, location: centre }] },
    ])
    expect(registry.publicDevice('c')).toBeUndefined()
    expect(registry.publicDevice('d')).toBeUndefined()
    expect(registry.publicDevices('archief')).toEqual([])
    expect(registry.neighbourhoods()).toEqual([{ ...hood, center: { lat: 52.531, lon: 6.0615 }, radiusM: 1500 }])
    expect(JSON.stringify([registry.publicDevices(), registry.neighbourhoods()])).not.toMatch(/52\.5312|6\.0571|52\.5288|6\.0633|52\.5301|52\.53\b|6\.06\b/)
    await store.revoke('b')
    expect(registry.publicDevice('b')).toBeDefined()
    expect((await publicRegistry(store)).publicDevices().map((d) => d.id)).toEqual(['a', 'e'])
    await store.close()
  })

  it('publishes the position history coarsened: moves within one cell or of a neighbourhood-coarsened device publish nothing; positionAt reads it', async () => {
    const store = await openSqliteRegistry(':memory:')
    await store.upsertNeighbourhood({ ...hood, radiusM: 1500 })
    await store.addDevice({ id: 'b', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
    await store.addDevice({ id: 'a', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' })
    const T2017 = Date.UTC(2017, 9, 7)
    const T2019 = Date.UTC(2019, 0, 17)
    await store.moveDevice('b', { lat: 52.5318, lon: 6.0581 }, T2017) // same cell: 52.531, 6.0585
    await store.moveDevice('b', { lat: 52.5105, lon: 6.0921 }, T2019) // cell 52.511, 6.0915
    await store.moveDevice('a', { lat: 52.5301, lon: 6.0611 }, T2019)
    const registry = await publicRegistry(store)
    const b = registry.publicDevice('b')!
    expect(b.positions).toEqual([
      { validFrom: 0, location: { lat: 52.531, lon: 6.0585, precisionM: 151 } },
      { validFrom: T2019, location: { lat: 52.511, lon: 6.0915, precisionM: 151 } },
    ])
    expect(b.location).toEqual({ lat: 52.511, lon: 6.0915, precisionM: 151 })
    expect(positionAt(b, T2017)).toEqual({ lat: 52.531, lon: 6.0585, precisionM: 151 })
    expect(positionAt(b, T2019 - 1)).toEqual({ lat: 52.531, lon: 6.0585, precisionM: 151 })
    expect(positionAt(b, T2019)).toEqual({ lat: 52.511, lon: 6.0915, precisionM: 151 })
    expect(positionAt(b, Date.UTC(2020, 0, 1))).toEqual({ lat: 52.511, lon: 6.0915, precisionM: 151 })
    expect(registry.publicDevice('a')!.positions).toEqual([{ validFrom: 0, location: { lat: 52.531, lon: 6.0615, precisionM: 1500 } }])
    // before the first entry: the first (earliest known) position
    expect(positionAt({ positions: [{ validFrom: T2017, location: b.location }] }, 0)).toEqual(b.location)
    expect(JSON.stringify(registry.publicDevices())).not.toMatch(/52\.5312|6\.0571|52\.5318|6\.0581|52\.5105|6\.0921|52\.5301|6\.0611/)
    await store.close()
  })
})
