import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { NativePayloadV1Schema, type NativePayloadV1 } from '../../core/native-payload.ts'
import { QUANTITIES, isQuantity } from '../../core/quantities.ts'
import { parseSimOptions, type RawSimOptions } from '../../cli/commands/impl/sim.ts'
import { deviceIdFor, modelOptions, relativeHumidity, simPayload } from '../../firmware-sim/model.ts'
import { hashKey, mulberry32 } from '../../firmware-sim/random.ts'

const WEEK_START = Date.UTC(2026, 10, 23) // Monday 2026-11-23 00:00 UTC (01:00 CET)
const STEP_MS = 10 * 60_000
const DEVICES = 5

/** One simulated week (10-min steps, 5 devices) for `seed`. */
function week(seed: number): NativePayloadV1[] {
  const o = modelOptions({ seed })
  const out: NativePayloadV1[] = []
  for (let t = WEEK_START; t < WEEK_START + 7 * 86_400_000; t += STEP_MS) {
    for (let i = 0; i < DEVICES; i++) out.push(simPayload(o, i, t))
  }
  return out
}

const seed1 = week(1)
const value = (p: NativePayloadV1, q: string) => p.readings[q] as number

/** Hour of day in Zwolle (Europe/Amsterdam; CET = UTC+1 in late November). */
const zwolleHour = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hour: '2-digit', hourCycle: 'h23' })
const localHour = (p: NativePayloadV1) => Number(zwolleHour.format(Date.parse(p.time as string)))

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

describe('firmware-sim random', () => {
  it('is deterministic and keyed', () => {
    const a = mulberry32(42)
    const b = mulberry32(42)
    const first = [a(), a(), a()]
    expect([b(), b(), b()]).toEqual(first)
    for (const x of first) expect(x >= 0 && x < 1).toBe(true)
    expect(hashKey([1, 2, 3])).toBe(hashKey([1, 2, 3]))
    expect(hashKey([1, 2, 3])).not.toBe(hashKey([1, 2, 4]))
    // epoch milliseconds beyond 2^32 differ in the high word only
    expect(hashKey([1, 2 ** 32 + 5])).not.toBe(hashKey([1, 5]))
  })
})

