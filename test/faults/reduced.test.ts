import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { checkRow, printReport, runScenario, SCENARIOS, stopLeftovers, type ReportRow } from './matrix.ts'
import type { Mode } from './stack.ts'
import { registrations, type WorkloadSize } from './workload.ts'

/**
 * The fault matrix reduced to fit `npm test` (and so .ci/run): 28 devices × 20 messages × 5 readings = 2,800
 * readings, two faults per mode. The full matrix is `npm run test:faults` (matrix.fault.test.ts).
 */
const SIZE: WorkloadSize = { devices: 28, messages: 20 }
const CASES: Array<[string, Mode]> = [
  ['broker-kill', 'direct'],
  ['invalid-flood', 'direct'],
  ['writer-kill', 'kafka'],
  ['resends', 'kafka'],
]

describe('fault matrix (reduced)', () => {
  let registry: TestRegistry
  const rows: ReportRow[] = []
  beforeAll(async () => {
    registry = await testRegistry(registrations(SIZE))
  }, 300_000)
  afterAll(async () => {
    await stopLeftovers()
    printReport('fault-matrix-reduced', rows)
    await registry?.close()
  })

  for (const [key, mode] of CASES) {
    const scenario = SCENARIOS.find((s) => s.key === key)!
    it(`${key} (${mode}): ${scenario.fault}`, async () => {
      const row = await runScenario(scenario, mode, SIZE, registry)
      rows.push(row)
      checkRow(row, scenario, SIZE, expect)
    }, 300_000)
  }
})
