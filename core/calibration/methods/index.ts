import type { Quantity } from '../../quantities.ts'
import { type PmGroupRatioOptions, pmGroupRatio } from './group-ratio.ts'
import { pmKohler } from './kohler.ts'
import { type LinearCollocatedOptions, linearCollocated } from './linear.ts'
import { type RadiationOffsetOptions, radiationOffset } from './radiation-offset.ts'
import { type CalibrationInput, type CalibrationMethod, type CalibrationModel, isPm } from './method.ts'

export * from './method.ts'
export * from './group-ratio.ts'
export * from './kohler.ts'
export * from './linear.ts'
export * from './radiation-offset.ts'

/**
 * Every calibration method by name (the `method` its models report). Call with default options through the
 * registry, e.g. `METHODS['pm-kohler'](input)`; import the function itself to pass options.
 */
export const METHODS = {
  'pm-group-ratio': pmGroupRatio,
  'pm-kohler': pmKohler,
  'linear-collocated': linearCollocated,
  'radiation-offset': radiationOffset,
} as const satisfies Record<string, CalibrationMethod<never>>

export type MethodName = keyof typeof METHODS

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHODS, name)
}

export interface ChooseMethodOptions {
  pmGroupRatio?: PmGroupRatioOptions
  linearCollocated?: LinearCollocatedOptions
  radiationOffset?: RadiationOffsetOptions
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
    methodAt(deviceId, observedAt) {
      const model = modelFor(deviceId)
      return model.methodAt ? model.methodAt(deviceId, observedAt) : model.method
    },
  }
}

/**
 * Picks and fits the calibration per quantity:
 * - pm2_5, pm10: `pm-group-ratio` with its `pm-kohler` fallback (when `input.humidity` is given); a device in
 *   `input.collocated` with a `linear-collocated` fit uses that instead (its own regression against the
 *   reference it stands next to beats a regional factor). A collocated device without enough pairs gets the
 *   group ratio.
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
    const linear = linearCollocated(input, options.linearCollocated)
    return choice(quantity, group, [linear, group], (deviceId) => ('b' in linear.coefficients(deviceId) ? linear : group))
  }
  if (quantity === 'air_temperature' || quantity === 'relative_humidity') {
    const model = radiationOffset(input, options.radiationOffset)
    return choice(quantity, model, [model], () => model)
  }
  throw new Error(`no calibration method for ${quantity}`)
}
