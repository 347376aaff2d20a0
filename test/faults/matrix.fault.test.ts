import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { checkRow, printReport, runScenario, SCENARIOS, stopLeftovers, type ReportRow } from './matrix.ts'
import { registrations, type WorkloadSize } from './workload.ts'

/**
 * The full fault matrix (`npm run test:faults`, vitest.faults.config.ts; README "Fault matrix"): 100 registered
 * devices × 40 QoS 1 messages × 5 readings = 20,000 readings per scenario, every scenario of ./matrix.ts in each
 * mode it applies to, one fault at a time, and the report table printed at the end (also
 * test-artifacts/fault-matrix.md).
 */
const SIZE: WorkloadSize = { devices: 100, messages: 40 }

describe('fault matrix (full)', () => {
  let registry: TestRegistry
  const rows: ReportRow[] = []
  beforeAll(async () => {
    registry = await testRegistry(registrations(SIZE))
  }, 600_000)
  afterAll(async () => {
    await stopLeftovers()
    printReport('fault-matrix', rows)
    await registry?.close()
  })

  for (const scenario of SCENARIOS) {
    for (const mode of scenario.modes) {
      it(`${scenario.key} (${mode}): ${scenario.fault}`, async () => {
        const row = await runScenario(scenario, mode, SIZE, registry)
        rows.push(row)
        checkRow(row, scenario, SIZE, expect)
      }, 900_000)
    }
  }
})
