import { Readable } from 'node:stream'
import { z } from 'zod'
import { archiveCsv, catalogue, longCsv, longParquet, parseFileName } from '../open-data/files.ts'
import { dataPackage } from '../open-data/datapackage.ts'
import { parsePeriod } from '../open-data/period.ts'
import { ProblemSchema, badParam, notFound } from '../problem.ts'
import type { ApiDeps, ApiRouter } from '../routing.ts'
import { abortOnError } from '../streamed.ts'

/**
 * GET /api/v1/bulk/{period}/{file}: the open-data files of a UTC day (`2024-01-15`) or month (`2024-01`), made on
 * request from the store with the same code as `senshagen export` (services/api/open-data/files.ts): `senshagen.csv`,
 * `sensor-community.csv`, `.parquet` of both, `<source>_<sensor type>.csv` in the sensor.community archive layout,
 * and `datapackage.json` listing them with schema and licence. Public devices only, published positions only.
 */
export const BulkParamsSchema = z.object({
  period: z.string().max(10).describe('a UTC day YYYY-MM-DD or month YYYY-MM'),
  file: z.string().max(100).describe('senshagen.csv, senshagen.parquet, sensor-community.csv, …, <source>_<sensor type>.csv, or datapackage.json'),
})

export function registerBulkRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.get(
    {
      method: 'GET',
      url: '/api/v1/bulk/:period/:file',
      operationId: 'bulkFile',
      summary: 'a day or month of open data as CSV or Parquet, with a Frictionless datapackage.json',
      description:
        'Files per source, so each has one licence (SensHagen CC BY 4.0; sensor.community DbCL 1.0), given in datapackage.json. ' +
        'Long CSV: comma-separated, header first, no comment lines. Archive-layout CSV: `;`-separated like archive.sensor.community.',
      tags: ['open data'],
      params: BulkParamsSchema,
      responses: {
        200: {
          description: 'the file',
          content: {
            'text/csv': { schema: { type: 'string' } },
            'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary' } },
            'application/json': { schema: { type: 'object', description: 'Frictionless Data Package' } },
          },
        },
        400: { description: 'not a day or month', content: { 'application/problem+json': ProblemSchema } },
        404: { description: 'no such open-data file', content: { 'application/problem+json': ProblemSchema } },
        413: { description: 'too many readings for one Parquet file (MAX_PARQUET_ROWS)', content: { 'application/problem+json': ProblemSchema } },
      },
    },
    async (request, reply) => {
      const period = parsePeriod(request.params.period)
      if (period === undefined) throw badParam('period', 'must be a real UTC day YYYY-MM-DD or month YYYY-MM of 2000–2099')
      const file = parseFileName(request.params.file)
      if (file === undefined) throw notFound('no such open-data file; see datapackage.json of the period')
      const ctx = { store: deps.store, registry: deps.registry, period }
      const download = (type: string, name: string) => reply.type(type).header('content-disposition', `attachment; filename="${period.label}_${name}"`)
      // a store failure after the first chunks aborts the connection (services/api/streamed.ts)
      const streamed = (chunks: AsyncIterable<string>) => abortOnError(Readable.from(chunks), request, reply, deps.logger)
      switch (file.kind) {
        case 'datapackage':
          return dataPackage(period, await catalogue(ctx))
        case 'parquet':
          return download('application/vnd.apache.parquet', request.params.file).send(Buffer.from(await longParquet(ctx, file.source)))
        case 'long-csv':
          return download('text/csv; charset=utf-8; header=present', request.params.file).send(streamed(longCsv(ctx, file.source)))
        case 'archive':
          return download('text/csv; charset=utf-8; header=present', request.params.file).send(streamed(archiveCsv(ctx, file.source, file.sensorType)))
      }
    },
  )
}