describe('firmware-sim model', () => {
  it('pins the payload of seed 1 (a change of any constant shows here)', () => {
    const o = modelOptions({ seed: 1 })
    expect(simPayload(o, 0, Date.parse('2026-11-29T18:00:00.000Z'))).toEqual({
      v: 1,
      device: 'sim-000',
      time: '2026-11-29T18:00:00.000Z',
      sensor: 'BME280+SDS011',
      readings: { air_temperature: 8.38, relative_humidity: 78.63, air_pressure: 1017.64, pm2_5: 18.6, pm10: 30 },
    })
    expect(simPayload(o, 7, Date.parse('2026-11-30T06:30:00.000Z')).readings).toEqual({
      air_temperature: 1.31,
      relative_humidity: 98.54,
      air_pressure: 1023.44,
      pm2_5: 12.6,
      pm10: 20,
    })
  })

  it('gives identical payloads for the same seed and different ones for another seed', () => {
    expect(week(1)).toEqual(seed1)
    const seed2 = week(2)
    expect(seed2).toHaveLength(seed1.length)
    const differing = seed2.filter((p, n) => JSON.stringify(p.readings) !== JSON.stringify(seed1[n]!.readings)).length
    expect(differing).toBe(seed1.length)
  })

  it('does not depend on evaluation order (pure function of seed, device, time)', () => {
    const o = modelOptions({ seed: 1 })
    const t = WEEK_START + 3 * 86_400_000 + 17 * STEP_MS
    simPayload(o, 3, t + 1) // evaluating other points first changes nothing
    expect(simPayload(o, 2, t)).toEqual(seed1[(3 * 144 + 17) * DEVICES + 2])
  })

  it('uses device ids sim-000, sim-001, …', () => {
    expect([deviceIdFor(0), deviceIdFor(1), deviceIdFor(42), deviceIdFor(999)]).toEqual(['sim-000', 'sim-001', 'sim-042', 'sim-999'])
    expect(deviceIdFor(5, 'garden-')).toBe('garden-005')
  })

  it('is warmer in the afternoon (13–16 h local) than before dawn (04–07 h) by at least 1.5 °C over a week', () => {
    const afternoon = mean(seed1.filter((p) => localHour(p) >= 13 && localHour(p) < 16).map((p) => value(p, 'air_temperature')))
    const dawn = mean(seed1.filter((p) => localHour(p) >= 4 && localHour(p) < 7).map((p) => value(p, 'air_temperature')))
    expect(afternoon - dawn).toBeGreaterThanOrEqual(1.5)
    // late-November Zwolle: a plausible weekly mean
    const all = mean(seed1.map((p) => value(p, 'air_temperature')))
    expect(all).toBeGreaterThan(0)
    expect(all).toBeLessThan(12)
  })

  it('keeps RH in 0–100 %, and drier in the afternoon than before dawn', () => {
    for (const p of seed1) {
      expect(value(p, 'relative_humidity')).toBeGreaterThanOrEqual(0)
      expect(value(p, 'relative_humidity')).toBeLessThanOrEqual(100)
    }
    const afternoon = mean(seed1.filter((p) => localHour(p) >= 13 && localHour(p) < 16).map((p) => value(p, 'relative_humidity')))
    const dawn = mean(seed1.filter((p) => localHour(p) >= 4 && localHour(p) < 7).map((p) => value(p, 'relative_humidity')))
    expect(dawn - afternoon).toBeGreaterThanOrEqual(5)
  })

  it('computes RH with the Magnus formula', () => {
    expect(relativeHumidity(10, 10)).toBe(100)
    expect(relativeHumidity(20, 10)).toBeCloseTo(52.5, 1) // 12.27 hPa / 23.37 hPa
    expect(relativeHumidity(5, 10)).toBe(100) // supersaturation is clipped
  })

  it('keeps pressure near 1013 hPa with slow drift', () => {
    const device0 = seed1.filter((p) => p.device === 'sim-000').map((p) => value(p, 'air_pressure'))
    for (const hpa of device0) {
      expect(hpa).toBeGreaterThan(985)
      expect(hpa).toBeLessThan(1041)
    }
    for (let n = 6; n < device0.length; n++) expect(Math.abs(device0[n]! - device0[n - 6]!)).toBeLessThan(2) // per hour
  })

  it('reports PM10 ≥ PM2.5 always', () => {
    for (const p of seed1) expect(value(p, 'pm10')).toBeGreaterThanOrEqual(value(p, 'pm2_5'))
  })

  it('has at least one PM2.5 episode above 25 µg/m³ in a week, and a background median below 15', () => {
    const pm25 = seed1.map((p) => value(p, 'pm2_5')).sort((a, b) => a - b)
    expect(pm25.filter((x) => x > 25).length).toBeGreaterThan(0)
    expect(pm25[Math.floor(pm25.length / 2)]!).toBeLessThan(15)
  })

  it('produces only valid native payloads with in-range vocabulary quantities', () => {
    for (const p of seed1) {
      expect(NativePayloadV1Schema.safeParse(p).success).toBe(true)
      for (const [q, v] of Object.entries(p.readings)) {
        expect(isQuantity(q), q).toBe(true)
        if (!isQuantity(q) || v === null) continue
        expect(v).toBeGreaterThanOrEqual(QUANTITIES[q].min)
        expect(v).toBeLessThanOrEqual(QUANTITIES[q].max)
      }
    }
  })

  it('stays valid for any seed, device and time (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 999 }),
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
        (seed, device, time) => {
          const p = simPayload(modelOptions({ seed }), device, time)
          if (!NativePayloadV1Schema.safeParse(p).success) return false
          const r = p.readings as Record<string, number>
          const inRange = Object.entries(r).every(([q, v]) => isQuantity(q) && v >= QUANTITIES[q].min && v <= QUANTITIES[q].max)
          return inRange && r.pm10! >= r.pm2_5! && Number.isFinite(r.air_temperature)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('reports null for a failed sensor and keeps the other values', () => {
    const o = modelOptions({ seed: 1, sensorFailureRate: 0.2 })
    const payloads = Array.from({ length: 500 }, (_, k) => simPayload(o, 0, WEEK_START + k * STEP_MS))
    const nullPm = payloads.filter((p) => p.readings.pm2_5 === null)
    expect(nullPm.length).toBeGreaterThan(50)
    expect(nullPm.length).toBeLessThan(150)
    for (const p of nullPm) expect(p.readings.pm10).toBeNull()
    expect(nullPm.some((p) => typeof p.readings.air_temperature === 'number')).toBe(true)
    for (const p of payloads) expect(NativePayloadV1Schema.safeParse(p).success).toBe(true)
  })
})

describe('senshagen sim options', () => {
  const defaults: RawSimOptions = { devices: '10', interval: '10', seed: '1', qos: '1', backfill: '0' }

  it('accepts the defaults and explicit values', () => {
    expect(parseSimOptions(defaults)).toEqual({ devices: 10, intervalS: 10, seed: 1, qos: 1, durationS: undefined, backfillH: 0 })
    expect(parseSimOptions({ ...defaults, devices: '1000', interval: '0.5', qos: '0', duration: '90', backfill: '24' })).toEqual({
      devices: 1000,
      intervalS: 0.5,
      seed: 1,
      qos: 0,
      durationS: 90,
      backfillH: 24,
    })
  })

  it('names the option in every error', () => {
    expect(() => parseSimOptions({ ...defaults, devices: '0' })).toThrow('--devices must be an integer 1..1000')
    expect(() => parseSimOptions({ ...defaults, devices: '2.5' })).toThrow('--devices must be an integer 1..1000')
    expect(() => parseSimOptions({ ...defaults, devices: '1001' })).toThrow('--devices must be an integer 1..1000')
    expect(() => parseSimOptions({ ...defaults, interval: '0' })).toThrow('--interval must be a number of seconds')
    expect(() => parseSimOptions({ ...defaults, interval: 'ten' })).toThrow('--interval must be a number of seconds')
    expect(() => parseSimOptions({ ...defaults, seed: '-1' })).toThrow('--seed must be an integer 0..4294967295')
    expect(() => parseSimOptions({ ...defaults, qos: '2' })).toThrow('--qos must be 0 or 1')
    expect(() => parseSimOptions({ ...defaults, duration: '' })).toThrow('--duration must be a number of seconds')
    expect(() => parseSimOptions({ ...defaults, backfill: '200' })).toThrow('--backfill must be a number of hours 0..168')
  })
})
