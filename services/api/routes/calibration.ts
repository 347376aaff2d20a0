import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { fileSafeName } from '../../../core/calibration/report.ts'
import { QUANTITIES } from '../../../core/quantities.ts'
import { DeviceParam, QuantityParam, SVG_CONTENT } from '../params.ts'
import { ProblemSchema, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { requirePublicDevice } from './devices.ts'

/**
 * GET /api/v1/calibration: every public device's latest fit per quantity (listFits).
 * GET /api/v1/calibration/:device/:quantity[/scatter.svg|/timeseries.svg|/bias.svg]: the calibration report and
 * plots the calibration worker wrote to SENSHAGEN_REPORTS_DIR (`<dir>/<device>/<quantity>.json`, `-scatter.svg`,
 * `-timeseries.svg`, for temperature and humidity `-bias.svg`; names through core/calibration/report.ts
 * fileSafeName). The report's `label` and `uncertainty` come from held-out data (core/calibration/uncertainty.ts). Public devices only: a report of a
 * non-consented device is answered exactly like an unknown device.
 */
export const NO_REPORT = 'no calibration report for this device and quantity'

const Metrics = z.object({ before: z.record(z.string(), z.number().nullable()), after: z.record(z.string(), z.number().nullable()) }).nullable()

export const CalibrationParamsSchema = z.object({ device: DeviceParam, quantity: QuantityParam })

/** The report as core/calibration/report.ts CalibrationReport writes it (other keys pass through). */
export const CalibrationReportSchema = z.looseObject({
  deviceId: z.string(),
  quantity: z.string(),
  unit: z.string(),
  method: z.string(),
  version: z.string(),
  reference: z.object({ station: z.string(), distanceKm: z.number().nullable() }),
  period: z.object({ from: z.string(), to: z.string() }),
  coefficients: z.record(z.string(), z.unknown()),
  metrics: z.object({
    before: z.record(z.string(), z.number().nullable()).describe('raw, over the fit\'s own hours (in-sample)'),
    after: z.record(z.string(), z.number().nullable()).describe('calibrated, over the fit\'s own hours (in-sample, for comparison only)'),
    heldOut: Metrics.optional().describe('raw and calibrated over held-out hours: the improvement; null when fewer than 3'),
  }),
  notes: z.array(z.string()),
  hours: z.object({ raw: z.number(), calibrated: z.number(), reference: z.number() }),
  label: z.string().describe('indicative | experimental | uncalibrated: indicative only where the EU objective is met on held-out data'),
  labelText: z.string().optional(),
  uncertainty: z
    .looseObject({
      averaging: z.enum(['hour', 'day']),
      n: z.number(),
      objective: z.object({ limitValue: z.number(), relativeUncertainty: z.number(), minDataCapture: z.number(), source: z.string() }).nullable(),
      expandedUncertainty: z.number().nullable().describe('U (k = 2) in the unit, at the limit value (GDE 2010 9.5) or 2·RMSE'),
      relativeExpandedUncertainty: z.number().nullable().describe('W = U / limit value, 0.5 = 50 %'),
      dataCapture: z.number(),
      betweenSampler: z.number().nullable(),
      reasons: z.array(z.string()),
    })
    .nullable()
    .optional(),
})

/** One entry of GET /api/v1/calibration: a device's latest fit for one quantity, from its report. */
export const CalibrationFitEntrySchema = z.object({
  device: z.string(),
  quantity: z.string(),
  unit: z.string(),
  method: z.string(),
  version: z.string(),
  label: z.string().describe('indicative | experimental | uncalibrated'),
  uncertainty: z
    .object({
      averaging: z.enum(['hour', 'day']),
      expandedUncertainty: z.number().nullable().describe('U (k = 2) in the unit'),
      relativeExpandedUncertainty: z.number().nullable().describe('W at the limit value, 0.5 = 50 %'),
      n: z.number(),
    })
    .nullable(),
  fit: z
    .object({
      from: z.string().describe('fit window start, ISO-8601 UTC'),
      to: z.string().describe('fit window end (exclusive)'),
      fittedAt: z.string().describe('when the fit was made'),
      hours: z.number().describe('hourly means of the device in the fit window'),
    })
    .nullable()
    .describe('null for a report written before fits were stored'),
  period: z.object({ from: z.string(), to: z.string() }).describe('the apply window the report covers'),
})
export const CalibrationFitListSchema = z.object({ fits: z.array(CalibrationFitEntrySchema) })

/**
 * The latest fit of every public device and quantity, from the reports in SENSHAGEN_REPORTS_DIR (each run of the
 * worker rewrites a series' report with the fit it applied). Sorted by device, then quantity.
 */
async function listFits(deps: ApiDeps): Promise<z.infer<typeof CalibrationFitEntrySchema>[]> {
  const byFile = new Map(Object.keys(QUANTITIES).map((q) => [`${fileSafeName(q)}.json`, q]))
  const entries: z.infer<typeof CalibrationFitEntrySchema>[] = []
  for (const device of [...deps.registry.publicDevices(undefined)].map((d) => d.id).sort()) {
    const dir = join(deps.config.calibration.reportsDir, fileSafeName(device))
    let files: string[]
    try {
      files = await readdir(dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    for (const file of files.filter((f) => byFile.has(f)).sort()) {
      const report = CalibrationReportSchema.parse(JSON.parse(await readFile(join(dir, file), 'utf8')))
      const fit = report.fit as { from: string; to: string; fittedAt: string; hours: number } | null | undefined
      const u = report.uncertainty
      entries.push({
        device,
        quantity: report.quantity,
        unit: report.unit,
        method: report.method,
        version: report.version,
        label: report.label,
        uncertainty: u ? { averaging: u.averaging, expandedUncertainty: u.expandedUncertainty, relativeExpandedUncertainty: u.relativeExpandedUncertainty, n: u.n } : null,
        fit: fit ? { from: fit.from, to: fit.to, fittedAt: fit.fittedAt, hours: fit.hours } : null,
        period: report.period,
      })
    }
  }
  return entries
}

const FILES = {
  json: { suffix: '.json', type: 'application/json; charset=utf-8' },
  scatter: { suffix: '-scatter.svg', type: 'image/svg+xml' },
  timeseries: { suffix: '-timeseries.svg', type: 'image/svg+xml' },
  bias: { suffix: '-bias.svg', type: 'image/svg+xml' },
} as const

const PLOT_SUMMARY = {
  scatter: 'scatter plots against the reference, raw and calibrated panels, 1:1 line, OLS and Deming fits',
  timeseries: 'time series: raw, calibrated, reference (and reference RH for PM)',
  bias: 'temperature and humidity: bias by hour of day and against global radiation',
} as const

async function readReport(deps: ApiDeps, device: string, quantity: string, file: keyof typeof FILES): Promise<Buffer> {
  requirePublicDevice(deps, device)
  const path = join(deps.config.calibration.reportsDir, fileSafeName(device), `${fileSafeName(quantity)}${FILES[file].suffix}`)
  try {
    return await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(NO_REPORT)
    throw error
  }
}

export function registerCalibrationRoutes(router: ApiRouter, deps: ApiDeps): void {
  const notFoundResponse = { description: 'no public device with this id, or no report yet', content: { 'application/problem+json': ProblemSchema } }
  router.get(
    {
      method: 'GET',
      url: '/api/v1/calibration',
      operationId: 'calibrationFits',
      summary: 'latest calibration fit of every public device and quantity: method, fit window, fitted_at, label, uncertainty',
      tags: ['calibration'],
      responses: { 200: { description: 'the fits', content: { 'application/json': CalibrationFitListSchema } } },
    },
    async (_request, reply) => reply.send({ fits: await listFits(deps) }),
  )
  router.get(
    {
      method: 'GET',
      url: '/api/v1/calibration/:device/:quantity',
      operationId: 'calibrationReport',
      summary: 'calibration report: method, reference station, coefficients, metrics before and after',
      tags: ['calibration'],
      params: CalibrationParamsSchema,
      responses: {
        200: { description: 'the report', content: { 'application/json': CalibrationReportSchema } },
        400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
        404: notFoundResponse,
      },
    },
    async (request, reply) => {
      const body = await readReport(deps, request.params.device, request.params.quantity, 'json')
      return reply.type(FILES.json.type).send(body)
    },
  )
  for (const plot of ['scatter', 'timeseries', 'bias'] as const) {
    router.get(
      {
        method: 'GET',
        url: `/api/v1/calibration/:device/:quantity/${plot}.svg`,
        operationId: `calibration${plot[0]!.toUpperCase()}${plot.slice(1)}Svg`,
        summary: PLOT_SUMMARY[plot],
        tags: ['calibration'],
        params: CalibrationParamsSchema,
        responses: {
          200: { description: 'SVG', content: { 'image/svg+xml': SVG_CONTENT } },
          400: { description: 'bad parameter', content: { 'application/problem+json': ProblemSchema } },
          404: notFoundResponse,
        },
      },
      async (request, reply) => {
        const body = await readReport(deps, request.params.device, request.params.quantity, plot)
        return reply.type(FILES[plot].type).send(body)
      },
    )
  }
}
