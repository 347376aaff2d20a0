import { describe, expect, it } from 'vitest'
import type { Candidate } from '../../core/decoders/decoder.ts'
import { SchemaDriftTracker } from '../../core/schema-drift.ts'

const AT = Date.UTC(2026, 11, 1, 12)
const c = (deviceId: string, path: string, value: unknown, sensorModel?: string): Candidate => ({
  deviceId, quantity: 'air_temperature', value, path, observedAt: AT, timeSource: 'receipt', sourceFormat: 'tasmota', ...(sensorModel ? { sensorModel } : {}),
})
const shape = [c('tasmota-a.bme280', 'BME280.Temperature', 21.5, 'BME280'), c('tasmota-a.bme280', 'BME280.Humidity', 40, 'BME280')]
const observe = (tracker: SchemaDriftTracker, candidates: Candidate[], ignored: Array<{ deviceId: string; path: string; type: string }> = []) =>
  tracker.observe({ candidates, ignored }, 'tele/a/SENSOR', AT, 'tasmota')
/** The events as a store holds them: device id and detail text, oldest first. */
const stored = (events: ReturnType<typeof observe>) => events.map((e) => ({ deviceId: e.deviceId, detail: e.detail }))

describe('schema drift across restarts (SchemaDriftTracker.seed)', () => {
  it('records the whole schema in each event, and a tracker seeded with the events records nothing for the same shape', () => {
    const before = new SchemaDriftTracker()
    const first = observe(before, shape)
    expect(first).toHaveLength(1)
    expect(JSON.parse(first[0]!.detail)).toEqual({
      first: true,
      added: ['BME280.Temperature:number', 'BME280.Humidity:number'],
      changed: [],
      models: { before: [], added: ['BME280'] },
      schema: { keys: { 'BME280.Temperature': 'number', 'BME280.Humidity': 'number' }, models: ['BME280'] },
    })
    const restarted = new SchemaDriftTracker()
    expect(restarted.seed(stored(first))).toBe(1)
    expect(observe(restarted, shape)).toEqual([])
    const changed = observe(restarted, [c('tasmota-a.bme280', 'BME280.Temperature', '21.5', 'BME280')])
    expect(changed.map((e) => JSON.parse(e.detail) as Record<string, unknown>)).toMatchObject([{ first: false, added: [], changed: [{ key: 'BME280.Temperature', from: 'number', to: 'numeric-string' }] }])
  })

  it('folds events written before the detail held the whole schema (first resets, added and changed apply)', () => {
    const legacy = [
      { deviceId: 'd', detail: JSON.stringify({ first: true, added: ['old.key:number'], changed: [], models: { before: [], added: ['DHT11'] } }) },
      { deviceId: 'd', detail: JSON.stringify({ first: true, added: ['BME280.Temperature:number', 'BME280.Humidity:number[%]'], changed: [], models: { before: [], added: ['BME280'] } }) },
      { deviceId: 'd', detail: JSON.stringify({ first: false, added: [], changed: [{ key: 'BME280.Temperature', from: 'number', to: 'numeric-string' }], models: { before: ['BME280'], added: [] } }) },
      { deviceId: 'd', detail: 'not json' },
    ]
    const tracker = new SchemaDriftTracker()
    expect(tracker.seed(legacy)).toBe(1)
    const humidity = { ...c('d', 'BME280.Humidity', 40, 'BME280'), unit: '%' }
    expect(observe(tracker, [c('d', 'BME280.Temperature', '21.5', 'BME280'), humidity])).toEqual([])
    // the reset by the second `first` dropped old.key and DHT11: they are new again
    expect(observe(tracker, [c('d', 'old.key', 1, 'DHT11')]).map((e) => JSON.parse(e.detail) as Record<string, unknown>)).toMatchObject([{ first: false, added: ['old.key:number'], models: { added: ['DHT11'] } }])
  })

  it('keeps ignored keys in the seeded state (airrohr signal, Tasmota DewPoint)', () => {
    const before = new SchemaDriftTracker()
    const events = observe(before, shape, [{ deviceId: 'tasmota-a.bme280', path: 'BME280.DewPoint', type: 'number' }])
    const after = new SchemaDriftTracker()
    after.seed(stored(events))
    expect(observe(after, shape, [{ deviceId: 'tasmota-a.bme280', path: 'BME280.DewPoint', type: 'number' }])).toEqual([])
  })
})
