/**
 * A parser for InfluxDB line protocol, the text every SensHagen write is made of (core/store/schema.ts,
 * core/reference/reference-store.ts, services/calibration), so the in-memory store (core/store/memory-store.ts)
 * stores exactly what InfluxDB would. Grammar and escapes: InfluxDB 1.x "Line protocol reference",
 * https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/ :
 *   measurement[,tag=value…] field=value[,field=value…] [timestamp]
 * Measurement: `\,` and `\ ` escaped; tag keys, tag values and field keys: `\,`, `\=` and `\ `; string field
 * values in double quotes with `\"` and `\\`. Numbers are floats unless suffixed `i` (integer); t/T/true/True/
 * TRUE and f/F/false/False/FALSE are booleans.
 */

export type FieldType = 'float' | 'integer' | 'string' | 'boolean'

export interface ParsedLine {
  measurement: string
  tags: Record<string, string>
  fields: Record<string, { type: FieldType; value: number | string | boolean }>
  /** The line's timestamp in the write's precision (SensHagen writes ms); undefined when the line has none. */
  time: number | undefined
}

/** Parses one line. Throws a SyntaxError naming the line and what is wrong with it. */
export function parseLine(line: string): ParsedLine {
  let i = 0
  const fail = (what: string): never => {
    throw new SyntaxError(`line protocol: ${what} at column ${i + 1} in '${line.slice(0, 200)}'`)
  }
  /** An unquoted token up to one of `stops`, with backslash escapes removed. */
  const token = (stops: string): string => {
    let out = ''
    while (i < line.length && !stops.includes(line[i]!)) {
      if (line[i] === '\\' && i + 1 < line.length) i++
      out += line[i++]
    }
    return out
  }
  const measurement = token(', ')
  if (measurement === '') fail('no measurement')
  const tags: Record<string, string> = {}
  while (line[i] === ',') {
    i++
    const key = token('=, ')
    if (line[i] !== '=') fail(`tag '${key}' has no value`)
    i++
    tags[key] = token(', ')
  }
  if (line[i] !== ' ') fail('no fields')
  i++
  const fields: ParsedLine['fields'] = {}
  for (;;) {
    const key = token('=, ')
    if (key === '' || line[i] !== '=') fail('a field without key=value')
    i++
    if (line[i] === '"') {
      i++
      let value = ''
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) i++
        value += line[i++]
      }
      if (line[i] !== '"') fail(`string field '${key}' is not closed`)
      i++
      fields[key] = { type: 'string', value }
    } else {
      fields[key] = scalar(key, token(', '), fail)
    }
    if (line[i] !== ',') break
    i++
  }
  let time: number | undefined
  if (line[i] === ' ') {
    i++
    const text = line.slice(i).trim()
    if (!/^-?\d+$/.test(text)) fail(`timestamp '${text}' is not an integer`)
    time = Number(text)
  } else if (i < line.length) fail('unexpected text')
  return { measurement, tags, fields, time }
}

function scalar(key: string, text: string, fail: (what: string) => never): ParsedLine['fields'][string] {
  if (/^-?\d+i$/.test(text)) return { type: 'integer', value: Number(text.slice(0, -1)) }
  if (/^(t|T|true|True|TRUE)$/.test(text)) return { type: 'boolean', value: true }
  if (/^(f|F|false|False|FALSE)$/.test(text)) return { type: 'boolean', value: false }
  const value = Number(text)
  if (text === '' || !Number.isFinite(value)) return fail(`field '${key}' has no valid value ('${text}')`)
  return { type: 'float', value }
}
