import type { Quantity } from '../../quantities.ts'
import { type PmGroupRatioOptions, pmGroupRatio, restorePmGroupRatio } from './group-ratio.ts'
import { type PmKohlerOptions, pmKohler, restorePmKohler } from './kohler.ts'
import { type LinearCollocatedOptions, linearCollocated, restoreLinearCollocated } from './linear.ts'
import { type RadiationOffsetOptions, radiationOffset, restoreRadiationOffset } from './radiation-offset.ts'
import { type CalibrationInput, type CalibrationMethod, type CalibrationModel, type Coefficients, isPm } from './method.ts'
import { type No2Options, no2Rivm, restoreNo2Rivm } from './no2.ts'

export * from './method.ts'
export * from './group-ratio.ts'
export * from './kohler.ts'
export * from './linear.ts'
export * from './radiation-offset.ts'
export * from './no2.ts'
export * from './drift.ts'
export * from './pm-groups.ts'

/**
 * Every calibration method by name (the `method` its models report). Call with default options through the
 * registry, e.g. `METHODS['pm-kohler'](input)`; import the function itself to pass options.
 */
export const METHODS = {
  'pm-group-ratio': pmGroupRatio,
  'pm-kohler': pmKohler,
  'linear-collocated': linearCollocated,
  'radiation-offset': radiationOffset,
  'no2-rivm': no2Rivm,
} as const satisfies Record<string, CalibrationMethod<never>>

export type MethodName = keyof typeof METHODS

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHODS, name)
}

export interface ChooseMethodOptions {
  pmGroupRatio?: PmGroupRatioOptions
  linearCollocated?: LinearCollocatedOptions
  radiationOffset?: RadiationOffsetOptions
  /** κ-Köhler of collocated PM devices (the group method's fallback has its own, in pmGroupRatio.kohler). */
  pmKohler?: PmKohlerOptions
  no2?: No2Options
}

/**
 * The models chosen for one quantity and group of devices. It is itself a CalibrationModel that dispatches every
 * call to `modelFor(deviceId)`; its own `method`/`version` are those of the group's default model (PM:
 * 'pm-group-ratio', T/RH: 'radiation-offset'). Record `modelFor(deviceId).method` per device and `methodAt` per
 * reading: a collocated device is calibrated by 'linear-collocated', a group-ratio hour may fall back to 'pm-kohler'.
 */
export interface CalibrationChoice extends CalibrationModel {
  quantity: Quantity
  /** Every model built (PM with collocated devices: linear-collocated, then pm-group-ratio). */
  models: CalibrationModel[]
  /** The model that calibrates this device (a device not in the input gets the group's default model). */
  modelFor(deviceId: string): CalibrationModel
  /** The method that calibrates this reading, or undefined when it cannot be calibrated. */
  methodAt(deviceId: string, observedAt: number): string | undefined
  /** Calibration flags of this reading (e.g. PM `humid`), [] when none. */
  flagsAt(deviceId: string, observedAt: number): string[]
}

function choice(quantity: Quantity, fallback: CalibrationModel, models: CalibrationModel[], modelFor: (deviceId: string) => CalibrationModel): CalibrationChoice {
  return {
    quantity,
    models,
    modelFor,
    method: fallback.method,
    version: fallback.version,
    apply: (deviceId, observedAt, value) => modelFor(deviceId).apply(deviceId, observedAt, value),
    coefficients: (deviceId) => modelFor(deviceId).coefficients(deviceId),
    notes: (deviceId) => modelFor(deviceId).notes(deviceId),
    flagsAt: (deviceId, observedAt) => modelFor(deviceId).flagsAt?.(deviceId, observedAt) ?? [],
    methodAt(deviceId, observedAt) {
      const model = modelFor(deviceId)
      return model.methodAt ? model.methodAt(deviceId, observedAt) : model.method
    },
  }
}

/**
 * Picks and fits the calibration per quantity:
 * - pm2_5, pm10: `pm-group-ratio` with its `pm-kohler` fallback (when `input.humidity` is given); a device in
 *   `input.collocated` gets its own fit against the reference it stands next to instead: `pm-kohler` with gain
 *   and κ fitted (issue 11) when humidity is given, else `linear-collocated`. A collocated device that cannot
 *   be fitted gets the group ratio.
 * - no2: `no2-rivm` (start calibration beside a station, night-time calibration after it); a device never
 *   collocated stays uncalibrated with the reason in its notes.
 * - air_temperature, relative_humidity: `radiation-offset` for every device (per device: its offset and radiation
 *   error against KNMI Q and FH; the urban heat island is kept, so collocation does not change the choice).
 * Every device of `input.devices` is calibrated; only `input.groupMembers` (default all) shape the shared
 * group factors, every other fit is per device.
 * Errors: Error 'no calibration method for <quantity>' for any other quantity; Error when `quantity` differs
 * from `input.quantity`; the methods' own errors (see each).
 */
