import { describe, expect, it } from 'vitest'
import { hourEnding, hourlyMeans } from '../../core/calibration/align.ts'
import { assessDevices } from '../../core/calibration/assess.ts'
import { crowdQc } from '../../core/calibration/crowdqc.ts'
import { chooseMethod, hourOfDay } from '../../core/calibration/methods/index.ts'
import type { HourlyValue } from '../../core/calibration/types.ts'
import type { Quantity } from '../../core/quantities.ts'
import { parseKnmiHourly } from '../../core/reference/knmi.ts'
import { hourlyReference } from '../../services/calibration/series.ts'
import { END, GARDENS, HOUR, START, hourlyTruth, weatherFleet } from './synthetic/weather.ts'

/**
 * The temperature and humidity calibration on the synthetic garden fleet (test/calibration/synthetic/weather.ts)
 * with its known truth, through the methods alone (test/calibration/weather-worker.test.ts runs the worker on
 * InfluxDB). The reference is the fleet's KNMI text parsed by core/reference/knmi.ts, as an import would.
 */
const fleet = weatherFleet()
const knmi = parseKnmiHourly(fleet.knmiText)
const referenceOf = (quantity: Quantity) => hourlyReference(knmi.observations.filter((o) => o.quantity === quantity))
const radiation = referenceOf('global_radiation')
const wind = referenceOf('wind_speed')
const QUANTITIES = ['air_temperature', 'relative_humidity'] as const
const truthOf = { air_temperature: (id: string, t: number) => fleet.garden(GARDENS.find((g) => g.deviceId === id)!, t).t, relative_humidity: (id: string, t: number) => fleet.garden(GARDENS.find((g) => g.deviceId === id)!, t).rh }

interface Calibrated {
  raw: Map<string, HourlyValue[]>
  calibrated: Map<string, HourlyValue[]>
  model: ReturnType<typeof chooseMethod>
}

function calibrate(quantity: Quantity): Calibrated {
  const raw = new Map<string, HourlyValue[]>()
  const calibrated = new Map<string, HourlyValue[]>()
  const devices = GARDENS.map(({ deviceId }) => {
    const readings = fleet.readings.filter((r) => r.deviceId === deviceId && r.quantity === quantity)
    return { deviceId, readings, hourly: hourlyMeans(readings) }
  })
  const model = chooseMethod(quantity, { quantity, devices, reference: referenceOf(quantity), radiation, wind })
  for (const d of devices) {
    raw.set(d.deviceId, d.hourly)
    const values = d.readings.flatMap((r) => {
      const value = model.apply(d.deviceId, r.observedAt, r.value)
      return value === undefined ? [] : [{ ...r, value }]
    })
    calibrated.set(d.deviceId, hourlyMeans(values))
  }
  return { raw, calibrated, model }
}

const results = { air_temperature: calibrate('air_temperature'), relative_humidity: calibrate('relative_humidity') }

/** Errors against the true garden value, hourly means: sensor − truth, by end-of-hour time. */
function errors(quantity: Quantity, deviceId: string, hourly: HourlyValue[]): Array<{ time: number; error: number }> {
  const truth = truthOf[quantity as (typeof QUANTITIES)[number]]
  return hourly.map((h) => ({ time: h.time, error: h.value - hourlyTruth(h.time, (t) => truth(deviceId, t)) }))
}
const rmse = (e: Array<{ error: number }>) => Math.sqrt(e.reduce((s, x) => s + x.error ** 2, 0) / e.length)
const mbe = (e: Array<{ error: number }>) => e.reduce((s, x) => s + x.error, 0) / e.length

