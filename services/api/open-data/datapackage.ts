import { ARCHIVE_VALUE_COLUMNS, GENERIC_VALUE_COLUMNS, archiveHeader } from './archive-layout.ts'
import { LONG_COLUMNS } from './files.ts'
import type { Period } from './period.ts'
import { OPEN_DATA_SOURCES, type OpenDataSource } from './sources.ts'

/**
 * The Frictionless Data Package (https://specs.frictionlessdata.io/data-package/, profile tabular-data-package)
 * of a period's files: one resource per file with its path (relative to datapackage.json: the files lie beside
 * it, over HTTP and in an export folder), format, dialect, Table Schema and the licence of its source — the
 * licence lives here, not in a line of the data files. `catalogue`: the sources and sensor types with readings.
 */
export function dataPackage(period: Period, catalogue: ReadonlyMap<OpenDataSource, ReadonlySet<string>>): Record<string, unknown> {
  const resources: Array<Record<string, unknown>> = []
  for (const [source, types] of catalogue) {
    const info = OPEN_DATA_SOURCES[source]
    const common = {
      licenses: [info.licence],
      sources: [{ title: info.title }],
      description: `${info.title}, ${period.label} (UTC). Attribution: ${info.attribution}. Positions are published (coarsened) positions; precision_m says how far a device may lie from them.`,
    }
    const longSchema = { fields: LONG_COLUMNS.map((c) => ({ ...c, ...(c.type === 'datetime' ? { format: 'default' } : {}) })) }
    resources.push({
      name: source, path: `${source}.csv`, profile: 'tabular-data-resource', format: 'csv', mediatype: 'text/csv', encoding: 'utf-8',
      dialect: { delimiter: ',', header: true, lineTerminator: '\r\n' }, schema: longSchema, ...common,
    })
    resources.push({ name: `${source}-parquet`, path: `${source}.parquet`, format: 'parquet', mediatype: 'application/vnd.apache.parquet', schema: longSchema, ...common })
    for (const type of [...types].sort()) {
      const valueColumns = new Set(ARCHIVE_VALUE_COLUMNS[type] ?? GENERIC_VALUE_COLUMNS)
      resources.push({
        name: `${source}-${type}`, path: `${source}_${type}.csv`, profile: 'tabular-data-resource', format: 'csv', mediatype: 'text/csv', encoding: 'utf-8',
        dialect: { delimiter: ';', header: true },
        schema: {
          fields: archiveHeader(type).map((name) => ({
            name,
            type: valueColumns.has(name) || name === 'lat' || name === 'lon' ? 'number' : name === 'precision_m' ? 'integer' : 'string',
            ...(name === 'pressure' ? { description: 'Pa, as in the sensor.community archive' } : {}),
          })),
        },
        ...common,
      })
    }
  }
  return {
    profile: 'tabular-data-package',
    name: `senshagen-open-data-${period.label}`,
    title: `SensHagen open data, ${period.kind} ${period.label} (UTC)`,
    description: 'Readings of public (consented) devices. Each resource carries the licence of its source: SensHagen data CC BY 4.0, sensor.community data DbCL 1.0.',
    temporal: { start: new Date(period.from).toISOString(), end: new Date(period.to).toISOString() },
    resources,
  }
}
