import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../core/config.ts'
import { assessDevices, countStates, healthTransitions, isStuck, type DeviceHealth, type Flatness, type HealthSettings } from '../../core/fleet-health.ts'

/** Fleet health's rules alone (core/fleet-health.ts): stale, stuck, connection, transitions recorded once. */
const SETTINGS: HealthSettings = { staleAfterMs: 30 * 60_000, stuckAfterMs: 2 * 3_600_000, stuckMinReadings: 6 }
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0)
const MIN = 60_000
const flat = (over: Partial<Flatness> = {}): Flatness => ({
  deviceId: 'garden-1', quantity: 'air_temperature', count: 12, spread: 0, firstAt: T0 - 110 * MIN, lastAt: T0 - MIN, value: 12.34, ...over,
})

describe('the stuck rule', () => {
  it('holds for a varying quantity with ≥ 6 equal readings spanning ≥ half the window, and not otherwise', () => {
    expect(isStuck(flat(), SETTINGS)).toBe(true)
    expect(isStuck(flat({ spread: 0.01 }), SETTINGS)).toBe(false) // BME280 resolution: it varied
    expect(isStuck(flat({ count: 5 }), SETTINGS)).toBe(false) // too few to judge
    expect(isStuck(flat({ firstAt: T0 - 59 * MIN }), SETTINGS)).toBe(false) // 58 min of data, under an hour
    expect(isStuck(flat({ firstAt: T0 - 61 * MIN }), SETTINGS)).toBe(true) // exactly one hour
    expect(isStuck(flat({ quantity: 'pm2_5' }), SETTINGS)).toBe(false) // clean air reads 0.0 for hours
  })
})

describe('assessDevices', () => {
  it('derives last seen, connection (sub-devices from their base), stale and stuck', () => {
    const health = assessDevices(
      {
        lastSeen: new Map([['tasmota-shed.bme280', T0 - 40 * MIN], ['garden-1', T0 - 5 * MIN]]),
        connections: new Map([['tasmota-shed', { state: 'offline' as const, at: T0 - 39 * MIN }], ['garden-1', { state: 'online' as const, at: T0 - 3_600_000 }]]),
        flatness: [flat()],
        known: ['never-1'],
      },
      T0,
      SETTINGS,
      T0 - 31 * MIN,
    )
    expect(health).toEqual([
      { deviceId: 'garden-1', lastSeen: T0 - 5 * MIN, connection: 'online', connectionSince: T0 - 3_600_000, stale: false, stuck: ['air_temperature'] },
      { deviceId: 'never-1', connection: 'unknown', stale: true, stuck: [] }, // tracker started 31 min ago
      { deviceId: 'tasmota-shed', lastSeen: T0 - 40 * MIN, connection: 'offline', connectionSince: T0 - 39 * MIN, stale: true, stuck: [] },
      { deviceId: 'tasmota-shed.bme280', lastSeen: T0 - 40 * MIN, connection: 'offline', connectionSince: T0 - 39 * MIN, stale: true, stuck: [] },
    ])
    // the sub-device counts with its base; a device never connected is not offline (`devices status --offline`
    // lists it only once it is stale, and then as "unknown", not "offline since")
    expect(countStates(health)).toEqual({ online: 1, offline: 1, never_connected: 1, stale: 2 })
  })

  it('is not stale exactly one minute before the threshold, stale at it', () => {
    const at = (seen: number) => assessDevices({ lastSeen: new Map([['d', seen]]), connections: new Map(), flatness: [] }, T0, SETTINGS, T0)[0]!.stale
    expect(at(T0 - 29 * MIN)).toBe(false)
    expect(at(T0 - 30 * MIN)).toBe(true)
  })
})

describe('healthTransitions: each change once', () => {
  const device = (over: Partial<DeviceHealth>): DeviceHealth => ({ deviceId: 'garden-1', lastSeen: T0 - 45 * MIN, connection: 'online', stale: false, stuck: [], ...over })

  it('stale at last seen + threshold, then nothing while it stays stale, then recovered at the new reading', () => {
    const stale = healthTransitions(new Map(), [device({ stale: true })], T0, SETTINGS, T0 - 3_600_000)
    expect(stale).toEqual([
      { deviceId: 'garden-1', kind: 'stale', at: T0 - 15 * MIN, topic: '', sourceFormat: 'fleet-health', detail: JSON.stringify({ lastSeen: new Date(T0 - 45 * MIN).toISOString(), stale: true, stuck: [] }) },
    ])
    expect(healthTransitions(new Map([['garden-1', { stale: true, stuck: [] }]]), [device({ stale: true })], T0 + MIN, SETTINGS, T0)).toEqual([])
    const back = healthTransitions(new Map([['garden-1', { stale: true, stuck: [] }]]), [device({ lastSeen: T0 + 2 * MIN })], T0 + 3 * MIN, SETTINGS, T0)
    expect(back).toEqual([
      { deviceId: 'garden-1', kind: 'recovered', at: T0 + 2 * MIN, topic: '', sourceFormat: 'fleet-health', detail: JSON.stringify({ from: 'stale', lastSeen: new Date(T0 + 2 * MIN).toISOString(), stale: false, stuck: [] }) },
    ])
  })

  it('stuck names the new quantities, recovered the ones that vary again; the detail holds the health after it', () => {
    const recorded = new Map([['garden-1', { stale: false, stuck: ['relative_humidity' as const] }]])
    const events = healthTransitions(recorded, [device({ stuck: ['air_temperature'] })], T0, SETTINGS, T0)
    expect(events.map((e) => [e.kind, e.at, JSON.parse(e.detail)])).toEqual([
      ['stuck', T0, { quantities: ['air_temperature'], stuckAfterMs: 7_200_000, stale: false, stuck: ['air_temperature', 'relative_humidity'] }],
      ['recovered', T0, { from: 'stuck', quantities: ['relative_humidity'], stale: false, stuck: ['air_temperature'] }],
    ])
  })

  it('two recovered events of one device in one check get different times (an event is keyed by device, kind and time)', () => {
    const events = healthTransitions(new Map([['garden-1', { stale: true, stuck: ['air_pressure' as const] }]]), [device({ lastSeen: T0 })], T0, SETTINGS, T0)
    expect(events.map((e) => [e.kind, e.at])).toEqual([
      ['recovered', T0],
      ['recovered', T0 + 1],
    ])
  })
})

describe('configuration', () => {
  it('defaults to stale after 30 min, stuck after 2 h with 6 readings, a check a minute, no webhook; a bad webhook URL is named', () => {
    expect(loadConfig({}).health).toEqual({ staleAfterMs: 1_800_000, stuckAfterMs: 7_200_000, stuckMinReadings: 6, checkMs: 60_000, webhookUrl: undefined })
    expect(loadConfig({ SENSHAGEN_HEALTH_WEBHOOK_URL: ' http://ops.example/hook ' }).health.webhookUrl).toBe('http://ops.example/hook')
    expect(() => loadConfig({ SENSHAGEN_HEALTH_WEBHOOK_URL: 'ops.example/hook' })).toThrow(/SENSHAGEN_HEALTH_WEBHOOK_URL: Invalid URL/)
    expect(() => loadConfig({ SENSHAGEN_STALE_AFTER_MS: '0' })).toThrow(/SENSHAGEN_STALE_AFTER_MS: Too small/)
  })
})
