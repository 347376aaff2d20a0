import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { expectNoAxeViolations, servePage } from '../browser/harness.ts'
import { INFLUX_URL, isolatedEnv } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * Issue 12 "the page, the API, the CLI and the export agree on every number for the same window", and issue 11
 * "every number carries its label and uncertainty", end to end on the real InfluxDB 1.6.7 and Chromium.
 *
 * One neighbourhood, two devices, PM2.5, the hour [H − 1 h, H) that ended last (so the page's "now" and its 24 h
 * chart hold it):
 * - ag-a every 10 min: raw 10, 12 … 20 (mean 15), all calibrated 8 … 13 (mean 10.5) `indicative` with U 3, 3,
 *   4, 4, 5, 5 µg/m³ (mean 4), and one flagged reading (999.9, `saturated`, at H − 55 min);
 * - ag-b every 5 min: raw 20 … 31 (mean 25.5); every other one calibrated 18, 20 … 28 (mean 23) `experimental`
 *   with U 6.
 * The rule (README "Reading the data"): flagged readings out of every aggregate; each device counts once (mean of
 * the device means: raw 20.25, where pooling would give 22); the calibrated mean over the devices that have one
 * (16.75); its label the weakest (experimental), its uncertainty the mean of the device means' (5 µg/m³).
 */
const logger = createLogger('silent')
const HOUR = 3_600_000
const MIN = 60_000
const H = Math.floor(Date.now() / HOUR) * HOUR
const START = H - HOUR
const iso = (t: number) => new Date(t).toISOString()
const RANGE = `from=${iso(START)}&to=${iso(H)}`

const reading = (deviceId: string, observedAt: number, value: number, flags: string[] = []): Reading => ({
  deviceId, quantity: 'pm2_5', value, unit: 'µg/m³', observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags,
})
const calibration = (device: string, time: number, value: number, u: number, label: string) =>
  `reading,device=${device},quantity=pm2_5 calibrated=${value},calibration_method="pm-group-ratio",calibration_version="t",calibrated_u=${u},calibration_label="${label}" ${time}`

const A = Array.from({ length: 6 }, (_, k) => ({ time: START + k * 10 * MIN, raw: 10 + 2 * k, calibrated: 8 + k, u: [3, 3, 4, 4, 5, 5][k]! }))
const B = Array.from({ length: 12 }, (_, k) => ({ time: START + k * 5 * MIN, raw: 20 + k, calibrated: k % 2 === 0 ? 18 + k : undefined }))
const FLAGGED = { time: START + 5 * MIN, raw: 999.9 }

