import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { parquetReadObjects } from 'hyparquet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PositionRuns, recordPositions } from '../../cli/commands/impl/replay.ts'
import { parseArchiveHeader, parseArchiveRow, type ArchiveRecord } from '../../core/decoders/sc-archive.ts'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { publicRegistry } from '../../core/registry/registry.ts'
import { openSqliteRegistry } from '../../core/registry/sqlite.ts'
import type { RegistryStore } from '../../core/registry/store.ts'
import { exportOpenData } from '../../services/api/open-data-export.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

/**
 * Position history (issue 12 "Positions have no history"): sensor.community sensor 5331 stood at 57.128, -2.130
 * in its 2017 archive files and at 57.138, -2.077 (3.9 km away) from 2019. Its positions come from the archive's
 * own lat/lon per row (as `senshagen replay` records them), its readings go to the real InfluxDB, and every
 * output (export files, bulk files over HTTP, SensorThings) carries the coarsened position valid at each
 * reading's time. Expected published positions are written out (grid 0.002° × 0.003°, core/registry/coarsen.ts).
 */
const logger = createLogger('silent')
const FIXTURES = join(import.meta.dirname, '../fixtures/sensor-community-archive')
const EXACT_2017 = { lat: 57.128, lon: -2.13 }
const EXACT_2019 = { lat: 57.138, lon: -2.077 }
/** Grid-cell centres of the two exact positions, and the precision at 57.1° N (half the cell diagonal, metres). */
const PUBLISHED_2017 = { lat: 57.129, lon: -2.1285 }
const PUBLISHED_2019 = { lat: 57.139, lon: -2.0775 }
const PRECISION_M = 144

/** An exact coordinate as text, in any form an output could print it (57.128, 57.1280, -2.13, -2.130 …). */
const EXACT_TEXT = [/57\.1280*(?!\d)/, /-2\.130*(?!\d)/, /57\.1380*(?!\d)/, /-2\.0770*(?!\d)/]
function expectNoExactPosition(text: string, where: string) {
  for (const pattern of EXACT_TEXT) expect(text, `${where} contains an exact coordinate ${pattern}`).not.toMatch(pattern)
}

function archiveRecords(file: string): ArchiveRecord[] {
  const [header, ...lines] = readFileSync(join(FIXTURES, file), 'utf8').split('\n')
  const columns = parseArchiveHeader(header!)
  return lines.flatMap((line, i) => {
    const row = line.trim() === '' ? undefined : parseArchiveRow(columns, line, i + 2)
    return row?.ok ? [row.record] : []
  })
}

const reading = (r: ArchiveRecord, quantity: 'pm10' | 'pm2_5'): Reading => ({
  deviceId: r.deviceId, quantity, value: r.readings[quantity] as number, unit: QUANTITIES[quantity].unit, observedAt: r.observedAt, receivedAt: r.observedAt,
  timeSource: 'device', sourceFormat: 'sc-archive', sensorModel: r.sensorModel, flags: [],
})

