import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { withApiSettings } from '../../services/api/config.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { isolatedConfig, uniqueId } from '../helpers/env.ts'
import { CHROMIUM, CHROMIUM_ARGS, expectNoAxeViolations, waitForOverview } from './harness.ts'
import { ARCHIVE, ARCHIVE_DEVICES, DEVICES, reading, seed, seedArchive, testRegistry } from './fixtures.ts'

/**
 * The residents' page (services/api/public/) in Debian's Chromium, driven by playwright-core, against the real
 * API server (buildApiServer) on a real InfluxDB database filled with a week of simulated gardens. Every page is
 * checked with axe-core (WCAG 2.1 A/AA) and photographed at 390×844 and 1280×800 into test-artifacts/screenshots/.
 */
// The callbacks given to page.evaluate run in Chromium. tsconfig has no DOM lib (the project is Node code), so the
// few browser globals they use are declared here, loosely and for this file only.
declare const window: any // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any // eslint-disable-line @typescript-eslint/no-explicit-any
declare const getComputedStyle: (element: unknown) => { outlineStyle: string; outlineWidth: string; boxShadow: string; fill: string }
declare const MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void }
type HTMLElement = { tagName: string; id: string; dataset?: Record<string, string>; textContent: string | null; getAttribute(name: string): string | null; matches(selector: string): boolean }
type HTMLCanvasElement = { width: number; height: number }
type HTMLImageElement = { complete: boolean; naturalWidth: number }

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url))
const VIEWPORTS = { mobile: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } } as const
const logger = createLogger('silent')

const nl = new Intl.NumberFormat('nl-NL', { minimumFractionDigits: 1, maximumFractionDigits: 1 })
/** LKI classes as luchtmeetnet.nl names them (services/api/air-quality.ts). */
const LKI_CLASS = {
  nl: { good: 'Goed', moderate: 'Matig', insufficient: 'Onvoldoende', poor: 'Slecht', very_poor: 'Zeer slecht' },
  en: { good: 'Good', moderate: 'Moderate', insufficient: 'Insufficient', poor: 'Poor', very_poor: 'Very poor' },
} as Record<string, Record<string, string>>

interface NowValue {
  value: number | null
  class: string | null
  advice: string | null
  series: string | null
  index?: number | null
}
interface NowBody {
  quantities?: Record<string, NowValue>
  values?: Record<string, NowValue>
}

/** The archive neighbourhood's newest reading: two years ago, on a whole minute. */
const ARCHIVE_END = Math.floor((Date.now() - 730 * 24 * 3_600_000) / 60_000) * 60_000
const ARCHIVE_YEAR = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', year: 'numeric' }).format(ARCHIVE_END)

