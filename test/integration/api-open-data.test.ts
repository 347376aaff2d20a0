import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { parquetReadObjects } from 'hyparquet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { isGridCentre } from '../../core/registry/coarsen.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { INFLUX_URL } from '../helpers/env.ts'

/**
 * Researchers' access (issue 12 item 2) against the real InfluxDB: device filters and GeoJSON, the SensorThings
 * read subset, and the bulk files (read back by Python's csv module and by hyparquet), each checked for hidden
 * devices and fine positions.
 */
const logger = createLogger('silent')
const run = promisify(execFile)
const T = (iso: string) => Date.parse(iso)
const reading = (deviceId: string, quantity: Quantity, iso: string, value: number, extra: Partial<Reading> = {}): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt: T(iso), receivedAt: T(iso), timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [], ...extra,
})
const EXACT = { 'g-a': { lat: 52.531234, lon: 6.057891 }, 'g-b': { lat: 52.528765, lon: 6.063321 }, 'g-far': { lat: 52.512634, lon: 6.093012 }, 'g-private': { lat: 52.527654, lon: 6.054321 } }
const REGISTRY = {
  neighbourhoods: [
    { id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.5302, lon: 6.0604 }, radiusM: 1500 },
    { id: 'centrum', name: 'Centrum', municipality: 'Zwolle', center: { lat: 52.5125, lon: 6.0944 }, radiusM: 800 },
  ],
  devices: [
    { id: 'g-a', neighbourhood: 'wijk', consent: true, location: EXACT['g-a'] },
    { id: 'g-b', neighbourhood: 'wijk', consent: true, location: EXACT['g-b'], coarsen: 'neighbourhood' },
    { id: 'g-far', neighbourhood: 'centrum', consent: true, location: EXACT['g-far'] },
    { id: 'g-private', neighbourhood: 'wijk', consent: false, location: EXACT['g-private'] },
  ],
}
const HIDDEN = ['g-private', 'g-ghost']

/** No exact coordinate in full or rounded to 4–6 decimals, and no hidden device id. */
function expectPrivate(text: string, where: string) {
  for (const id of HIDDEN) expect(text, `${where} mentions ${id}`).not.toContain(id)
  for (const { lat, lon } of Object.values(EXACT)) {
    for (const decimals of [6, 5, 4]) {
      expect(text, `${where}: ${lat.toFixed(decimals)}`).not.toContain(lat.toFixed(decimals))
      expect(text, `${where}: ${lon.toFixed(decimals)}`).not.toContain(lon.toFixed(decimals))
    }
  }
}

/** Python's csv.DictReader with no options, rows as JSON. */
async function pythonCsv(text: string): Promise<Array<Record<string, string>>> {
  const script = 'import csv, io, json, sys\nprint(json.dumps(list(csv.DictReader(io.StringIO(sys.stdin.read(), newline="")))))'
  const child = run('python3', ['-c', script], { maxBuffer: 50e6 })
  child.child.stdin!.end(text)
  return JSON.parse((await child).stdout) as Array<Record<string, string>>
}

