import { readFileSync, readdirSync } from 'node:fs'
import { Point } from '@influxdata/influxdb-client'
import { parse as parseYaml } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { loadConfig } from '../../core/config.ts'
import { createDecoders } from '../../core/decoders/index.ts'
import { createLogger } from '../../core/logger.ts'
import { ReadingWriter } from '../../core/store/reading-writer.ts'
import { READING_MEASUREMENT } from '../../core/store/schema.ts'
import type { InfluxSeries } from '../../core/store/influx-queries.ts'
import { createPipeline, runPipeline } from '../../services/ingest/pipeline.ts'
import { throwawayDatabase } from '../helpers/influx-database.ts'

/**
 * The Grafana provisioning in infra/grafana (README "Grafana"): the provisioning YAML has the structure Grafana
 * reads (https://grafana.com/docs/grafana/latest/administration/provisioning/), and every InfluxQL query of every
 * dashboard (panel targets and template variables), with Grafana's macros and variables substituted the way its
 * InfluxDB datasource does, runs against the real InfluxDB 1.6.7 in a database of its own, seeded through the
 * project's pipeline and writer (so the schema is the real one), and returns the series and values written out
 * below. Grafana itself does not run here (no Debian package, no Docker).
 */
const GRAFANA = new URL('../../infra/grafana/', import.meta.url).pathname
const logger = createLogger('warn')
const HOUR = 3_600_000
/** The end of the dashboard's time range ($__to); readings are on whole hours before it, one per 1 h bucket. */
const T = Date.UTC(2026, 10, 1, 12)
const FROM = T - 6 * HOUR

// ------------------------------------------------------------------------------------------- provisioning

const DatasourcesFile = z.object({
  apiVersion: z.literal(1),
  datasources: z
    .array(
      z.object({
        name: z.string().min(1),
        uid: z.string().regex(/^[a-zA-Z0-9_-]{1,40}$/),
        type: z.enum(['influxdb', 'prometheus']),
        access: z.literal('proxy'),
        url: z.string().min(1),
        isDefault: z.boolean().optional(),
        editable: z.boolean().optional(),
        jsonData: z.record(z.string(), z.unknown()).optional(),
      }).strict(),
    )
    .min(1),
}).strict()

const DashboardProvidersFile = z.object({
  apiVersion: z.literal(1),
  providers: z
    .array(
      z.object({
        name: z.string().min(1),
        orgId: z.number().int().positive(),
        folder: z.string(),
        type: z.literal('file'),
        disableDeletion: z.boolean(),
        allowUiUpdates: z.boolean(),
        updateIntervalSeconds: z.number().int().positive(),
        options: z.object({ path: z.string().startsWith('/'), foldersFromFilesStructure: z.boolean() }).strict(),
      }).strict(),
    )
    .min(1),
}).strict()

const yamlFiles = (folder: string) => readdirSync(GRAFANA + folder).filter((f) => /\.ya?ml$/.test(f)).map((f) => parseYaml(readFileSync(GRAFANA + folder + f, 'utf8')) as unknown)

describe('Grafana provisioning files', () => {
  it('datasources: an InfluxQL InfluxDB 1.x datasource with url and database from the environment, and an optional Prometheus one', () => {
    const files = yamlFiles('provisioning/datasources/').map((file) => DatasourcesFile.parse(file))
    const datasources = files.flatMap((f) => f.datasources)
    const influx = datasources.find((d) => d.type === 'influxdb')!
    expect(influx).toMatchObject({ uid: 'senshagen-influxdb', url: '${SENSHAGEN_INFLUX_URL}', isDefault: true })
    expect(influx.jsonData).toMatchObject({ version: 'InfluxQL', dbName: '${SENSHAGEN_INFLUX_DATABASE}' })
    expect(datasources.find((d) => d.type === 'prometheus')).toMatchObject({ uid: 'senshagen-prometheus', url: '${SENSHAGEN_PROMETHEUS_URL}' })
  })

  it('dashboards: a file provider; every datasource a dashboard names is provisioned', () => {
    const [provider] = yamlFiles('provisioning/dashboards/').map((file) => DashboardProvidersFile.parse(file))
    expect(provider!.providers[0]!.options.path).toBe('/var/lib/grafana/dashboards/senshagen')
    const uids = new Set(yamlFiles('provisioning/datasources/').flatMap((f) => DatasourcesFile.parse(f).datasources.map((d) => d.uid)))
    const named = dashboards().flatMap(({ json }) => JSON.stringify(json).match(/"uid":"senshagen-(influxdb|prometheus)"/g) ?? [])
    expect(named.length).toBeGreaterThan(10)
    for (const uid of new Set(named.map((n) => n.slice(7, -1)))) expect(uids).toContain(uid)
  })
})

