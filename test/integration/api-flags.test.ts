import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { parseArchiveHeader, parseArchiveRow } from '../../core/decoders/sc-archive.ts'
import { createLogger } from '../../core/logger.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { ReadingsResponseSchema } from '../../services/api/routes/readings.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { createPipeline, runPipeline } from '../../services/ingest/pipeline.ts'
import { ARCHIVE_DIR } from '../helpers/archive-expectations.ts'
import { INFLUX_URL, isolatedEnv } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { testRegistry } from '../helpers/registry.ts'

/**
 * Flags and completeness on the real InfluxDB, with sensor.community's archive day of sensor 8733
 * (test/fixtures/sensor-community-archive/2018-12-17_sds011_sensor_8733.csv, 575 rows every ~148 s, with an
 * SDS011 saturation hour at 1999.9 µg/m³) put through the ingest pipeline as the replay sends it, so the stored
 * flags are the ingest's own. The expected daily means are issue 12's: 44.58 µg/m³ with every reading, 18.86
 * without the flagged ones.
 */
const logger = createLogger('silent')
const FILE = `${ARCHIVE_DIR}2018-12-17_sds011_sensor_8733.csv`
const DAY = 'from=2018-12-17T00:00:00Z&to=2018-12-18T00:00:00Z'

