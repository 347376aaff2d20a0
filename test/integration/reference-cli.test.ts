import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { queryReferenceObservations } from '../../core/reference/reference-store.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { startFixtureServer, type FixtureServer } from '../unit/reference/fixture-server.ts'
import { KNMI_FILE, LML_EMPTY_FILE, LML_PAGE2_FILE, SM_FILE, fixturePath } from '../unit/reference/fixtures.ts'
import { knmiHandler } from '../unit/reference/servers.ts'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../..', import.meta.url))
/**
 * `senshagen reference …` as its own process, through bin/senshagen.js as a user runs it.
 */
const ENTRY = ['bin/senshagen.js', 'reference']
const at = (iso: string) => Date.parse(iso)

describe('senshagen reference import / fetch (real InfluxDB)', () => {
  const database = uniqueId('refcli')
  const cacheDir = mkdtempSync(join(tmpdir(), 'senshagen-refcli-'))
  const env = { ...process.env, SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: database, SENSHAGEN_LOG_LEVEL: 'warn' }
  const cli = (args: string[]) => run(process.execPath, [...ENTRY, ...args], { cwd: REPO, env, maxBuffer: 16 * 1024 * 1024 })
  let store: InfluxReadingStore
  let server: FixtureServer

  beforeAll(async () => {
    store = await openInfluxStore({ url: INFLUX_URL, database }, createLogger('silent'))
    server = await startFixtureServer(knmiHandler)
  })
  afterAll(async () => {
    await store.influxql(`DROP DATABASE "${database}"`)
    await server.close()
    rmSync(cacheDir, { recursive: true, force: true })
  })

  it('imports the fixture files, printing counts per file', async () => {
    const files = [KNMI_FILE, LML_PAGE2_FILE, LML_EMPTY_FILE].map(fixturePath)
    const { stdout } = await cli(['import', ...files, '--no-progress'])
    expect(stdout).toContain(`${files[0]}: knmi-hourly, 4423 observation(s) written, 0 problem(s)`)
    expect(stdout).toContain(`${files[1]}: luchtmeetnet-measurements, 19 observation(s) written, 0 problem(s)`)
    expect(stdout).toContain(`${files[2]}: luchtmeetnet-measurements, 0 observation(s) written, 0 problem(s)`)
    expect(stdout).toContain(`imported 3 file(s) into ${database}: 4442 observation(s)`)
    const t = await queryReferenceObservations(store, { station: '260', quantity: 'air_temperature', from: at('2000-01-01T00:00:00Z'), to: at('2000-03-01T00:00:00Z') })
    expect(t).toHaveLength(744)
    const pm = await queryReferenceObservations(store, { station: 'NL49012', quantity: 'pm2_5', from: at('2026-02-10T00:00:00Z'), to: at('2026-02-11T00:00:00Z') })
    expect(pm.map((o) => o.value)).toEqual([16.6, 13.5, 10.7, 12.0, 14.7, 13.0])
  })

  it('imports a Samen Meten file with --station and --quantity, and refuses it without', async () => {
    const file = fixturePath(SM_FILE)
    const { stdout } = await cli(['import', file, '--station', 'samenmeten:datastream:2819', '--quantity', 'pm2_5', '--calibrated'])
    expect(stdout).toContain(`${file}: samenmeten-observations, 31 observation(s) written, 0 problem(s)`)
    const rows = await queryReferenceObservations(store, { station: 'samenmeten:datastream:2819', quantity: 'pm2_5', from: at('2019-09-09T00:00:00Z'), to: at('2019-09-11T00:00:00Z') })
    expect(rows[0]).toMatchObject({ value: 4.03, flags: ['calibrated'] })
    const failed = await cli(['import', file]).catch((error: { code: number; stdout: string }) => error)
    expect(failed).toMatchObject({ code: 1 })
    expect((failed as { stdout: string }).stdout).toMatch(/--station/)
  })

  it('rejects usage errors with exit code 2', async () => {
    await expect(cli(['import', fixturePath(KNMI_FILE), '--quantity', 'pm25'])).rejects.toMatchObject({ code: 2 })
    await expect(cli(['import', '/no/such/file'])).rejects.toMatchObject({ code: 2 })
    await expect(cli(['fetch', '--source', 'nope', '--station', '260', '--from', '2000-01-01', '--to', '2000-01-02'])).rejects.toMatchObject({ code: 2 })
  })

  it('fetches from a (local) API into the store, and answers a repeat from the cache', async () => {
    const args = ['fetch', '--source', 'knmi', '--station', '260', '--quantity', 'relative_humidity', '--from', '2000-01-03', '--to', '2000-01-04', '--base-url', `${server.origin}/klimatologie`, '--cache-dir', cacheDir]
    const { stdout } = await cli(args)
    expect(stdout).toContain('knmi 260 relative_humidity: 24 observation(s)')
    expect(server.requests).toHaveLength(1)
    expect(readdirSync(join(cacheDir, 'knmi'))).toHaveLength(1)
    await cli(args)
    expect(server.requests).toHaveLength(1)
    const rows = await queryReferenceObservations(store, { station: '260', quantity: 'relative_humidity', from: at('2000-01-03T00:00:00Z'), to: at('2000-01-04T00:00:00Z') })
    expect(rows).toHaveLength(24)
  })
})
