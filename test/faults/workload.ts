import { DateTime } from 'luxon'
import type { NewDevice } from '../../core/registry/store.ts'
import { readingsTopic } from '../../core/topics.ts'
import type { FleetDevice, FleetMessage } from '../helpers/fleet.ts'

/**
 * The fault matrix's workload: a fleet of `devices` registered devices, each sending `messages` QoS 1 messages
 * of five readings ten seconds apart (observed times ending shortly before the run started, within the
 * ingest's SENSHAGEN_MAX_AGE_MS). Three devices in four speak the native payload v1, every fourth is a Tasmota
 * with a BME280 and an SDS011 (tele/<topic>/SENSOR, `Time` as device-local wall time in Europe/Amsterdam, the
 * decoder's default zone). The shapes and base values are the fixture message
 * test/fixtures/devices/tasmota/mqtt-messages.jsonl line 2: `{"Time":"2024-03-10T14:05:00","BME280":{"Temperature":8.4,
 * "Humidity":81.2,"DewPoint":5.4,"Pressure":1012.6},"SDS0X1":{"PM2.5":6.1,"PM10":11.8},"PressureUnit":"hPa","TempUnit":"C"}`;
 * every message varies them by device and sequence number so that no two readings of a device carry one value.
 * Expected values are written out here from what is sent, never read back from the code under test.
 */
export interface WorkloadSize {
  devices: number
  messages: number
}

const BASE = { air_temperature: 8.4, relative_humidity: 81.2, air_pressure: 1012.6, pm2_5: 6.1, pm10: 11.8 } as const
type Values = Record<keyof typeof BASE, number>
const STEP_MS = 10_000
const TIME_ZONE = 'Europe/Amsterdam'

export function deviceIds(size: WorkloadSize): string[] {
  return Array.from({ length: size.devices }, (_, d) => (d % 4 === 3 ? `tasmota-fault${pad(d)}` : `fault-${pad(d)}`))
}

/** The registry entries of the fleet (consenting, in stadshagen). */
export function registrations(size: WorkloadSize): NewDevice[] {
  return deviceIds(size).map((id) => ({ id, neighbourhood: 'stadshagen', consent: true }))
}

const pad = (d: number) => String(d).padStart(3, '0')
const round1 = (x: number) => Math.round(x * 10) / 10

/** Message `seq` of device `d`: the fixture's values plus a small device- and sequence-dependent offset (0.1 steps). */
export function valuesOf(d: number, seq: number, shift = 0): Values {
  const k = ((d * 31 + seq * 7) % 97) / 10 + shift
  return {
    air_temperature: round1(BASE.air_temperature + k),
    relative_humidity: round1(BASE.relative_humidity - k / 2),
    air_pressure: round1(BASE.air_pressure + k),
    pm2_5: round1(BASE.pm2_5 + k),
    pm10: round1(BASE.pm10 + 2 * k),
  }
}

/** One message of device `id` observed at `time` (epoch ms, whole seconds) carrying `values`, in the device's own format. */
export function message(id: string, time: number, values: Values): FleetMessage {
  if (id.startsWith('tasmota-')) {
    const topic = id.slice('tasmota-'.length)
    const local = DateTime.fromMillis(time, { zone: TIME_ZONE }).toFormat("yyyy-LL-dd'T'HH:mm:ss")
    const payload = JSON.stringify({
      Time: local,
      BME280: { Temperature: values.air_temperature, Humidity: values.relative_humidity, DewPoint: 5.4, Pressure: values.air_pressure },
      SDS0X1: { 'PM2.5': values.pm2_5, PM10: values.pm10 },
      PressureUnit: 'hPa',
      TempUnit: 'C',
    })
    // every sensor object is its own sub-device (core/decoders/tasmota.ts)
    const bme = `${id}.bme280`
    const sds = `${id}.sds0x1`
    return {
      topic: `tele/${topic}/SENSOR`,
      payload,
      readings: [
        { device: bme, quantity: 'air_temperature', time, value: values.air_temperature },
        { device: bme, quantity: 'relative_humidity', time, value: values.relative_humidity },
        { device: bme, quantity: 'air_pressure', time, value: values.air_pressure },
        { device: sds, quantity: 'pm2_5', time, value: values.pm2_5 },
        { device: sds, quantity: 'pm10', time, value: values.pm10 },
      ],
      rejections: [],
    }
  }
  return {
    topic: readingsTopic(id),
    payload: JSON.stringify({ v: 1, time, readings: values }),
    readings: Object.entries(values).map(([quantity, value]) => ({ device: id, quantity, time, value })),
    rejections: [],
  }
}

/** The observed time of message `seq` when a fleet of messages per device ends at `end`. */
export function timeOf(end: number, size: WorkloadSize, seq: number): number {
  return end - (size.messages - seq) * STEP_MS
}

/** The whole fleet's messages; `end` = observed time just after the last message (epoch ms, whole seconds). */
export function fleet(size: WorkloadSize, secrets: Map<string, string> | undefined, end: number): FleetDevice[] {
  return deviceIds(size).map((id, d) => ({
    id,
    secret: secrets?.get(id),
    messages: Array.from({ length: size.messages }, (_, seq) => message(id, timeOf(end, size, seq), valuesOf(d, seq))),
  }))
}

/** Kinds of invalid native messages in the flood, each with the rule its rejection must carry. */
export const INVALID_KINDS = [
  { rule: 'range', payload: (time: number) => JSON.stringify({ v: 1, time, readings: { relative_humidity: 150 } }) },
  { rule: 'unknown_quantity', payload: (time: number) => JSON.stringify({ v: 1, time, readings: { co2_ppm: 412 } }) },
  { rule: 'json', payload: (time: number) => `{"v":1,"time":${time},"readings":{"pm10":` },
] as const

/** Invalid message `i` of the flood from device `id`, observed at `time`. */
export function invalidMessage(id: string, time: number, i: number): FleetMessage {
  const kind = INVALID_KINDS[i % INVALID_KINDS.length]!
  return { topic: readingsTopic(id), payload: kind.payload(time), readings: [], rejections: [kind.rule] }
}
