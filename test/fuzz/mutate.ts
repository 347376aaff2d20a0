import fc from 'fast-check'
import type { Seed } from './seeds.ts'

/**
 * Malformed payloads made from real ones: fast-check picks a seed and one to three mutations, each of which either
 * edits the JSON tree (when the payload is JSON: drop a field, flip its type, put in NaN/Infinity strings, huge or
 * tiny numbers, unicode, wrong units, a huge array or deep nesting) or the bytes (truncate, insert random bytes,
 * flip a bit, replace a number token by a non-JSON literal, wrap the whole payload hundreds or thousands of levels
 * deep, pad it past the payload limit). Deterministic for a given fast-check seed, so a failure replays with `SENSHAGEN_FUZZ_SEED`.
 */
export interface Mutant {
  seed: Seed
  payload: Buffer
  /** What was done, for the failure report. */
  ops: string[]
}

/** Values that have broken number parsers elsewhere: locale formats, units, non-finite spellings, extremes. */
const WEIRD_VALUES: unknown[] = [
  'NaN', 'nan', 'Infinity', '-Infinity', 'inf', '-inf', '', ' ', '1e999', '-1e999', '12,5', '1.234,5', '1,234.5', '12 µg/m³', '0x1A', '-0', '１２', '٣', '1e-400',
  '9'.repeat(400), null, true, false, 0, -1, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324, [], {}, [1, 2], { value: 1 }, '\u0000', '\uFEFF12', '💨',
]
const UNITS = ['Pa', 'hPa', 'kPa', 'inHg', 'mmHg', '°F', 'F', '°C', 'C', 'K', 'µg/m3', 'ug/m³', 'mg/m³', '%', 'ppm', 'm/s', 'km/h', 'mph', 'furlong/fortnight', '', '°']
/** Non-JSON number literals some firmware sends (Tasmota's bare `nan`) or that a truncation leaves. */
const LITERALS = ['NaN', 'nan', 'Infinity', '-Infinity', '1e999', '-', '01', '1.', '.5', '+1', '1e', '0x10', '9'.repeat(400), 'null', '"12"', 'true', '[]', '{}']

type TreeAction =
  | { do: 'delete' }
  | { do: 'set'; value: unknown }
  | { do: 'flip' }
  | { do: 'unit'; unit: string }
  | { do: 'rename'; key: string }
  | { do: 'huge-array'; length: number }
  | { do: 'deep'; depth: number }

type Op =
  | { kind: 'tree'; which: number; action: TreeAction }
  | { kind: 'truncate'; at: number }
  | { kind: 'bytes'; at: number; bytes: Uint8Array }
  | { kind: 'bitflip'; at: number; bit: number }
  | { kind: 'literal'; which: number; literal: string }
  | { kind: 'wrap'; depth: number; open: '[' | '{"a":' }
  | { kind: 'pad'; bytes: number }