describe("residents' page in Chromium against the real API", () => {
  const id = uniqueId('page')
  const reportsDir = mkdtempSync(join(tmpdir(), 'senshagen-page-reports-'))
  const profileDir = mkdtempSync(join(tmpdir(), 'senshagen-chromium-'))
  let store: InfluxReadingStore
  let app: FastifyInstance
  let base: string
  let context: BrowserContext
  const pageErrors: string[] = []

  beforeAll(async () => {
    const config = withApiSettings(isolatedConfig(id, { SENSHAGEN_REPORTS_DIR: reportsDir }), {
      SENSHAGEN_API_PORT: '0',
      SENSHAGEN_API_LIVE_POLL_MS: '250',
      SENSHAGEN_API_LIVE_HEARTBEAT_MS: '5000',
    })
    store = await openInfluxStore(config.influx, logger)
    await store.ensureDatabase()
    await seed(store, Date.now(), reportsDir)
    await seedArchive(store, ARCHIVE_END)
    app = await buildApiServer({ config, store, registry: testRegistry(), logger })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    mkdirSync(SCREENSHOTS, { recursive: true })
    // A fresh profile; background networking off: this machine has no internet, so any such request is refused.
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: VIEWPORTS.desktop, locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' })
  }, 120_000)

  afterAll(async () => {
    await context?.close()
    await app?.close()
    await store?.influxql(`DROP DATABASE "${id}"`).catch(() => {})
    await store?.close()
    rmSync(reportsDir, { recursive: true, force: true })
    rmSync(profileDir, { recursive: true, force: true })
  })

  /** A new tab at `path`, waiting until the current values and the charts are drawn; collects script errors. */
  async function open(path: string, viewport: keyof typeof VIEWPORTS = 'desktop'): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(`${path}: ${error.message}`))
    await page.setViewportSize(VIEWPORTS[viewport])
    await page.goto(base + path)
    await page.locator('#view h1').waitFor()
    return page
  }


  async function waitForSensor(page: Page): Promise<void> {
    await page.waitForFunction(() => document.querySelectorAll('.sensor-charts canvas').length >= 3)
  }


  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
  }

  /** The page's own /now answer (what it rendered). */
  function nowResponse(page: Page): Promise<NowBody> {
    return page.waitForResponse((r) => r.url().includes('/api/v1/neighbourhoods/stadshagen/now')).then((r) => r.json() as Promise<NowBody>)
  }

  /** Is the focus indicator of the focused element visible (outline or box-shadow)? */
  function focusVisible(page: Page): Promise<boolean> {
    return page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null
      if (!el) return false
      const style = getComputedStyle(el)
      const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2
      return el.matches(':focus-visible') && (outline || style.boxShadow !== 'none')
    })
  }

  const active = (page: Page) =>
    page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null
      return { tag: el?.tagName.toLowerCase() ?? '', id: el?.id ?? '', cls: el?.getAttribute('class') ?? '', name: el?.getAttribute('aria-label') ?? el?.textContent?.trim() ?? '', device: el?.dataset?.device ?? '' }
    })

  for (const viewport of ['mobile', 'desktop'] as const) {
    it(`overview (${viewport}): Dutch, the current values with class and advice, charts with tables, the sensors`, async () => {
      const page = await context.newPage()
      page.on('pageerror', (error) => pageErrors.push(error.message))
      await page.setViewportSize(VIEWPORTS[viewport])
      const nowPromise = nowResponse(page)
      await page.goto(base + '/')
      const now = await nowPromise
      await waitForOverview(page)
      const values = now.quantities ?? now.values ?? {}

      expect(await page.getAttribute('html', 'lang')).toBe('nl')
      expect(await page.locator('h1').textContent()).toBe('Weer en lucht in Stadshagen')
      expect(await page.title()).toBe('Weer en lucht in Stadshagen – SensHagen')

      const temperature = page.locator('.card[data-quantity="air_temperature"]')
      expect(values.air_temperature?.value).toBeTypeOf('number')
      expect(await temperature.locator('.value').textContent()).toBe(`${nl.format(values.air_temperature!.value!)} °C`)
      expect(await temperature.locator('.badge').textContent()).toMatch(/Niveau: (Geen hittestress|Warm|Heet|Vorst|Koud|Niet koud)/)
      expect((await temperature.locator('.advice').textContent())!.length).toBeGreaterThan(10)
      const pm = page.locator('.card[data-quantity="pm2_5"]')
      expect(await pm.locator('.value').textContent()).toBe(`${nl.format(values.pm2_5!.value!)} µg/m³`)
      expect(await pm.locator('.badge').textContent()).toBe(`Niveau: LKI ${values.pm2_5!.index} van 11: ${LKI_CLASS.nl![values.pm2_5!.class!]}`)
      expect(await pm.locator('.advice').textContent()).toMatch(/^De lucht is /)
      const low = nl.format(Math.max(0, values.pm2_5!.value! - 4))
      expect(await pm.locator('.series-note').textContent()).toBe(`Gecorrigeerd met een officieel meetstation. Het blijft een schatting. De echte waarde ligt waarschijnlijk tussen ${low} µg/m³ en ${nl.format(values.pm2_5!.value! + 4)} µg/m³.`)
      // the label and uncertainty of the mean (every calibrated PM2.5 reading: indicative, U 4 µg/m³), as /now gives them
      expect(values.pm2_5).toMatchObject({ label: 'indicative', uncertainty: 4 })
      expect(await pm.locator('.quality').textContent()).toBe('Hoe zeker: ± 4,0 µg/m³ (indicatief)')
      expect(await temperature.locator('.quality').textContent()).toBe('Hoe zeker: ± 0,6 °C (experimenteel)')
      const humidity = page.locator('.card[data-quantity="relative_humidity"]')
      expect(await humidity.locator('.value').textContent()).toBe(`${Math.round(values.relative_humidity!.value!)}%`)
      expect(await humidity.locator('.badge').textContent()).toMatch(/^Niveau: (Droog|Aangenaam|Vochtig|Zeer vochtig)$/)

      // three charts: canvases drawn, each an image with a min/max/latest summary, and a table of the same data
      const charts = page.locator('.charts .chart[role="img"]')
      expect(await charts.count()).toBe(3)
      for (const label of await charts.evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')))) {
        expect(label).toMatch(/afgelopen 24 uur: laagste -?\d+(,\d)?.*, hoogste .*, laatste .*\(.*\d\d:\d\d\)\.$/)
      }
      const size = await page.locator('.charts canvas').first().evaluate((c: HTMLCanvasElement) => ({ w: c.width, h: c.height }))
      expect(size.w).toBeGreaterThan(150)
      expect(size.h).toBeGreaterThan(100)
      await page.locator('.charts details summary').first().click()
      const table = page.locator('.charts details table').first()
      expect(await table.locator('caption').textContent()).toBe('Temperatuur (°C) in Stadshagen, afgelopen 24 uur, per uur: gemiddelde, laagste en hoogste meting')
      expect(await table.locator('thead th[scope="col"]').allTextContents()).toEqual(['Tijd', 'Gemiddeld', 'Laagste', 'Hoogste', 'Hoe zeker'])
      expect(await table.locator('tbody tr').first().locator('td').last().textContent()).toBe('± 0,6 °C (experimenteel)')
      expect(await table.locator('tbody th[scope="row"]').count()).toBeGreaterThanOrEqual(24)

      // the sensors: on the map (links with accessible names) and in the list; the non-consented one nowhere
      const mapLinks = page.locator('.sensor-map a.map-sensor')
      expect(await mapLinks.count()).toBe(DEVICES.length)
      for (const name of await mapLinks.evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')))) expect(name).toMatch(/^Sensor sim-00\d, -?\d+,\d °C$/)
      expect(await page.locator('.sensor-list li').count()).toBe(DEVICES.length)
      expect(await page.locator('.sensor-list').textContent()).toMatch(/laatst gezien \d\d:\d\d · Gekalibreerd/)
      expect(await page.content()).not.toContain('sim-099')
      expect(await page.locator('footer').textContent()).toContain('Deze metingen komen van sensoren van bewoners.')

      await expectNoAxeViolations(page, `overview ${viewport}`)
      await page.locator('.charts details summary').first().click()
      await page.evaluate(() => window.scrollTo(0, 0))
      await screenshot(page, `overview-nl-${viewport}`)

      // the 7-day period, chosen with the radio buttons
      await page.getByLabel('Afgelopen 7 dagen').check()
      await page.waitForFunction(() => [...document.querySelectorAll('.charts .chart[role="img"]')].every((el) => el.getAttribute('aria-label')?.includes('afgelopen 7 dagen')) && document.querySelectorAll('.charts canvas').length === 3)
      await page.locator('.charts details summary').nth(2).click()
      expect(await page.locator('.charts details table').nth(2).locator('tbody tr').count()).toBeGreaterThanOrEqual(7 * 24)
      await expectNoAxeViolations(page, `overview 7 days ${viewport}`)
      await page.close()
    })
  }

  it('another neighbourhood can be chosen, and the browser goes back to Stadshagen', async () => {
    const page = await open('/')
    await waitForOverview(page)
    expect(await page.locator('#neighbourhood option').allTextContents()).toEqual(['Stadshagen (Zwolle)', 'Assendorp (Zwolle)', 'Archief (sensor.community, Aberdeen/Stuttgart)'])
    await page.selectOption('#neighbourhood', 'assendorp')
    await page.getByRole('button', { name: 'Toon wijk' }).click()
    await expect.poll(() => page.locator('h1').textContent()).toBe('Weer en lucht in Assendorp')
    expect(page.url()).toMatch(/\?neighbourhood=assendorp$/)
    expect(await page.locator('.sensors').textContent()).toContain('Er hangen nog geen sensoren in deze wijk.')
    expect(await page.locator('.card .value-missing').count()).toBe(3)
    await expectNoAxeViolations(page, 'neighbourhood without sensors')
    await page.goBack()
    await expect.poll(() => page.locator('h1').textContent()).toBe('Weer en lucht in Stadshagen')
    await waitForOverview(page)
    await page.close()
  })

  it('an archive neighbourhood (readings two years old): charts anchored at the newest data, dates with the year, list instead of a map', async () => {
    const page = await open('/?neighbourhood=archief')
    await page.waitForFunction(() => document.querySelectorAll('.charts canvas').length >= 3)
    expect(await page.locator('h1').textContent()).toBe(`Weer en lucht in ${ARCHIVE.name}`)
    expect(await page.locator('#neighbourhood option:checked').textContent()).toBe(ARCHIVE.name)

    // the period ends at the newest reading and says so, with the year
    const anchored = (await page.locator('.charts .anchored-period').textContent())!
    expect(anchored).toMatch(new RegExp(`^De laatste 24 uur met metingen, tot \\d+ \\S+ ${ARCHIVE_YEAR}`))
    const charts = page.locator('.charts .chart[role="img"]')
    expect(await charts.count()).toBe(3)
    for (const label of await charts.evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')))) expect(label).toContain(ARCHIVE_YEAR)
    expect(await page.locator('.charts .no-data').count()).toBe(0)
    await page.locator('.charts details summary').first().click()
    const rows = page.locator('.charts details table').first().locator('tbody tr')
    expect(await rows.count()).toBeGreaterThanOrEqual(20)
    expect(await rows.first().locator('th').textContent()).toContain(ARCHIVE_YEAR)
    expect(await rows.first().locator('td').first().textContent()).toMatch(/^-?\d+,\d$/)

    // the "now" cards: no recent value, but when the newest one was
    expect(await page.locator('.card .value-missing').count()).toBe(3)
    expect(await page.locator('.now .measured').textContent()).toContain(ARCHIVE_YEAR)

    // sensors 800 km apart: the list, no map, and why
    expect(await page.locator('.sensor-map').count()).toBe(0)
    expect(await page.locator('.map-too-wide').textContent()).toContain('20 km')
    expect(await page.locator('.sensor-list li').count()).toBe(ARCHIVE_DEVICES.length)
    expect(await page.locator('.sensor-list').textContent()).toContain(`laatst gezien`)
    expect(await page.locator('.sensor-list').textContent()).toContain(ARCHIVE_YEAR)

    await expectNoAxeViolations(page, 'archive overview')
    await page.evaluate(() => window.scrollTo(0, 0))
    await screenshot(page, 'archive-nl-desktop')

    // 7 days: anchored as well
    await page.getByLabel('Afgelopen 7 dagen').check()
    await page.waitForFunction(() => document.querySelector('.charts .anchored-period')?.textContent?.startsWith('De laatste 7 dagen met metingen') && document.querySelectorAll('.charts canvas').length === 3)

    // a sensor page of the archive: its 7-day charts anchored too
    await page.locator('.sensor-list a[data-device="sc-5331"]').click()
    await page.waitForFunction(() => document.querySelectorAll('.sensor-charts canvas').length >= 3)
    expect(await page.locator('.sensor-charts .anchored-period').textContent()).toContain(ARCHIVE_YEAR)
    await expectNoAxeViolations(page, 'archive sensor')
    await page.close()
  })

  it('works with the keyboard alone: skip link, language switch, sensor links, Enter opens the detail, no trap', async () => {
    const page = await open('/')
    await waitForOverview(page)

    await page.keyboard.press('Tab')
    expect(await active(page)).toMatchObject({ tag: 'a', cls: 'skip-link', name: 'Naar de inhoud' })
    expect(await focusVisible(page)).toBe(true)
    const box = await page.locator('.skip-link').boundingBox()
    expect(box!.y).toBeGreaterThanOrEqual(0) // moved on screen when focused
    await page.keyboard.press('Enter')
    expect(await active(page)).toMatchObject({ tag: 'main', id: 'main' })

    await page.reload()
    await waitForOverview(page)
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    expect(await active(page)).toMatchObject({ tag: 'a', id: 'lang-switch', name: 'English' })
    expect(await focusVisible(page)).toBe(true)

    // onwards: the neighbourhood form, the period radios, the tables' toggles, then the first sensor on the map
    const order: string[] = []
    let sensor = await active(page)
    for (let i = 0; i < 40 && !sensor.cls.includes('map-sensor'); i++) {
      await page.keyboard.press('Tab')
      sensor = await active(page)
      order.push(sensor.id || sensor.tag)
      if (!sensor.cls.includes('map-sensor')) expect(await focusVisible(page), `focus visible on ${JSON.stringify(sensor)}`).toBe(true)
    }
    expect(order.slice(0, 3)).toEqual(['neighbourhood', 'button', 'input'])
    expect(sensor.cls).toContain('map-sensor')
    expect(sensor.name).toMatch(/^Sensor sim-00\d, -?\d+,\d °C$/)
    // the map's focus ring (an SVG circle) shows
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement!.querySelector('.map-focus-ring')!).fill)
    expect(ring).toBe('rgb(255, 221, 0)')

    await page.keyboard.press('Enter')
    await page.waitForURL(new RegExp(`#/sensor/${sensor.device}$`))
    await waitForSensor(page)
    expect(await page.locator('h1').textContent()).toBe(`Sensor ${sensor.device}`)
    expect(await active(page)).toMatchObject({ tag: 'h1' })

    // Tab runs through the whole page and out of it (no trap): every stop is visible
    const seen: string[] = []
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab')
      const now = await active(page)
      if (now.tag === 'body') break
      seen.push(`${now.tag}.${now.cls}`)
      expect(await focusVisible(page), `focus visible on ${now.tag}.${now.cls}`).toBe(true)
    }
    expect(seen.length).toBeLessThan(60)
    expect(seen.filter((s) => s.startsWith('summary'))).toHaveLength(3)

    // back with the keyboard: focus returns to the sensor in the list
    await page.keyboard.press('Shift+Tab') // from the document end back into the page
    await page.locator('.back a').focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(/#\/$/)
    await waitForOverview(page)
    expect(await active(page)).toMatchObject({ tag: 'a', cls: 'sensor-link', device: sensor.device })
    await page.close()
  })

  for (const viewport of ['mobile', 'desktop'] as const) {
    it(`sensor detail (${viewport}): raw versus calibrated in charts and tables, calibration status and report plot`, async () => {
      const page = await context.newPage()
      page.on('pageerror', (error) => pageErrors.push(error.message))
      await page.setViewportSize(VIEWPORTS[viewport])
      const pmPromise = page.waitForResponse((r) => r.url().includes('/api/v1/readings?') && r.url().includes('device=sim-003') && r.url().includes('quantity=pm2_5'))
      await page.goto(base + '/#/sensor/sim-003')
      const pmRows = ((await (await pmPromise).json()) as { rows: Array<{ raw_mean: number | null; calibrated_mean: number | null }> }).rows
      await waitForSensor(page)

      expect(await page.locator('h1').textContent()).toBe('Sensor sim-003')
      expect(await page.title()).toBe('Sensor sim-003 – SensHagen')
      const facts = await page.locator('.facts').textContent()
      expect(facts).toContain('KalibratieGekalibreerd')
      expect(facts).toContain('BME280, SDS011')
      expect(facts).toMatch(/52,5\d+° NB, 6,0\d+° OL \(op ongeveer 151 m nauwkeurig\)/)
      expect(await page.locator('.methods').textContent()).toContain('Fijnstof (PM2,5): vergelijking van alle sensoren in de wijk met een officieel meetstation (RIVM-methode)')
      expect(await page.locator('.sensor-now li').count()).toBe(3)

      const pm = page.locator('.chart-card', { has: page.locator('h2', { hasText: 'Fijnstof (PM2,5): ruw en gekalibreerd' }) })
      expect(await pm.locator('.chart-legend').textContent()).toBe('Ruw (gestreept)Gekalibreerd (doorgetrokken)')
      expect(await pm.locator('.chart[role="img"]').getAttribute('aria-label')).toMatch(/^Fijnstof \(PM2,5\), afgelopen 7 dagen\. Ruw: laagste .* Gekalibreerd: laagste .*, hoogste .*, laatste .*\.$/)
      await pm.locator('details summary').click()
      const table = pm.locator('table')
      expect(await table.locator('thead th').allTextContents()).toEqual(['Tijd', 'Ruw (µg/m³)', 'Gekalibreerd (µg/m³)', 'Hoe zeker'])
      // the newest row is the API's last window
      const last = pmRows[pmRows.length - 1]!
      expect(await table.locator('tbody tr').first().locator('td').allTextContents()).toEqual([nl.format(last.raw_mean!), nl.format(last.calibrated_mean!), '± 4,0 µg/m³ (indicatief)'])
      expect(await table.locator('tbody tr').count()).toBe(pmRows.length)

      // the calibration report plot (PM2.5 only has one in the fixtures; the missing temperature one is left out)
      const img = page.locator('.report img')
      await img.waitFor()
      expect(await img.count()).toBe(1)
      expect(await img.getAttribute('src')).toBe('/api/v1/calibration/sim-003/pm2_5/scatter.svg')
      expect(await img.getAttribute('alt')).toMatch(/^Spreidingsdiagram voor Fijnstof \(PM2,5\) van sensor sim-003/)
      expect(await img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true)

      // humidity has no calibrated values: said in words
      expect(await page.locator('.chart-note').textContent()).toContain('Voor luchtvochtigheid zijn (nog) geen gekalibreerde waarden')

      await expectNoAxeViolations(page, `sensor detail ${viewport}`)
      await pm.locator('details summary').click()
      await page.evaluate(() => window.scrollTo(0, 0))
      await screenshot(page, `sensor-nl-${viewport}`)
      await page.close()
    })
  }

  it('sensor detail of an uncalibrated sensor, opened with ?sensor=', async () => {
    const page = await open('/?sensor=sim-004')
    await waitForSensor(page)
    expect(await page.locator('h1').textContent()).toBe('Sensor sim-004')
    expect(await page.locator('.facts').textContent()).toContain('KalibratieNiet gekalibreerd')
    expect(await page.locator('.calibration-text').textContent()).toContain('niet gekalibreerd')
    expect(await page.locator('.report').count()).toBe(0)
    expect(await page.locator('.chart-note').count()).toBe(3)
    await expectNoAxeViolations(page, 'uncalibrated sensor')
    await page.close()
  })

  for (const viewport of ['mobile', 'desktop'] as const) {
    it(`English (${viewport}): the switch changes the language in place, ?lang=en opens in English`, async () => {
      const page = await open('/', viewport)
      await waitForOverview(page)
      await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42))
      await page.locator('#lang-switch').click()
      await page.waitForFunction(() => document.documentElement.lang === 'en')
      expect(page.url()).toMatch(/\?lang=en$/)
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42) // no reload
      expect(await page.locator('h1').textContent()).toBe('Weather and air in Stadshagen')
      expect(await page.locator('#lang-switch').textContent()).toBe('Nederlands')
      expect(await page.locator('.skip-link').textContent()).toBe('Skip to main content')
      expect(await page.locator('footer').textContent()).toContain("These measurements come from residents' sensors.")
      await waitForOverview(page)
      expect(await page.locator('.card[data-quantity="air_temperature"] .value').textContent()).toMatch(/^-?\d+\.\d °C$/)
      expect(await page.locator('.card[data-quantity="pm2_5"] .badge').textContent()).toMatch(/^Level: LKI \d+ of 11: (Good|Moderate|Insufficient|Poor|Very poor)$/)
      expect(await page.locator('.charts .chart[role="img"]').first().getAttribute('aria-label')).toMatch(/^Temperature, last 24 hours: lowest /)
      expect(await page.locator('.sensor-map a.map-sensor').first().getAttribute('aria-label')).toMatch(/^Sensor sim-00\d, -?\d+\.\d °C$/)
      await expectNoAxeViolations(page, `overview English ${viewport}`)
      await page.evaluate(() => window.scrollTo(0, 0))
      await screenshot(page, `overview-en-${viewport}`)

      // the sensor page in English, straight from a URL
      await page.goto(`${base}/?lang=en#/sensor/sim-003`)
      await waitForSensor(page)
      expect(await page.getAttribute('html', 'lang')).toBe('en')
      expect(await page.locator('h1').textContent()).toBe('Sensor sim-003')
      expect(await page.locator('.back a').textContent()).toBe('← Back to the overview')
      expect(await page.locator('.sensor-charts h2').allTextContents()).toEqual(['Temperature: raw and calibrated', 'Humidity: raw and calibrated', 'Particulate matter (PM2.5): raw and calibrated'])
      await page.locator('.report img').waitFor()
      expect(await page.locator('.report img').getAttribute('alt')).toMatch(/^Scatter plot for Particulate matter \(PM2\.5\) of sensor sim-003/)
      await expectNoAxeViolations(page, `sensor English ${viewport}`)
      await screenshot(page, `sensor-en-${viewport}`)

      // and back to Dutch on the same sensor page
      await page.locator('#lang-switch').click()
      await page.waitForFunction(() => document.documentElement.lang === 'nl')
      expect(new URL(page.url()).search).toBe('')
      expect(new URL(page.url()).hash).toBe('#/sensor/sim-003')
      expect(await page.locator('.sensor-charts h2').first().textContent()).toBe('Temperatuur: ruw en gekalibreerd')
      await page.close()
    })
  }

  it('live: a new reading arrives over SSE and updates the sensor, the map and the sensor page without reload', async () => {
    const page = await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    const stream = page.waitForResponse((r) => r.url().includes('/api/v1/live'))
    await page.goto(base + '/')
    await waitForOverview(page)
    await stream
    await page.evaluate(() => {
      const w = window as unknown as { marker: number; announcements: string[] }
      w.marker = 7
      w.announcements = []
      const region = document.getElementById('live-status')!
      new MutationObserver(() => w.announcements.push(region.textContent ?? '')).observe(region, { childList: true, characterData: true, subtree: true })
    })
    expect(await page.locator('#live-status').getAttribute('aria-live')).toBe('polite')

    await store.write({ readings: [reading('sim-002', 'air_temperature', 23.4, Date.now())], rejections: [] })
    const item = page.locator('.sensor-list li[data-device="sim-002"] .sensor-values')
    await expect.poll(() => item.textContent(), { timeout: 15_000 }).toMatch(/^23,4 °C · /)
    expect(await page.locator('.sensor-map a[data-device="sim-002"]').getAttribute('aria-label')).toBe('Sensor sim-002, 23,4 °C')
    expect(await page.locator('.sensor-map a[data-device="sim-002"] .map-label').textContent()).toBe('23,4 °C')
    // "Bijgewerkt om" is shown, never announced (a raw reading does not move the calibrated neighbourhood mean, so
    // nothing is said here; residents.test.ts checks the announcement of a real change)
    await expect.poll(() => page.locator('#updated-at').textContent(), { timeout: 5_000 }).toMatch(/^Bijgewerkt om \d\d:\d\d$/)
    expect((await page.evaluate(() => (window as unknown as { announcements: string[] }).announcements)).join(' ')).not.toContain('Bijgewerkt')
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7) // no reload

    // on the sensor page too
    await page.locator('.sensor-list a[data-device="sim-002"]').click()
    await waitForSensor(page)
    await store.write({ readings: [reading('sim-002', 'pm2_5', 31.7, Date.now())], rejections: [] })
    await expect.poll(() => page.locator('.sensor-now').textContent(), { timeout: 15_000 }).toContain('Fijnstof (PM2,5): 31,7 µg/m³')
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7)
    await page.close()
  })

  it('had no script errors on any page', () => {
    expect(pageErrors).toEqual([])
  })
})
