import { describe, expect, it } from 'vitest'
import { schemaChangeText } from '../../cli/commands/devices/status.ts'
import { SchemaDriftTracker } from '../../core/schema-drift.ts'

describe('senshagen devices status: the latest schema change in words', () => {
  it('says what a first message, new keys, changed types and new sensor models were', () => {
    expect(
      schemaChangeText({
        first: true,
        added: ['readings.pm2_5:number', 'readings.temp:number'],
        changed: [],
        models: { before: [], added: ['SDS011'] },
        schema: { keys: { 'readings.pm2_5': 'number', 'readings.temp': 'number' }, models: ['SDS011'] },
      }),
    ).toBe('first message; new keys: readings.pm2_5:number, readings.temp:number; sensor models: SDS011')
    expect(schemaChangeText({ first: false, added: [], changed: [{ key: 'readings.temp', from: 'number', to: 'string' }], models: { before: ['SDS011'], added: [] } })).toBe(
      'changed: readings.temp number → string',
    )
    expect(schemaChangeText({})).toBe('no details')
    expect(schemaChangeText('not json')).toBe('not json')
  })

  it('reads the detail the drift tracker writes', () => {
    const tracker = new SchemaDriftTracker()
    const write = (value: unknown) =>
      tracker.observe(
        { candidates: [{ deviceId: 'g-1', quantity: 'air_temperature', value, path: 'readings.temp', observedAt: 0, timeSource: 'device', sourceFormat: 'senshagen-v1' }] },
        'senshagen/v1/devices/g-1/readings',
        0,
        'senshagen-v1',
      )
    write(7.5)
    const [event] = write('warm')
    expect(event).toBeDefined()
    expect(schemaChangeText(JSON.parse(event!.detail))).toBe('changed: readings.temp number → string')
  })
})
