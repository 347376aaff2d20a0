import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium, type Browser, type Page } from 'playwright-core'
import { expect } from 'vitest'

/** What the browser tests share: Debian's Chromium, its flags, axe-core, and waits for the drawn page. */
export const CHROMIUM = process.env.SENSHAGEN_CHROMIUM ?? '/usr/bin/chromium'
/** Background networking off: this machine has no internet, so any such request is refused. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

/** axe-core with the WCAG 2.1 A/AA rules: no violation (printed in full when there are). */
export async function expectNoAxeViolations(page: Page, name: string): Promise<void> {
  // evaluated through the DevTools protocol: the page's CSP (script-src 'self') refuses an injected inline script
  await page.evaluate(readFileSync(AXE, 'utf8'))
  // runs in Chromium: `window` is the page's
  const result = await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: unknown[]; passes: unknown[] }> } }).axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  )
  if (result.violations.length > 0) console.error(`axe violations on ${name}:\n${JSON.stringify(result.violations, null, 2)}`)
  expect(result.violations, `axe violations on ${name}`).toEqual([])
  expect(result.passes.length).toBeGreaterThan(10)
}

/** Until the overview's current values and its three charts are drawn. */
export async function waitForOverview(page: Page): Promise<void> {
  await page.locator('.card .value data').first().waitFor()
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('.charts canvas').length >= 3)
}

/** Serves `app` on a free port of 127.0.0.1 and starts Chromium: the page's base URL and the browser. */
export async function servePage(app: { listen(o: { port: number; host: string }): Promise<unknown>; server: { address(): unknown } }): Promise<{ base: string; browser: Browser }> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as { port?: number } | null
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  return { base: `http://127.0.0.1:${address?.port ?? 0}`, browser }
}