describe('position history: a device that moved in 2019', () => {
  const db = throwawayDatabase('positions', logger)
  let store: RegistryStore
  let app: FastifyInstance
  const outDir = mkdtempSync(join(tmpdir(), 'senshagen-positions-'))
  const records2017 = archiveRecords('2017-10-07_sds011_sensor_5331.csv')
  const records2019 = archiveRecords('2019-01-17_sds011_sensor_5331.csv')
  const record2020 = { ...records2019[0]!, observedAt: Date.parse('2020-03-01T12:00:00Z') }
  const get = (url: string) => app.inject({ method: 'GET', url })

  beforeAll(async () => {
    store = await openSqliteRegistry(':memory:')
    await store.upsertNeighbourhood({ id: 'archief', name: 'Archief', municipality: 'sensor.community archive', center: { lat: 57.1497, lon: -2.0943 }, radiusM: 50_000 })
    // registered with its position of today (as the issue found it), then the archive's own positions recorded
    await store.addDevice({ id: 'sc-5331', neighbourhood: 'archief', consent: true, location: EXACT_2019 })
    const runs = new PositionRuns()
    for (const r of [...records2019, ...records2017]) runs.add(r) // replay order: the 2019 file first
    await store.recordPositions('sc-5331', runs.byDevice.get('sc-5331')!)
    const withValues = [...records2017, ...records2019, record2020].filter((r) => typeof r.readings.pm10 === 'number' && typeof r.readings.pm2_5 === 'number')
    await db.store.write({ readings: withValues.flatMap((r) => [reading(r, 'pm10'), reading(r, 'pm2_5')]), rejections: [] })
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 60_000, liveHeartbeatMs: 15_000 }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store: db.store, registry: await publicRegistry(store), logger, publicDir: '/nonexistent' })
  })
  afterAll(async () => {
    await app?.close()
    await store?.close()
    rmSync(outDir, { recursive: true, force: true })
  })

  it('keeps the archive positions as history entries: registration, 2017, 2019', async () => {
    expect(records2017.every((r) => r.location?.lat === 57.128 && r.location.lon === -2.13)).toBe(true)
    expect(await store.positions('sc-5331')).toEqual([
      { deviceId: 'sc-5331', validFrom: 0, location: EXACT_2019 },
      { deviceId: 'sc-5331', validFrom: Date.parse('2017-10-07T12:29:51Z'), location: EXACT_2017 },
      { deviceId: 'sc-5331', validFrom: Date.parse('2019-01-17T00:00:54Z'), location: EXACT_2019 },
    ])
  })

  it('replay names a device whose archive position the registry refuses, and records the others', async () => {
    // registered by `replay --register-missing`: no location, so coarsened to its neighbourhood, whose radius the
    // archive position must lie within (else the published centre would lie)
    await store.addDevice({ id: 'sc-92', neighbourhood: 'archief', consent: false })
    await store.addDevice({ id: 'sc-8733', neighbourhood: 'archief', consent: false })
    const runs = new PositionRuns()
    runs.add({ ...records2017[0]!, deviceId: 'sc-92', location: { lat: 48.8, lon: 9.2 } }) // Stuttgart: 930 km away
    for (const r of archiveRecords('2018-12-17_sds011_sensor_8733.csv')) runs.add(r)
    expect(await recordPositions(store, runs)).toEqual([
      "sc-92: cannot record positions of 'sc-92': location: lies outside neighbourhood 'archief' (more than radiusM 50000 m from its center; the device is published at that centre)",
    ])
    expect(await store.positions('sc-92')).toEqual([])
    expect(await store.positions('sc-8733')).toEqual([{ deviceId: 'sc-8733', validFrom: Date.parse('2018-12-17T00:01:27Z'), location: { lat: 57.136, lon: -2.107 } }])
  })

  it('exports 2017 rows at the 2017 published position and 2019/2020 rows at the 2019 one, never an exact position', async () => {
    const at = (p: { lat: number; lon: number }) => ({ lat: String(p.lat), lon: String(p.lon), precision_m: String(PRECISION_M) })
    const expected: Record<string, ReturnType<typeof at>> = { '2017-10': at(PUBLISHED_2017), '2019-01': at(PUBLISHED_2019), '2020-03': at(PUBLISHED_2019) }
    for (const [month, position] of Object.entries(expected)) {
      const files = await exportOpenData({ store: db.store, registry: await publicRegistry(store), period: month, outDir, logger })
      expect(files.map((f) => f.path.slice(outDir.length + 1)).sort()).toEqual([`${month}_datapackage.json`, `${month}_sensor-community.csv`, `${month}_sensor-community.parquet`, `${month}_sensor-community_sds011.csv`])
      const [header, ...lines] = readFileSync(join(outDir, `${month}_sensor-community.csv`), 'utf8').trimEnd().split('\r\n')
      const columns = header!.split(',')
      const rows = lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [columns[i], cell])))
      expect(rows.length).toBe(month === '2020-03' ? 2 : month === '2017-10' ? 2 * 146 : 2 * 124)
      for (const row of rows) expect({ lat: row.lat, lon: row.lon, precision_m: row.precision_m }, `${month} ${row.time}`).toEqual(position)
      const archive = readFileSync(join(outDir, `${month}_sensor-community_sds011.csv`), 'utf8').trimEnd().split('\n').slice(1)
      for (const line of archive) expect(line.split(';').slice(3, 5)).toEqual([position.lat, position.lon])
      const parquet = await parquetReadObjects({ file: new Uint8Array(readFileSync(join(outDir, `${month}_sensor-community.parquet`))).buffer })
      expect(new Set(parquet.map((r) => `${r.lat},${r.lon}`))).toEqual(new Set([`${position.lat},${position.lon}`]))
    }
    for (const file of readdirSync(outDir).filter((f) => !f.endsWith('.parquet'))) expectNoExactPosition(readFileSync(join(outDir, file), 'utf8'), file)
  })

  it('serves the bulk day files with the position valid that day, and SensorThings with the current Location and the history', async () => {
    const day2017 = await get('/api/v1/bulk/2017-10-07/sensor-community_sds011.csv')
    expect(day2017.statusCode).toBe(200)
    expect(day2017.body.split('\n')[1]!.split(';').slice(0, 6)).toEqual(['sc-5331', 'SDS011', 'archief', '57.129', '-2.1285', '2017-10-07T12:29:51'])
    const day2019 = await get('/api/v1/bulk/2019-01-17/sensor-community.csv')
    expect(day2019.body.split('\r\n')[1]).toBe('2019-01-17T00:00:54.000Z,sc-5331,pm10,35.7,µg/m³,,,uncalibrated,,SDS011,57.139,-2.0775,144')

    const location = (await get("/sta/v1.1/Things('sc-5331')/Locations")).json()
    expect(location.value.map((l: { location: unknown }) => l.location)).toEqual([{ type: 'Point', coordinates: [-2.0775, 57.139] }])
    const history = (await get("/sta/v1.1/Things('sc-5331')/HistoricalLocations?$expand=Locations")).json()
    expect(history.value.map((h: { time: string; Locations: Array<{ location: { coordinates: number[] }; properties: unknown }> }) => [h.time, h.Locations[0]!.location.coordinates, h.Locations[0]!.properties])).toEqual([
      ['1970-01-01T00:00:00.000Z', [-2.0775, 57.139], { precisionM: 144 }],
      ['2017-10-07T12:29:51.000Z', [-2.1285, 57.129], { precisionM: 144 }],
      ['2019-01-17T00:00:54.000Z', [-2.0775, 57.139], { precisionM: 144 }],
    ])
    const entry = (await get(`/sta/v1.1/HistoricalLocations('sc-5331~${Date.parse('2017-10-07T12:29:51Z')}')/Thing`)).json()
    expect(entry['@iot.id']).toBe('sc-5331')
    expect((await get("/sta/v1.1/HistoricalLocations('sc-5331~5')")).statusCode).toBe(404)
    const all = [day2017.body, day2019.body, JSON.stringify(location), JSON.stringify(history), (await get('/api/v1/devices')).body, (await get('/sta/v1.1/Locations')).body]
    all.forEach((text, i) => expectNoExactPosition(text, `response ${i}`))
  })
})
