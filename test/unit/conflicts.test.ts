import { describe, expect, it } from 'vitest'
import type { Reading } from '../../core/reading.ts'
import { ConflictDetector } from '../../core/store/conflicts.ts'

const reading = (deviceId: string, second: number, value: number): Reading => ({
  deviceId,
  quantity: 'pm10',
  value,
  unit: 'µg/m³',
  observedAt: Date.UTC(2026, 0, 1) + second * 1000,
  receivedAt: Date.UTC(2026, 0, 1, 1),
  timeSource: 'device',
  sourceFormat: 'senshagen-v1',
  flags: [],
})
const pairs = (detector: ConflictDetector, readings: Reading[]) => detector.observe(readings).map((c) => [c.previous.value, c.current.value])

describe('ConflictDetector (the writer’s window of recent keys)', () => {
  it('reports another value for a key written before, also within one write, and not an identical one', () => {
    const detector = new ConflictDetector(10)
    expect(pairs(detector, [reading('a', 1, 5), reading('a', 2, 6), reading('a', 1, 5)])).toEqual([])
    expect(pairs(detector, [reading('a', 1, 7), reading('a', 1, 8), reading('b', 1, 9)])).toEqual([
      [5, 7],
      [7, 8],
    ])
    expect(pairs(detector, [{ ...reading('a', 1, 8), sensorModel: 'SDS011', receivedAt: 0, flags: ['spike'] }])).toEqual([])
  })

  it('remembers at least the last `window` and at most 2 × `window` distinct keys', () => {
    const detector = new ConflictDetector(2)
    detector.observe([reading('a', 1, 1), reading('b', 1, 1)])
    detector.observe([reading('a', 1, 1)]) // a key it holds: no new generation
    detector.observe([reading('c', 1, 1)]) // a third key: a new generation; a and b still remembered
    expect(pairs(detector, [reading('b', 1, 2)])).toEqual([[1, 2]])
    detector.observe([reading('d', 1, 1)]) // generation full (c, b): a new one, and a is forgotten
    expect(pairs(detector, [reading('c', 1, 3), reading('b', 1, 4)])).toEqual([
      [1, 3],
      [2, 4],
    ])
    expect(pairs(detector, [reading('a', 1, 5)])).toEqual([])
  })

  it('remembers only the stored fields a conflict event names, not the reading written before', () => {
    const detector = new ConflictDetector(10)
    const first: Reading = { ...reading('a', 1, 1013), rawValue: 101_300, sourceUnit: 'Pa', sensorModel: 'BME280', flags: ['spike'] }
    detector.observe([first])
    const [conflict] = detector.observe([reading('a', 1, 1014)])
    expect(conflict!.previous).not.toBe(first)
    expect(conflict!.previous).toStrictEqual({ value: 1013, rawValue: 101_300, sourceUnit: 'Pa', sensorModel: 'BME280', sourceFormat: 'senshagen-v1', receivedAt: Date.UTC(2026, 0, 1, 1) })
  })

  it('refuses a window below one key', () => {
    expect(() => new ConflictDetector(0)).toThrow('conflict window must be at least 1 reading, got 0')
  })
})