describe('page, API, CLI and export agree on one window, each number with its label and uncertainty', () => {
  const db = throwawayDatabase('agree', logger)
  let app: FastifyInstance
  let base: string
  let browser: Browser
  // the CLI's registry: the same two public devices, and one registered without consent
  let cliRegistry: TestRegistry
  const get = async (url: string) => (await app.inject({ method: 'GET', url })).json()
  const cli = (args: string[]) =>
    promisify(execFile)('node', ['bin/senshagen.js', 'query', ...args], { env: { ...process.env, ...isolatedEnv(db.database, cliRegistry.env), TZ: 'America/New_York' } })
  /** The CLI's exit status and stderr, whether it succeeded or not. */
  const cliStatus = async (args: string[]) =>
    cli(args).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    )

  beforeAll(async () => {
    await db.store.write({
      readings: [...A.map((r) => reading('ag-a', r.time, r.raw)), reading('ag-a', FLAGGED.time, FLAGGED.raw, ['saturated']), ...B.map((r) => reading('ag-b', r.time, r.raw))],
      rejections: [],
    })
    await db.store.writeLines([
      ...A.map((r) => calibration('ag-a', r.time, r.calibrated, r.u, 'indicative')),
      ...B.flatMap((r) => (r.calibrated === undefined ? [] : [calibration('ag-b', r.time, r.calibrated, 6, 'experimental')])),
    ])
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'agree', name: 'Eenstemmig', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 800 }],
        devices: [
          { id: 'ag-a', neighbourhood: 'agree', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
          { id: 'ag-b', neighbourhood: 'agree', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
        ],
      },
      'test/e2e/surfaces-agree.test.ts',
    )
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 1000, liveHeartbeatMs: 15_000 }, registry: { path: '' }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store: db.store, registry, logger })
    ;({ base, browser } = await servePage(app))
    cliRegistry = await testRegistry([
      { id: 'ag-a', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
      { id: 'ag-b', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
      { id: 'ag-private', neighbourhood: 'stadshagen', consent: false },
    ])
  }, 120_000)

  afterAll(async () => {
    await cliRegistry?.close()
    await browser?.close()
    await app?.close()
  })

  it('API windows: per device and for the neighbourhood (each device once), flagged readings out by default', async () => {
    const body = await get(`/api/v1/readings?neighbourhood=agree&quantity=pm2_5&${RANGE}&window=1h&series=both`)
    const pick = ({ device, raw_mean, raw_min, raw_max, raw_count, calibrated_mean, calibrated_min, calibrated_max, calibrated_count, uncertainty, label, partial }: Record<string, unknown>) =>
      ({ device, raw_mean, raw_min, raw_max, raw_count, calibrated_mean, calibrated_min, calibrated_max, calibrated_count, uncertainty, label, partial })
    expect(body.rows.map(pick)).toEqual([
      { device: 'ag-a', raw_mean: 15, raw_min: 10, raw_max: 20, raw_count: 6, calibrated_mean: 10.5, calibrated_min: 8, calibrated_max: 13, calibrated_count: 6, uncertainty: 4, label: 'indicative', partial: false },
      { device: 'ag-b', raw_mean: 25.5, raw_min: 20, raw_max: 31, raw_count: 12, calibrated_mean: 23, calibrated_min: 18, calibrated_max: 28, calibrated_count: 6, uncertainty: 6, label: 'experimental', partial: false },
    ])
    expect(body.aggregate.map(pick)).toEqual([
      { device: 'neighbourhood:agree', raw_mean: 20.25, raw_min: 10, raw_max: 31, raw_count: 18, calibrated_mean: 16.75, calibrated_min: 8, calibrated_max: 28, calibrated_count: 12, uncertainty: 5, label: 'experimental', partial: false },
    ])
    // a raw series says uncalibrated, with no uncertainty
    const raw = await get(`/api/v1/readings?neighbourhood=agree&quantity=pm2_5&${RANGE}&window=1h`)
    expect(raw.aggregate.map((r: Record<string, unknown>) => [r.mean, r.uncertainty, r.label])).toEqual([[20.25, null, 'uncalibrated']])
    // with every flag: the saturated 999.9 counts, (90 + 999.9) / 7 for ag-a
    const all = await get(`/api/v1/readings?neighbourhood=agree&quantity=pm2_5&${RANGE}&window=1h&series=both&include_flags=all`)
    expect(all.rows[0].raw_mean).toBeCloseTo(155.7, 9)
    expect(all.aggregate[0].raw_mean).toBeCloseTo(90.6, 9)
    expect(all.aggregate[0].calibrated_mean).toBe(16.75) // the flagged reading has no calibrated value
  })

  it('API raw rows, /now, /latest and SensorThings give the same numbers with their labels', async () => {
    const rows = (await get(`/api/v1/readings?device=ag-a&quantity=pm2_5&${RANGE}&series=both`)).rows
    expect(rows.map((r: Record<string, unknown>) => [r.raw, r.calibrated, r.uncertainty, r.label, (r.flags as string[]).join(';')])).toEqual([
      [10, 8, 3, 'indicative', ''], [999.9, null, null, 'uncalibrated', 'saturated'], [12, 9, 3, 'indicative', ''],
      [14, 10, 4, 'indicative', ''], [16, 11, 4, 'indicative', ''], [18, 12, 5, 'indicative', ''], [20, 13, 5, 'indicative', ''],
    ])
    const now = await get(`/api/v1/neighbourhoods/agree/now?at=${iso(H)}`)
    expect(now.quantities.pm2_5).toMatchObject({ value: 16.75, series: 'calibrated', label: 'experimental', uncertainty: 5, devices: 2, count: 12 })
    expect(now.quantities.air_temperature).toMatchObject({ value: null, series: null, label: 'uncalibrated', uncertainty: null })
    const latest = await get('/api/v1/latest?neighbourhood=agree')
    expect(latest.latest.map((l: Record<string, unknown>) => [l.device, l.time, l.value, l.calibrated, l.uncertainty, l.label])).toEqual([
      ['ag-a', iso(START + 50 * MIN), 20, 13, 5, 'indicative'],
      ['ag-b', iso(START + 55 * MIN), 31, null, null, 'uncalibrated'],
    ])
    const sta = await get(`/sta/v1.1/Datastreams('ag-a~pm2_5')/Observations?$top=2`)
    expect(sta.value.map((o: Record<string, unknown>) => [o.result, o.resultQuality, o.parameters])).toEqual([
      [10, { label: 'uncalibrated', uncertainty: null }, { flags: [], calibrated: 8, calibrated_uncertainty: 3, calibration_label: 'indicative' }],
      [999.9, { label: 'uncalibrated', uncertainty: null }, { flags: ['saturated'], calibrated: null, calibrated_uncertainty: null, calibration_label: 'uncalibrated' }],
    ])
  })

  it('senshagen query prints what the API gives, byte for byte (windows and raw rows)', async () => {
    const args = ['--device', 'ag-b', '--quantity', 'pm2_5', '--from', iso(START), '--to', iso(H), '--series', 'both']
    const windows = await cli([...args, '--window', '1h', '--format', 'csv'])
    expect(windows.stdout).toBe((await app.inject({ url: `/api/v1/readings?device=ag-b&quantity=pm2_5&${RANGE}&series=both&window=1h&format=csv` })).body)
    expect(windows.stdout.split('\n')[1]).toMatch(/^[^,]+,ag-b,pm2_5,µg\/m³,25\.5,20,31,12,23,18,28,6,6,experimental,12,1,false$/)
    // JSON: the API's whole document (device, unit, series, window, tz, include_flags, licence, columns, rows, next)
    const raw = await cli([...args, '--format', 'json'])
    const rawApi = await get(`/api/v1/readings?device=ag-b&quantity=pm2_5&${RANGE}&series=both`)
    expect(JSON.parse(raw.stdout)).toEqual(rawApi)
    expect(rawApi).toMatchObject({ device: 'ag-b', unit: 'µg/m³', window: null, tz: null, include_flags: 'all', next: null })
    expect(rawApi.rows[1]).toEqual({ time: iso(START + 5 * MIN), device: 'ag-b', quantity: 'pm2_5', unit: 'µg/m³', raw: 21, calibrated: null, uncertainty: null, label: 'uncalibrated', flags: [] })
    const zoned = await cli([...args, '--window', '1h', '--tz', 'Europe/Amsterdam', '--format', 'json'])
    const zonedApi = await get(`/api/v1/readings?device=ag-b&quantity=pm2_5&${RANGE}&series=both&window=1h&tz=Europe/Amsterdam`)
    expect(JSON.parse(zoned.stdout)).toEqual(zonedApi)
    expect(zonedApi).toMatchObject({ window: '1h', tz: 'Europe/Amsterdam', include_flags: [] })
    expect(zonedApi.rows).toMatchObject([{ device: 'ag-b', raw_mean: 25.5, raw_count: 12, calibrated_mean: 23, uncertainty: 6, label: 'experimental', expected: 12, completeness: 1, partial: false }])
  })

  it('senshagen query refuses a device the API does not know, as its 404 does; a known device with no readings is not an error', async () => {
    const range = ['--quantity', 'pm2_5', '--from', iso(START), '--to', iso(H)]
    expect((await app.inject({ url: `/api/v1/readings?device=ag-nobody&quantity=pm2_5&${RANGE}` })).json().detail).toBe('no public device with this id')
    for (const device of ['ag-nobody', 'ag-private']) {
      const refused = await cliStatus(['--device', device, ...range])
      expect(refused).toEqual({ code: 1, stdout: '', stderr: `senshagen: --device: no public device with this id: '${device}' (registered, active and consented devices only)\n` })
    }
    const empty = await cliStatus(['--device', 'ag-a', '--quantity', 'air_temperature', '--from', iso(START), '--to', iso(H)])
    expect(empty).toEqual({ code: 0, stdout: 'time,device,quantity,unit,value,uncertainty,label,flags\n', stderr: '0 reading(s) of ag-a air_temperature\n' })
  })

  it('the bulk export holds every reading with its flags; its unflagged means are the API’s', async () => {
    const csv = (await app.inject({ url: `/api/v1/bulk/${iso(START).slice(0, 10)}/senshagen.csv` })).body.trim().split('\r\n')
    const header = csv[0]!.split(',')
    const rows = csv.slice(1).map((line) => Object.fromEntries(line.split(',').map((cell, i) => [header[i], cell])))
    const inWindow = rows.filter((r) => r.quantity === 'pm2_5' && Date.parse(r.time!) >= START && Date.parse(r.time!) < H)
    expect(inWindow).toHaveLength(19)
    expect(inWindow.filter((r) => r.flags !== '').map((r) => [r.device, r.value, r.flags])).toEqual([['ag-a', '999.9', 'saturated']])
    const mean = (device: string, column: 'value' | 'calibrated') => {
      const values = inWindow.filter((r) => r.device === device && r.flags === '' && r[column] !== '').map((r) => Number(r[column]))
      return values.reduce((s, v) => s + v, 0) / values.length
    }
    expect([mean('ag-a', 'value'), mean('ag-a', 'calibrated'), mean('ag-b', 'value'), mean('ag-b', 'calibrated')]).toEqual([15, 10.5, 25.5, 23])
    // each calibrated value with the label and uncertainty the API's raw rows give it
    const api = (await get(`/api/v1/readings?device=ag-a&quantity=pm2_5&${RANGE}&series=both`)).rows as Array<Record<string, unknown>>
    expect(inWindow.filter((r) => r.device === 'ag-a').map((r) => [r.calibrated, r.calibrated_uncertainty, r.calibration_label])).toEqual(
      api.map((r) => [r.calibrated === null ? '' : String(r.calibrated), r.uncertainty === null ? '' : String(r.uncertainty), r.label]),
    )
  })

  it('the page shows the same numbers, each with its label and uncertainty in Dutch', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' })
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    // the page asks /now for the hour up to the end of the current minute: H
    await page.clock.setFixedTime(H - 30_000)
    const nowRequest = page.waitForRequest((r) => r.url().includes('/api/v1/neighbourhoods/agree/now'))
    await page.goto(`${base}/?neighbourhood=agree`)
    expect(new URL((await nowRequest).url()).searchParams.get('at')).toBe(iso(H))
    const pm = page.locator('.card[data-quantity="pm2_5"]')
    await pm.locator('.value data').waitFor()
    expect(await pm.locator('.value').textContent()).toBe('16,8 µg/m³')
    expect(await pm.locator('.quality').textContent()).toBe('Hoe zeker: ± 5,0 µg/m³ (experimenteel)')
    expect(await page.locator('.card[data-quantity="air_temperature"] .value').textContent()).toBe('Geen recente meting')
    // the 24 h chart's table: one hour with data, the same mean, lowest, highest and label
    const row = page.locator('.chart-card table tbody tr')
    await row.first().waitFor({ state: 'attached' })
    expect(await row.count()).toBe(1)
    expect((await row.locator('td').allTextContents()).map((c) => c.trim())).toEqual(['16,8', '8,0', '28,0', '± 5,0 µg/m³ (experimenteel)'])
    // the sensor list: /api/v1/latest's raw values, said to be raw
    const list = page.locator('.list-column')
    expect(await list.locator('.series-note').textContent()).toBe('De waarden in deze lijst zijn niet gekalibreerd: zo geeft de sensor ze door.')
    expect(await list.textContent()).toContain('20,0 µg/m³')
    expect(await list.textContent()).toContain('31,0 µg/m³')
    await expectNoAxeViolations(page, 'agreeing neighbourhood')
    expect(errors).toEqual([])
    await context.close()
  })
})
