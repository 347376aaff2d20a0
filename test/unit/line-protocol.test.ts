import { Point } from '@influxdata/influxdb-client'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { readingToLine } from '../../core/store/schema.ts'

/**
 * The reading as @influxdata/influxdb-client's Point writes it: the oracle readingToLine must match byte for byte.
 * Every field is present (the point is written whole): sensor and source_unit "" and raw_value = value when absent.
 */
function viaPoint(reading: Reading): string {
  return new Point('reading')
    .tag('device', reading.deviceId)
    .tag('quantity', reading.quantity)
    .floatField('value', reading.value)
    .stringField('unit', reading.unit)
    .stringField('source', reading.sourceFormat)
    .stringField('time_source', reading.timeSource)
    .intField('received_ms', reading.receivedAt)
    .stringField('flags', reading.flags.join(','))
    .stringField('sensor', reading.sensorModel ?? '')
    .stringField('source_unit', reading.sourceUnit ?? '')
    .floatField('raw_value', reading.rawValue ?? reading.value)
    .timestamp(String(reading.observedAt))
    .toLineProtocol()!
}

// text with everything line protocol must escape: quotes, backslashes, commas, equals signs, spaces, line breaks
const awkward = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '-', ' ', ',', '=', '"', '\\', '\n', '\r', '\t', 'µ', '³', '°'), maxLength: 12 })
const finite = fc.double({ noNaN: true, noDefaultInfinity: true })
const reading: fc.Arbitrary<Reading> = fc.record(
  {
    deviceId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/), awkward.filter((s) => s.length > 0)),
    quantity: fc.constantFrom(...(Object.keys(QUANTITIES) as Quantity[])),
    value: finite,
    unit: awkward,
    observedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    receivedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    timeSource: fc.constantFrom('device' as const, 'receipt' as const),
    sourceFormat: awkward,
    sensorModel: awkward,
    sourceUnit: awkward,
    rawValue: finite,
    flags: fc.array(fc.constantFrom('spike', 'stuck', 'implausible', 'a "b"'), { maxLength: 3 }),
  },
  { requiredKeys: ['deviceId', 'quantity', 'value', 'unit', 'observedAt', 'receivedAt', 'timeSource', 'sourceFormat', 'flags'] },
)

describe('readingToLine (the hot path’s line protocol)', () => {
  it('writes exactly the line the client library’s Point would, for any reading', () => {
    fc.assert(fc.property(reading, (r) => {
        expect(readingToLine(r)).toBe(viaPoint(r))
      }), { numRuns: 2_000 })
  })

  it('refuses a value that is not a finite number, naming the field, as Point does', () => {
    const base: Reading = { deviceId: 'd-1', quantity: 'pm10', value: 1, unit: 'µg/m³', observedAt: 1, receivedAt: 1, timeSource: 'device', sourceFormat: 'x', flags: [] }
    expect(() => readingToLine({ ...base, value: Number.NaN })).toThrow("invalid float value for field 'value'")
    expect(() => readingToLine({ ...base, rawValue: Number.POSITIVE_INFINITY })).toThrow("invalid float value for field 'raw_value'")
    expect(() => viaPoint({ ...base, value: Number.NaN })).toThrow("invalid float value for field 'value'")
  })

  it('writes every field, absent ones explicitly empty, so a later write leaves nothing of an earlier one', () => {
    const converted: Reading = { deviceId: 'd-1', quantity: 'air_pressure', value: 1013, unit: 'hPa', observedAt: 1, receivedAt: 2, timeSource: 'device', sourceFormat: 'x', sensorModel: 'BME280', sourceUnit: 'Pa', rawValue: 101300, flags: [] }
    expect(readingToLine(converted)).toBe('reading,device=d-1,quantity=air_pressure flags="",raw_value=101300,received_ms=2i,sensor="BME280",source="x",source_unit="Pa",time_source="device",unit="hPa",value=1013 1')
    const { sensorModel, sourceUnit, rawValue, ...bare } = converted
    expect(readingToLine({ ...bare, value: 1012 })).toBe('reading,device=d-1,quantity=air_pressure flags="",raw_value=1012,received_ms=2i,sensor="",source="x",source_unit="",time_source="device",unit="hPa",value=1012 1')
  })
})
