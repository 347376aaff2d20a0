import { readFileSync } from 'node:fs'
import { computeMetrics } from '../../../core/calibration/metrics.ts'
import type { Metrics } from '../../../core/calibration/types.ts'
import { parseNumber } from '../../../core/number.ts'
import { fail } from '../../context.ts'

/** `senshagen metrics` (cli/commands/metrics.ts): prints runMetrics' output; usage errors exit 2, others 1. */
export function runMetricsCommand(file: string, options: MetricsOptions): void {
  try {
    process.stdout.write(runMetrics(file, options))
  } catch (error) {
    fail((error as Error).message, error instanceof MetricsUsageError ? 2 : 1)
  }
}

export interface MetricsOptions {
  reference: string
  sensor: string
  /** `text` (default) or `json`. */
  format?: string
}

/** A mistake in the command line (column, format): the command exits with 2. */
export class MetricsUsageError extends Error {
  override name = 'MetricsUsageError'
}

/** Names of the metrics in output order. */
export const METRIC_NAMES = ['n', 'r2', 'rmse', 'mae', 'mbe', 'ols_slope', 'ols_intercept', 'deming_slope', 'deming_intercept'] as const

/**
 * The command's work: reads `file`, pairs the two columns and returns what goes to stdout.
 *
 * - CSV: first line is the header; delimiter `,` or `;`, whichever occurs more often in the header (`,` on a
 *   tie); cells may be double-quoted (`""` inside quotes is a quote; no line breaks inside cells); a UTF-8 BOM,
 *   CRLF line ends and blank lines are ignored. Column names match exactly after trimming blanks.
 * - Cells are read with parseNumber (core/number.ts): a row whose reference or sensor cell is empty, missing or
 *   not a plain number (`nan`, `12,5`, `12 µg/m³`) is skipped; the count of skipped rows, by reason, is passed
 *   to `note` (stderr by default) as one line.
 * - Output `text`: one `name value` line per metric, n as an integer, the rest with 6 decimals. `json`: one
 *   object `{"n":…,"r2":…}` with full double precision, newline-terminated.
 * - Errors: MetricsUsageError for an unknown column (message lists the header's columns), a column that occurs
 *   twice, or a format other than text/json; Error for an unreadable file, a file without a header, and
 *   everything computeMetrics throws (fewer than 3 usable rows, zero variance).
 */
export function runMetrics(file: string, options: MetricsOptions, note: (line: string) => void = writeNote): string {
  const format = options.format ?? 'text'
  if (format !== 'text' && format !== 'json') throw new MetricsUsageError(`--format: must be text or json, got '${format}'`)
  const lines = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/)
  const headerLine = lines[0] ?? ''
  if (headerLine.trim() === '') throw new Error(`${file}: no header row`)
  const delimiter = count(headerLine, ';') > count(headerLine, ',') ? ';' : ','
  const header = splitCsvLine(headerLine, delimiter).map((c) => c.trim())
  const refIndex = columnIndex(header, options.reference, '--reference')
  const sensorIndex = columnIndex(header, options.sensor, '--sensor')

  const pairs: Array<{ reference: number; sensor: number }> = []
  const skipped = new Map<string, number>()
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue
    const cells = splitCsvLine(line, delimiter)
    const reference = parseNumber(cells[refIndex])
    const sensor = parseNumber(cells[sensorIndex])
    if (reference.ok && sensor.ok) {
      pairs.push({ reference: reference.value, sensor: sensor.value })
    } else {
      const rule = !reference.ok ? reference.rule : !sensor.ok ? sensor.rule : 'schema'
      skipped.set(rule, (skipped.get(rule) ?? 0) + 1)
    }
  }
  if (skipped.size > 0) {
    const total = [...skipped.values()].reduce((a, b) => a + b, 0)
    const reasons = [...skipped].map(([rule, n]) => `${n} ${rule}`).join(', ')
    note(`skipped ${total} row(s) without a number in ${options.reference} or ${options.sensor} (${reasons}); ${pairs.length} used`)
  }
  const metrics = computeMetrics(pairs)
  return format === 'json' ? `${JSON.stringify(pick(metrics))}\n` : formatText(metrics)
}

/** `name value` lines: n as an integer, the others with 6 decimals. */
export function formatText(metrics: Metrics): string {
  return METRIC_NAMES.map((name) => `${name} ${name === 'n' ? String(metrics.n) : metrics[name].toFixed(6)}`).join('\n') + '\n'
}

/**
 * Splits one CSV line on `delimiter`, honouring double quotes (RFC 4180 §2 rules 5–7 within one line): the
 * quotes are removed and `""` inside a quoted cell becomes `"`.
 */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const cells: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"'
        i++
      } else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === delimiter) {
      cells.push(cell)
      cell = ''
    } else cell += ch
  }
  cells.push(cell)
  return cells
}

function columnIndex(header: string[], name: string, option: string): number {
  const wanted = name.trim()
  const index = header.indexOf(wanted)
  if (index < 0) throw new MetricsUsageError(`${option}: no column '${name}'; the columns are ${header.join(', ')}`)
  if (header.indexOf(wanted, index + 1) >= 0) throw new MetricsUsageError(`${option}: column '${name}' occurs more than once in the header`)
  return index
}

function pick(metrics: Metrics): Metrics {
  return Object.fromEntries(METRIC_NAMES.map((name) => [name, metrics[name]])) as unknown as Metrics
}

function count(text: string, ch: string): number {
  return text.split(ch).length - 1
}

function writeNote(line: string): void {
  process.stderr.write(`senshagen: ${line}\n`)
}
