import { readFile } from 'node:fs/promises'
import type { Logger } from '../logger.ts'
import type { Quantity } from '../quantities.ts'
import type { ReadingStore } from '../store/store.ts'
import { isRecord, parseJsonText, type ReferenceParseResult, type ReferenceProblem } from './common.ts'
import { parseKnmiHourly } from './knmi.ts'
import { parseLuchtmeetnetMeasurements } from './luchtmeetnet.ts'
import { writeReferenceObservations } from './reference-store.ts'
import { parseSamenMetenObservations, parseSamenMetenStation, type PhenomenonTimeConvention } from './samenmeten.ts'

/** The file formats `senshagen reference import` reads, told apart by content (not by file name). */
export type ReferenceFileFormat = 'knmi-hourly' | 'luchtmeetnet-measurements' | 'samenmeten-observations'

export interface ReferenceFileOptions {
  /**
   * Samen Meten: required, the files do not say (`samenmeten:<thing>` or `samenmeten:datastream:<id>`).
   * KNMI and Luchtmeetnet: optional filter, keep only this station.
   */
  station?: string
  /** Samen Meten: required. KNMI and Luchtmeetnet: optional filter. */
  quantity?: Quantity
  /** Samen Meten: the file is a RIVM-calibrated `*_kal` series; its observations are flagged `calibrated`. */
  calibrated?: boolean
  /** Samen Meten: phenomenonTime convention (default `end`, see PhenomenonTimeConvention). */
  phenomenonTime?: PhenomenonTimeConvention
}

export interface ParsedReferenceFile extends ReferenceParseResult {
  /** Undefined when the content is none of the known formats (a problem says so). */
  format?: ReferenceFileFormat
}

export interface ReferenceImportSummary {
  file: string
  format?: ReferenceFileFormat
  /** Observations read from the file (after the station/quantity filter). */
  observations: number
  /** Observations written to the store (all of them unless the write failed). */
  written: number
  problems: ReferenceProblem[]
}

const KNMI_COLUMN_LINE = /^\s*#?\s*STN\s*,\s*YYYYMMDD\s*,\s*HH\b/m

/**
 * Which format a file's text is: a KNMI uurgegevens text (a `STN,YYYYMMDD,HH,…` column line, with or without
 * `#`), a Luchtmeetnet `/measurements` JSON (`data` array) or a SensorThings Observations JSON (`value`
 * array, Samen Meten). Undefined for anything else.
 */
export function detectReferenceFormat(text: string): ReferenceFileFormat | undefined {
  const body = text.replace(/^\uFEFF/, '')
  if (body.trimStart().startsWith('{')) {
    const json = parseJsonText(body)
    if (!json.ok || !isRecord(json.value)) return undefined
    if (Array.isArray(json.value.data)) return 'luchtmeetnet-measurements'
    if (Array.isArray(json.value.value)) return 'samenmeten-observations'
    return undefined
  }
  return KNMI_COLUMN_LINE.test(body) ? 'knmi-hourly' : undefined
}

/** Parses one reference file's text in whatever known format it is. Never throws. */
export function parseReferenceFile(text: string, options: ReferenceFileOptions = {}): ParsedReferenceFile {
  const body = text.replace(/^\uFEFF/, '')
  const format = detectReferenceFormat(body)
  let parsed: ReferenceParseResult
  switch (format) {
    case 'knmi-hourly':
      parsed = parseKnmiHourly(body)
      break
    case 'luchtmeetnet-measurements':
      parsed = parseLuchtmeetnetMeasurements(body)
      break
    case 'samenmeten-observations': {
      if (options.station === undefined || options.quantity === undefined) {
        return { format, observations: [], problems: [{ where: 'file', message: 'a Samen Meten observations file does not name its series: give --station samenmeten:datastream:<id> and --quantity' }] }
      }
      if (parseSamenMetenStation(options.station) === undefined) {
        return { format, observations: [], problems: [{ where: 'file', message: `--station must be samenmeten:<thing id> or samenmeten:datastream:<id>, got '${options.station}'` }] }
      }
      const { station, quantity, calibrated, phenomenonTime } = options
      return { format, ...parseSamenMetenObservations(body, { station, quantity, calibrated, phenomenonTime }) }
    }
    default:
      return { observations: [], problems: [{ where: 'file', message: 'not a KNMI uurgegevens text, Luchtmeetnet measurements JSON or Samen Meten observations JSON', raw: body.slice(0, 120) }] }
  }
  const observations = parsed.observations.filter(
    (o) => (options.station === undefined || o.station === options.station) && (options.quantity === undefined || o.quantity === options.quantity),
  )
  return { format, observations, problems: parsed.problems }
}

/**
 * Reads, parses and writes reference files to the store one after another (writeReferenceObservations,
 * idempotent: importing a file twice stores it once). A file that cannot be read or parsed is reported in
 * its summary and the next file goes on; a store error (UnavailableError / RefusedError) is thrown.
 * `onProgress(file, written, total)` reports observations written per file.
 */
export async function importReferenceFiles(
  files: readonly string[],
  deps: { store: Pick<ReadingStore, 'writeLines'>; logger: Logger; onProgress?: (file: string, written: number, total: number) => void },
  options: ReferenceFileOptions = {},
): Promise<ReferenceImportSummary[]> {
  const summaries: ReferenceImportSummary[] = []
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      summaries.push({ file, observations: 0, written: 0, problems: [{ where: 'file', message: `cannot read: ${(error as Error).message}` }] })
      continue
    }
    const parsed = parseReferenceFile(text, options)
    deps.logger.debug({ file, format: parsed.format, observations: parsed.observations.length, problems: parsed.problems.length }, 'reference file parsed')
    deps.onProgress?.(file, 0, parsed.observations.length)
    const written = await writeReferenceObservations(deps.store, parsed.observations, (done, total) => deps.onProgress?.(file, done, total))
    summaries.push({ file, format: parsed.format, observations: parsed.observations.length, written, problems: parsed.problems })
  }
  return summaries
}
