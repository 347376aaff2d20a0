import { Readable } from 'node:stream'

/**
 * CSV bodies as streams: the header line, then rows in chunks of CHUNK_ROWS lines, so a page of 100 000 rows
 * is never one string. Values: numbers as JavaScript prints them (shortest round-trip), null as an empty
 * cell; text cells never need quoting here (ids, quantities, ISO times), and any that would are quoted.
 */
export const CHUNK_ROWS = 1_000

type Cell = string | number | null | undefined

export function csvCell(value: Cell, separator = ','): string {
  if (value === null || value === undefined) return ''
  const text = String(value)
  return /["\r\n]/.test(text) || text.includes(separator) ? `"${text.replace(/"/g, '""')}"` : text
}

/** A stream of `header` then `rows`, each row through `cells` (one array per line). */
export function csvStream<T>(header: readonly string[], rows: readonly T[], cells: (row: T) => Cell[], separator = ','): Readable {
  function* lines(): Generator<string> {
    yield `${header.join(separator)}\n`
    for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
      yield rows
        .slice(start, start + CHUNK_ROWS)
        .map((row) => `${cells(row).map((c) => csvCell(c, separator)).join(separator)}\n`)
        .join('')
    }
  }
  return Readable.from(lines())
}
