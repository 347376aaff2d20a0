import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteRegistry } from '../../core/registry/sqlite.ts'
import { importDevices, parseDeviceImport, parseDevicesCsv, parseRegistryJson } from '../../core/registry/import.ts'
import type { RegistryStore } from '../../core/registry/store.ts'

/** `senshagen devices import` file layouts (core/registry/import.ts): parsing and the registry-side checks. */
const HOOD = { id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1500 }
const HEADER = 'id,neighbourhood,consent,lat,lon,format,native_id,coarsen,sensor_models,note'

/** The error message of `fn`, which must throw. */
function errorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error('expected an error')
}

describe('import: JSON (the old config/devices.json layout)', () => {
  it('reads neighbourhoods and devices, with defaults and optional fields', () => {
    const plan = parseRegistryJson(
      JSON.stringify({
        $comment: 'x',
        neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
        devices: [
          { id: 'g-1', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 }, note: 'form in the blue folder' },
          { id: 'g-2', neighbourhood: 'wijk', consent: false, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' },
        ],
      }),
      'devices.json',
    )
    expect(plan).toEqual({
      source: 'devices.json',
      layout: 'json',
      neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1000 }],
      devices: [
        { where: 'devices[0]', device: { id: 'g-1', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 }, coarsen: 'grid', note: 'form in the blue folder' } },
        { where: 'devices[1]', device: { id: 'g-2', neighbourhood: 'wijk', consent: false, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' } },
      ],
    })
  })

  it('reads the repository demo registry: 2 neighbourhoods, 20 devices, sim-009 without consent', () => {
    const plan = parseDeviceImport(readFileSync('config/devices.json', 'utf8'), 'config/devices.json')
    expect(plan.layout).toBe('json')
    expect(plan.neighbourhoods.map((n) => n.id)).toEqual(['stadshagen', 'archief'])
    expect(plan.devices).toHaveLength(20)
    expect(plan.devices.filter((e) => !e.device.consent).map((e) => e.device.id)).toEqual(['sim-009'])
  })

  it('names every bad field with its path', () => {
    const text = JSON.stringify({
      neighbourhoods: [HOOD],
      devices: [
        { id: 'g-1', neighbourhood: 'wijk', location: { lat: 52.5, lon: 6.0 } },
        { id: 'g-2', neighbourhood: 'elders', consent: true, location: { lat: 95, lon: 6.0 }, consnet: true },
      ],
    })
    expect(errorOf(() => parseRegistryJson(text, 'devices.json'))).toBe(
      'cannot import devices.json (3 problems; nothing registered):\n' +
        '  devices[0].consent: Invalid input: expected boolean, received undefined\n' +
        '  devices[1].location.lat: Too big: expected number to be <=90\n' +
        '  devices[1]: Unrecognized key: "consnet"',
    )
    // the file's own cross-checks (RegistryFileSchema) once every field is well-formed
    const crossed = JSON.stringify({
      neighbourhoods: [HOOD],
      devices: [
        { id: 'g-1', neighbourhood: 'elders', consent: true, location: { lat: 52.5, lon: 6.0 } },
        { id: 'g-1', neighbourhood: 'wijk', consent: true, location: { lat: 52.9, lon: 6.06 }, coarsen: 'neighbourhood' },
      ],
    })
    expect(errorOf(() => parseRegistryJson(crossed, 'devices.json'))).toBe(
      'cannot import devices.json (3 problems; nothing registered):\n' +
        "  devices[0].neighbourhood: no neighbourhood 'elders' in neighbourhoods\n" +
        "  devices[1].id: duplicate device id 'g-1'\n" +
        "  devices[1].location: lies outside neighbourhood 'wijk' (more than radiusM 1500 m from its center)",
    )
  })

  it('refuses text that is not JSON', () => {
    expect(errorOf(() => parseRegistryJson('{"devices": [', 'x.json'))).toMatch(/^cannot import x\.json: not JSON: /)
  })
})

