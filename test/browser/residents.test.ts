import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { writeReferenceObservations } from '../../core/reference/reference-store.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { isolatedConfig, uniqueId } from '../helpers/env.ts'
import { CHROMIUM, CHROMIUM_ARGS, expectNoAxeViolations, waitForOverview } from './harness.ts'
import { DEVICES, NEIGHBOURHOOD, reading, seed } from './fixtures.ts'
import { writeTestMbtiles } from './tiles.ts'

/**
 * The residents' page of issue 12 item 5 in Chromium against the real API and InfluxDB: the winter card (browser
 * clock at 1 December 2025, 1.3 °C), the street map from a tile set generated here (every request to our own
 * origin), the host-a-sensor invitation, 200 % text at 390 px, values patched in place (no DOM rebuild on an
 * unchanged update), the latest stored values on a sensor page at once, and the first-load page weight. axe-core
 * (WCAG 2.1 A/AA) finds nothing in each state.
 */
declare const window: any // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any
declare const MutationObserver: new (callback: (records: unknown[]) => void) => { observe(target: unknown, options: object): void }

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url))
const MOBILE = { width: 390, height: 844 }
const DESKTOP = { width: 1280, height: 800 }
const logger = createLogger('silent')
const INVITE = 'mailto:meedoen@senshagen.example'
/** 1 December 2025, 12:30 in Zwolle (CET, UTC+1). */
const WINTER_NOW = Date.parse('2025-12-01T11:30:00Z')
/** A week later, the same hour: PM2.5 from the garden, but no KNMI wind speed in the store. */
const WINDLESS_NOW = WINTER_NOW + 7 * 86_400_000
const WINTER = { id: 'winterwijk', name: 'Winterwijk', municipality: 'Zwolle', center: { lat: 52.53, lon: 6.06 }, radiusM: 800 }

/** testRegistry()'s Stadshagen and Assendorp (no devices) plus a winter neighbourhood with one device. */
function registry() {
  return parseRegistry(
    {
      neighbourhoods: [NEIGHBOURHOOD, { id: 'assendorp', name: 'Assendorp', municipality: 'Zwolle', center: { lat: 52.503, lon: 6.099 }, radiusM: 800 }, WINTER],
      devices: [
        ...DEVICES.map((d) => ({ id: d.id, neighbourhood: 'stadshagen', consent: true, location: d.location })),
        { id: 'win-001', neighbourhood: WINTER.id, consent: true, location: { lat: 52.5301, lon: 6.0612 } },
      ],
    },
    'test/browser/residents.test.ts',
  )
}

