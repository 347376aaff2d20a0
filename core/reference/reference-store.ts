import { Point } from '@influxdata/influxdb-client'
import type { ReadingStore } from '../store/store.ts'
import type { ReferenceObservation, ReferenceQuery } from './reference.ts'

/**
 * measurement `reference` — one point per (station, quantity, source, end-of-hour time):
 *   tags   station (`NL10818`, `278`, `samenmeten:…`), quantity, source (luchtmeetnet|knmi|samenmeten)
 *   fields value (float, canonical unit), period_ms (integer: averaging period, 0 for spot values),
 *          flags (string: comma-separated, "" when none)
 *   time   end of the averaging period, ms precision
 * The key holds nothing that changes between two fetches of the same hour, so writing an observation again
 * overwrites it (a later, validated value replaces the earlier one).
 */
export const REFERENCE_MEASUREMENT = 'reference'

/** Lines per write request. */
export const REFERENCE_WRITE_BATCH = 5_000

/** One observation as a line-protocol line with ms timestamp; `value` always a float field (see readingToLine). */
export function referenceToLine(observation: ReferenceObservation): string {
  return new Point(REFERENCE_MEASUREMENT)
    .tag('station', observation.station)
    .tag('quantity', observation.quantity)
    .tag('source', observation.source)
    .floatField('value', observation.value)
    .intField('period_ms', observation.periodMs)
    .stringField('flags', observation.flags.join(','))
    .timestamp(String(observation.time))
    .toLineProtocol()!
}

/**
 * Writes observations through store.writeLines, REFERENCE_WRITE_BATCH lines per request, and resolves once
 * all were acknowledged. Idempotent (see REFERENCE_MEASUREMENT). `onProgress(written, total)` after each batch.
 * Errors: those of store.writeLines (UnavailableError / RefusedError).
 */
export async function writeReferenceObservations(
  store: Pick<ReadingStore, 'writeLines'>,
  observations: readonly ReferenceObservation[],
  onProgress?: (written: number, total: number) => void,
): Promise<number> {
  for (let start = 0; start < observations.length; start += REFERENCE_WRITE_BATCH) {
    const batch = observations.slice(start, start + REFERENCE_WRITE_BATCH)
    await store.writeLines(batch.map(referenceToLine))
    onProgress?.(start + batch.length, observations.length)
  }
  return observations.length
}

/**
 * Stored observations of one station and quantity with from ≤ time < to (epoch ms), oldest first, as
 * ReferenceObservation (flags split on commas). Errors: those of store.referenceObservations.
 */
export async function queryReferenceObservations(store: Pick<ReadingStore, 'referenceObservations'>, query: ReferenceQuery): Promise<ReferenceObservation[]> {
  return store.referenceObservations(query)
}
