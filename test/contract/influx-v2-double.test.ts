import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore } from '../../core/store/influx.ts'
import { INFLUX_URL } from '../helpers/env.ts'
import { startInfluxDouble, type InfluxDouble, type Recording } from './influx-double.ts'
import { storeContract } from './store-contract.ts'

/**
 * The contract against InfluxDB 2.x and 3.x as the store sees them: the recorded double of ./influx-double.ts
 * (where the recordings come from is said there). `SENSHAGEN_RECORD_INFLUX_DOUBLE=1 npx vitest run
 * test/contract/influx-v2-double.test.ts` records them anew through the real InfluxDB 1.6.7 (npm run infra:up).
 */
const recordingMode = process.env.SENSHAGEN_RECORD_INFLUX_DOUBLE === '1'

for (const generation of [2, 3] as const) {
  const file = new URL(`./recordings/influx-v${generation}.json`, import.meta.url)
  const spec = { about: `SensHagen store contract, InfluxDB ${generation}.x as the store sees it. Not captured from a real ${generation}.x: /ping, /health and set-up answers hand-written from the docs, write and query answers recorded through InfluxDB 1.6.7 (recordings/SOURCES.md)`, generation, token: 'contract-token', org: 'senshagen', bucket: 'senshagen_contract' }
  let double: InfluxDouble | undefined
  afterAll(async () => {
    await double?.close()
    if (recordingMode && double) writeFileSync(file, `${JSON.stringify(double.recording, null, 1)}\n`)
  })

  storeContract(`InfluxDB ${generation}.x (recorded double)`, async () => {
    if (!recordingMode && !existsSync(file)) throw new Error(`no recording ${file.pathname}: record it with SENSHAGEN_RECORD_INFLUX_DOUBLE=1`)
    double = await startInfluxDouble(recordingMode ? { record: spec, upstream: INFLUX_URL } : { replay: JSON.parse(readFileSync(file, 'utf8')) as Recording })
    // a readiness probe first, as an orchestrator would send: GET /health answers without a token
    const health = await fetch(`${double.url}/health`)
    expect([health.status, await health.text()]).toEqual([200, generation === 2 ? expect.stringMatching(/"status":"pass"/) : 'OK'])
    const store = await openInfluxStore({ url: double.url, database: spec.bucket, token: spec.token, org: spec.org }, createLogger('silent'))
    expect(store.generation).toBe(generation)
    await store.ensureDatabase()
    return store
  })

  describe.skipIf(recordingMode)(`InfluxDB ${generation}.x double: the suite sent exactly the recorded requests`, () => {
    it('had an answer for every request and none left over', () => {
      expect(double?.unmatched).toEqual([])
      expect(double?.remaining()).toBe(0)
    })

    it('refuses a store without the token, as the v2 API does', async () => {
      const url = double!.url
      const response = await fetch(`${url}/query?db=${spec.bucket}&q=SHOW+MEASUREMENTS`)
      expect(response.status).toBe(401)
      expect(double?.unmatched).toEqual([])
    })
  })
}