const treeAction: fc.Arbitrary<TreeAction> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ do: 'delete' as const }) },
  { weight: 4, arbitrary: fc.oneof(fc.constantFrom(...WEIRD_VALUES), fc.string({ unit: 'binary', maxLength: 40 }), fc.double(), fc.integer(), fc.bigInt().map(String)).map((value) => ({ do: 'set' as const, value })) },
  { weight: 3, arbitrary: fc.constant({ do: 'flip' as const }) },
  { weight: 2, arbitrary: fc.constantFrom(...UNITS).map((unit) => ({ do: 'unit' as const, unit })) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', ' ', 'PM2.5', 'pm25', 'Temperature', '__proto__', 'constructor')).map((key) => ({ do: 'rename' as const, key })) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((length) => ({ do: 'huge-array' as const, length })) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 6_000 }).map((depth) => ({ do: 'deep' as const, depth })) },
)

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 80, arbitrary: fc.record({ kind: fc.constant('tree' as const), which: fc.nat(), action: treeAction }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('bitflip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant('literal' as const), which: fc.nat(), literal: fc.constantFrom(...LITERALS) }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('wrap' as const), depth: fc.integer({ min: 50, max: 6_000 }), open: fc.constantFrom('[' as const, '{"a":' as const) }) },
  // beyond SENSHAGEN_MAX_PAYLOAD_BYTES (default 262,144): rare, as each costs a 256 KB raw copy
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pad' as const), bytes: fc.integer({ min: 200_000, max: 300_000 }) }) },
)

/** Beyond this size no further operation is applied, and huge arrays stop about here (`pad` alone goes past the payload limit). */
const MAX_MUTANT_BYTES = 32 * 1024

/** Mutants of `seeds`: a seed and one to three operations applied in order. */
export function mutants(seeds: readonly Seed[]): fc.Arbitrary<Mutant> {
  return fc.record({ index: fc.nat({ max: seeds.length - 1 }), ops: fc.array(op, { minLength: 1, maxLength: 3 }) }).map(({ index, ops }) => {
    const seed = seeds[index]!
    let payload: Buffer = Buffer.from(seed.payload, 'utf8')
    // a later operation on an already huge payload (a huge array of huge arrays) would only test the generator
    for (const o of ops) if (payload.length <= MAX_MUTANT_BYTES) payload = apply(payload, o)
    return { seed, payload, ops: ops.map(describe) }
  })
}

function describe(o: Op): string {
  const text = JSON.stringify(o, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'string' && v.length > 40 ? `${v.slice(0, 40)}…(${v.length})` : v))
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

function apply(payload: Buffer, o: Op): Buffer {
  switch (o.kind) {
    case 'truncate':
      return payload.subarray(0, o.at % (payload.length + 1))
    case 'bytes': {
      const at = o.at % (payload.length + 1)
      return Buffer.concat([payload.subarray(0, at), o.bytes, payload.subarray(at)])
    }
    case 'bitflip': {
      if (payload.length === 0) return payload
      const copy = Buffer.from(payload)
      copy[o.at % copy.length]! ^= 1 << o.bit
      return copy
    }
    case 'literal': {
      const text = payload.toString('utf8')
      const tokens = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)]
      if (tokens.length === 0) return payload
      const token = tokens[o.which % tokens.length]!
      return Buffer.from(text.slice(0, token.index) + o.literal + text.slice(token.index! + token[0].length), 'utf8')
    }
    case 'wrap': {
      const close = o.open === '[' ? ']' : '}'
      return Buffer.concat([Buffer.from(o.open.repeat(o.depth)), payload, Buffer.from(close.repeat(o.depth))])
    }
    case 'pad':
      return Buffer.concat([payload, Buffer.alloc(o.bytes, 0x20)])
    case 'tree':
      return mutateTree(payload, o.which, o.action)
  }
}

/** Placeholders JSON.stringify keeps as strings, replaced by nesting text afterwards (no recursion over 6,000 levels). */
const DEEP = /"\\u0000deep:(\d+)\\u0000"/g

function mutateTree(payload: Buffer, which: number, action: TreeAction): Buffer {
  let root: unknown
  try {
    root = JSON.parse(payload.toString('utf8'))
  } catch {
    return payload // not JSON (or too deep for JSON.parse): the byte-level operations cover it
  }
  const wrapper = { wrapper: root }
  const slots = collect(wrapper)
  const { parent, key } = slots[which % slots.length]!
  const old = (parent as Record<string, unknown>)[key]
  const set = (value: unknown) => ((parent as Record<string, unknown>)[key] = value)
  switch (action.do) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(key), 1)
      else delete (parent as Record<string, unknown>)[key]
      break
    case 'set':
      set(action.value)
      break
    case 'flip':
      set(flipped(old))
      break
    case 'unit':
      set(typeof old === 'string' ? action.unit : old)
      if (typeof old !== 'string' && !Array.isArray(parent)) (parent as Record<string, unknown>).unit = action.unit
      break
    case 'rename':
      if (!Array.isArray(parent)) {
        delete (parent as Record<string, unknown>)[key]
        ;(parent as Record<string, unknown>)[action.key] = old
      }
      break
    case 'huge-array': {
      // the slot's value repeated (numbers interleaved when it is a leaf), at most about MAX_MUTANT_BYTES of it
      let size = MAX_MUTANT_BYTES // a value too deep to stringify is repeated once
      try {
        size = (JSON.stringify(old) as string | undefined)?.length ?? 4
      } catch {}
      const length = Math.max(1, Math.min(action.length, Math.floor(MAX_MUTANT_BYTES / (size + 1))))
      set(Array.from({ length }, (_, i) => (typeof old === 'object' && old !== null ? old : i % 2 ? old : i * 0.5)))
      break
    }
    case 'deep':
      set(`\u0000deep:${action.depth}\u0000`)
      break
  }
  let json: string | undefined // undefined when the root was deleted
  try {
    json = JSON.stringify(wrapper.wrapper)
  } catch {
    return payload // nested too deep for JSON.stringify (an earlier `wrap`): leave it to the byte-level operations
  }
  const text = (json ?? '').replace(DEEP, (_, depth: string) => `${'['.repeat(Number(depth))}1${']'.repeat(Number(depth))}`)
  return Buffer.from(text, 'utf8')
}

/** Every (parent, key) slot of the tree under `wrapper` (so the root itself can be replaced too); at most 2,000. */
function collect(wrapper: { wrapper: unknown }): Array<{ parent: object; key: string }> {
  const slots: Array<{ parent: object; key: string }> = []
  const stack: Array<[object, string]> = [[wrapper, 'wrapper']]
  while (stack.length && slots.length < 2_000) {
    const [parent, key] = stack.pop()!
    slots.push({ parent, key })
    const child = (parent as Record<string, unknown>)[key]
    if (typeof child === 'object' && child !== null) for (const k of Object.keys(child)) stack.push([child, k])
  }
  return slots
}

function flipped(value: unknown): unknown {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return Number.isNaN(Number(value)) ? value.length : Number(value)
  if (typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return Object.fromEntries(value.map((v, i) => [String(i), v]))
  if (typeof value === 'object' && value !== null) return Object.values(value)
  return value === null ? 'null' : null
}
