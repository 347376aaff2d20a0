import { parseNumber } from './number.ts'
import { QUANTITIES, isQuantity, type Quantity } from './quantities.ts'
import { RULES, pointKey, rawText, type Reading, type Rejection } from './reading.ts'
import { sentinelFlag } from './quality.ts'
import { normaliseUnit, toCanonical } from './units.ts'
import type { Candidate, InboundMessage } from './decoders/decoder.ts'

/** The earliest observed time we accept: 2000-01-01T00:00:00Z. No citizen sensor network is older. */
export const EARLIEST_OBSERVED_AT = Date.UTC(2000, 0, 1)

export interface ValidateOptions {
  /** How far the observed time may lie ahead of the receipt time, ms (clock skew allowance). */
  maxFutureMs: number
  /** How far the observed time may lie before the receipt time, ms; undefined = only the 2000-01-01 floor. */
  maxAgeMs?: number
}

export interface ValidateResult {
  readings: Reading[]
  rejections: Rejection[]
}

/**
 * Turns candidates into canonical readings, each judged on its own (one bad value never drops the others):
 * 1. quantity in the vocabulary (`unknown_quantity`);
 * 2. value through the one number parser, core/number.ts (`missing`, `not_finite`, `number_format`,
 *    `number_with_unit`, `schema`);
 * 3. unit converted to the canonical one, core/units.ts (`unit`); the source unit and raw value are kept;
 * 4. a sensor's own error code or saturation value (core/quality.ts sentinels) is kept and flagged, even
 *    outside the physical range (DS18B20 85 °C);
 * 5. otherwise within the quantity's physical range, inclusive (`range`: catches a value converted twice or
 *    not at all, e.g. pressure in Pa sent as hPa);
 * 6. observed time within [max(2000-01-01, receipt − maxAgeMs), receipt + maxFutureMs] (`time_past`, `time_future`);
 * 7. one value per device, quantity and observed time in the message (`duplicate_time`): InfluxDB keeps one point
 *    per (device, quantity, time), so a second valid value would silently overwrite the first (three openSenseMap
 *    values without `createdAt`, TTN normalized_payload entries without `time`). The first valid one is stored, the
 *    others are dead-lettered with their path and value. Where several values share one path (one openSenseMap
 *    sensor's entries), the path becomes `<path>[n]`, n counting that path's values in the message from 0, so each
 *    rejection names its own value. Every decoder's candidates pass here, so no decoder needs its own check.
 */
export function validateCandidates(message: InboundMessage, candidates: Candidate[], options: ValidateOptions): ValidateResult {
  const readings: Reading[] = []
  const rejections: Rejection[] = []
  // a message of a few candidates (a device's one reading per quantity) finds earlier ones by a scan: no key
  // string per reading and no Maps per message; a larger one (an openSenseMap batch) by Maps
  const index = candidates.length > SCAN_AT_MOST ? new PointIndex() : undefined
  // the path of each stored reading, in `readings`' order (for the scan)
  const storedPaths: string[] = []
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!
    let checked = checkCandidate(c, message.receivedAt, options)
    // how many candidates came under this path before (openSenseMap entries of one sensor share it)
    const n = index ? index.countPath(c.path) : earlierOnPath(candidates, i)
    let path = c.path
    if ('reading' in checked) {
      const first = index ? index.firstPath(checked.reading, c.path) : storedPath(readings, storedPaths, checked.reading)
      if (first === undefined) storedPaths.push(c.path)
      else {
        if (n > 0) path = `${c.path}[${n}]`
        checked = { rule: RULES.duplicateTime, message: `${c.deviceId} already has a ${checked.reading.quantity} value at ${new Date(c.observedAt).toISOString()} in this message (${first}); only the first is stored` }
      }
    }
    if ('rule' in checked) {
      rejections.push({
        deviceId: c.deviceId,
        topic: message.topic,
        sourceFormat: c.sourceFormat,
        receivedAt: message.receivedAt,
        observedAt: c.observedAt,
        path,
        rule: checked.rule,
        message: checked.message,
        ...(c.value === undefined ? {} : { value: c.value }),
        raw: rawText(message.payload),
      })
      continue
    }
    readings.push(checked.reading)
  }
  return { readings, rejections }
}

