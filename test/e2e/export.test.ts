import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { importDevices, parseRegistryJson } from '../../core/registry/import.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, isolatedEnv, uniqueId } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** `senshagen export --day D --out DIR` as an operator runs it, against the real InfluxDB. */
async function senshagen(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = ['bin/senshagen.js', ...args]
  try {
    const { stdout, stderr } = await run(process.execPath, argv, { cwd: REPO, env: { ...process.env, ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number, sensorModel?: string, extra: Partial<Reading> = {}): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [], ...(sensorModel ? { sensorModel } : {}), ...extra,
})
const T = (iso: string) => Date.parse(iso)

describe('senshagen export', () => {
  const database = uniqueId('export')
  let store: InfluxReadingStore
  let dir: string
  let env: Record<string, string>
  let registry: TestRegistry

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'senshagen-export-'))
    // the device registry (a SQLite file), filled as an operator does: `senshagen devices import` of the old layout
    registry = await testRegistry([], dir)
    const file = {
      neighbourhoods: [{ id: 'stadshagen', name: 'Stadshagen', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 1500 }],
      devices: [
        { id: 'garden-a', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.531234, lon: 6.057891 } },
        { id: 'garden-b', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.528765, lon: 6.063321 }, coarsen: 'neighbourhood' },
        { id: 'garden-private', neighbourhood: 'stadshagen', consent: false, location: { lat: 52.527654, lon: 6.054321 } },
        { id: 'garden-revoked', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.529876, lon: 6.059876 } },
      ],
    }
    await importDevices(registry.store, parseRegistryJson(JSON.stringify(file), 'devices.json'))
    await registry.store.revoke('garden-revoked')
    env = isolatedEnv(database, registry.env)
    store = await openInfluxStore({ url: INFLUX_URL, database }, createLogger('silent'))
    await store.ensureDatabase()
    await store.write({
      readings: [
        reading('garden-a', 'pm2_5', T('2024-01-14T23:59:59.999Z'), 99), // the day before
        reading('garden-a', 'pm2_5', T('2024-01-15T00:00:00.000Z'), 8.25, 'SDS011'),
        reading('garden-a', 'pm2_5', T('2024-01-15T10:28:30.789Z'), 9.5, 'SDS011'),
        reading('garden-a', 'pm10', T('2024-01-15T10:28:30.789Z'), 14.75, 'SDS011'),
        reading('garden-a', 'pm10', T('2024-01-15T10:31:00.000Z'), 1999.9, 'SDS011', { flags: ['saturated'] }),
        reading('garden-b', 'pm10', T('2024-01-15T07:00:00.000Z'), 12, 'SDS011', { sourceFormat: 'sc-archive' }), // replayed from sensor.community
        reading('garden-a', 'pm2_5', T('2024-01-16T00:00:00.000Z'), 99), // the day after
        reading('garden-b', 'pm2_5', T('2024-01-15T06:00:00.000Z'), 4),
        reading('garden-b', 'air_pressure', T('2024-01-15T06:00:00.000Z'), 1012.5, 'BME280'),
        reading('garden-b', 'air_temperature', T('2024-01-15T06:00:00.000Z'), -2.25, 'BME280'),
        reading('garden-private', 'pm2_5', T('2024-01-15T06:00:00.000Z'), 50, 'SDS011'),
        reading('garden-private', 'relative_humidity', T('2024-01-15T06:00:00.000Z'), 90, 'BME280'),
        reading('garden-ghost', 'pm2_5', T('2024-01-15T06:00:00.000Z'), 60, 'SDS011'),
        reading('garden-revoked', 'pm2_5', T('2024-01-15T06:00:00.000Z'), 70, 'SDS011'),
      ],
      rejections: [],
    })
    await store.writeLines([`reading,device=garden-a,quantity=pm2_5 calibrated=6.5,calibration_method="pm-group-ratio",calibration_version="t" ${T('2024-01-15T10:28:30.789Z')}`])
  })
  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
    await registry?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('writes the bulk files: long CSV and Parquet per source, archive layout per sensor type, datapackage.json with each licence', async () => {
    const out = join(dir, 'out')
    const result = await senshagen(['export', '--day', '2024-01-15', '--out', out], env)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain('9 file(s) for 2024-01-15')
    expect((await readdir(out)).sort()).toEqual([
      '2024-01-15_datapackage.json', '2024-01-15_senshagen.csv', '2024-01-15_senshagen.parquet', '2024-01-15_senshagen_bme280.csv', '2024-01-15_senshagen_sds011.csv',
      '2024-01-15_senshagen_unknown.csv', '2024-01-15_sensor-community.csv', '2024-01-15_sensor-community.parquet', '2024-01-15_sensor-community_sds011.csv',
    ])
    // one row per reading: unit, calibrated value, flags, the published position and its precision; no comment line
    expect(await readFile(join(out, '2024-01-15_senshagen.csv'), 'utf8')).toBe(
      [
        'time,device,quantity,value,unit,calibrated,calibrated_uncertainty,calibration_label,flags,sensor_type,lat,lon,precision_m',
        '2024-01-15T00:00:00.000Z,garden-a,pm2_5,8.25,µg/m³,,,uncalibrated,,SDS011,52.531,6.0585,151',
        '2024-01-15T10:28:30.789Z,garden-a,pm10,14.75,µg/m³,,,uncalibrated,,SDS011,52.531,6.0585,151',
        '2024-01-15T10:28:30.789Z,garden-a,pm2_5,9.5,µg/m³,6.5,,experimental,,SDS011,52.531,6.0585,151',
        '2024-01-15T10:31:00.000Z,garden-a,pm10,1999.9,µg/m³,,,uncalibrated,saturated,SDS011,52.531,6.0585,151',
        '2024-01-15T06:00:00.000Z,garden-b,air_pressure,1012.5,hPa,,,uncalibrated,,BME280,52.531,6.0615,1500',
        '2024-01-15T06:00:00.000Z,garden-b,air_temperature,-2.25,°C,,,uncalibrated,,BME280,52.531,6.0615,1500',
        '2024-01-15T06:00:00.000Z,garden-b,pm2_5,4,µg/m³,,,uncalibrated,,,52.531,6.0615,1500',
        '',
      ].join('\r\n'),
    )
    // the sensor.community archive's columns, one file per sensor type; pressure in Pa as in the archive
    expect(await readFile(join(out, '2024-01-15_senshagen_sds011.csv'), 'utf8')).toBe(
      [
        'sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2;precision_m;flags',
        'garden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T00:00:00;;;;8.25;;;151;',
        'garden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T10:28:30;14.75;;;9.5;;;151;',
        'garden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T10:31:00;1999.9;;;;;;151;P1:saturated',
        '',
      ].join('\n'),
    )
    expect(await readFile(join(out, '2024-01-15_senshagen_bme280.csv'), 'utf8')).toBe(
      'sensor_id;sensor_type;location;lat;lon;timestamp;pressure;altitude;pressure_sealevel;temperature;humidity;precision_m;flags\ngarden-b;BME280;stadshagen;52.531;6.0615;2024-01-15T06:00:00;101250;;;-2.25;;1500;\n',
    )
    expect(await readFile(join(out, '2024-01-15_sensor-community_sds011.csv'), 'utf8')).toBe(
      'sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2;precision_m;flags\ngarden-b;SDS011;stadshagen;52.531;6.0615;2024-01-15T07:00:00;12;;;;;;1500;\n',
    )
    // the licence lives in the sidecar: sensor.community data keeps its own
    const pkg = JSON.parse(await readFile(join(out, '2024-01-15_datapackage.json'), 'utf8'))
    const licences = Object.fromEntries(pkg.resources.map((r: { path: string; licenses: Array<{ name: string }> }) => [r.path, r.licenses.map((l) => l.name)]))
    expect(licences).toEqual({
      '2024-01-15_senshagen.csv': ['CC-BY-4.0'], '2024-01-15_senshagen.parquet': ['CC-BY-4.0'], '2024-01-15_senshagen_bme280.csv': ['CC-BY-4.0'],
      '2024-01-15_senshagen_sds011.csv': ['CC-BY-4.0'], '2024-01-15_senshagen_unknown.csv': ['CC-BY-4.0'],
      '2024-01-15_sensor-community.csv': ['DbCL-1.0'], '2024-01-15_sensor-community.parquet': ['DbCL-1.0'], '2024-01-15_sensor-community_sds011.csv': ['DbCL-1.0'],
    })
    for (const name of await readdir(out)) {
      if (name.endsWith('.parquet')) continue
      const text = await readFile(join(out, name), 'utf8')
      expect(text, name).not.toMatch(/^#/m)
      expect(text).not.toMatch(/garden-private|garden-ghost|garden-revoked|52\.5312|6\.0578|52\.5287|6\.0633|52\.5276|6\.0543/)
    }
  })

  it('writes a month: every day of it', async () => {
    const out = join(dir, 'month')
    const result = await senshagen(['export', '--month', '2024-01', '--out', out], env)
    expect(result.code, result.stderr).toBe(0)
    const values = (await readFile(join(out, '2024-01_senshagen.csv'), 'utf8')).split('\r\n').slice(1, -1).filter((l) => l.includes('garden-a,pm2_5'))
    expect(values.map((l) => l.split(',')[0])).toEqual(['2024-01-14T23:59:59.999Z', '2024-01-15T00:00:00.000Z', '2024-01-15T10:28:30.789Z', '2024-01-16T00:00:00.000Z'])
  })

  it('writes nothing for a day without public readings', async () => {
    const out = join(dir, 'empty')
    const result = await senshagen(['export', '--day', '2024-01-20', '--out', out], env)
    expect(result.code).toBe(0)
    expect(result.stderr).toContain('0 file(s) for 2024-01-20')
    expect(await readdir(out)).toEqual([])
  })

  it('refuses a bad or missing period with exit 2', async () => {
    // in parallel: each start of the CLI costs seconds on a loaded machine
    const [bad, month, none] = await Promise.all([
      senshagen(['export', '--day', '2024-02-30'], env),
      senshagen(['export', '--month', '2024-13'], env),
      senshagen(['export'], env),
    ])
    expect([bad.code, month.code, none.code]).toEqual([2, 2, 2])
    expect(bad.stderr).toContain("--day: '2024-02-30' is not a date YYYY-MM-DD")
    expect(month.stderr).toContain("--month: '2024-13' is not a month YYYY-MM")
    expect(none.stderr).toContain('give exactly one of --day YYYY-MM-DD and --month YYYY-MM')
  }, 180_000)
})