describe('flags and completeness: sc-8733 PM10 on 2018-12-17', () => {
  const db = throwawayDatabase('api_flags', logger)
  let app: FastifyInstance
  const get = async (query: string) => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/readings?device=sc-8733&quantity=pm10&${query}` })
    expect(response.statusCode, response.body).toBe(200)
    return response
  }

  beforeAll(async () => {
    const steps = createPipeline({ ...loadConfig({}).ingest, maxAgeMs: undefined, decoders: createDecoders() })
    const writer = new ReadingWriter(db.store, { batchSize: 500, maxBufferedReadings: 10_000 }, logger)
    const [headerLine, ...lines] = readFileSync(FILE, 'utf8').split('\n')
    const header = parseArchiveHeader(headerLine!)
    for (const [i, line] of lines.entries()) {
      if (line === '') continue
      const row = parseArchiveRow(header, line, i + 2)
      if (!row.ok) throw new Error(row.rejection.message)
      const r = row.record
      // the replay's native payload v1 (cli/replay.ts)
      const payload = { v: 1, device: r.deviceId, time: new Date(r.observedAt).toISOString(), sensor: r.sensorModel, readings: r.readings }
      const ctx = runPipeline(steps, { topic: `senshagen/v1/devices/${r.deviceId}/readings`, payload: Buffer.from(JSON.stringify(payload)), receivedAt: r.observedAt + 5_000 })
      await writer.write({ readings: ctx.readings, rejections: ctx.rejections, events: ctx.events })
    }
    await writer.close()
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'archief', name: 'Archief', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 } }],
        devices: [{ id: 'sc-8733', neighbourhood: 'archief', consent: true, location: { lat: 52.5312, lon: 6.0571 } }],
      },
      'test',
    )
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000 }, registry: { path: '' }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store: db.store, registry, logger, publicDir: '/nonexistent' })
  }, 120_000)
  afterAll(async () => {
    await app?.close()
  })

  it('the daily mean is 18.86 µg/m³ without flagged readings (the default) and 44.58 with every flag included', async () => {
    const without = ReadingsResponseSchema.parse((await get(`${DAY}&window=1d`)).json())
    const all = ReadingsResponseSchema.parse((await get(`${DAY}&window=1d&include_flags=all`)).json())
    expect(without.include_flags).toEqual([])
    expect(all.include_flags).toBe('all')
    const [day] = without.rows as Array<{ mean: number; count: number; expected: number; completeness: number; partial: boolean; unit: string }>
    const [dayAll] = all.rows as Array<{ mean: number; count: number; expected: number; completeness: number }>
    expect(day!.mean).toBeCloseTo(18.86, 2)
    expect(dayAll!.mean).toBeCloseTo(44.58, 2)
    expect(dayAll!.count).toBe(575)
    expect(day!.count).toBeLessThan(575)
    expect(day!.unit).toBe('µg/m³')
    // a reading counts only when every flag it carries is named: the 1999.9 readings are saturated and implausible
    const count = async (flags: string) => (await get(`${DAY}&window=1d&include_flags=${flags}`)).json().rows[0].count
    expect(await count('saturated')).toBe(day!.count)
    expect(await count('implausible,saturated')).toBe(day!.count + 7)
    // a median gap of ~148 s: 24 h / 148 s ≈ 584 expected; the whole day lies inside the range
    expect(dayAll!.expected).toBeGreaterThan(570)
    expect(dayAll!.expected).toBeLessThan(600)
    expect(dayAll!.completeness).toBeCloseTo(575 / dayAll!.expected, 3)
    expect(day!.partial).toBe(false)
  })

  it('raw rows carry their flags: the seven saturated readings of 09:14–09:29', async () => {
    const body = (await get('from=2018-12-17T09:14:00Z&to=2018-12-17T09:30:00Z')).json()
    const saturated = body.rows.filter((r: { flags: string[] }) => r.flags.includes('saturated'))
    // the hour test/e2e/replay.test.ts lists reading by reading: seven 1999.9 values from 09:14:24 to 09:29:14
    expect(saturated).toHaveLength(7)
    expect(new Set(saturated.map((r: { value: number }) => r.value))).toEqual(new Set([1999.9]))
    expect([saturated[0].time, saturated[6].time]).toEqual(['2018-12-17T09:14:24.000Z', '2018-12-17T09:29:14.000Z'])
    const csv = (await get('from=2018-12-17T09:14:00Z&to=2018-12-17T09:15:00Z&format=csv')).body
    expect(csv).toBe('time,device,quantity,unit,value,uncertainty,label,flags\n2018-12-17T09:14:24.000Z,sc-8733,pm10,µg/m³,1999.9,,uncalibrated,implausible;saturated\n')
  })

  it('marks windows the range cuts as partial, with the expected count of the part inside', async () => {
    // from 10:20: the 10:00 hour is cut (40 minutes inside), the 11:00 hour is whole
    const body = (await get('from=2018-12-17T10:20:00Z&to=2018-12-17T12:00:00Z&window=1h')).json()
    const rows = body.rows as Array<{ time: string; count: number; expected: number; partial: boolean }>
    expect(rows.map((r) => [r.time, r.partial])).toEqual([
      ['2018-12-17T10:00:00.000Z', true],
      ['2018-12-17T11:00:00.000Z', false],
    ])
    // ~148 s apart: 40 min ≈ 16 readings, an hour ≈ 24
    expect(rows[0]!.expected).toBeGreaterThanOrEqual(15)
    expect(rows[0]!.expected).toBeLessThanOrEqual(17)
    expect(rows[1]!.expected).toBeGreaterThanOrEqual(23)
    expect(rows[1]!.expected).toBeLessThanOrEqual(25)
    expect(rows[0]!.count).toBeLessThan(rows[1]!.count)
  })

  it('labels rows in local time when tz is given (Amsterdam is UTC+1 in December)', async () => {
    const body = (await get(`${DAY}&window=1d&tz=Europe/Amsterdam`)).json()
    expect(body.columns.slice(0, 5)).toEqual(['time', 'local_time', 'device', 'quantity', 'unit'])
    // the local day 17 December starts at 23:00Z on the 16th; the range cuts both local days it touches
    expect(body.rows.map((r: { time: string; local_time: string; partial: boolean }) => [r.time, r.local_time, r.partial])).toEqual([
      ['2018-12-16T23:00:00.000Z', '2018-12-17T00:00:00.000+01:00', true],
      ['2018-12-17T23:00:00.000Z', '2018-12-18T00:00:00.000+01:00', true],
    ])
    const raw = (await get('from=2018-12-17T09:14:00Z&to=2018-12-17T09:15:00Z&tz=Europe/Amsterdam')).json()
    expect(raw.rows[0].local_time).toBe('2018-12-17T10:14:24.000+01:00')
  })

  it('gives sensor.community data its own licence (DbCL 1.0), in the body and as a Link', async () => {
    const response = await get(`${DAY}&window=1d`)
    expect(response.json().licence).toEqual([expect.objectContaining({ id: 'DbCL-1.0', attribution: 'sensor.community' })])
    expect(response.headers.link).toBe('<https://opendatacommons.org/licenses/dbcl/1-0/>; rel="license"; title="DbCL-1.0"')
  })

  it('senshagen query --window prints the same windows as the API, byte for byte', async () => {
    // the CLI answers only for a public device of its registry, as the API does
    const registry = await testRegistry([{ id: 'sc-8733', neighbourhood: 'stadshagen', consent: true }])
    try {
      const env = { ...process.env, ...isolatedEnv(db.database), ...registry.env, TZ: 'America/New_York' }
      const args = ['bin/senshagen.js', 'query', '--device', 'sc-8733', '--quantity', 'pm10', '--from', '2018-12-17T00:00:00Z', '--to', '2018-12-18T00:00:00Z', '--window', '1d']
      const cli = await promisify(execFile)('node', [...args, '--format', 'csv'], { env })
      const api = (await get(`${DAY}&window=1d&format=csv`)).body
      expect(cli.stdout).toBe(api)
      expect(cli.stdout).toMatch(/^time,device,quantity,unit,mean,min,max,count,uncertainty,label,expected,completeness,partial\n2018-12-17T00:00:00.000Z,sc-8733,pm10,µg\/m³,18\.86\d*,2\.57,623\.2,566,,uncalibrated,/)
      const all = await promisify(execFile)('node', [...args, '--include-flags', 'all', '--tz', 'Europe/Amsterdam', '--format', 'json'], { env })
      expect(JSON.parse(all.stdout)).toEqual((await get(`${DAY}&window=1d&include_flags=all&tz=Europe/Amsterdam`)).json())
    } finally {
      await registry.close()
    }
  }, 60_000)
})