describe('import: CSV', () => {
  it('reads every column: consent words, location, format, native id, coarsening, sensor models, quoted notes', () => {
    const csv =
      '\uFEFF' +
      `${HEADER}\r\n` +
      'g-1,wijk,yes,52.5312,6.0571,,,,SDS011; BME280,"form 12, blue folder"\r\n' +
      'tasmota-shed,wijk,FALSE,,,tasmota,shed-2,neighbourhood,,"says ""hi"""\r\n' +
      '\r\n' +
      'ttn:app:dev,wijk,true,-0.5,+.25,ttn,,grid,,"two\nlines"\n' +
      'g-4,wijk,no,,,,,,,\n'
    expect(parseDevicesCsv(csv.replace(/^\uFEFF/, ''), 'd.csv')).toEqual({
      source: 'd.csv',
      layout: 'csv',
      neighbourhoods: [],
      devices: [
        { where: 'line 2', device: { id: 'g-1', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 }, sensorModels: ['SDS011', 'BME280'], note: 'form 12, blue folder' } },
        { where: 'line 3', device: { id: 'tasmota-shed', neighbourhood: 'wijk', consent: false, format: 'tasmota', nativeId: 'shed-2', coarsen: 'neighbourhood', note: 'says "hi"' } },
        { where: 'line 5', device: { id: 'ttn:app:dev', neighbourhood: 'wijk', consent: true, location: { lat: -0.5, lon: 0.25 }, format: 'ttn', coarsen: 'grid', note: 'two\nlines' } },
        { where: 'line 7', device: { id: 'g-4', neighbourhood: 'wijk', consent: false } },
      ],
    })
    // the layout is found from the name, else from the first character; a byte-order mark is dropped
    expect(parseDeviceImport(csv, 'devices.txt').devices).toHaveLength(4)
    expect(parseDeviceImport(`${HEADER}\n`, 'devices.csv')).toMatchObject({ layout: 'csv', devices: [] })
  })

  it('reads the example files of config/ (both layouts)', () => {
    const csv = parseDeviceImport(readFileSync('config/devices.example.csv', 'utf8'), 'config/devices.example.csv')
    expect(csv.devices.map((e) => [e.device.id, e.device.consent, e.device.format ?? '-'])).toEqual([
      ['garden-020', true, '-'],
      ['tasmota-shed', false, 'tasmota'],
      ['airrohr-esp8266-3141592', true, 'airrohr'],
    ])
    const json = parseDeviceImport(readFileSync('config/devices.example.json', 'utf8'), 'config/devices.example.json')
    expect(json.devices.map((e) => [e.device.id, e.device.consent])).toEqual([
      ['garden-017', true],
      ['garden-018', true],
      ['garden-019', false],
    ])
  })

  it('takes the columns in any order and lets optional ones out', () => {
    expect(parseDevicesCsv('consent,id,neighbourhood\nno,g-9,wijk\n', 'd.csv').devices).toEqual([{ where: 'line 2', device: { id: 'g-9', neighbourhood: 'wijk', consent: false } }])
  })

  it('names line, column and rule of every bad cell', () => {
    const csv = [
      HEADER,
      'g-1,wijk,maybe,52.5,,,,,,',
      ',Wijk!,,91,200,lorawan,,fine,,',
      'g-1,wijk,yes,52.5x,6.06,,,,,',
      'g-5,wijk,no',
      '-bad,wijk,yes,,,,,,,',
    ].join('\n')
    expect(errorOf(() => parseDevicesCsv(csv, 'd.csv'))).toBe(
      'cannot import d.csv (13 problems; nothing registered):\n' +
        "  line 2, column 3 (consent): must be yes, no, true or false, got 'maybe'\n" +
        '  line 2, column 5 (lon): needed with lat (give both or neither)\n' +
        '  line 3, column 1 (id): required: the device id\n' +
        "  line 3, column 2 (neighbourhood): 'Wijk!' must be 1-63 chars of [a-z0-9_-], starting with a letter or digit\n" +
        '  line 3, column 3 (consent): required: yes, no, true or false\n' +
        "  line 3, column 4 (lat): must be decimal degrees from -90 to 90 (e.g. 52.5312), got '91'\n" +
        "  line 3, column 5 (lon): must be decimal degrees from -180 to 180 (e.g. 6.0571), got '200'\n" +
        "  line 3, column 6 (format): must be one of native, tasmota, esphome, ttn, meetjestad, airrohr, opensensemap, wow, wu, ecowitt, sensor.community, got 'lorawan'\n" +
        "  line 3, column 8 (coarsen): must be one of grid, neighbourhood, got 'fine'\n" +
        "  line 4, column 4 (lat): must be decimal degrees from -90 to 90 (e.g. 52.5312), got '52.5x'\n" +
        "  line 4, column 1 (id): duplicate device id 'g-1' (also on line 2)\n" +
        '  line 5: 3 cell(s), the header has 10\n' +
        "  line 6, column 1 (id): '-bad' device id must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric",
    )
  })

  it('refuses a duplicate id with both lines', () => {
    expect(errorOf(() => parseDevicesCsv('id,neighbourhood,consent\ng-1,wijk,yes\ng-2,wijk,yes\ng-1,wijk,no\n', 'd.csv'))).toBe(
      "cannot import d.csv (1 problem; nothing registered):\n  line 4, column 1 (id): duplicate device id 'g-1' (also on line 2)",
    )
  })

  it('refuses unknown, repeated and missing columns', () => {
    expect(errorOf(() => parseDevicesCsv('id,consnet,id,lat\n', 'd.csv'))).toBe(
      'cannot import d.csv (4 problems; nothing registered):\n' +
        "  line 1, column 2: unknown column 'consnet' (columns: id, neighbourhood, consent, lat, lon, format, native_id, coarsen, sensor_models, note)\n" +
        "  line 1, column 3: column 'id' appears twice\n" +
        "  line 1: missing column 'neighbourhood' (required: id, neighbourhood, consent)\n" +
        "  line 1: missing column 'consent' (required: id, neighbourhood, consent)",
    )
    expect(errorOf(() => parseDevicesCsv('', 'd.csv'))).toBe('cannot import d.csv (1 problem; nothing registered):\n  line 1: no header (expected id,neighbourhood,consent,lat,lon,format,native_id,coarsen,sensor_models,note)')
  })

  it('refuses broken quoting', () => {
    expect(errorOf(() => parseDevicesCsv('id,neighbourhood,consent,note\ng-1,wijk,yes,"open\n', 'd.csv'))).toBe(
      'cannot import d.csv (1 problem; nothing registered):\n  line 2, column 4: quote not closed before the end of the file',
    )
    expect(errorOf(() => parseDevicesCsv('id,neighbourhood,consent,note\ng-1,wijk,yes,a "b"\ng-2,wijk,yes,"c"d\n', 'd.csv'))).toBe(
      'cannot import d.csv (2 problems; nothing registered):\n' +
        '  line 2, column 4: a quote inside an unquoted cell (quote the whole cell and double the quote: "a ""b""")\n' +
        '  line 3, column 4: text after the closing quote',
    )
  })

  it('lists at most 50 problems and counts the rest', () => {
    const csv = [HEADER, ...Array.from({ length: 60 }, (_, i) => `g-${i},wijk,maybe,,,,,,,`)].join('\n')
    const lines = errorOf(() => parseDevicesCsv(csv, 'd.csv')).split('\n')
    expect(lines[0]).toBe('cannot import d.csv (60 problems; nothing registered):')
    expect(lines).toHaveLength(52)
    expect(lines[51]).toBe('  … and 10 more')
  })
})

