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

const reading = (deviceId: string, quantity: Quantity, observedAt: number, value: number, sensorModel?: string): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [], ...(sensorModel ? { sensorModel } : {}),
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

  it('writes one archive-layout CSV per quantity: licence line, coarsened positions, consented devices, UTC seconds', async () => {
    const out = join(dir, 'out')
    const result = await senshagen(['export', '--day', '2024-01-15', '--out', out], env)
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain('4 file(s) for 2024-01-15')
    expect((await readdir(out)).sort()).toEqual(['2024-01-15_air_pressure.csv', '2024-01-15_air_temperature.csv', '2024-01-15_pm10.csv', '2024-01-15_pm2_5.csv'])
    const licence = '# licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), attribution: SensHagen / Gemeente Zwolle'
    expect(await readFile(join(out, '2024-01-15_pm2_5.csv'), 'utf8')).toBe(
      [
        licence,
        'sensor_id;sensor_type;location;lat;lon;timestamp;P2;P2_calibrated',
        'garden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T00:00:00;8.25;',
        'garden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T10:28:30;9.5;6.5',
        'garden-b;;stadshagen;52.531;6.0615;2024-01-15T06:00:00;4;',
        '',
      ].join('\n'),
    )
    expect(await readFile(join(out, '2024-01-15_pm10.csv'), 'utf8')).toBe(
      `${licence}\nsensor_id;sensor_type;location;lat;lon;timestamp;P1;P1_calibrated\ngarden-a;SDS011;stadshagen;52.531;6.0585;2024-01-15T10:28:30;14.75;\n`,
    )
    // the archive gives pressure in Pa
    expect(await readFile(join(out, '2024-01-15_air_pressure.csv'), 'utf8')).toBe(
      `${licence}\nsensor_id;sensor_type;location;lat;lon;timestamp;pressure;pressure_calibrated\ngarden-b;BME280;stadshagen;52.531;6.0615;2024-01-15T06:00:00;101250;\n`,
    )
    expect((await readFile(join(out, '2024-01-15_air_temperature.csv'), 'utf8')).split('\n')[1]).toBe('sensor_id;sensor_type;location;lat;lon;timestamp;temperature;temperature_calibrated')
    for (const name of await readdir(out)) {
      const text = await readFile(join(out, name), 'utf8')
      expect(text).not.toMatch(/garden-private|garden-ghost|garden-revoked|52\.5312|6\.0578|52\.5287|6\.0633|52\.5276|6\.0543/)
    }
  })

  it('writes nothing for a day without public readings', async () => {
    const out = join(dir, 'empty')
    const result = await senshagen(['export', '--day', '2024-01-20', '--out', out], env)
    expect(result.code).toBe(0)
    expect(result.stderr).toContain('0 file(s) for 2024-01-20')
    expect(await readdir(out)).toEqual([])
  })

  it('refuses a bad or missing --day with exit 2', async () => {
    const bad = await senshagen(['export', '--day', '2024-02-30'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--day: '2024-02-30' is not a date YYYY-MM-DD")
    expect((await senshagen(['export'], env)).code).toBe(2)
  })
})
