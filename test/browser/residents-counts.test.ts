import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { expectNoAxeViolations, servePage } from './harness.ts'
import { testApiConfig } from '../helpers/api.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

/**
 * Three findings of a trial by residents who did not write the page, in Chromium against the real API and
 * InfluxDB 1.6.7, with no street map configured:
 * (a) a sensor left out of a neighbourhood value because its readings are flagged is counted on the card in plain
 *     Dutch, without naming it; a participant without consent is in no count (only data of participants who
 *     accepted the terms is published);
 * (b) without a street map the page does not ask GET /api/v1/basemap, so the browser logs no 404;
 * (c) "Bijgewerkt om" and the card's "tot en met" name the same minute: the page once said "Bijgewerkt om 07:45"
 *     beside "tot 07:46".
 *
 * The hour before the end of the minute M (the page's clock stands at M + 20 s): PM2.5 of tel-a every 10 minutes
 * (10 µg/m³, one of them 999.9 flagged `saturated`, so tel-a still counts); tel-b and tel-c only flagged PM2.5
 * (left out); tel-private (no consent) only flagged PM2.5 too. Temperature: tel-a 8 °C, tel-b 10 °C, unflagged;
 * tel-private 30 °C.
 */
const logger = createLogger('silent')
const MIN = 60_000
/** A whole minute a little in the past, so every reading below lies before the server's now. */
const M = Math.floor(Date.now() / MIN) * MIN - 5 * MIN
const AT = M + MIN
const CLOCK = M + 20_000

const reading = (deviceId: string, quantity: 'pm2_5' | 'air_temperature', value: number, observedAt: number, flags: string[] = []): Reading => ({
  deviceId, quantity, value, unit: quantity === 'pm2_5' ? 'µg/m³' : '°C', observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', sensorModel: 'SDS011', flags,
})
const TIMES = Array.from({ length: 6 }, (_, k) => AT - 55 * MIN + k * 10 * MIN)

describe('residents\' page: flagged sensors counted, no basemap request, one minute for "updated" and "until"', () => {
  const db = throwawayDatabase('counts', logger)
  let app: FastifyInstance
  let base: string
  let browser: Browser

  beforeAll(async () => {
    await db.store.write({
      readings: [
        ...TIMES.map((t, k) => reading('tel-a', 'pm2_5', k === 2 ? 999.9 : 10, t, k === 2 ? ['saturated'] : [])),
        ...TIMES.map((t) => reading('tel-b', 'pm2_5', 999.9, t, ['saturated'])),
        ...TIMES.map((t) => reading('tel-c', 'pm2_5', 42, t, ['stuck'])),
        ...TIMES.map((t) => reading('tel-private', 'pm2_5', 999.9, t, ['saturated'])),
        ...TIMES.map((t) => reading('tel-a', 'air_temperature', 8, t)),
        ...TIMES.map((t) => reading('tel-b', 'air_temperature', 10, t)),
        ...TIMES.map((t) => reading('tel-private', 'air_temperature', 30, t)),
      ],
      rejections: [],
    })
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'telling', name: 'Telwijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 800 }],
        devices: [
          { id: 'tel-a', neighbourhood: 'telling', consent: true, location: { lat: 52.5312, lon: 6.0571 } },
          { id: 'tel-b', neighbourhood: 'telling', consent: true, location: { lat: 52.5288, lon: 6.0633 } },
          { id: 'tel-c', neighbourhood: 'telling', consent: true, location: { lat: 52.5301, lon: 6.0601 } },
          { id: 'tel-private', neighbourhood: 'telling', consent: false, location: { lat: 52.5295, lon: 6.0612 } },
        ],
      },
      'test/browser/residents-counts.test.ts',
    )
    // no SENSHAGEN_BASEMAP_FILE: no street map
    app = await buildApiServer({ config: testApiConfig(), store: db.store, registry, logger })
    ;({ base, browser } = await servePage(app))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await app?.close()
  })

  it('/now counts the public sensors left out for flags per quantity; the listing says there is no street map', async () => {
    const now = (await app.inject({ url: `/api/v1/neighbourhoods/telling/now?at=${new Date(AT).toISOString()}` })).json()
    expect(now.devices).toBe(3) // tel-private is in no count
    expect(now.quantities.pm2_5).toMatchObject({ value: 10, devices: 1, count: 5, flaggedDevices: 2 })
    expect(now.quantities.air_temperature).toMatchObject({ value: 9, devices: 2, flaggedDevices: 0 })
    expect(now.quantities.relative_humidity).toMatchObject({ value: null, devices: 0, flaggedDevices: 0 })
    const listing = (await app.inject({ url: '/api/v1/neighbourhoods' })).json()
    expect(listing.basemap).toBe(false)
    expect((await app.inject({ url: '/api/v1/basemap' })).statusCode).toBe(404)
  })

  it('the page says how many sensors it left out and why, names none, asks no basemap, and logs nothing', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' })
    const page = await context.newPage()
    const problems: string[] = []
    const requests: string[] = []
    page.on('pageerror', (error) => problems.push(error.message))
    // every console error, "Failed to load resource" (a 404) included
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text())
    })
    page.on('request', (request) => requests.push(new URL(request.url()).pathname))
    await page.clock.setFixedTime(CLOCK)
    await page.goto(`${base}/?neighbourhood=telling`)
    const pm = page.locator('.card[data-quantity="pm2_5"]')
    await pm.locator('.value data').waitFor()
    expect(await pm.locator('.value').textContent()).toBe('10,0 µg/m³')
    expect(await pm.locator('.flagged-note').textContent()).toBe('2 sensoren niet meegeteld: hun metingen zijn verdacht.')
    expect(await page.locator('.card[data-quantity="air_temperature"] .flagged-note').count()).toBe(0)
    expect(await page.locator('.now').textContent()).not.toMatch(/tel-/)
    expect(await page.content()).not.toContain('tel-private')

    // (c) one minute: the hour's last minute is M, and the page read /now at M + 20 s
    const minute = new Intl.DateTimeFormat('nl-NL', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit' }).format(M)
    expect(await page.locator('.now .measured').textContent()).toBe(`Gemiddelde van het laatste uur, tot en met ${minute}.`)
    await expect.poll(() => page.locator('#updated-at').textContent()).toBe(`Bijgewerkt om ${minute}`)

    // (b) no street map configured: not asked, so no 404 in the console
    expect(requests).toContain('/api/v1/neighbourhoods')
    expect(requests.filter((path) => path.startsWith('/api/v1/basemap'))).toEqual([])
    await expectNoAxeViolations(page, 'flagged sensors counted')
    expect(problems).toEqual([])

    // in English, the same count
    await page.goto(`${base}/?neighbourhood=telling&lang=en`)
    await pm.locator('.value data').waitFor()
    expect(await pm.locator('.flagged-note').textContent()).toBe('2 sensors not counted: their measurements look wrong.')
    expect(problems).toEqual([])
    await context.close()
  }, 120_000)
})
