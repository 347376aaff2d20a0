import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = new URL('../', import.meta.url).pathname

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
}

/**
 * Every device fixture is decoded by some test: its file name (or, for the folders a test reads whole, the
 * folder with a readdir) appears in a test file. Guards against a fixture copied in and never checked.
 */
describe('device fixtures', () => {
  it('each fixture file is named by a test, or sits in a folder a test reads whole', () => {
    const tests = files(ROOT).filter((f) => f.endsWith('.test.ts') && !f.endsWith('fixture-coverage.test.ts')).map((f) => readFileSync(f, 'utf8'))
    const fixtures = [...files(join(ROOT, 'fixtures/devices')), ...files(join(ROOT, 'fixtures/sensor-community-archive'))].filter((f) => !f.endsWith('SOURCES.md'))
    const unnamed = fixtures.filter((f) => {
      const name = f.split('/').at(-1)!
      const folder = f.split('/').at(-2)!
      const readWhole = tests.some((t) => t.includes('readdirSync') && t.includes(folder)) || (folder === 'sensor-community-archive' && name.endsWith('.csv'))
      return !readWhole && !tests.some((t) => t.includes(name))
    })
    expect(unnamed).toEqual([])
    expect(fixtures.length).toBe(38) // every file of the shared research fixtures, copied with its SOURCES.md
  })
})
