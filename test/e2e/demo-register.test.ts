import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * `npm run demo`'s registration step (infra/demo.sh --register-only) against a registry of the test's own: the
 * first run registers config/devices.json and saves the secrets it was shown; a second run registers nothing and
 * must say so (a new-user trial found it claiming "new device secrets saved" when none were created).
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)
const folder = mkdtempSync(join(tmpdir(), 'senshagen-demo-'))
const devices = (JSON.parse(readFileSync(join(REPO, 'config/devices.json'), 'utf8')) as { devices: unknown[] }).devices.length

afterAll(() => rmSync(folder, { recursive: true, force: true }))

describe('infra/demo.sh registration', () => {
  it('saves the new secrets on the first run and says there were none on the second', async () => {
    const secrets = join(folder, 'secrets.jsonl')
    const env = { ...process.env, SENSHAGEN_LOG_LEVEL: 'warn', SENSHAGEN_DEVICE_REGISTRY: join(folder, 'registry.sqlite'), SENSHAGEN_DEMO_SECRETS: secrets }
    const register = async () => (await run('bash', ['infra/demo.sh', '--register-only'], { cwd: REPO, env })).stdout

    const first = await register()
    expect(first).toContain(`[demo]  ${devices} new device secrets (shown once) saved in ${secrets}`)
    const saved = readFileSync(secrets, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { id: string; secret: string })
    expect(saved).toHaveLength(devices)
    expect(saved.every((s) => s.secret.length > 0)).toBe(true)

    const second = await register()
    expect(second).not.toContain('new device secrets')
    expect(second).toContain(`[demo]  no new devices: every demo device was registered by an earlier run (its secrets are in ${secrets})`)
    expect(readFileSync(secrets, 'utf8').trim().split('\n')).toHaveLength(devices) // nothing appended
  }, 120_000)
})