describe('import into a registry (SQLite in memory)', () => {
  let store: RegistryStore | undefined
  afterEach(async () => {
    await store?.close()
  })

  it('registers new devices in file order, skips registered ones and adds the file\'s neighbourhoods', async () => {
    store = await openSqliteRegistry(':memory:')
    const json = JSON.stringify({
      neighbourhoods: [HOOD],
      devices: [
        { id: 'g-1', neighbourhood: 'wijk', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
        { id: 'g-2', neighbourhood: 'wijk', consent: false, location: { lat: 52.5288, lon: 6.0633 } },
      ],
    })
    const seen: string[] = []
    const first = await importDevices(store, parseRegistryJson(json, 'd.json'), (issued) => {
      seen.push(issued.id)
    })
    expect(first.registered.map((c) => [c.id, c.username, c.secret.length])).toEqual([
      ['g-1', 'g-1', 43],
      ['g-2', 'g-2', 43],
    ])
    expect(seen).toEqual(['g-1', 'g-2'])
    expect(first).toMatchObject({ skipped: [], neighbourhoods: ['wijk'] })
    expect((await store.neighbourhoods()).map((n) => n.id)).toEqual(['wijk'])
    const again = await importDevices(store, parseDevicesCsv('id,neighbourhood,consent\ng-2,wijk,yes\ng-3,wijk,no\n', 'd.csv'))
    expect(again.registered.map((c) => c.id)).toEqual(['g-3'])
    expect(again.skipped).toEqual(['g-2'])
    // the skipped device is left as it was: consent stays false, its secret still works
    expect((await store.device('g-2'))?.consent).toBe(false)
    expect((await store.authenticate('g-2', first.registered[1]!.secret))?.kind).toBe('device')
  })

  it('checks every new device against the registry before registering any', async () => {
    store = await openSqliteRegistry(':memory:')
    await store.upsertNeighbourhood(HOOD)
    await store.addDevice({ id: 'tasmota-a', neighbourhood: 'wijk', consent: true, format: 'tasmota', nativeId: 'shed', coarsen: 'neighbourhood' })
    const csv = [
      'id,neighbourhood,consent,lat,lon,format,native_id,coarsen',
      'g-1,wijk,yes,,,,,',
      'g-2,elders,yes,,,,,',
      'g-3,wijk,yes,,,,,grid',
      'g-4,wijk,yes,52.9,6.06,,,neighbourhood',
      'tasmota-b,wijk,yes,,,tasmota,shed,',
      'esphome-x,wijk,yes,,,esphome,node,',
      'esphome-y,wijk,yes,,,esphome,node,',
    ].join('\n')
    await expect(importDevices(store, parseDevicesCsv(csv, 'd.csv'))).rejects.toThrow(
      'cannot import d.csv (5 problems; nothing registered):\n' +
        "  line 3: invalid device 'g-2': neighbourhood: no neighbourhood 'elders' in the registry (known: wijk)\n" +
        "  line 4: invalid device 'g-3': coarsen: 'grid' needs a location (without one the device is published at its neighbourhood's centre: coarsen 'neighbourhood')\n" +
        "  line 5: invalid device 'g-4': location: lies outside neighbourhood 'wijk' (more than radiusM 1500 m from its center)\n" +
        "  line 6: invalid device 'tasmota-b': nativeId: 'shed' is already the identity of active tasmota device 'tasmota-a' (two devices would share its topics)\n" +
        "  line 8: invalid device 'esphome-y': nativeId: 'node' is already the identity of esphome device 'esphome-x' (line 7) (two devices would share its topics)",
    )
    expect((await store.devices()).map((d) => d.id)).toEqual(['tasmota-a'])
  })
})
