import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'
import { checkRow, formatReport, printReport, runScenario, SCENARIOS, stopLeftovers, type ReportRow } from './matrix.ts'
import type { Mode } from './stack.ts'
import { registrations, type WorkloadSize } from './workload.ts'

/**
 * One vitest suite of the fault matrix: the fleet of `size` registered once, then each case (scenario key and
 * mode; every scenario in each of its modes when omitted) as a test of its own, one after another, each row
 * printed as it ends and the whole report after the last (`report`.md in test-artifacts/).
 */
export function faultSuite(title: string, report: string, size: WorkloadSize, timeoutMs: number, cases?: Array<[string, Mode]>): void {
  const selected = cases?.map(([key, mode]) => [SCENARIOS.find((s) => s.key === key)!, mode] as const) ?? SCENARIOS.flatMap((s) => s.modes.map((mode) => [s, mode] as const))
  describe(title, () => {
    let registry: TestRegistry
    const rows: ReportRow[] = []
    beforeAll(async () => {
      registry = await testRegistry(registrations(size))
    }, 600_000)
    afterAll(async () => {
      await stopLeftovers()
      printReport(report, rows)
      await registry?.close()
    })

    for (const [scenario, mode] of selected) {
      it(`${scenario.key} (${mode}): ${scenario.fault}`, async () => {
        const row = await runScenario(scenario, mode, size, registry)
        rows.push(row)
        console.log(formatReport([row]))
        checkRow(row, scenario, size, expect)
      }, timeoutMs)
    }
  })
}
