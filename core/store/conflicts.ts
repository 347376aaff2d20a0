import type { DeviceEvent, Reading } from '../reading.ts'

/** Distinct (device, quantity, observed time) keys per generation by default; two generations are kept (a time key and a 6-field entry each). */
export const DEFAULT_CONFLICT_WINDOW = 25_000

/**
 * What the detector remembers of a reading written before: the stored fields a `conflict` event names
 * (core/store/schema.ts measurement `reading`), not the whole reading, so that 2 × `window` remembered keys hold
 * no reading objects (flags, tags) alive into V8's old generation.
 */
export type WrittenReading = Pick<Reading, 'value' | 'rawValue' | 'sourceUnit' | 'sensorModel' | 'sourceFormat' | 'receivedAt'>

/** A reading written over another value of the same device, quantity and observed time. */
export interface Conflict {
  /** What was written before (the last write of the key this process remembers). */
  previous: WrittenReading
  /** The reading that replaces it (last write wins). */
  current: Reading
}

/**
 * Detects conflicting resends: a reading whose (device, quantity, observed time) was written before by this
 * process with another `value`. It remembers the last reading written per key in two generations of at most
 * `window` distinct keys each: when the current generation is full it becomes the previous one and the
 * previous is dropped whole (O(1) per reading; a Map whose oldest entry is deleted one by one is slow in V8,
 * as its iteration skips the deleted slots). So the detection window is at least the last `window` and at
 * most the last 2 × `window` distinct keys this process wrote: with the default 25,000, at least about 50
 * minutes for 100 devices sending 5 quantities a minute, and at least about 1.5 s at the fleet benchmark's
 * saturation (≈ 17k readings/s). Not detected: a resend after its key left the window, after a restart (the
 * memory is not persisted), or of a key another writer process wrote (several Kafka-mode writers, or
 * direct-mode ingests, each remember only their own writes). An identical resend (same value) is no
 * conflict; differences in receipt time, flags, sensor or source alone are not either.
 */
export class ConflictDetector {
  private current = new Generation()
  private previous = new Generation()

  constructor(readonly window: number = DEFAULT_CONFLICT_WINDOW) {
    if (!(window >= 1)) throw new RangeError(`conflict window must be at least 1 reading, got ${window}`)
  }

  /** Remembers `readings` in order as written and returns the conflicts among them (also within `readings`). */
  observe(readings: readonly Reading[]): Conflict[] {
    const conflicts: Conflict[] = []
    for (const reading of readings) {
      let series = this.current.series(reading.deviceId, reading.quantity)
      const inCurrent = series.get(reading.observedAt)
      const before = inCurrent ?? this.previous.find(reading)
      if (before !== undefined && before.value !== reading.value) conflicts.push({ previous: before, current: reading })
      if (inCurrent === undefined) {
        if (this.current.size >= this.window) {
          this.previous = this.current
          this.current = new Generation()
          series = this.current.series(reading.deviceId, reading.quantity)
        }
        this.current.size++
      }
      series.set(reading.observedAt, written(reading))
    }
    return conflicts
  }
}

/**
 * One generation of remembered writes: device id → quantity → observed time (epoch ms) → what was written.
 * Nested maps instead of one map keyed by `pointKey`: the lookups use the reading's own strings and number, so a
 * reading costs no key string (`observe` 1.5–1.9 µs a reading instead of 2.1–2.6, and ~10 MB less peak RSS in
 * bench/hot-path.ts; docs/benchmarks.md, 2 December 2026, session 18).
 */
class Generation {
  /** Distinct keys held. */
  size = 0
  private readonly devices = new Map<string, Map<string, Map<number, WrittenReading>>>()

  /** The times remembered for (device, quantity); created empty when there are none. */
  series(deviceId: string, quantity: string): Map<number, WrittenReading> {
    let quantities = this.devices.get(deviceId)
    if (quantities === undefined) this.devices.set(deviceId, (quantities = new Map()))
    let times = quantities.get(quantity)
    if (times === undefined) quantities.set(quantity, (times = new Map()))
    return times
  }

  find(reading: Reading): WrittenReading | undefined {
    return this.devices.get(reading.deviceId)?.get(reading.quantity)?.get(reading.observedAt)
  }
}

/** The fields of `reading` a conflict event names, in one fixed shape (absent ones undefined). */
function written(reading: Reading): WrittenReading {
  return {
    value: reading.value,
    rawValue: reading.rawValue,
    sourceUnit: reading.sourceUnit,
    sensorModel: reading.sensorModel,
    sourceFormat: reading.sourceFormat,
    receivedAt: reading.receivedAt,
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

function asStored(reading: WrittenReading) {
  return {
    value: reading.value,
    raw_value: reading.rawValue ?? reading.value,
    source_unit: reading.sourceUnit ?? '',
    sensor: reading.sensorModel ?? '',
    source: reading.sourceFormat,
    received_ms: reading.receivedAt,
  }
}
