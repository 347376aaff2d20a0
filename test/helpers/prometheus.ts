import { spawnSync } from 'node:child_process'

/**
 * One sample of a Prometheus text exposition: the value of `name` with exactly `labels` (label order as
 * written does not matter), or undefined when there is no such series.
 */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const found = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!] as const).sort(([a], [b]) => a.localeCompare(b))
    if (JSON.stringify(found) === JSON.stringify(wanted)) return Number(m[3])
  }
  return undefined
}

/** GET `url` (a /metrics endpoint): the body, after checking status 200 and the text format's Content-Type. */
export async function scrape(url: string): Promise<string> {
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`)
  const type = response.headers.get('content-type') ?? ''
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`${url}: content-type ${type}`)
  return response.text()
}

export const PROMTOOL = '/usr/bin/promtool'
export const NO_PROMTOOL = `skipped: no ${PROMTOOL} (Debian package prometheus; infra/up.sh installs it); CI=true fails instead`

/** True when promtool can run here. In CI (CI=true) its absence is an error, so the lint is never skipped silently there. */
export function havePromtool(): boolean {
  const present = spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0
  if (!present && process.env.CI === 'true') throw new Error(`${PROMTOOL} is missing in CI: infra/up.sh should have installed it`)
  return present
}

/** `promtool check metrics` on `text` (stdin): its exit status and everything it printed (problems, one a line). */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 })
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() }
}
