import { QUANTITIES, isQuantity } from './quantities.ts'
import { RULES, rawText, type Reading, type Rejection } from './reading.ts'
import type { Candidate, InboundMessage } from './decoders/decoder.ts'

/** The earliest observed time we accept: 2000-01-01T00:00:00Z. No citizen sensor network is older. */
export const EARLIEST_OBSERVED_AT = Date.UTC(2000, 0, 1)

export interface ValidateOptions {
  /** How far the observed time may lie ahead of the receipt time, ms (clock skew allowance). */
  maxFutureMs: number
}

export interface ValidateResult {
  readings: Reading[]
  rejections: Rejection[]
}

/**
 * Turns candidates into canonical readings, each judged on its own (one bad value never drops the others):
 * - quantity must be in the vocabulary (`unknown_quantity`),
 * - value must be a JSON number (`missing` for null, `schema` for strings and other types),
 * - finite (`not_finite`) and within the quantity's physical range, inclusive (`range`, bounds in
 *   core/quantities.ts),
 * - observed time within [2000-01-01, receivedAt + maxFutureMs] (`time_past`, `time_future`).
 */
export function validateCandidates(message: InboundMessage, candidates: Candidate[], options: ValidateOptions): ValidateResult {
  const readings: Reading[] = []
  const rejections: Rejection[] = []
  for (const c of candidates) {
    const problem = checkCandidate(c, message.receivedAt, options)
    if (problem) {
      rejections.push({
        deviceId: c.deviceId,
        topic: message.topic,
        sourceFormat: c.sourceFormat,
        receivedAt: message.receivedAt,
        observedAt: c.observedAt,
        path: c.path,
        rule: problem.rule,
        message: problem.message,
        ...(c.value === undefined ? {} : { value: c.value }),
        raw: rawText(message.payload),
      })
      continue
    }
    const quantity = c.quantity as keyof typeof QUANTITIES
    readings.push({
      deviceId: c.deviceId,
      quantity,
      value: c.value as number,
      unit: QUANTITIES[quantity].unit,
      observedAt: c.observedAt,
      receivedAt: message.receivedAt,
      timeSource: c.timeSource,
      sourceFormat: c.sourceFormat,
      ...(c.sensorModel === undefined ? {} : { sensorModel: c.sensorModel }),
    })
  }
  return { readings, rejections }
}

function checkCandidate(c: Candidate, receivedAt: number, options: ValidateOptions): { rule: string; message: string } | undefined {
  if (!isQuantity(c.quantity)) {
    return { rule: RULES.unknownQuantity, message: `'${c.quantity}' is not a known quantity` }
  }
  if (c.value === null || c.value === undefined) return { rule: RULES.missing, message: 'no value reported' }
  if (typeof c.value !== 'number') return { rule: RULES.schema, message: `must be a number, got ${typeof c.value}` }
  if (!Number.isFinite(c.value)) return { rule: RULES.notFinite, message: 'must be a finite number' }
  const { min, max, unit } = QUANTITIES[c.quantity]
  if (c.value < min || c.value > max) {
    return { rule: RULES.range, message: `must be between ${min} and ${max} ${unit}` }
  }
  if (c.observedAt < EARLIEST_OBSERVED_AT) {
    return { rule: RULES.timePast, message: 'observed time is before 2000-01-01T00:00:00Z' }
  }
  if (c.observedAt > receivedAt + options.maxFutureMs) {
    return { rule: RULES.timeFuture, message: `observed time is more than ${options.maxFutureMs} ms after receipt` }
  }
  return undefined
}
