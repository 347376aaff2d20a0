import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_HEALTH_SETTINGS } from '../../core/fleet-health.ts'
import { QUANTITIES, type Quantity } from '../../core/quantities.ts'
import type { DeviceEvent, Reading } from '../../core/reading.ts'
import { parseRegistry } from '../../core/registry/registry.ts'
import { queryFleetHealth } from '../../core/store/health-queries.ts'
import { buildApiServer } from '../../services/api/server.ts'
import { INFLUX_URL } from '../helpers/env.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

/**
 * The two views of fleet health, read from the real InfluxDB: `senshagen devices status --offline` (the operator's,
 * every device; its own process) and GET /api/v1/health/devices (public devices only: a device without consent
 * or not registered shows nowhere, whatever its health). Default thresholds: stale after 30 min, stuck after 2 h.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)
const logger = pino({ level: 'warn' })
const db = throwawayDatabase('fleet_views', logger)
const MIN = 60_000
// whole seconds, so the ISO texts below are plain to read
const NOW = Math.floor(Date.now() / 1_000) * 1_000
const iso = (ms: number) => new Date(ms).toISOString()

const reading = (deviceId: string, quantity: Quantity, at: number, value: number): Reading => ({
  deviceId, quantity, value, unit: QUANTITIES[quantity].unit, observedAt: at, receivedAt: at, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
})
const event = (deviceId: string, kind: DeviceEvent['kind'], at: number, sourceFormat: string): DeviceEvent => ({ deviceId, kind, at, topic: '', sourceFormat, detail: '{}' })

beforeAll(async () => {
  await db.store.write({
    readings: [
      // observed two minutes ago, received one minute ago (the device's clock a little behind)
      { ...reading('fv-fresh', 'pm2_5', NOW - 2 * MIN, 8), receivedAt: NOW - MIN },
      reading('fv-gone', 'pm2_5', NOW - 120 * MIN, 9),
      reading('fv-quiet', 'pm2_5', NOW - 45 * MIN, 7),
      reading('fv-hidden', 'pm2_5', NOW - 120 * MIN, 6),
      reading('fv-ghost', 'pm2_5', NOW - 90 * MIN, 5),
      // a clock three hours behind: received a minute ago, so seen a minute ago (not stale, so not listed below)
      { ...reading('fv-lagging', 'pm2_5', NOW - 180 * MIN, 4), receivedAt: NOW - MIN },
      // a Tasmota sub-device: the base is last seen when it was
      reading('tasmota-fvshed.bme280', 'air_pressure', NOW - 3 * MIN, 1012.25),
      // temperature 12.5 °C every 15 min for 105 min: stuck, though fresh
      ...Array.from({ length: 8 }, (_, i) => reading('fv-frozen', 'air_temperature', NOW - 105 * MIN + i * 15 * MIN, 12.5)),
    ],
    rejections: [],
    events: [
      event('fv-fresh', 'online', NOW - 30 * MIN, 'fleet-health'),
      event('fv-gone', 'online', NOW - 125 * MIN, 'fleet-health'),
      event('fv-gone', 'offline', NOW - 60 * MIN, 'fleet-health'),
      event('fv-quiet', 'online', NOW - 50 * MIN, 'esphome'),
      event('fv-hidden', 'offline', NOW - 100 * MIN, 'fleet-health'),
      event('tasmota-fvshed', 'offline', NOW - MIN, 'tasmota'),
    ],
  })
})

describe('senshagen devices status --offline (operator view, every device)', () => {
  const senshagen = (args: string[]) =>
    run(process.execPath, ['bin/senshagen.js', 'devices', 'status', ...args], {
      cwd: REPO,
      env: { ...process.env, SENSHAGEN_LOG_LEVEL: 'warn', SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: db.database },
    })

  it('lists the offline and stale devices with last seen, oldest first, as JSON and as text', async () => {
    const json = await senshagen(['--offline', '--format', 'json'])
    expect(JSON.parse(json.stdout)).toEqual([
      { device: 'fv-gone', connection: 'offline', connectionSince: iso(NOW - 60 * MIN), stale: true, lastSeen: iso(NOW - 120 * MIN), stuck: [] },
      { device: 'fv-hidden', connection: 'offline', connectionSince: iso(NOW - 100 * MIN), stale: true, lastSeen: iso(NOW - 120 * MIN), stuck: [] },
      { device: 'fv-ghost', connection: 'unknown', connectionSince: null, stale: true, lastSeen: iso(NOW - 90 * MIN), stuck: [] },
      { device: 'fv-quiet', connection: 'online', connectionSince: iso(NOW - 50 * MIN), stale: true, lastSeen: iso(NOW - 45 * MIN), stuck: [] },
      { device: 'tasmota-fvshed', connection: 'offline', connectionSince: iso(NOW - MIN), stale: false, lastSeen: iso(NOW - 3 * MIN), stuck: [] },
      { device: 'tasmota-fvshed.bme280', connection: 'offline', connectionSince: iso(NOW - MIN), stale: false, lastSeen: iso(NOW - 3 * MIN), stuck: [] },
    ])
    expect(json.stderr).toBe('6 device(s) offline or stale\n')

    const text = await senshagen(['--offline', '--device', 'fv-gone'])
    expect(text.stdout).toBe(`fv-gone  offline since ${iso(NOW - 60 * MIN)}  stale  last seen ${iso(NOW - 120 * MIN)}\n`)
    expect(text.stderr).toBe('1 device(s) offline or stale\n')
  })

  it('lists nothing for a device that is online and fresh', async () => {
    const fresh = await senshagen(['--offline', '--device', 'fv-fresh', '--format', 'json'])
    expect(JSON.parse(fresh.stdout)).toEqual([])
  })

  // the list above leaves fv-lagging out for the same reason
  it('counts a device as seen when its reading arrived, whatever time its clock gave it', async () => {
    expect((await queryFleetHealth(db.store, NOW, DEFAULT_HEALTH_SETTINGS, { devices: ['fv-lagging'] }))[0]).toMatchObject({ lastSeen: NOW - MIN, stale: false })
  })
})

describe('GET /api/v1/health/devices (public devices only)', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    const registry = parseRegistry(
      {
        neighbourhoods: [{ id: 'wijk', name: 'Wijk', municipality: 'Zwolle', center: { lat: 52.5302, lon: 6.0604 }, radiusM: 1500 }],
        devices: [
          { id: 'fv-fresh', neighbourhood: 'wijk', consent: true, location: { lat: 52.531234, lon: 6.057891 } },
          { id: 'fv-gone', neighbourhood: 'wijk', consent: true, location: { lat: 52.531234, lon: 6.057891 } },
          { id: 'fv-frozen', neighbourhood: 'wijk', consent: true, location: { lat: 52.531234, lon: 6.057891 } },
          { id: 'fv-new', neighbourhood: 'wijk', consent: true, location: { lat: 52.531234, lon: 6.057891 } },
          { id: 'fv-hidden', neighbourhood: 'wijk', consent: false, location: { lat: 52.527654, lon: 6.054321 } },
        ],
      },
      'test',
    )
    const config = { api: { bind: '127.0.0.1', port: 0, livePollMs: 60_000, liveHeartbeatMs: 15_000 }, influx: { url: INFLUX_URL }, calibration: { reportsDir: '/nonexistent' } }
    app = await buildApiServer({ config, store: db.store, registry, logger, publicDir: '/nonexistent' })
  })
  afterAll(async () => {
    await app?.close()
  })

  it('answers connection, last seen, stale and stuck of consented devices, and nothing of any other', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/health/devices' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({
      devices: [
        { id: 'fv-fresh', neighbourhood: 'wijk', connection: 'online', connectionSince: iso(NOW - 30 * MIN), lastSeen: iso(NOW - 2 * MIN), lastReceived: iso(NOW - MIN), stale: false, stuck: [] },
        { id: 'fv-frozen', neighbourhood: 'wijk', connection: 'unknown', connectionSince: null, lastSeen: iso(NOW), lastReceived: iso(NOW), stale: false, stuck: ['air_temperature'] },
        { id: 'fv-gone', neighbourhood: 'wijk', connection: 'offline', connectionSince: iso(NOW - 60 * MIN), lastSeen: iso(NOW - 120 * MIN), lastReceived: iso(NOW - 120 * MIN), stale: true, stuck: [] },
        { id: 'fv-new', neighbourhood: 'wijk', connection: 'unknown', connectionSince: null, lastSeen: null, lastReceived: null, stale: true, stuck: [] },
      ],
    })
    // lastSeen means the same here as in /api/v1/devices (a new-user trial found them differing)
    const devices = (await app.inject({ method: 'GET', url: '/api/v1/devices' })).json() as { devices: Array<{ id: string; lastSeen: string | null }> }
    const health = response.json() as { devices: Array<{ id: string; lastSeen: string | null }> }
    expect(health.devices.map((d) => [d.id, d.lastSeen])).toEqual(devices.devices.map((d) => [d.id, d.lastSeen]).sort(([a], [b]) => String(a).localeCompare(String(b))))
    for (const hidden of ['fv-hidden', 'fv-ghost', 'fv-quiet', 'tasmota-fvshed']) expect(response.body).not.toContain(hidden)
    expect((await app.inject({ method: 'GET', url: '/api/v1/health/devices?neighbourhood=nowhere' })).statusCode).toBe(404)
  })

  it('is in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
    expect(Object.keys(doc.paths['/api/v1/health/devices'].get.responses)).toEqual(['200', '400', '404'])
  })
})
