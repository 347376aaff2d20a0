import type { Transport } from '@influxdata/influxdb-client'
import type { Config } from '../config.ts'
import { RefusedError } from '../errors.ts'

/**
 * InfluxDB 2.x set-up: the bucket named by SENSHAGEN_INFLUX_DATABASE exists in SENSHAGEN_INFLUX_ORG, and a
 * DBRP mapping (database = bucket name, retention policy `autogen`) lets InfluxQL over /query reach it.
 * API: InfluxDB v2 OpenAPI, `GET/POST /api/v2/orgs|buckets|dbrps`.
 */
export async function ensureV2Bucket(transport: Transport, config: Config['influx']): Promise<void> {
  if (config.org === undefined) throw new RefusedError('InfluxDB 2.x needs SENSHAGEN_INFLUX_ORG')
  const orgs = (await transport.request(`/api/v2/orgs?org=${encodeURIComponent(config.org)}`, null, { method: 'GET' })) as {
    orgs?: Array<{ id: string }>
  }
  const orgID = orgs.orgs?.[0]?.id
  if (orgID === undefined) throw new RefusedError(`InfluxDB organisation '${config.org}' does not exist`)

  const buckets = (await transport.request(`/api/v2/buckets?orgID=${orgID}&name=${encodeURIComponent(config.database)}`, null, {
    method: 'GET',
  })) as { buckets?: Array<{ id: string }> }
  let bucketID = buckets.buckets?.[0]?.id
  if (bucketID === undefined) {
    const created = (await transport.request(
      '/api/v2/buckets',
      { orgID, name: config.database, retentionRules: [] },
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    )) as { id: string }
    bucketID = created.id
  }

  const dbrps = (await transport.request(`/api/v2/dbrps?orgID=${orgID}&db=${encodeURIComponent(config.database)}`, null, {
    method: 'GET',
  })) as { content?: unknown[] }
  if ((dbrps.content ?? []).length === 0) {
    await transport.request(
      '/api/v2/dbrps',
      { orgID, bucketID, database: config.database, retention_policy: 'autogen', default: true },
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    )
  }
}
