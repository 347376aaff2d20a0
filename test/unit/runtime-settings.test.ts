import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { RUNTIME_MARKER, runtimeSettings } from '../../bin/runtime.js'

const REPO = new URL('../..', import.meta.url).pathname

describe('runtimeSettings (bin/runtime.js)', () => {
  it('defaults: fixed mmap threshold, two malloc arenas, old generation growth 1.5×, 8 MB semi-spaces, no heap cap', () => {
    expect(runtimeSettings({})).toEqual({
      env: { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2', SENSHAGEN_RUNTIME_SETTINGS: '1' },
      execArgv: ['--heap-growing-percent=50', '--max-semi-space-size=8'],
    })
  })

  it("keeps the operator's own values and turns their flags on or off", () => {
    const settings = runtimeSettings({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536', SENSHAGEN_HEAP_GROWTH_PERCENT: '0', SENSHAGEN_SEMI_SPACE_MB: '0', SENSHAGEN_MAX_HEAP_MB: '512' })
    expect(settings.env).toEqual({ MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4', SENSHAGEN_RUNTIME_SETTINGS: '1' })
    expect(settings.execArgv).toEqual(['--max-old-space-size=512'])
    expect(runtimeSettings({ SENSHAGEN_HEAP_GROWTH_PERCENT: '60', SENSHAGEN_SEMI_SPACE_MB: '16' }).execArgv).toEqual(['--heap-growing-percent=60', '--max-semi-space-size=16'])
  })

  it('refuses a value that is not a whole number, naming the variable', () => {
    expect(() => runtimeSettings({ SENSHAGEN_MAX_HEAP_MB: '0' })).toThrow("SENSHAGEN_MAX_HEAP_MB: must be a whole number ≥ 1, got '0'")
    expect(() => runtimeSettings({ SENSHAGEN_HEAP_GROWTH_PERCENT: '1.5' })).toThrow("SENSHAGEN_HEAP_GROWTH_PERCENT: must be a whole number ≥ 0, got '1.5'")
    expect(() => runtimeSettings({ SENSHAGEN_SEMI_SPACE_MB: '-1' })).toThrow("SENSHAGEN_SEMI_SPACE_MB: must be a whole number ≥ 0, got '-1'")
  })
})

/** Runs `node bin/senshagen.js <args>` as an operator would (no settings in place yet); resolves with its output and exit status. */
function senshagen(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env }
    delete childEnv[RUNTIME_MARKER]
    const child = spawn(process.execPath, ['bin/senshagen.js', ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('bin/senshagen.js relaunch', () => {
  it('runs the CLI in a relaunched process and passes its output and exit status through', async () => {
    const ok = await senshagen(['--version'], {})
    expect(ok).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' })
    const usage = await senshagen(['no-such-command'], {})
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("unknown command 'no-such-command'")
  })

  it('refuses a bad setting before starting anything, with exit status 2', async () => {
    expect(await senshagen(['--version'], { SENSHAGEN_MAX_HEAP_MB: 'lots' })).toEqual({ code: 2, stdout: '', stderr: "senshagen: SENSHAGEN_MAX_HEAP_MB: must be a whole number ≥ 1, got 'lots'\n" })
  })
})