export function chooseMethod(quantity: Quantity, input: CalibrationInput, options: ChooseMethodOptions = {}): CalibrationChoice {
  if (input.quantity !== quantity) throw new Error(`chooseMethod: input is ${input.quantity}, asked for ${quantity}`)
  if (isPm(quantity)) {
    const group = pmGroupRatio(input, options.pmGroupRatio)
    if ((input.collocated ?? []).length === 0) return choice(quantity, group, [group], () => group)
    const collocated = new Set(input.collocated)
    const own =
      input.humidity === undefined
        ? linearCollocated(input, options.linearCollocated)
        : pmKohler({ ...input, devices: input.devices.filter((d) => collocated.has(d.deviceId)) }, options.pmKohler)
    const fitted = (deviceId: string) => collocated.has(deviceId) && ('b' in own.coefficients(deviceId) || own.coefficients(deviceId).kappa_fitted === 1)
    return choice(quantity, group, [own, group], (deviceId) => (fitted(deviceId) ? own : group))
  }
  if (quantity === 'no2') {
    const model = no2Rivm(input, options.no2)
    return choice(quantity, model, [model], () => model)
  }
  if (quantity === 'air_temperature' || quantity === 'relative_humidity') {
    const model = radiationOffset(input, options.radiationOffset)
    return choice(quantity, model, [model], () => model)
  }
  throw new Error(`no calibration method for ${quantity}`)
}

/**
 * A device's stored fit as restoreChoice reads it (core/calibration/fits.ts CalibrationFit): the method that
 * calibrates it, the coefficients of every model of its choice by method name (JSON: non-finite numbers as null),
 * and the fit's notes.
 */
export interface StoredChoice {
  method: string
  parameters: Record<string, Record<string, number | number[] | null>>
  notes: string[]
}

/**
 * The models of stored fits (one per device, `fits`), applied to `input` (the apply window's hourly data,
 * reference, humidity, Q and FH): the same choice chooseMethod made at fitting time, each model rebuilt from its
 * stored coefficients by its method's restore function (pm-group-ratio: the stored scales, with the group factor of
 * each hour computed from `input`). On the fit's own hours it calibrates as the fitted choice did. A device without
 * a stored fit is not calibrated (PM: it neither enters the group level). `options` must be those of the fit.
 * Errors: Error 'no calibration method for <quantity>'; the restore functions' own (e.g. pm-kohler without humidity).
 */
export function restoreChoice(quantity: Quantity, fits: ReadonlyMap<string, StoredChoice>, input: CalibrationInput, options: ChooseMethodOptions = {}): CalibrationChoice {
  if (input.quantity !== quantity) throw new Error(`restoreChoice: input is ${input.quantity}, asked for ${quantity}`)
  const stored = (method: string) => ({
    parameters: (deviceId: string) => fits.get(deviceId)?.parameters[method],
    notes: (deviceId: string) => fits.get(deviceId)?.notes ?? [],
  })
  const only = (model: CalibrationModel) => choice(quantity, model, [model], () => model)
  if (isPm(quantity)) {
    const group = restorePmGroupRatio(input, stored('pm-group-ratio'), options.pmGroupRatio)
    const own: CalibrationModel[] = []
    if ([...fits.values()].some((f) => f.method === 'linear-collocated')) own.push(restoreLinearCollocated(input, stored('linear-collocated')))
    if (input.humidity !== undefined && [...fits.values()].some((f) => f.method === 'pm-kohler')) own.push(restorePmKohler(input, stored('pm-kohler'), options.pmKohler))
    const modelFor = (deviceId: string) => own.find((m) => m.method === fits.get(deviceId)?.method) ?? group
    return choice(quantity, group, [...own, group], modelFor)
  }
  if (quantity === 'no2') return only(restoreNo2Rivm(stored('no2-rivm')))
  if (quantity === 'air_temperature' || quantity === 'relative_humidity') return only(restoreRadiationOffset(input, stored('radiation-offset')))
  throw new Error(`no calibration method for ${quantity}`)
}

/** Per device, the coefficients of every model of `choice` by method name (what restoreChoice reads back). */
export function choiceParameters(choice: CalibrationChoice, deviceId: string): Record<string, Coefficients> {
  return Object.fromEntries(choice.models.map((m) => [m.method, m.coefficients(deviceId)]))
}