type Checked = { reading: Reading } | { rule: string; message: string }

/** Candidates of one message up to which earlier ones are found by a scan rather than by Maps. */
const SCAN_AT_MOST = 16

/** The path of the stored reading with `reading`'s point (device, quantity, observed time), if any. */
function storedPath(readings: readonly Reading[], paths: readonly string[], reading: Reading): string | undefined {
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!
    if (r.observedAt === reading.observedAt && r.quantity === reading.quantity && r.deviceId === reading.deviceId) return paths[i]
  }
  return undefined
}

/** How many of `candidates` before `i` have its path. */
function earlierOnPath(candidates: readonly Candidate[], i: number): number {
  let n = 0
  for (let j = 0; j < i; j++) if (candidates[j]!.path === candidates[i]!.path) n++
  return n
}

/** The same two questions for a large message, by point key (core/reading.ts pointKey) and by path. */
class PointIndex {
  private readonly stored = new Map<string, string>()
  private readonly perPath = new Map<string, number>()

  /** Candidates under `path` so far, then counts this one. */
  countPath(path: string): number {
    const n = this.perPath.get(path) ?? 0
    this.perPath.set(path, n + 1)
    return n
  }

  /** The path stored first at `reading`'s point; undefined (and `path` remembered) when it is the first. */
  firstPath(reading: Reading, path: string): string | undefined {
    const key = pointKey(reading)
    const first = this.stored.get(key)
    if (first === undefined) this.stored.set(key, path)
    return first
  }
}

function checkCandidate(c: Candidate, receivedAt: number, options: ValidateOptions): Checked {
  if (!isQuantity(c.quantity)) return { rule: RULES.unknownQuantity, message: `'${c.quantity}' is not a known quantity` }
  const quantity: Quantity = c.quantity
  const parsed = parseNumber(c.value)
  if (!parsed.ok) return { rule: parsed.rule, message: parsed.message }
  const { min, max, unit } = QUANTITIES[quantity]
  const sourceUnit = c.unit === undefined ? undefined : normaliseUnit(c.unit) ?? c.unit
  const converted = toCanonical(quantity, parsed.value, sourceUnit === unit ? undefined : sourceUnit)
  if (!converted.ok) return { rule: converted.rule, message: converted.message }
  const value = converted.value
  const sentinel = sentinelFlag(quantity, value, c.sensorModel)
  if (sentinel === undefined && (value < min || value > max)) {
    const shown = sourceUnit && sourceUnit !== unit ? ` (${parsed.value} ${sourceUnit} is ${value} ${unit})` : ''
    return { rule: RULES.range, message: `must be between ${min} and ${max} ${unit}${shown}` }
  }
  if (c.observedAt < EARLIEST_OBSERVED_AT) return { rule: RULES.timePast, message: 'observed time is before 2000-01-01T00:00:00Z' }
  if (options.maxAgeMs !== undefined && c.observedAt < receivedAt - options.maxAgeMs) {
    return { rule: RULES.timePast, message: `observed time is more than ${options.maxAgeMs} ms before receipt` }
  }
  if (c.observedAt > receivedAt + options.maxFutureMs) {
    return { rule: RULES.timeFuture, message: `observed time is more than ${options.maxFutureMs} ms after receipt` }
  }
  const convertedUnit = sourceUnit !== undefined && sourceUnit !== unit
  return {
    reading: {
      deviceId: c.deviceId,
      quantity,
      value,
      unit,
      observedAt: c.observedAt,
      receivedAt,
      timeSource: c.timeSource,
      sourceFormat: c.sourceFormat,
      ...(c.sensorModel === undefined ? {} : { sensorModel: c.sensorModel }),
      ...(convertedUnit ? { sourceUnit, rawValue: parsed.value } : {}),
      flags: sentinel === undefined ? [] : [sentinel],
    },
  }
}
