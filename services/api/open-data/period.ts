/**
 * The periods open data is cut into: a UTC day `YYYY-MM-DD` or a UTC month `YYYY-MM` (years 2000–2099, real
 * calendar dates only). Files are named after them (`2024-01-15`, `2024-01`).
 */
export interface Period {
  /** As given: `2024-01-15` or `2024-01`. */
  label: string
  kind: 'day' | 'month'
  /** Inclusive start and exclusive end, epoch ms UTC. */
  from: number
  to: number
}

/** The period a label names, or undefined when it is not a real day or month of 2000–2099. */
export function parsePeriod(label: string): Period | undefined {
  const day = /^(20\d\d)-(\d\d)-(\d\d)$/.exec(label)
  if (day) {
    const from = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]))
    if (new Date(from).toISOString().slice(0, 10) !== label) return undefined
    return { label, kind: 'day', from, to: from + 86_400_000 }
  }
  const month = /^(20\d\d)-(\d\d)$/.exec(label)
  if (month && Number(month[2]) >= 1 && Number(month[2]) <= 12) {
    const [year, m] = [Number(month[1]), Number(month[2])]
    return { label, kind: 'month', from: Date.UTC(year, m - 1, 1), to: Date.UTC(year, m, 1) }
  }
  return undefined
}