describe('radiation-offset on the synthetic garden fleet (21 days, 8 gardens, 5-minute readings)', () => {
  it.each(QUANTITIES.flatMap((q) => GARDENS.map((g) => [q, g.deviceId] as const)))('%s of %s: calibrated RMSE ≤ raw RMSE against the true garden value', (quantity, deviceId) => {
    const { raw, calibrated } = results[quantity]
    const before = errors(quantity, deviceId, raw.get(deviceId)!)
    const after = errors(quantity, deviceId, calibrated.get(deviceId)!)
    expect(after.length).toBeGreaterThanOrEqual(0.95 * before.length) // every hour with Q and FH is calibrated
    console.log(`${quantity} ${deviceId}: RMSE ${rmse(before).toFixed(3)} -> ${rmse(after).toFixed(3)}, MBE ${mbe(before).toFixed(3)} -> ${mbe(after).toFixed(3)}`)
    expect(rmse(after)).toBeLessThanOrEqual(rmse(before))
  })

  it.each(GARDENS.filter((g) => !g.faulty).map((g) => g.deviceId))('temperature of %s: |MBE| ≤ 0.5 °C in every hour of day against the true garden temperature', (deviceId) => {
    const byHour = Array.from({ length: 24 }, () => [] as Array<{ error: number }>)
    for (const e of errors('air_temperature', deviceId, results.air_temperature.calibrated.get(deviceId)!)) byHour[hourOfDay(e.time)]!.push(e)
    const worst = Math.max(...byHour.map((e) => Math.abs(mbe(e))))
    console.log(`air_temperature ${deviceId}: worst hour-of-day |MBE| ${worst.toFixed(3)} °C`)
    for (const [hour, e] of byHour.entries()) {
      expect(e.length, `hour ${hour}`).toBeGreaterThanOrEqual(20)
      expect(Math.abs(mbe(e)), `hour ${hour}`).toBeLessThanOrEqual(0.5)
    }
  })

  it.each(GARDENS.filter((g) => !g.faulty).map((g) => g.deviceId))('temperature of %s: the night-time heat island is kept (calibrated − reference at night within 0.3 °C of the true island)', (deviceId) => {
    const reference = new Map(referenceOf('air_temperature').map((v) => [v.time, v.value]))
    const garden = GARDENS.find((g) => g.deviceId === deviceId)!
    const night = results.air_temperature.calibrated.get(deviceId)!.filter((h) => [22, 23, 0, 1, 2].includes(hourOfDay(h.time)) && reference.has(h.time))
    const calibratedIsland = night.reduce((s, h) => s + h.value - reference.get(h.time)!, 0) / night.length
    const trueIsland = night.reduce((s, h) => s + hourlyTruth(h.time, (t) => fleet.garden(garden, t).t - fleet.rural(t).t), 0) / night.length
    console.log(`air_temperature ${deviceId}: night island true ${trueIsland.toFixed(3)}, calibrated − reference ${calibratedIsland.toFixed(3)} °C`)
    expect(trueIsland).toBeGreaterThan(0.5) // the fleet has a heat island to keep
    expect(Math.abs(calibratedIsland - trueIsland)).toBeLessThanOrEqual(0.3)
  })

  it('recovers each sensor\'s offset and radiation coefficient (written out in the fleet)', () => {
    for (const g of GARDENS.filter((x) => !x.faulty)) {
      const c = results.air_temperature.model.coefficients(g.deviceId)
      expect(c.radiation_coefficient as number).toBeCloseTo(g.radiation, 3)
      expect(Math.abs((c.offset as number) - (g.offset + g.dayDifference))).toBeLessThanOrEqual(0.15)
    }
  })

  it.each(QUANTITIES)('%s: the CrowdQC checks flag the faulty sensor and no other device', (quantity) => {
    const { calibrated } = results[quantity]
    const qc = crowdQc(quantity, GARDENS.map((g) => ({ deviceId: g.deviceId, hourly: calibrated.get(g.deviceId)!, position: g.position })))
    for (const g of GARDENS) {
      const summary = qc.summary(g.deviceId)
      console.log(`${quantity} ${g.deviceId}: qc ${JSON.stringify(summary)}`)
      if (g.faulty) expect(summary.flags.length).toBeGreaterThan(0)
      else expect(summary.flags).toEqual([])
    }
    const faulty = GARDENS.find((g) => g.faulty)!.deviceId
    expect(qc.flagsAt(faulty, hourEnding(calibrated.get(faulty)![0]!.time))).toEqual(expect.arrayContaining(qc.summary(faulty).flags))
  })
})

describe('labels of the garden fleet (core/calibration/assess.ts, held-out day blocks against KNMI)', () => {
  it.each(QUANTITIES)('%s: every device, the faulty one included, is experimental (the EU sets no objective) with U = 2·RMSE', (quantity) => {
    const devices = GARDENS.map(({ deviceId }) => ({ deviceId, hourly: hourlyMeans(fleet.readings.filter((r) => r.deviceId === deviceId && r.quantity === quantity)) }))
    const input = { quantity, devices, reference: referenceOf(quantity), radiation, wind }
    const assessed = assessDevices(input, (i) => chooseMethod(quantity, i), { from: START, to: END })
    for (const { deviceId } of GARDENS) {
      const u = assessed.get(deviceId)!.uncertainty
      console.log(`${quantity} ${deviceId}: ${u.label}, U ${u.expandedUncertainty?.toFixed(2)}, capture ${u.dataCapture.toFixed(3)}`)
      expect(u.label, deviceId).toBe('experimental')
      expect(u.reasons, deviceId).toContain(`no_objective: the EU sets no data quality objective for ${quantity}`)
      expect(u.expandedUncertainty, deviceId).toBeGreaterThan(0)
      expect(u.dataCapture, deviceId).toBeGreaterThanOrEqual(0.9)
    }
  })
})

describe('radiation-offset without radiation data', () => {
  it('calibrates nothing and says why', () => {
    const { deviceId } = GARDENS[0]!
    const hourly = hourlyMeans(fleet.readings.filter((r) => r.deviceId === deviceId && r.quantity === 'air_temperature'))
    const model = chooseMethod('air_temperature', { quantity: 'air_temperature', devices: [{ deviceId, hourly }], reference: referenceOf('air_temperature') })
    expect(model.method).toBe('radiation-offset')
    expect(model.apply(deviceId, hourly[30]!.time, 20)).toBeUndefined()
    expect(model.notes(deviceId)[0]).toMatch(/^no_radiation_reference/)
  })

  it('a device with fewer than 48 daytime hours is not fitted', () => {
    const { deviceId } = GARDENS[0]!
    const hourly = hourlyMeans(fleet.readings.filter((r) => r.deviceId === deviceId && r.quantity === 'air_temperature' && r.observedAt < fleet.readings[0]!.observedAt + 2 * 24 * HOUR))
    const model = chooseMethod('air_temperature', { quantity: 'air_temperature', devices: [{ deviceId, hourly }], reference: referenceOf('air_temperature'), radiation, wind })
    expect(model.notes(deviceId)[0]).toMatch(/^insufficient_daytime_hours: 3\d daytime hours/)
  })
})