// ------------------------------------------------------------------------------------- Grafana's substitution

interface Target { refId: string; query: string; datasource?: { type: string } }
interface Panel { title: string; type: string; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string; multi?: boolean; includeAll?: boolean; options?: Array<{ text: string; value: string }> }
interface Dashboard { uid: string; panels: Panel[]; templating: { list: Variable[] } }

function dashboards(): Array<{ file: string; json: Dashboard }> {
  const folder = GRAFANA + 'dashboards/'
  return readdirSync(folder).filter((f) => f.endsWith('.json')).map((file) => ({ file, json: JSON.parse(readFileSync(folder + file, 'utf8')) as Dashboard }))
}

/** Every InfluxQL panel query of a dashboard, rows' nested panels included, keyed `<panel title> / <refId>`. */
function influxTargets(dashboard: Dashboard): Map<string, string> {
  const targets = new Map<string, string>()
  const visit = (panel: Panel) => {
    for (const target of panel.targets ?? []) if (target.datasource?.type === 'influxdb') targets.set(`${panel.title} / ${target.refId}`, target.query)
    panel.panels?.forEach(visit)
  }
  dashboard.panels.forEach(visit)
  return targets
}

/** Grafana's regex escape for InfluxDB variable values (@grafana/data escapeRegex, plus `/`, which ends an InfluxQL regex). */
const escapeRegex = (value: string) => value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&')

/**
 * A query as Grafana's InfluxDB datasource sends it: `$timeFilter` → `time >= <from>ms and time <= <to>ms`,
 * `$__interval`/`$interval` → the interval, `${__from}`/`${__to}` → epoch ms, and each variable `$name`/`${name}`
 * → its value; a multi-value or include-all variable is regex-escaped and, with several values, `(a|b)`.
 */
