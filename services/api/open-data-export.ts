import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { join } from 'node:path'
import type { Logger } from '../../core/logger.ts'
import type { DeviceRegistry } from '../../core/registry/registry.ts'
import type { ReadingStore } from '../../core/store/store.ts'
import { dataPackage } from './open-data/datapackage.ts'
import { archiveCsv, catalogue, longCsv, longParquet, type OpenDataContext } from './open-data/files.ts'
import { parsePeriod } from './open-data/period.ts'

/**
 * Open-data export (`senshagen export --day D | --month M`): the period's files into a folder, the same files
 * GET /api/v1/bulk/<period>/<file> serves (services/api/open-data/files.ts), named `<period>_<file>`:
 * per source (`senshagen`, CC BY 4.0; `sensor-community`, DbCL 1.0 — each file one licence) a long CSV and a
 * Parquet file (one row per reading: unit, flags, calibrated value, published position and its precision), one
 * archive-layout CSV per sensor type (`<source>_<type>.csv`, the sensor.community archive's columns), and
 * `datapackage.json` (Frictionless) with each file's schema and licence. No data file carries a comment line.
 *
 * Public devices only (core/registry); lat/lon are the coarsened public position, never the garden's.
 * Quality-flagged readings are included with their flags, as the archive includes everything.
 */
export interface ExportedFile {
  path: string
  /** Data rows (lines after the header; readings for Parquet); undefined for datapackage.json. */
  rows?: number
}

export interface ExportOptions {
  store: Pick<ReadingStore, 'readingRows'>
  registry: DeviceRegistry
  /** `YYYY-MM-DD` (a UTC day) or `YYYY-MM` (a UTC month). */
  period: string
  outDir: string
  logger: Logger
}

/**
 * Writes the period's files and returns them; a period without public readings gets no file at all. Each file is
 * written to `<name>.part` and renamed when complete. Errors: RangeError for a bad period; ProblemError 413 when
 * a Parquet file would pass MAX_PARQUET_ROWS (export days instead); store and file-system errors.
 */
export async function exportOpenData(options: ExportOptions): Promise<ExportedFile[]> {
  const { store, registry, outDir, logger } = options
  const period = parsePeriod(options.period)
  if (period === undefined) throw new RangeError(`period: '${options.period}' is not a UTC day YYYY-MM-DD or month YYYY-MM of 2000–2099`)
  const ctx: OpenDataContext = { store, registry, period }
  await mkdir(outDir, { recursive: true })
  const found = await catalogue(ctx)
  if (found.size === 0) return []
  const files: ExportedFile[] = []
  const path = (name: string) => join(outDir, `${period.label}_${name}`)
  for (const [source, types] of found) {
    files.push(await writeChunks(path(`${source}.csv`), longCsv(ctx, source)))
    const parquet = await longParquet(ctx, source)
    await writeAtomically(path(`${source}.parquet`), parquet)
    files.push({ path: path(`${source}.parquet`) })
    for (const type of [...types].sort()) files.push(await writeChunks(path(`${source}_${type}.csv`), archiveCsv(ctx, source, type)))
  }
  // datapackage.json names the files as the bulk URLs do (relative, without the period prefix)
  const description = dataPackage(period, found) as { resources: Array<{ path: string }> }
  for (const resource of description.resources) resource.path = `${period.label}_${resource.path}`
  await writeAtomically(path('datapackage.json'), `${JSON.stringify(description, null, 2)}\n`)
  files.push({ path: path('datapackage.json') })
  for (const f of files) logger.info({ file: f.path, rows: f.rows }, 'open-data file written')
  return files
}

async function writeAtomically(path: string, content: string | Uint8Array): Promise<void> {
  await writeFile(`${path}.part`, content)
  await rename(`${path}.part`, path)
}

/** Writes the chunks to `path` (through `.part`); rows = lines after the header. */
async function writeChunks(path: string, chunks: AsyncIterable<string>): Promise<ExportedFile> {
  const partPath = `${path}.part`
  const out = createWriteStream(partPath, { encoding: 'utf8' })
  let lines = 0
  try {
    for await (const chunk of chunks) {
      for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines++
      if (!out.write(chunk)) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
    await rename(partPath, path)
    return { path, rows: lines - 1 }
  } catch (error) {
    out.destroy()
    await rm(partPath, { force: true })
    throw error
  }
}
