import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../core/logger.ts'
import { detectReferenceFormat, importReferenceFiles, parseReferenceFile } from '../../../core/reference/import.ts'
import { KNMI_FILE, KNMI_TEXT, LML_EMPTY_TEXT, LML_PAGE2_FILE, LML_PAGE2_TEXT, SM_FILE, SM_TEXT, fixturePath } from './fixtures.ts'

describe('reference file formats, detected by content', () => {
  it('tells the three formats apart', () => {
    expect(detectReferenceFormat(KNMI_TEXT)).toBe('knmi-hourly')
    const apiLayout = KNMI_TEXT.split('\r\n').map((l) => (l.startsWith('#') || /^\s+260,/.test(l) ? l : `# ${l}`)).join('\n')
    expect(apiLayout).toMatch(/^# BRON/)
    expect(detectReferenceFormat(apiLayout)).toBe('knmi-hourly')
    expect(detectReferenceFormat(LML_PAGE2_TEXT)).toBe('luchtmeetnet-measurements')
    expect(detectReferenceFormat(LML_EMPTY_TEXT)).toBe('luchtmeetnet-measurements')
    expect(detectReferenceFormat(`\uFEFF${SM_TEXT}`)).toBe('samenmeten-observations')
    for (const junk of ['', 'a,b,c', '{"foo": 1}', '{broken']) expect(detectReferenceFormat(junk)).toBeUndefined()
  })

  it('a Samen Meten file needs --station and --quantity', () => {
    expect(parseReferenceFile(SM_TEXT).problems[0]!.message).toMatch(/--station/)
    expect(parseReferenceFile(SM_TEXT, { station: '2819', quantity: 'pm2_5' }).problems[0]!.message).toMatch(/samenmeten:datastream/)
    const parsed = parseReferenceFile(SM_TEXT, { station: 'samenmeten:datastream:2819', quantity: 'pm2_5', calibrated: true })
    expect(parsed.observations).toHaveLength(31)
    expect(parsed.observations[0]!.flags).toEqual(['calibrated'])
  })

  it('station and quantity filter KNMI and Luchtmeetnet files', () => {
    expect(parseReferenceFile(KNMI_TEXT, { quantity: 'air_temperature' }).observations).toHaveLength(744)
    expect(parseReferenceFile(KNMI_TEXT, { station: '278' }).observations).toHaveLength(0)
    expect(parseReferenceFile(LML_PAGE2_TEXT, { quantity: 'pm2_5' }).observations).toHaveLength(6)
  })
})

describe('importReferenceFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'senshagen-import-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('writes every file through the store and reports counts and problems per file', async () => {
    const junk = join(dir, 'junk.txt')
    writeFileSync(junk, 'nothing to see')
    const lines: string[] = []
    const progress: string[] = []
    const summaries = await importReferenceFiles(
      [fixturePath(KNMI_FILE), fixturePath(LML_PAGE2_FILE), junk, join(dir, 'missing.json')],
      { store: { writeLines: async (l) => void lines.push(...l) }, logger: createLogger('silent'), onProgress: (f, w, t) => progress.push(`${w}/${t}`) },
    )
    expect(summaries.map((s) => [s.format, s.observations, s.written, s.problems.length])).toEqual([
      ['knmi-hourly', 4423, 4423, 0],
      ['luchtmeetnet-measurements', 19, 19, 0],
      [undefined, 0, 0, 1],
      [undefined, 0, 0, 1],
    ])
    expect(lines).toHaveLength(4423 + 19)
    expect(progress).toContain('4423/4423')
  })

  it('imports a Samen Meten file with its station and quantity', async () => {
    const lines: string[] = []
    const [summary] = await importReferenceFiles([fixturePath(SM_FILE)], { store: { writeLines: async (l) => void lines.push(...l) }, logger: createLogger('silent') }, { station: 'samenmeten:datastream:2819', quantity: 'pm2_5' })
    expect(summary).toMatchObject({ format: 'samenmeten-observations', observations: 31, written: 31, problems: [] })
    expect(lines[0]).toBe('reference,quantity=pm2_5,source=samenmeten,station=samenmeten:datastream:2819 flags="",period_ms=3600000i,value=4.03 1567987200000')
  })
})
