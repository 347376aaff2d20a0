import { distanceKm } from '../../reference/stations.ts'
import type { CalibrationInput } from './method.ts'

/**
 * PM calibration groups: devices of the same sensor model within `radiusKm` of each other, with the reference
 * station within `maxReferenceKm` of the group. Why by model: optical sensors of different makes grow
 * differently with humidity and have different gains (SDS011 vs SPS30), so one group factor for both biases
 * each by the other's growth (issue 11: SDS011 1.14×, SPS30-like 0.67×). Why by distance: RIVM's group-ratio
 * method assumes PM "does not differ much locally" (research §4a), which holds within a city, not between
 * cities. The defaults (10 km, 30 km) are ours: Stadshagen's nearest PM stations are 14.1 km (NL10818) and
 * 28.1 km (NL10807) away (research §1).
 *
 * Grouping is greedy complete linkage, deterministic: devices sorted by model, then id; each joins the first
 * group of its model all of whose devices are within `radiusKm`, else starts a new group. A device without
 * `location` joins the devices of its model without location (one group: "same place"); one without
 * `sensorModel` counts as model 'unknown'.
 */

export interface PmGroupOptions {
  /** Maximum distance, km, between any two devices of a group; default 10 (ours). */
  radiusKm?: number
  /** Maximum distance, km, from the group's centre to the reference station; default 30 (ours). */
  maxReferenceKm?: number
}

export const DEFAULT_GROUP_RADIUS_KM = 10
export const DEFAULT_MAX_REFERENCE_KM = 30

export interface PmGroup {
  /** `<model>#<n>`, n counting the groups of that model from 1. */
  id: string
  sensorModel: string
  deviceIds: string[]
  /** Distance from the mean device position to the reference, km; undefined when either is unknown. */
  referenceKm?: number
  /** False when the reference is farther than `maxReferenceKm`: the group gets no factor. */
  referenceNear: boolean
}

type Located = { deviceId: string; model: string; location?: { lat: number; lon: number } }

/** The groups of `input.devices` (see the module comment). Pure; every device is in exactly one group. */
export function pmGroups(input: CalibrationInput, options: PmGroupOptions = {}): PmGroup[] {
  const radiusKm = options.radiusKm ?? DEFAULT_GROUP_RADIUS_KM
  const maxReferenceKm = options.maxReferenceKm ?? DEFAULT_MAX_REFERENCE_KM
  const devices: Located[] = input.devices
    .map((d) => ({ deviceId: d.deviceId, model: d.sensorModel ?? 'unknown', ...(d.location ? { location: d.location } : {}) }))
    .sort((a, b) => (a.model === b.model ? compare(a.deviceId, b.deviceId) : compare(a.model, b.model)))
  const clusters: Located[][] = []
  for (const device of devices) {
    const fits = (cluster: Located[]) =>
      cluster[0]!.model === device.model &&
      cluster.every((other) =>
        device.location === undefined || other.location === undefined
          ? device.location === other.location
          : distanceKm(device.location, other.location) <= radiusKm,
      )
    const cluster = clusters.find(fits)
    if (cluster) cluster.push(device)
    else clusters.push([device])
  }
  const perModel = new Map<string, number>()
  return clusters.map((cluster) => {
    const model = cluster[0]!.model
    const n = (perModel.get(model) ?? 0) + 1
    perModel.set(model, n)
    const located = cluster.flatMap((d) => (d.location ? [d.location] : []))
    const centre = located.length === 0 ? undefined : { lat: avg(located.map((l) => l.lat)), lon: avg(located.map((l) => l.lon)) }
    const referenceKm = centre && input.referenceLocation ? distanceKm(centre, input.referenceLocation) : undefined
    return {
      id: `${model}#${n}`,
      sensorModel: model,
      deviceIds: cluster.map((d) => d.deviceId),
      ...(referenceKm === undefined ? {} : { referenceKm }),
      referenceNear: referenceKm === undefined || referenceKm <= maxReferenceKm,
    }
  })
}

function avg(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