describe("residents' page (issue 12 item 5) in Chromium against the real API", () => {
  const id = uniqueId('residents')
  const dir = mkdtempSync(join(tmpdir(), 'senshagen-residents-'))
  let store: InfluxReadingStore
  let app: FastifyInstance
  let base: string
  let browser: Browser
  let tileCount = 0
  const pageErrors: string[] = []

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true })
    const basemapFile = join(dir, 'zwolle.mbtiles')
    tileCount = writeTestMbtiles(basemapFile, NEIGHBOURHOOD.center, { minZoom: 12, maxZoom: 16, radiusDeg: 0.03 })
    const namesFile = join(dir, 'zwolle-names.json')
    writeFileSync(
      namesFile,
      JSON.stringify([
        { name: 'Stadshagenallee', kind: 'street', lat: 52.5318, lon: 6.0598 },
        { name: 'Frans Halsstraat', kind: 'street', lat: 52.5209, lon: 6.0811 },
        { name: '8043 AB', kind: 'postcode', lat: 52.5297, lon: 6.0589 },
      ]),
    )
    const config = isolatedConfig(id, {
      SENSHAGEN_REPORTS_DIR: dir,
      SENSHAGEN_API_PORT: '0',
      SENSHAGEN_API_LIVE_POLL_MS: '250',
      SENSHAGEN_BASEMAP_FILE: basemapFile,
      SENSHAGEN_BASEMAP_NAMES_FILE: namesFile,
      SENSHAGEN_HOST_INVITE_URL: INVITE,
    })
    store = await openInfluxStore(config.influx, logger)
    await store.ensureDatabase()
    await seed(store, Date.now(), dir)
    // winter: 1.3 °C, 92 %, PM2.5 12 µg/m³ every 10 minutes before 12:30 on 1 December 2025
    const winter = []
    for (let t = WINTER_NOW - 3 * 3_600_000; t < WINTER_NOW; t += 600_000) {
      winter.push(reading('win-001', 'air_temperature', 1.3, t), reading('win-001', 'relative_humidity', 92, t), reading('win-001', 'pm2_5', 12, t))
    }
    for (let t = WINDLESS_NOW - 3_600_000; t < WINDLESS_NOW; t += 600_000) winter.push(reading('win-001', 'pm2_5', 12, t))
    await store.write({ readings: winter, rejections: [] })
    await writeReferenceObservations(store, [
      { station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm2_5', value: 9, time: Date.parse('2025-12-01T11:00:00Z'), periodMs: 3_600_000, flags: [] },
      { station: 'NL10818', source: 'luchtmeetnet', quantity: 'pm10', value: 18, time: Date.parse('2025-12-01T11:00:00Z'), periodMs: 3_600_000, flags: [] },
      { station: '278', source: 'knmi', quantity: 'wind_speed', value: 2, time: Date.parse('2025-12-01T11:00:00Z'), periodMs: 3_600_000, flags: [] },
    ])
    app = await buildApiServer({ config, store, registry: registry(), logger })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await app?.close()
    await store?.influxql(`DROP DATABASE "${id}"`).catch(() => {})
    await store?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** A page in a fresh context of its own (the winter test's fake clock is per context). */
  async function newPage(viewport = DESKTOP): Promise<Page> {
    const context = await browser.newContext({ viewport, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' })
    const page = await context.newPage()
    page.on('close', () => void context.close())
    page.on('pageerror', (error) => pageErrors.push(error.message))
    // showError() logs what it caught: a page that fell back to its error view fails the last test
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
    })
    await page.setViewportSize(viewport)
    return page
  }



  it('winter card: on 1 December at 1.3 °C no heat advice, but cold and wood-burning advice, LKI beside the nearest station', async () => {
    const page = await newPage()
    await page.clock.setFixedTime(WINTER_NOW)
    const nowResponse = page.waitForResponse((r) => r.url().includes('/api/v1/neighbourhoods/winterwijk/now'))
    await page.goto(`${base}/?neighbourhood=winterwijk`)
    expect(new URL((await nowResponse).url()).searchParams.get('at')).toBe('2025-12-01T11:31:00.000Z') // end of the current minute
    await page.locator('.card .value data').first().waitFor()
    const now = page.locator('.now')
    const temperature = page.locator('.card[data-quantity="air_temperature"]')
    expect(await temperature.locator('.value').textContent()).toBe('1,3 °C')
    expect(await temperature.locator('.badge').textContent()).toBe('Niveau: Koud')
    expect(await temperature.locator('.advice').textContent()).toContain('Kleed je warm aan')
    expect((await now.textContent())!.toLowerCase()).not.toMatch(/hitte/)
    expect(await temperature.locator('.series-note').textContent()).toMatch(/^Niet gekalibreerd/)

    const stook = page.locator('.card[data-quantity="stook"]')
    expect(await stook.locator('h3').textContent()).toBe('Hout stoken?')
    expect(await stook.locator('.badge').textContent()).toBe('Code rood')
    expect(await stook.locator('.advice').textContent()).toContain('weinig wind')
    expect(await stook.locator('.series-note').textContent()).toContain('2,0 m/s')

    const pm = page.locator('.card[data-quantity="pm2_5"]')
    expect(await pm.locator('.value').textContent()).toBe('12,0 µg/m³')
    expect(await pm.locator('.badge').textContent()).toBe('Niveau: LKI 2 van 11: Goed') // 10–15 µg/m³
    expect(await pm.locator('.reference').textContent()).toBe('Officieel meetstation Barsbeek-De Veenen (14 km verderop): 9,0 µg/m³, LKI 1 (Goed), om 12:00.')
    // the garden sensor measures no PM10: the card still shows the station's value
    const pm10 = page.locator('.card[data-quantity="pm10"]')
    expect(await pm10.locator('.value').textContent()).toBe('Geen recente meting')
    expect(await pm10.locator('.reference').textContent()).toBe('Officieel meetstation Barsbeek-De Veenen (14 km verderop): 18,0 µg/m³, LKI 2 (Goed), om 12:00.')
    expect(await page.locator('.card[data-quantity="no2"]').count()).toBe(0)
    expect(await page.locator('.unit-note').textContent()).toContain('microgram per kubieke meter')
    expect(await page.locator('footer').textContent()).not.toMatch(/Kalibratie met|Indicatieve metingen/)

    await expectNoAxeViolations(page, 'winter card')
    await page.screenshot({ path: join(SCREENSHOTS, 'winter-nl-desktop.png'), fullPage: true })
    await page.close()
  })

  it('wood-burning card without wind: says in plain Dutch that the wind is not known, and shows no colour code', async () => {
    const page = await newPage()
    await page.clock.setFixedTime(WINDLESS_NOW)
    const nowResponse = page.waitForResponse((r) => r.url().includes('/api/v1/neighbourhoods/winterwijk/now'))
    await page.goto(`${base}/?neighbourhood=winterwijk`)
    expect((await (await nowResponse).json()).stook).toEqual({ code: null, reason: 'missing', missing: ['wind'], windMs: null, windStation: null })
    const stook = page.locator('.card[data-quantity="stook"]')
    await stook.waitFor()
    expect(await stook.locator('.badge').textContent()).toBe('Geen code: gegevens ontbreken')
    expect(await stook.locator('.swatch').count()).toBe(0)
    expect(await stook.textContent()).not.toMatch(/Code (geel|oranje|rood)/)
    expect(await stook.locator('.advice').textContent()).toBe('We kunnen nu geen stookcode geven. We weten niet hoe hard het waait. Bij weinig wind blijft rook in de wijk hangen.')
    expect(await stook.locator('.series-note').textContent()).toBe('De wind van het KNMI-meetstation is nu niet bekend. Dit advies volgt de regels van de Stookwijzer van het RIVM.')
    await expectNoAxeViolations(page, 'wood-burning card without wind')
    await page.close()
  })

  it('an empty neighbourhood invites residents to host a sensor', async () => {
    const page = await newPage(MOBILE)
    await page.goto(`${base}/?neighbourhood=assendorp`)
    await page.locator('.invite').waitFor()
    expect(await page.locator('.invite p').first().textContent()).toMatch(/^Er hangen nog geen sensoren in deze wijk\. Wil jij een sensor ophangen/)
    expect(await page.locator('.invite a').getAttribute('href')).toBe(INVITE)
    expect(await page.locator('.invite a').textContent()).toBe('Meld je aan om een sensor op te hangen')
    await expectNoAxeViolations(page, 'invitation')
    await page.close()
  })

  it('street map from the generated tile set: tiles from our own origin only, centre cross on top, street search', async () => {
    expect(tileCount).toBeGreaterThan(20)
    const page = await newPage()
    const requests: string[] = []
    const tileStatus: number[] = []
    page.on('request', (request) => requests.push(request.url()))
    page.on('response', (response) => {
      if (response.url().includes('/tiles/')) tileStatus.push(response.status())
    })
    await page.goto(base + '/')
    await waitForOverview(page)
    await page.waitForFunction(() => document.querySelectorAll('.sensor-map .map-tiles image').length > 0)
    await page.waitForLoadState('load')
    await expect.poll(() => tileStatus.length, { timeout: 15_000 }).toBeGreaterThan(0)
    const tileHrefs = await page.locator('.sensor-map .map-tiles image').evaluateAll((els) => els.map((el) => el.getAttribute('href')))
    expect(tileHrefs.every((href) => /^\/tiles\/1[2-6]\/\d+\/\d+\.png$/.test(href!))).toBe(true)
    // every request of the page went to our origin (no third party at view time), every tile was there
    expect(requests.filter((url) => !url.startsWith(base) && !url.startsWith('data:'))).toEqual([])
    expect(tileStatus.every((status) => status === 200)).toBe(true)
    expect(await page.locator('.sensor-map figcaption').textContent()).toContain('Kaart met straten')
    expect(await page.locator('.sensor-map .map-grid line').count()).toBe(0)

    // the centre cross is drawn above the rounding circles, with a visible size
    const order = await page.evaluate(() => [...document.querySelector('.map-svg').children].map((el: { getAttribute(n: string): string }) => el.getAttribute('class')))
    expect(order.indexOf('map-centre')).toBeGreaterThan(order.indexOf('map-precision-group'))
    const cross = await page.locator('.map-centre-cross').boundingBox()
    expect(cross!.width).toBeGreaterThanOrEqual(18)

    // search: one street found, marked on the map and said in words
    await page.getByLabel('Zoek je straat of postcode').fill('stadshagenall')
    await page.getByRole('button', { name: 'Zoeken' }).click()
    await expect.poll(() => page.locator('.search-status').textContent()).toBe('Stadshagenallee staat op de kaart met een zwarte ster.')
    expect(await page.locator('.map-mark').count()).toBe(1)
    await page.getByLabel('Zoek je straat of postcode').fill('8043ab')
    await page.getByRole('button', { name: 'Zoeken' }).click()
    await expect.poll(() => page.locator('.search-status').textContent()).toBe('8043 AB staat op de kaart met een zwarte ster.')
    await page.getByLabel('Zoek je straat of postcode').fill('Nergensstraat')
    await page.getByRole('button', { name: 'Zoeken' }).click()
    await expect.poll(() => page.locator('.search-status').textContent()).toBe('Niets gevonden voor "Nergensstraat".')
    await expectNoAxeViolations(page, 'street map')
    await page.locator('.map-column').screenshot({ path: join(SCREENSHOTS, 'street-map-nl-desktop.png') })
    await page.close()
  })

  it('200 % text on a 390 px phone: no horizontal scroll on the overview and the sensor page', async () => {
    const page = await newPage(MOBILE)
    await page.goto(base + '/')
    await waitForOverview(page)
    const overflow = () =>
      page.evaluate(() => {
        const root = document.documentElement
        // content of a scroll box (the tables' own horizontal scroll) and map tiles clipped by their <svg> may reach
        // further; nothing else may
        const scrolls = (el: any) => el.closest('.table-scroll') !== null || (el.ownerSVGElement ?? null) !== null
        const wide = [...document.querySelectorAll('body *')]
          .filter((el: any) => el.getBoundingClientRect().right > root.clientWidth + 1 && !scrolls(el))
          .slice(0, 5)
          .map((el: { tagName: string; className: unknown }) => `${el.tagName}.${String(el.className)}`)
        return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide }
      })
    await page.evaluate(() => (document.documentElement.style.fontSize = '200%'))
    await page.waitForTimeout(500) // the map re-lays out on resize frames
    const overview = await overflow()
    expect(overview.clientWidth).toBeLessThanOrEqual(390)
    expect(overview, JSON.stringify(overview)).toMatchObject({ scrollWidth: overview.clientWidth, wide: [] })
    await expectNoAxeViolations(page, 'overview at 200 % text')
    await page.screenshot({ path: join(SCREENSHOTS, 'overview-200pct-mobile.png'), fullPage: true })

    await page.locator('.sensor-list a[data-device="sim-004"]').click()
    await page.waitForFunction(() => document.querySelectorAll('.sensor-charts canvas').length >= 3)
    const sensor = await overflow()
    expect(sensor, JSON.stringify(sensor)).toMatchObject({ scrollWidth: sensor.clientWidth, wide: [] })
    await page.close()
  })

  it('values are patched in place: an unchanged update touches no card, a real change is announced once', async () => {
    const page = await newPage()
    const nowBodies: unknown[] = []
    page.on('response', (response) => {
      if (response.url().includes('/api/v1/neighbourhoods/stadshagen/now')) response.json().then((body: { quantities: unknown; stook: unknown }) => nowBodies.push({ q: body.quantities, s: body.stook }), () => {})
    })
    const live = page.waitForResponse((r) => r.url().includes('/api/v1/live'))
    await page.goto(base + '/')
    await waitForOverview(page)
    await live
    await page.evaluate(() => {
      window.mutations = 0
      window.announcements = []
      window.cardsBefore = [...document.querySelectorAll('.card')]
      new MutationObserver((records) => (window.mutations += records.length)).observe(document.querySelector('.cards'), { childList: true, subtree: true, characterData: true, attributes: true })
      const region = document.getElementById('live-status')
      new MutationObserver(() => window.announcements.push(region.textContent)).observe(region, { childList: true, characterData: true, subtree: true })
    })

    // a reading the cards do not show (air pressure) makes the page re-read /now: the same values, so no mutation
    for (let attempt = 0; attempt < 3; attempt++) {
      const seen = nowBodies.length
      await store.write({ readings: [reading('sim-002', 'air_pressure', 1012 + attempt, Date.now())], rejections: [] })
      await expect.poll(() => nowBodies.length, { timeout: 20_000 }).toBeGreaterThan(seen)
      // an hour window that moved across a 10-minute step changes the means legitimately: try again then
      if (JSON.stringify(nowBodies.at(-1)) === JSON.stringify(nowBodies.at(-2))) break
      await page.evaluate(() => (window.mutations = 0))
    }
    expect(JSON.stringify(nowBodies.at(-1))).toBe(JSON.stringify(nowBodies.at(-2)))
    expect(await page.evaluate(() => window.mutations)).toBe(0)
    expect(await page.evaluate(() => window.cardsBefore.every((card: unknown, i: number) => card === document.querySelectorAll('.card')[i]))).toBe(true)
    expect(await page.evaluate(() => window.announcements)).toEqual([])

    // a real change: every garden at 35 °C now (raw and calibrated, with its method: a calibrated value without one is a cleared one; the neighbourhood mean uses calibrated values
    // when there are any); the temperature card's value changes in place and is announced
    const hot = Date.now()
    await store.write({ readings: DEVICES.map((d) => reading(d.id, 'air_temperature', 35, hot)), rejections: [] })
    await store.writeLines(DEVICES.map((d) => `reading,device=${d.id},quantity=air_temperature calibrated=35,calibration_method="test" ${hot}`))
    await expect.poll(() => page.evaluate(() => window.announcements), { timeout: 30_000 }).toContainEqual(expect.stringMatching(/^Nieuwe meting in de wijk: (.*, )?Temperatuur -?\d+,\d °C/))
    expect(await page.evaluate(() => window.cardsBefore[0] === document.querySelector('.card[data-quantity="air_temperature"]'))).toBe(true)
    expect((await page.evaluate(() => window.announcements)).join(' ')).not.toContain('Bijgewerkt')
    await expectNoAxeViolations(page, 'after a live change')
    await page.close()
  })

  it('the sensor page shows the latest stored values at once, from /api/v1/latest instead of 2 h of raw readings', async () => {
    const page = await newPage(MOBILE)
    const urls: string[] = []
    page.on('request', (request) => urls.push(request.url()))
    await page.goto(`${base}/#/sensor/sim-004`)
    await page.locator('.sensor-now li').first().waitFor()
    const values = await page.locator('.sensor-now strong').allTextContents()
    expect(values).toHaveLength(3)
    for (const value of values) expect(value).toMatch(/^-?\d+(,\d)?( °C|%| µg\/m³)$/)
    expect(urls.some((url) => url.includes('/api/v1/latest?neighbourhood=stadshagen'))).toBe(true)
    expect(urls.filter((url) => url.includes('from=-2h'))).toEqual([])
    await expectNoAxeViolations(page, 'sensor page with latest values')
    await page.close()
  })

  it('first load weighs less than 300 kB compressed', async () => {
    const page = await newPage(MOBILE)
    const responses: Array<Promise<{ url: string; raw: number; gzip: number; transferred: number }>> = []
    page.on('response', (response) => {
      if (response.url().includes('/api/v1/live')) return // the event stream never ends
      responses.push(
        (async () => {
          const body = await response.body().catch(() => Buffer.alloc(0))
          const sizes = await response.request().sizes()
          return { url: response.url(), raw: body.length, gzip: gzipSync(body).length, transferred: sizes.responseBodySize + sizes.responseHeadersSize }
        })(),
      )
    })
    await page.goto(base + '/')
    await waitForOverview(page)
    await page.waitForLoadState('load')
    await page.waitForTimeout(1_000)
    const all = await Promise.all(responses)
    const sum = (key: 'raw' | 'gzip' | 'transferred') => all.reduce((total, r) => total + r[key], 0)
    // The server does not compress yet (issue 12 item 2, another branch): we gzip each body ourselves (level 6).
    console.info(`first load: ${all.length} responses, ${sum('raw')} B uncompressed, ${sum('gzip')} B gzipped, ${sum('transferred')} B transferred`)
    expect(all.length).toBeGreaterThan(5)
    expect(sum('gzip')).toBeLessThan(300_000)
    await page.close()
  })

  it('had no script errors on any page', () => {
    expect(pageErrors).toEqual([])
  })
})