describe('researchers: device filters, SensorThings, bulk files', () => {
  const db = throwawayDatabase('api_open_data', logger)
  let app: FastifyInstance
  const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers })

  beforeAll(async () => {
    await db.store.write({
      readings: [
        reading('g-a', 'pm2_5', '2024-01-15T10:00:00.000Z', 8.25, { sensorModel: 'SDS011' }),
        reading('g-a', 'pm10', '2024-01-15T10:00:00.000Z', 14.75, { sensorModel: 'SDS011' }),
        reading('g-a', 'pm2_5', '2024-01-15T10:02:30.500Z', 9.5, { sensorModel: 'SDS011' }),
        reading('g-a', 'pm10', '2024-01-15T10:02:30.500Z', 1999.9, { sensorModel: 'SDS011', flags: ['saturated'] }),
        reading('g-a', 'air_pressure', '2024-01-15T10:00:00.000Z', 1012.5, { sensorModel: 'BME280' }),
        reading('g-a', 'air_temperature', '2024-01-15T11:00:00.000Z', 3.5, { sensorModel: '=HYPERLINK("x")' }),
        reading('g-a', 'pm2_5', '2024-01-20T00:00:00.000Z', 5, { sensorModel: 'SDS011' }),
        reading('g-b', 'pm2_5', '2024-01-15T06:00:00.000Z', 4, { sensorModel: 'SDS011', sourceFormat: 'sc-archive' }),
        reading('g-b', 'pm10', '2024-01-15T06:00:00.000Z', 6, { sensorModel: 'SDS011', sourceFormat: 'sc-archive' }),
        reading('g-far', 'air_temperature', '2024-01-15T12:00:00.000Z', 2.25, { sensorModel: 'DHT22' }),
        reading('g-private', 'pm2_5', '2024-01-15T06:00:00.000Z', 400, { sensorModel: 'SDS011' }),
        reading('g-ghost', 'pm2_5', '2024-01-15T06:00:00.000Z', 444, { sensorModel: 'SDS011' }),
      ],
      rejections: [],
    })
    await db.store.writeLines([`reading,device=g-a,quantity=pm2_5 calibrated=6.5,calibration_method="pm-group-ratio",calibration_version="t" ${T('2024-01-15T10:00:00.000Z')}`])
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 60_000, liveHeartbeatMs: 15_000 }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store: db.store, registry: parseRegistry(REGISTRY, 'test'), logger, publicDir: '/nonexistent' })
  })
  afterAll(async () => {
    await app?.close()
  })

  describe('devices: bbox, radius, device lists, GeoJSON', () => {
    const ids = async (query: string) => (await get(`/api/v1/devices?${query}`)).json().devices.map((d: { id: string }) => d.id)

    it('filters on the published position with bbox (minLon,minLat,maxLon,maxLat) and near/radius_m', async () => {
      expect(await ids('bbox=6.05,52.52,6.07,52.54')).toEqual(['g-a', 'g-b'])
      // the box edge on g-a's published longitude 6.0585 includes it; g-a's exact 6.0579 lies outside this box and does not count
      expect(await ids('bbox=6.0585,52.52,6.07,52.54')).toEqual(['g-a', 'g-b'])
      expect(await ids('bbox=6.0586,52.52,6.07,52.54')).toEqual(['g-b'])
      expect(await ids('bbox=6.09,52.51,6.10,52.52')).toEqual(['g-far'])
      // g-far's published point 52.513, 6.0945 is 2.8 km from g-a's
      expect(await ids('near=52.531,6.0585&radius_m=500')).toEqual(['g-a', 'g-b'])
      expect(await ids('near=52.513,6.0945&radius_m=10')).toEqual(['g-far'])
      expect(await ids('near=52.531,6.0585&radius_m=5000&neighbourhood=centrum')).toEqual(['g-far'])
      expect(await ids('device=g-far,g-a,g-private,g-ghost')).toEqual(['g-a', 'g-far'])
    })

    it('refuses malformed filters with a problem naming the parameter', async () => {
      const cases: Array<[string, string, RegExp]> = [
        ['bbox=6.07,52.52,6.05,52.54', 'bbox', /minLon must not exceed maxLon/],
        ['bbox=6,52,7', 'bbox', /four decimal numbers/],
        ['bbox=6,52,7,95', 'bbox', /latitudes in -90…90/],
        ['near=52.5,6.0', 'radius_m', /near and radius_m go together/],
        ['radius_m=100', 'near', /go together/],
        ['near=95,6&radius_m=100', 'near', /lat,lon/],
        ['near=52.5,6&radius_m=60000', 'radius_m', /50000/],
        ['device=g-a,,g-b', 'device', /without empty items/],
        ['device=g-a,bad/id', 'device', /item 2 'bad\/id'/],
      ]
      for (const [query, name, reason] of cases) {
        const response = await get(`/api/v1/devices?${query}`)
        expect(response.statusCode, query).toBe(400)
        expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8')
        const param = response.json()['invalid-params'].find((p: { name: string }) => p.name === name)
        expect(param?.reason, query).toMatch(reason)
      }
    })

    it('answers an RFC 7946 FeatureCollection for format=geojson and for Accept: application/geo+json', async () => {
      const byFormat = await get('/api/v1/devices?format=geojson&bbox=6.05,52.52,6.07,52.54')
      expect(byFormat.headers['content-type']).toBe('application/geo+json; charset=utf-8')
      const body = byFormat.json()
      expect(body.type).toBe('FeatureCollection')
      expect(body.features).toHaveLength(2)
      expect(body.features[0]).toMatchObject({
        type: 'Feature', id: 'g-a', geometry: { type: 'Point', coordinates: [6.0585, 52.531] },
        properties: { id: 'g-a', neighbourhood: 'wijk', precisionM: 151, quantities: ['air_pressure', 'air_temperature', 'pm10', 'pm2_5'] },
      })
      expect(body.features[1].geometry.coordinates).toEqual([6.0615, 52.531])
      expect(body.features[1].properties.precisionM).toBe(1500)
      expect(body.features[0].properties.location).toBeUndefined()
      const byAccept = await get('/api/v1/devices?bbox=6.05,52.52,6.07,52.54', { accept: 'application/geo+json, application/json;q=0.5' })
      expect(byAccept.headers['content-type']).toBe('application/geo+json; charset=utf-8')
      expect(byAccept.headers.vary).toBe('Accept')
      expect(byAccept.json()).toEqual(body)
      expect((await get('/api/v1/devices', { accept: 'application/json, application/geo+json' })).json().devices).toHaveLength(3)
      const all = await get('/api/v1/devices?format=geojson')
      for (const f of all.json().features) expect(isGridCentre(f.geometry.coordinates[1], f.geometry.coordinates[0])).toBe(true)
      expectPrivate(all.body, 'geojson')
    })
  })

  describe('SensorThings API 1.1 read subset', () => {
    const ROOT = 'http://localhost:80/sta/v1.1'
    /** An absolute link of ours as an inject path (app.inject answers as host localhost:80). */
    const path = (link: string) => {
      expect(link.startsWith(ROOT), link).toBe(true)
      return link.slice('http://localhost:80'.length)
    }
    const sta = async (url: string) => {
      const response = await get(url)
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200)
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
      return response.json()
    }

    /**
     * The request sequence of a generic STA client (service root → Things with Locations → a Thing's Datastreams →
     * their Observations in a time window, paged by following @iot.nextLink), in the URL forms of OGC 18-088
     * §9.2–9.3 (quoted string keys, `$`-options). Each answer is checked against the spec's entity shapes.
     */
    it('serves the service root with the entity sets and conformance classes (§8.2.2)', async () => {
      const root = await sta('/sta/v1.1')
      expect(root.value.map((v: { name: string }) => v.name)).toEqual(['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations'])
      for (const { name, url } of root.value) expect(url).toBe(`${ROOT}/${name}`)
      expect(root.serverSettings.conformance).toContain('http://www.opengis.net/spec/iot_sensing/1.1/req/request-data')
    })

    it('lists Things (public devices) with Locations at the published position, and navigates', async () => {
      const things = await sta('/sta/v1.1/Things?$expand=Locations&$count=true')
      expect(things['@iot.count']).toBe(3)
      expect(things.value.map((t: { '@iot.id': string }) => t['@iot.id'])).toEqual(['g-a', 'g-b', 'g-far'])
      const a = things.value[0]
      expect(a).toMatchObject({
        '@iot.id': 'g-a', '@iot.selfLink': `${ROOT}/Things('g-a')`, name: 'g-a', description: 'SensHagen citizen sensor in Wijk', properties: { neighbourhood: 'wijk' },
        'Locations@iot.navigationLink': `${ROOT}/Things('g-a')/Locations`, 'Datastreams@iot.navigationLink': `${ROOT}/Things('g-a')/Datastreams`,
      })
      expect(a.Locations).toEqual([{
        '@iot.id': 'g-a', '@iot.selfLink': `${ROOT}/Locations('g-a')`, name: 'published position of g-a', description: 'centre of the grid cell holding the device',
        encodingType: 'application/geo+json', location: { type: 'Point', coordinates: [6.0585, 52.531] }, properties: { precisionM: 151 },
        'Things@iot.navigationLink': `${ROOT}/Locations('g-a')/Things`,
      }])
      const self = await sta(path(a['@iot.selfLink']))
      expect(self['@iot.id']).toBe('g-a')
      expect(self.Locations).toBeUndefined()
      expect((await sta(path(a['Locations@iot.navigationLink']))).value).toEqual(a.Locations)
      expect((await sta(path(a.Locations[0]['Things@iot.navigationLink']))).value[0]['@iot.id']).toBe('g-a')
      const page = await sta('/sta/v1.1/Things?$top=2')
      expect(page.value).toHaveLength(2)
      expect(page['@iot.count']).toBeUndefined()
      expect(page['@iot.nextLink']).toBe(`${ROOT}/Things?$top=2&$skip=2`)
      const rest = await sta(path(page['@iot.nextLink']))
      expect(rest.value.map((t: { '@iot.id': string }) => t['@iot.id'])).toEqual(['g-far'])
      expect(rest['@iot.nextLink']).toBeUndefined()
    })

    it('gives Datastreams (device × quantity) with UCUM units, their Sensor and ObservedProperty', async () => {
      const streams = await sta("/sta/v1.1/Things('g-a')/Datastreams")
      expect(streams.value.map((d: { '@iot.id': string }) => d['@iot.id'])).toEqual(['g-a~air_pressure', 'g-a~air_temperature', 'g-a~pm10', 'g-a~pm2_5'])
      const pm25 = streams.value[3]
      expect(pm25).toMatchObject({
        '@iot.selfLink': `${ROOT}/Datastreams('g-a~pm2_5')`,
        unitOfMeasurement: { name: 'microgram per cubic metre', symbol: 'µg/m³', definition: 'http://www.opengis.net/def/uom/UCUM/0/ug%2Fm3' },
        observationType: 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement',
        'Observations@iot.navigationLink': `${ROOT}/Datastreams('g-a~pm2_5')/Observations`,
      })
      expect(streams.value[1].unitOfMeasurement.definition).toBe('http://www.opengis.net/def/uom/UCUM/0/Cel')
      expect(await sta(path(pm25['ObservedProperty@iot.navigationLink']))).toMatchObject({
        '@iot.id': 'pm2_5', definition: 'http://vocab.nerc.ac.uk/standard_name/mass_concentration_of_pm2p5_ambient_aerosol_particles_in_air/',
      })
      expect(await sta(path(pm25['Sensor@iot.navigationLink']))).toMatchObject({ '@iot.id': 'sds011', name: 'SDS011', encodingType: 'text/plain' })
      expect((await sta(path(pm25['Thing@iot.navigationLink'])))['@iot.id']).toBe('g-a')
      const expanded = await sta("/sta/v1.1/Datastreams('g-b~pm10')?$expand=Thing,ObservedProperty")
      expect(expanded.Thing['@iot.id']).toBe('g-b')
      expect(expanded.ObservedProperty['@iot.id']).toBe('pm10')
      const all = await sta('/sta/v1.1/Datastreams?$count=true')
      expect(all['@iot.count']).toBe(7) // g-a 4, g-b 2, g-far 1
      expect((await sta('/sta/v1.1/Sensors')).value.map((s: { name: string }) => s.name)).toEqual(['BME280', 'DHT22', '=HYPERLINK("x")', 'SDS011']) // by id: bme280, dht22, hyperlink-x, sds011
      expect((await sta("/sta/v1.1/Sensors('sds011')/Datastreams")).value.map((d: { '@iot.id': string }) => d['@iot.id'])).toEqual(['g-a~pm10', 'g-a~pm2_5', 'g-b~pm10', 'g-b~pm2_5'])
      expect((await sta('/sta/v1.1/ObservedProperties')).value.map((p: { '@iot.id': string }) => p['@iot.id'])).toEqual(['air_pressure', 'air_temperature', 'pm10', 'pm2_5'])
    })

    it('pages Observations in a phenomenonTime window by @iot.nextLink, asc and desc, with flags', async () => {
      const filter = '$filter=phenomenonTime ge 2024-01-15T00:00:00Z and phenomenonTime lt 2024-01-16T00:00:00Z'
      const first = await sta(`/sta/v1.1/Datastreams('g-a~pm2_5')/Observations?${encodeURI(filter)}&$top=1&$count=true`)
      expect(first['@iot.count']).toBe(2)
      expect(first.value).toEqual([{
        '@iot.id': 'g-a~pm2_5~1705312800000', '@iot.selfLink': `${ROOT}/Observations('g-a~pm2_5~1705312800000')`,
        phenomenonTime: '2024-01-15T10:00:00.000Z', resultTime: '2024-01-15T10:00:00.000Z', result: 8.25,
        // the result is the raw value; the calibrated one (stored without a label or uncertainty) is experimental, not assessed
        resultQuality: { label: 'uncalibrated', uncertainty: null },
        parameters: { flags: [], calibrated: 6.5, calibrated_uncertainty: null, calibration_label: 'experimental' },
        'Datastream@iot.navigationLink': `${ROOT}/Observations('g-a~pm2_5~1705312800000')/Datastream`,
      }])
      const second = await sta(path(first['@iot.nextLink']))
      expect(second.value.map((o: { result: number }) => o.result)).toEqual([9.5])
      expect(second['@iot.nextLink']).toBeUndefined()
      // without the window: the 2024-01-20 reading too; newest first
      const desc = await sta("/sta/v1.1/Datastreams('g-a~pm2_5')/Observations?$orderby=phenomenonTime%20desc&$top=2")
      expect(desc.value.map((o: { phenomenonTime: string }) => o.phenomenonTime)).toEqual(['2024-01-20T00:00:00.000Z', '2024-01-15T10:02:30.500Z'])
      const older = await sta(path(desc['@iot.nextLink']))
      expect(older.value.map((o: { result: number }) => o.result)).toEqual([8.25])
      const pm10 = await sta("/sta/v1.1/Datastreams('g-a~pm10')/Observations?$filter=phenomenonTime%20gt%202024-01-15T10:00:00Z")
      expect(pm10.value).toEqual([expect.objectContaining({ result: 1999.9, parameters: { flags: ['saturated'], calibrated: null, calibrated_uncertainty: null, calibration_label: 'uncalibrated' } })])
      const byId = await sta("/sta/v1.1/Observations('g-a~pm10~1705312950500')")
      expect(byId).toEqual(pm10.value[0])
      expect((await sta(path(byId['Datastream@iot.navigationLink'])))['@iot.id']).toBe('g-a~pm10')
    })

    it('answers the URL forms of the 52°North STA server documentation (Datastreams(id)/Observations with $top, $count, $orderby + $select, a time window)', async () => {
      const base = "/sta/v1.1/Datastreams('g-a~pm2_5')/Observations"
      expect((await sta(`${base}?$top=520`)).value).toHaveLength(3)
      expect((await sta(`${base}?$count=true`))['@iot.count']).toBe(3)
      expect((await sta(`${base}?$orderby=phenomenonTime&$select=id,result,phenomenonTime`)).value).toEqual([
        { '@iot.id': 'g-a~pm2_5~1705312800000', result: 8.25, phenomenonTime: '2024-01-15T10:00:00.000Z' },
        { '@iot.id': 'g-a~pm2_5~1705312950500', result: 9.5, phenomenonTime: '2024-01-15T10:02:30.500Z' },
        { '@iot.id': 'g-a~pm2_5~1705708800000', result: 5, phenomenonTime: '2024-01-20T00:00:00.000Z' },
      ])
      const window = await sta(`${base}?$filter=${encodeURIComponent('phenomenonTime gt 2024-01-15T10:00:00.000Z and phenomenonTime lt 2024-01-20T00:00:00.000Z')}`)
      expect(window.value.map((o: { result: number }) => o.result)).toEqual([9.5])
      expect((await sta("/sta/v1.1/Things(%27g-a%27)?$select=name,Datastreams"))).toEqual({ name: 'g-a', 'Datastreams@iot.navigationLink': `${ROOT}/Things('g-a')/Datastreams` })
    })

    it('refuses what the subset does not do, naming the option', async () => {
      const cases: Array<[string, string]> = [
        ['/sta/v1.1/Things?$resultFormat=dataArray', '$resultFormat'],
        ["/sta/v1.1/Datastreams('g-a~pm10')?$expand=Observations($top=600)", '$expand'],
        ["/sta/v1.1/Datastreams('g-a~pm10')/Observations?$filter=result%20gt%205", '$filter'],
        ['/sta/v1.1/Things?$filter=name%20eq%20%27g-a%27', '$filter'],
        ["/sta/v1.1/Datastreams('g-a~pm10')/Observations?$orderby=result", '$orderby'],
        ['/sta/v1.1/Things?$expand=Datastreams/Observations', '$expand'],
        ['/sta/v1.1/Things?$top=100000', '$top'],
        ['/sta/v1.1/Observations', '$filter'],
      ]
      for (const [url, name] of cases) {
        const response = await get(url)
        expect(response.statusCode, url).toBe(400)
        expect(response.json()['invalid-params'].map((p: { name: string }) => p.name), url).toContain(name)
      }
      expect((await get('/sta/v1.1/FeaturesOfInterest')).statusCode).toBe(404)
      expect((await get("/sta/v1.1/Things('g-a')/FeaturesOfInterest")).statusCode).toBe(404)
    })

    it('knows no hidden device: the same 404 as for an unknown one, and nothing of them in any answer', async () => {
      for (const template of ["/sta/v1.1/Things('{id}')", "/sta/v1.1/Locations('{id}')", "/sta/v1.1/HistoricalLocations('{id}~0')", "/sta/v1.1/Locations('{id}~0')", "/sta/v1.1/Things('{id}')/Datastreams", "/sta/v1.1/Datastreams('{id}~pm2_5')/Observations", "/sta/v1.1/Observations('{id}~pm2_5~1705298400000')"]) {
        const bodies = await Promise.all(['g-private', 'g-ghost', 'g-never'].map(async (id) => {
          const response = await get(template.replace('{id}', id))
          expect(response.statusCode).toBe(404)
          const { instance: _instance, ...rest } = response.json()
          return rest
        }))
        expect(bodies[0]).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such entity' })
        expect(bodies[1]).toEqual(bodies[0])
        expect(bodies[2]).toEqual(bodies[0])
      }
      for (const url of ['/sta/v1.1/Things?$expand=Locations,Datastreams', '/sta/v1.1/Locations', '/sta/v1.1/Datastreams?$expand=Thing', '/sta/v1.1/Sensors', "/sta/v1.1/Sensors('sds011')/Datastreams"]) {
        const text = (await get(url)).body
        expectPrivate(text, url)
        for (const m of text.matchAll(/"coordinates":\[([\d.-]+),([\d.-]+)\]/g)) expect(isGridCentre(Number(m[2]), Number(m[1])), url).toBe(true)
      }
    })
  })

  describe('bulk files: CSV, Parquet, archive layout, datapackage.json', () => {
    it('serves a day as a long CSV that Python reads without options: unit, flags, calibrated, published position, precision', async () => {
      const response = await get('/api/v1/bulk/2024-01-15/senshagen.csv')
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8; header=present')
      expect(response.headers['content-disposition']).toBe('attachment; filename="2024-01-15_senshagen.csv"')
      expect(response.body.startsWith('time,device,quantity,value,unit,calibrated,calibrated_uncertainty,calibration_label,flags,sensor_type,lat,lon,precision_m\r\n')).toBe(true)
      const rows = await pythonCsv(response.body)
      expect(rows).toEqual([
        { time: '2024-01-15T10:00:00.000Z', device: 'g-a', quantity: 'air_pressure', value: '1012.5', unit: 'hPa', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: '', sensor_type: 'BME280', lat: '52.531', lon: '6.0585', precision_m: '151' },
        { time: '2024-01-15T10:00:00.000Z', device: 'g-a', quantity: 'pm10', value: '14.75', unit: 'µg/m³', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: '', sensor_type: 'SDS011', lat: '52.531', lon: '6.0585', precision_m: '151' },
        { time: '2024-01-15T10:00:00.000Z', device: 'g-a', quantity: 'pm2_5', value: '8.25', unit: 'µg/m³', calibrated: '6.5', calibrated_uncertainty: '', calibration_label: 'experimental', flags: '', sensor_type: 'SDS011', lat: '52.531', lon: '6.0585', precision_m: '151' },
        { time: '2024-01-15T10:02:30.500Z', device: 'g-a', quantity: 'pm10', value: '1999.9', unit: 'µg/m³', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: 'saturated', sensor_type: 'SDS011', lat: '52.531', lon: '6.0585', precision_m: '151' },
        { time: '2024-01-15T10:02:30.500Z', device: 'g-a', quantity: 'pm2_5', value: '9.5', unit: 'µg/m³', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: '', sensor_type: 'SDS011', lat: '52.531', lon: '6.0585', precision_m: '151' },
        // a formula-looking sensor model is neutralised
        { time: '2024-01-15T11:00:00.000Z', device: 'g-a', quantity: 'air_temperature', value: '3.5', unit: '°C', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: '', sensor_type: `'=HYPERLINK("x")`, lat: '52.531', lon: '6.0585', precision_m: '151' },
        { time: '2024-01-15T12:00:00.000Z', device: 'g-far', quantity: 'air_temperature', value: '2.25', unit: '°C', calibrated: '', calibrated_uncertainty: '', calibration_label: 'uncalibrated', flags: '', sensor_type: 'DHT22', lat: '52.513', lon: '6.0945', precision_m: '151' },
      ])
      // sensor.community data is its own file (its own licence); the month holds the 20th too
      expect((await pythonCsv((await get('/api/v1/bulk/2024-01-15/sensor-community.csv')).body)).map((r) => [r.device, r.quantity, r.value, r.lat, r.lon, r.precision_m])).toEqual([
        ['g-b', 'pm10', '6', '52.531', '6.0615', '1500'],
        ['g-b', 'pm2_5', '4', '52.531', '6.0615', '1500'],
      ])
      const month = await pythonCsv((await get('/api/v1/bulk/2024-01/senshagen.csv')).body)
      expect(month).toHaveLength(8)
      expect(month[6]).toMatchObject({ time: '2024-01-20T00:00:00.000Z', device: 'g-a', value: '5' }) // by device, then time
    })

    it('serves the same rows as Parquet, read back by hyparquet', async () => {
      const response = await get('/api/v1/bulk/2024-01-15/senshagen.parquet')
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toBe('application/vnd.apache.parquet')
      const bytes = response.rawPayload
      const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer })
      expect(rows).toHaveLength(7)
      expect(rows[2]).toEqual({
        time: new Date('2024-01-15T10:00:00.000Z'), device: 'g-a', quantity: 'pm2_5', value: 8.25, unit: 'µg/m³', calibrated: 6.5, calibrated_uncertainty: null, calibration_label: 'experimental', flags: '', sensor_type: 'SDS011', lat: 52.531, lon: 6.0585, precision_m: 151,
      })
      expect(rows[3]).toMatchObject({ quantity: 'pm10', value: 1999.9, calibrated: null, flags: 'saturated' })
      expect(rows.map((r) => r.device)).not.toContain('g-private')
    })

    it('serves one archive-layout file per source and sensor type with the archive columns, precision and flags', async () => {
      const sds011 = await get('/api/v1/bulk/2024-01-15/senshagen_sds011.csv')
      expect(sds011.body).toBe(
        [
          'sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2;precision_m;flags',
          'g-a;SDS011;wijk;52.531;6.0585;2024-01-15T10:00:00;14.75;;;8.25;;;151;',
          'g-a;SDS011;wijk;52.531;6.0585;2024-01-15T10:02:30;1999.9;;;9.5;;;151;P1:saturated',
          '',
        ].join('\n'),
      )
      // pressure in Pa, as the archive gives it
      expect((await get('/api/v1/bulk/2024-01-15/senshagen_bme280.csv')).body).toBe(
        'sensor_id;sensor_type;location;lat;lon;timestamp;pressure;altitude;pressure_sealevel;temperature;humidity;precision_m;flags\ng-a;BME280;wijk;52.531;6.0585;2024-01-15T10:00:00;101250;;;;;151;\n',
      )
      expect((await get('/api/v1/bulk/2024-01-15/sensor-community_sds011.csv')).body).toBe(
        'sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2;precision_m;flags\ng-b;SDS011;wijk;52.531;6.0615;2024-01-15T06:00:00;6;;;4;;;1500;\n',
      )
    })

    it('describes the files in a Frictionless datapackage.json with a licence per source', async () => {
      const pkg = (await get('/api/v1/bulk/2024-01-15/datapackage.json')).json()
      expect(pkg.profile).toBe('tabular-data-package')
      expect(pkg.resources.map((r: { path: string }) => r.path)).toEqual([
        'senshagen.csv', 'senshagen.parquet', 'senshagen_bme280.csv', 'senshagen_dht22.csv', 'senshagen_hyperlink-x.csv', 'senshagen_sds011.csv',
        'sensor-community.csv', 'sensor-community.parquet', 'sensor-community_sds011.csv',
      ])
      const licence = (path: string) => pkg.resources.find((r: { path: string }) => r.path === path).licenses
      expect(licence('senshagen.csv')).toEqual([{ name: 'CC-BY-4.0', path: 'https://creativecommons.org/licenses/by/4.0/', title: 'Creative Commons Attribution 4.0 International' }])
      expect(licence('sensor-community_sds011.csv')).toEqual([{ name: 'DbCL-1.0', path: 'https://opendatacommons.org/licenses/dbcl/1-0/', title: 'Open Data Commons Database Contents License 1.0' }])
      const long = pkg.resources[0]
      expect(long.dialect.delimiter).toBe(',')
      expect(long.schema.fields.map((f: { name: string }) => f.name)).toEqual(['time', 'device', 'quantity', 'value', 'unit', 'calibrated', 'calibrated_uncertainty', 'calibration_label', 'flags', 'sensor_type', 'lat', 'lon', 'precision_m'])
      // every listed file is served
      for (const r of pkg.resources) expect((await get(`/api/v1/bulk/2024-01-15/${r.path}`)).statusCode, r.path).toBe(200)
    })

    it('refuses a bad period or file name, and shows no hidden device or fine position in any file', async () => {
      const bad = await get('/api/v1/bulk/2024-02-30/senshagen.csv')
      expect(bad.statusCode).toBe(400)
      expect(bad.json()['invalid-params']).toEqual([{ name: 'period', reason: 'must be a real UTC day YYYY-MM-DD or month YYYY-MM of 2000–2099' }])
      expect((await get('/api/v1/bulk/2024-01-15/other.csv')).statusCode).toBe(404)
      expect((await get('/api/v1/bulk/2024-01-15/senshagen_sds011.parquet')).statusCode).toBe(404)
      for (const file of ['senshagen.csv', 'sensor-community.csv', 'senshagen_sds011.csv', 'senshagen_unknown.csv', 'datapackage.json']) {
        for (const period of ['2024-01-15', '2024-01']) {
          const text = (await get(`/api/v1/bulk/${period}/${file}`)).body
          expectPrivate(text, `${period}/${file}`)
          expect(text).not.toMatch(/^#/m)
        }
      }
    })
  })
})
