import { Readable } from 'node:stream'

/**
 * CSV bodies as streams: the header line, then rows in chunks of CHUNK_ROWS lines, so a page of 100 000 rows
 * is never one string. Values: numbers as JavaScript prints them (shortest round-trip; with decimalComma a
 * decimal comma, as Excel with Dutch settings reads numbers), booleans as true/false, null as an empty cell.
 * Text cells are quoted when they hold the separator, a quote or a line break (RFC 4180 §2), and a text cell
 * starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'` so a spreadsheet shows it as text
 * instead of running it as a formula (OWASP "CSV Injection"). Numbers are never touched: -3.5 stays a number,
 * as a number or as the text of a plain decimal number.
 */
export const CHUNK_ROWS = 1_000

export type CsvSeparator = ',' | ';'

type Cell = string | number | boolean | null | undefined

const FORMULA_START = /^[=+\-@\t\r]/
/** A plain decimal number as text (e.g. the export's "-3.5"): a spreadsheet reads it as a number, never a formula. */
const PLAIN_NUMBER = /^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/** The dialect of GET /api/v1/readings?sep=;: semicolons and decimal commas (Excel with Dutch settings). */
export interface CsvDialect {
  separator: CsvSeparator
  decimalComma: boolean
}

export const COMMA_DIALECT: CsvDialect = { separator: ',', decimalComma: false }

export function csvCell(value: Cell, separator: CsvSeparator = ',', decimalComma = false): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'number') return decimalComma ? String(value).replace('.', ',') : String(value)
  let text = String(value)
  if (typeof value === 'string' && FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`
  return /["\r\n]/.test(text) || text.includes(separator) ? `"${text.replace(/"/g, '""')}"` : text
}

/** A stream of `header` then `rows`, each row through `cells` (one array per line). */
export function csvStream<T>(header: readonly string[], rows: readonly T[], cells: (row: T) => Cell[], dialect: CsvDialect = COMMA_DIALECT): Readable {
  const { separator, decimalComma } = dialect
  function* lines(): Generator<string> {
    yield `${header.map((h) => csvCell(h, separator)).join(separator)}\n`
    for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
      yield rows
        .slice(start, start + CHUNK_ROWS)
        .map((row) => `${cells(row).map((c) => csvCell(c, separator, decimalComma)).join(separator)}\n`)
        .join('')
    }
  }
  return Readable.from(lines())
}

/** The dialect a request asks for: `sep` when given, else `;` when its first Accept-Language is Dutch, else `,`; `;` comes with decimal commas. */
export function csvDialect(sep: CsvSeparator | undefined, acceptLanguage: string | undefined): CsvDialect {
  const separator = sep ?? (/^\s*nl\b/i.test(acceptLanguage ?? '') ? ';' : ',')
  return { separator, decimalComma: separator === ';' }
}
