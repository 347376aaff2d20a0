import type { DeviceEvent, Reading } from '../reading.ts'

/** Distinct (device, quantity, observed time) keys remembered by default: about 12 MB of readings. */
export const DEFAULT_CONFLICT_WINDOW = 50_000

/** A reading written over another value of the same device, quantity and observed time. */
export interface Conflict {
  /** The reading written before (last write of the key this process remembers). */
  previous: Reading
  /** The reading that replaces it (last write wins). */
  current: Reading
}

/**
 * Detects conflicting resends: a reading whose (device, quantity, observed time) was written before by this
 * process with another `value`. It remembers the last reading written for each of the most recent `window`
 * distinct keys (a Map in insertion order; a key written again moves to the newest end, the oldest is
 * forgotten first), so the detection window is the last `window` distinct keys this process wrote: with 100
 * devices sending 5 quantities a minute, the default 50,000 is about 100 minutes; at the fleet benchmark's
 * saturation (≈ 17k readings/s) about 3 s. Not detected: a resend after the key left the window, after a
 * restart (the memory is not persisted), or written by another writer process (several Kafka-mode writers, or
 * direct-mode ingests, each remember only their own writes). An identical resend (same value) is no conflict;
 * differences in receipt time, flags, sensor or source alone are not either.
 */
export class ConflictDetector {
  private readonly recent = new Map<string, Reading>()

  constructor(readonly window: number = DEFAULT_CONFLICT_WINDOW) {
    if (!(window >= 1)) throw new RangeError(`conflict window must be at least 1 reading, got ${window}`)
  }

  /** Remembers `readings` in order as written and returns the conflicts among them (also within `readings`). */
  observe(readings: readonly Reading[]): Conflict[] {
    const conflicts: Conflict[] = []
    for (const current of readings) {
      const key = `${current.deviceId}\0${current.quantity}\0${current.observedAt}`
      const previous = this.recent.get(key)
      if (previous !== undefined) {
        if (previous.value !== current.value) conflicts.push({ previous, current })
        this.recent.delete(key)
      } else if (this.recent.size >= this.window) {
        this.recent.delete(this.recent.keys().next().value!)
      }
      this.recent.set(key, current)
    }
    return conflicts
  }
}

/**
 * The `conflict` device events for `conflicts`: one per device and receipt time of the replacing readings (a
 * resent message's conflicting quantities share one event, so two of them never overwrite each other's point),
 * at that receipt time. `detail` is JSON: `{ "conflicts": [{ quantity, observed_at (ISO 8601 UTC), unit,
 * previous: { value, raw_value, source_unit, sensor, source, received_ms }, current: { … } }] }`, the fields
 * named as in the `reading` measurement, absent ones as written there ("" and raw_value = value).
 */
export function conflictEvents(conflicts: readonly Conflict[]): DeviceEvent[] {
  const byMessage = new Map<string, Conflict[]>()
  for (const conflict of conflicts) {
    const key = `${conflict.current.deviceId}\0${conflict.current.receivedAt}`
    const group = byMessage.get(key)
    if (group) group.push(conflict)
    else byMessage.set(key, [conflict])
  }
  return [...byMessage.values()].map((group) => {
    const { deviceId, receivedAt, sourceFormat } = group[0]!.current
    const detail = group.map(({ previous, current }) => ({
      quantity: current.quantity,
      observed_at: new Date(current.observedAt).toISOString(),
      unit: current.unit,
      previous: asStored(previous),
      current: asStored(current),
    }))
    return { deviceId, kind: 'conflict', at: receivedAt, topic: '', sourceFormat, detail: JSON.stringify({ conflicts: detail }) }
  })
}

function asStored(reading: Reading) {
  return {
    value: reading.value,
    raw_value: reading.rawValue ?? reading.value,
    source_unit: reading.sourceUnit ?? '',
    sensor: reading.sensorModel ?? '',
    source: reading.sourceFormat,
    received_ms: reading.receivedAt,
  }
}
