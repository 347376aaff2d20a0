import { Point } from '@influxdata/influxdb-client'
import { describe, expect, it } from 'vitest'
import { parseLine } from '../../core/store/line-protocol.ts'

// The in-memory store parses what the line builders write; escapes per the InfluxDB 1.x line protocol reference.
describe('parseLine (core/store/line-protocol.ts)', () => {
  it('reads back what the client library writes, escapes included', () => {
    const line = new Point('my reading')
      .tag('device', 'tasmota shed,1=a')
      .tag('quantity', 'pm2_5')
      .floatField('value', 12.5)
      .intField('received_ms', 1772445601000)
      .booleanField('ok', true)
      .stringField('raw', '{"a":"b \\"c\\" d\\\\e", "f": 1}')
      .stringField('empty', '')
      .timestamp('1772445600000')
      .toLineProtocol()!
    expect(parseLine(line)).toEqual({
      measurement: 'my reading',
      tags: { device: 'tasmota shed,1=a', quantity: 'pm2_5' },
      fields: {
        empty: { type: 'string', value: '' },
        ok: { type: 'boolean', value: true },
        raw: { type: 'string', value: '{"a":"b \\"c\\" d\\\\e", "f": 1}' },
        received_ms: { type: 'integer', value: 1772445601000 },
        value: { type: 'float', value: 12.5 },
      },
      time: 1772445600000,
    })
  })

  it('names what is wrong with a line it cannot read', () => {
    expect(() => parseLine('reading,device=a')).toThrow(/no fields at column 17/)
    expect(() => parseLine('reading value="open')).toThrow(/string field 'value' is not closed/)
    expect(() => parseLine('reading value=abc 1')).toThrow(/field 'value' has no valid value \('abc'\)/)
    expect(() => parseLine('reading value=1 12:00')).toThrow(/timestamp '12:00' is not an integer/)
  })
})
