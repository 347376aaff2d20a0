import { readFileSync } from 'node:fs'

/** The reference fixtures (test/fixtures/reference, see the SOURCES.md there), read once. */
const DIR = new URL('../../fixtures/reference/', import.meta.url)
export const fixturePath = (name: string): string => new URL(name, DIR).pathname
const read = (name: string): string => readFileSync(new URL(name, DIR), 'utf8')

export const LML_PAGE2_FILE = 'luchtmeetnet/measurements_NL49012_page2_excerpt.json'
export const LML_EMPTY_FILE = 'luchtmeetnet/measurements_empty_response.json'
export const KNMI_FILE = 'knmi/uurgeg_260_2000-01_excerpt.txt'
export const KNMI_META_FILE = 'knmi/knmi_meteostation.json'
export const SM_FILE = 'samenmeten/observations_datastream2819_excerpt.json'

export interface LmlRecord {
  station_number: string
  value: number | null
  timestamp_measured: string
  formula: string
  timestamp_measured_start?: string
  timestamp_measured_end?: string
}
export interface LmlResponse {
  pagination: Record<string, unknown>
  data: LmlRecord[]
}

export const LML_PAGE2_TEXT = read(LML_PAGE2_FILE)
export const LML_PAGE2 = JSON.parse(LML_PAGE2_TEXT) as LmlResponse
export const LML_EMPTY_TEXT = read(LML_EMPTY_FILE)
export const KNMI_TEXT = read(KNMI_FILE)
export const KNMI_META = JSON.parse(read(KNMI_META_FILE)) as unknown
export const SM_TEXT = read(SM_FILE)
export const SM_OBSERVATIONS = (JSON.parse(SM_TEXT) as { value: Array<Record<string, unknown>> }).value