function interpolate(query: string, variables: Record<string, { values: string[]; variable: Variable }>, interval = '1h'): string {
  const value = (name: string): string => {
    if (name === '__from') return String(FROM)
    if (name === '__to') return String(T)
    if (name === '__interval' || name === 'interval') return interval
    if (name === 'timeFilter') return `time >= ${FROM}ms and time <= ${T}ms`
    const chosen = variables[name]
    if (!chosen) throw new Error(`query uses $${name}, which the test does not set: ${query}`)
    if (!chosen.variable.multi && !chosen.variable.includeAll) return chosen.values[0]!
    const escaped = chosen.values.map(escapeRegex)
    return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`
  }
  return query.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => value(braced ?? bare!))
}

// ----------------------------------------------------------------------------------------------- the data

/** One native v1 message per entry through the real pipeline and writer; `at` observed, received 30 s later. */
const MESSAGES: Array<{ device: string; at: number; readings?: Record<string, unknown>; raw?: string; receivedAt?: number }> = [
  ...[5, 4, 3, 2, 1, 0].map((h) => ({ device: 'gf-garden', at: T - h * HOUR, readings: { pm2_5: 15 - h, air_temperature: 20.5 - h } })),
  { device: 'gf-shed', at: T - 5 * HOUR, readings: { pm2_5: 30 } },
  { device: 'gf-shed', at: T - 4 * HOUR, readings: { pm2_5: 31 } },
  // a device id with a dot: the variable's regex must escape it
  { device: 'gf-roof.bme280', at: T - 3 * HOUR, readings: { relative_humidity: 80 } },
  // two bad values next to good ones: range and unknown_quantity, at the message's observed time
  { device: 'gf-garden', at: T - 3 * HOUR + 60_000, readings: { pm10: -5, foo: 1 } },
  // not JSON: rejected whole (`json`) at its receipt time
  { device: 'gf-garden', at: T - 2 * HOUR + 90_000, raw: '{"v":1,"readings":' },
  // a conflicting resend of the T-1h reading: stored (last write wins) and recorded as a `conflict` event
  { device: 'gf-garden', at: T - HOUR, readings: { pm2_5: 99, air_temperature: 19.5 }, receivedAt: T - HOUR + 60_000 },
]

describe('Grafana dashboards against the real InfluxDB', () => {
  const db = throwawayDatabase('grafana', logger)
  const all = dashboards()
  const dashboard = all.find((d) => d.json.uid === 'senshagen-overview')!.json
  const variable = (name: string) => dashboard.templating.list.find((v) => v.name === name)!
  const run = async (statement: string): Promise<InfluxSeries[]> => db.store.influxql(statement)

  beforeAll(async () => {
    const steps = createPipeline({ ...loadConfig({}).ingest, maxAgeMs: undefined, decoders: createDecoders() })
    const writer = new ReadingWriter(db.store, { batchSize: 500, maxBufferedReadings: 10_000 }, logger)
    for (const m of MESSAGES) {
      const payload = m.raw ?? JSON.stringify({ v: 1, time: new Date(m.at).toISOString(), readings: m.readings })
      const ctx = runPipeline(steps, { topic: `senshagen/v1/devices/${m.device}/readings`, payload: Buffer.from(payload), receivedAt: m.receivedAt ?? m.at + 30_000 })
      await writer.write({ readings: ctx.readings, rejections: ctx.rejections, events: ctx.events })
    }
    await writer.close()
    // the calibration worker's write (services/calibration/calibrator.ts): calibrated fields onto the raw points
    const calibrated = [5, 4, 3, 2].map((h) =>
      new Point(READING_MEASUREMENT).tag('device', 'gf-garden').tag('quantity', 'pm2_5').floatField('calibrated', (15 - h) / 2)
        .stringField('calibration_method', 'linear').stringField('calibration_version', 'v1').timestamp(String(T - h * HOUR)).toLineProtocol()!,
    )
    await db.store.writeLines(calibrated)
  })

  it('every dashboard JSON parses, has a uid, and every InfluxQL query of it is covered below', () => {
    expect(all.map((d) => d.json.uid)).toEqual(['senshagen-overview'])
    expect([...influxTargets(dashboard).keys()].sort()).toEqual(Object.keys(PANEL_EXPECTATIONS).sort())
    expect(dashboard.templating.list.filter((v) => v.type === 'query').map((v) => v.name)).toEqual(['device', 'quantity'])
  })

  it('template variables: devices and quantities from SHOW TAG VALUES, quantities narrowed by the chosen devices', async () => {
    const tagValues = async (query: string) => (await run(query)).flatMap((s) => s.values.map((row) => row[1]))
    const devices = await tagValues(variable('device').query)
    expect(devices).toEqual(['gf-garden', 'gf-roof.bme280', 'gf-shed'])
    const quantities = (values: string[]) => tagValues(interpolate(variable('quantity').query, { device: { values, variable: variable('device') } }))
    expect(await quantities(devices as string[])).toEqual(['air_temperature', 'pm2_5', 'relative_humidity'])
    expect(await quantities(['gf-shed'])).toEqual(['pm2_5'])
    expect(await quantities(['gf-roof.bme280'])).toEqual(['relative_humidity'])
    // the dot is escaped: `gf-roof.bme280` as a regex would also match `gf-roofxbme280`
    expect(interpolate('/^$device$/', { device: { values: ['gf-roof.bme280', 'gf-shed'], variable: variable('device') } })).toBe('/^(gf-roof\\.bme280|gf-shed)$/')
  })

  /** Each panel query's expected series (name, tags, columns, values), for the variable values `run` sets. */
  const PANEL_EXPECTATIONS: Record<string, { variables: Record<string, string[]>; series: Array<Pick<InfluxSeries, 'tags' | 'columns' | 'values'>> }> = {
    'Raw vs calibrated: $quantity / A': {
      variables: { device: ['gf-garden', 'gf-shed'], quantity: ['pm2_5'] },
      series: [
        { tags: { device: 'gf-garden' }, columns: ['time', 'raw', 'calibrated'], values: [[T - 5 * HOUR, 10, 5], [T - 4 * HOUR, 11, 5.5], [T - 3 * HOUR, 12, 6], [T - 2 * HOUR, 13, 6.5], [T - HOUR, 99, null], [T, 15, null]] },
        { tags: { device: 'gf-shed' }, columns: ['time', 'raw', 'calibrated'], values: [[T - 5 * HOUR, 30, null], [T - 4 * HOUR, 31, null]] },
      ],
    },
    'Stale devices: nothing received for $stale_after_ms ms before the end of the range / A': {
      variables: { stale_after_ms: ['3600000'] },
      series: [{ columns: ['time', 'device', 'last_received_ms'], values: [[T - 3 * HOUR, 'gf-roof.bme280', T - 3 * HOUR + 30_000], [T - 4 * HOUR, 'gf-shed', T - 4 * HOUR + 30_000]] }],
    },
    'Last seen per device / A': {
      variables: {},
      series: [
        { tags: { device: 'gf-garden' }, columns: ['time', 'last_received_ms'], values: [[T, T + 30_000]] },
        { tags: { device: 'gf-roof.bme280' }, columns: ['time', 'last_received_ms'], values: [[T - 3 * HOUR, T - 3 * HOUR + 30_000]] },
        { tags: { device: 'gf-shed' }, columns: ['time', 'last_received_ms'], values: [[T - 4 * HOUR, T - 4 * HOUR + 30_000]] },
      ],
    },
    'Readings stored per quantity / A': {
      variables: { device: ['gf-garden', 'gf-roof.bme280', 'gf-shed'] },
      series: [
        { tags: { quantity: 'air_temperature' }, columns: ['time', 'count'], values: [5, 4, 3, 2, 1, 0].map((h) => [T - h * HOUR, 1]) },
        { tags: { quantity: 'pm2_5' }, columns: ['time', 'count'], values: [[T - 5 * HOUR, 2], [T - 4 * HOUR, 2], [T - 3 * HOUR, 1], [T - 2 * HOUR, 1], [T - HOUR, 1], [T, 1]] },
        { tags: { quantity: 'relative_humidity' }, columns: ['time', 'count'], values: [[T - 3 * HOUR, 1]] },
      ],
    },
    'Rejections by rule / A': {
      variables: {},
      series: [
        { tags: { rule: 'json' }, columns: ['time', 'count'], values: [[T - 2 * HOUR, 1]] },
        { tags: { rule: 'range' }, columns: ['time', 'count'], values: [[T - 3 * HOUR, 1]] },
        { tags: { rule: 'unknown_quantity' }, columns: ['time', 'count'], values: [[T - 3 * HOUR, 1]] },
      ],
    },
    'Conflicts and schema changes / A': {
      variables: {},
      series: [
        { tags: { kind: 'conflict' }, columns: ['time', 'count'], values: [[T - HOUR, 1]] },
        { tags: { kind: 'schema_change' }, columns: ['time', 'count'], values: [[T - 5 * HOUR, 2], [T - 3 * HOUR, 2]] },
      ],
    },
    'Latest rejections of $device / A': {
      variables: { device: ['gf-garden'] },
      series: [
        {
          columns: ['time', 'device', 'rule', 'path', 'message', 'value'],
          values: [
            [T - 2 * HOUR + 120_000, 'gf-garden', 'json', '$', expect.stringMatching(/^payload is not JSON/), null],
            [T - 3 * HOUR + 60_000, 'gf-garden', expect.stringMatching(/^(range|unknown_quantity)$/), expect.stringMatching(/^readings\.(pm10|foo)$/), expect.any(String), expect.stringMatching(/^(-5|1)$/)],
            [T - 3 * HOUR + 60_000, 'gf-garden', expect.stringMatching(/^(range|unknown_quantity)$/), expect.stringMatching(/^readings\.(pm10|foo)$/), expect.any(String), expect.stringMatching(/^(-5|1)$/)],
          ],
        },
      ],
    },
    'Conflicts of $device / A': {
      variables: { device: ['gf-garden', 'gf-shed'] },
      series: [{ columns: ['time', 'device', 'detail'], values: [[T - HOUR + 60_000, 'gf-garden', expect.stringMatching(/"quantity":"pm2_5".*"previous":\{"value":14,.*"current":\{"value":99,/)]] }],
    },
  }

  for (const [key, expected] of Object.entries(PANEL_EXPECTATIONS)) {
    it(`panel ${key}`, async () => {
      const query = influxTargets(dashboard).get(key)!
      const variables = Object.fromEntries(Object.entries(expected.variables).map(([name, values]) => [name, { values, variable: variable(name) }]))
      const series = await run(interpolate(query, variables))
      expect(series.map(({ tags, columns, values }) => (tags ? { tags, columns, values } : { columns, values }))).toEqual(expected.series)
    })
  }

  it('stale devices follow the chosen threshold: none are silent for 6 hours of a 6-hour range', async () => {
    const query = influxTargets(dashboard).get('Stale devices: nothing received for $stale_after_ms ms before the end of the range / A')!
    const sixHours = variable('stale_after_ms').options!.find((o) => o.text === '6 hours')!.value
    expect(await run(interpolate(query, { stale_after_ms: { values: [sixHours], variable: variable('stale_after_ms') } }))).toEqual([])
  })
})
