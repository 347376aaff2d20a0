import { existsSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import type { Reading } from '../../core/reading.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { uniqueId } from '../helpers/env.ts'

const logger = createLogger('silent')
const reading: Reading = { deviceId: 'garden-002', quantity: 'air_temperature', value: 20, unit: '°C', observedAt: Date.UTC(2026, 10, 29, 12), receivedAt: Date.UTC(2026, 10, 29, 12, 0, 1), timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [] }

const hasDocker = existsSync('/var/run/docker.sock') || process.env.DOCKER_HOST !== undefined
if (!hasDocker) console.info('InfluxDB 2.x testcontainers suite: skipped: no Docker (no /var/run/docker.sock, no DOCKER_HOST)')

/**
 * InfluxDB 2.x, the real server in a container. This machine has a Docker client but no engine, so here the
 * suite is skipped and says why; on a machine with Docker it runs.
 */
describe.skipIf(!hasDocker)(`InfluxDB 2.x via testcontainers${hasDocker ? '' : ' (skipped: no Docker)'}`, () => {
  it('writes floats through the v2 API with a token and reads them back with InfluxQL', async () => {
    const { GenericContainer, Wait } = await import('testcontainers')
    const token = `token-${uniqueId('t')}`
    const container = await new GenericContainer('influxdb:2.7')
      .withEnvironment({
        DOCKER_INFLUXDB_INIT_MODE: 'setup',
        DOCKER_INFLUXDB_INIT_USERNAME: 'senshagen',
        DOCKER_INFLUXDB_INIT_PASSWORD: 'senshagen-test-password',
        DOCKER_INFLUXDB_INIT_ORG: 'senshagen',
        DOCKER_INFLUXDB_INIT_BUCKET: 'init',
        DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: token,
      })
      .withExposedPorts(8086)
      .withWaitStrategy(Wait.forHttp('/ping', 8086).forStatusCode(204))
      .start()
    try {
      const url = `http://${container.getHost()}:${container.getMappedPort(8086)}`
      const store = await openInfluxStore({ url, database: 'senshagen', token, org: 'senshagen' }, logger)
      expect(store.generation).toBe(2)
      await store.ensureDatabase()
      await store.ensureDatabase() // idempotent: bucket and DBRP mapping exist now
      await store.write({ readings: [reading, { ...reading, value: 20.1, observedAt: reading.observedAt + 60_000 }], rejections: [] })
      const day = { deviceId: reading.deviceId, quantity: reading.quantity, from: reading.observedAt, to: reading.observedAt + 86_400_000 }
      expect((await store.queryReadings(day)).map((r) => [r.time, r.value])).toEqual([
        [reading.observedAt, 20],
        [reading.observedAt + 60_000, 20.1],
      ])
    } finally {
      await container.stop()
    }
  }, 180_000)
})

/**
 * What the store sends to a server that reports 2.x on /ping, recorded by a local HTTP server. This checks
 * the request shapes (token header, v2 write path, bucket/DBRP set-up) where no real 2.x can run; the real
 * server is exercised by the testcontainers suite above.
 */
describe('InfluxDB 2.x request shapes (recording server)', () => {
  it('uses the v2 write API with the token and creates the bucket and its DBRP mapping', async () => {
    const requests: Array<{ method: string; url: string; auth?: string; body: string }> = []
    const server = createServer(async (req: IncomingMessage, res) => {
      let body = ''
      for await (const chunk of req) body += chunk
      requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body })
      const path = req.url!.split('?')[0]
      res.setHeader('content-type', 'application/json')
      if (path === '/ping') {
        res.setHeader('x-influxdb-version', 'v2.7.11')
        res.writeHead(204).end()
      } else if (path === '/api/v2/orgs') res.end(JSON.stringify({ orgs: [{ id: 'org1' }] }))
      else if (path === '/api/v2/buckets' && req.method === 'GET') res.end(JSON.stringify({ buckets: [] }))
      else if (path === '/api/v2/buckets') res.writeHead(201).end(JSON.stringify({ id: 'bucket1' }))
      else if (path === '/api/v2/dbrps' && req.method === 'GET') res.end(JSON.stringify({ content: [] }))
      else if (path === '/api/v2/dbrps') res.writeHead(201).end(JSON.stringify({ id: 'dbrp1' }))
      else if (path === '/api/v2/write') res.writeHead(204).end()
      else res.writeHead(404).end(JSON.stringify({ message: 'not found' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
    try {
      const store = await openInfluxStore({ url, database: 'senshagen', token: 'a-real-token', org: 'zwolle' }, logger)
      expect(store.generation).toBe(2)
      await store.ensureDatabase()
      await store.write({ readings: [reading], rejections: [] })
      expect(requests.slice(1).map((r) => [r.method, r.url, r.auth])).toEqual([
        ['GET', '/api/v2/orgs?org=zwolle', 'Token a-real-token'],
        ['GET', '/api/v2/buckets?orgID=org1&name=senshagen', 'Token a-real-token'],
        ['POST', '/api/v2/buckets', 'Token a-real-token'],
        ['GET', '/api/v2/dbrps?orgID=org1&db=senshagen', 'Token a-real-token'],
        ['POST', '/api/v2/dbrps', 'Token a-real-token'],
        ['POST', '/api/v2/write?org=zwolle&bucket=senshagen&precision=ms', 'Token a-real-token'],
      ])
      expect(JSON.parse(requests[3]!.body)).toEqual({ orgID: 'org1', name: 'senshagen', retentionRules: [] })
      expect(JSON.parse(requests[5]!.body)).toEqual({ orgID: 'org1', bucketID: 'bucket1', database: 'senshagen', retention_policy: 'autogen', default: true })
      expect(requests[6]!.body).toBe('reading,device=garden-002,quantity=air_temperature flags="",raw_value=20,received_ms=1795953601000i,sensor="",source="senshagen-v1",source_unit="",time_source="device",unit="°C",value=20 1795953600000')
      await expect(openInfluxStore({ url, database: 'senshagen' }, logger)).rejects.toThrow('needs SENSHAGEN_INFLUX_TOKEN')
    } finally {
      server.close()
    }
  })
})
