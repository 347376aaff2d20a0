import { faultSuite } from './suite.ts'

/**
 * The full fault matrix (`npm run test:faults`, vitest.faults.config.ts; README "Fault matrix"): 100 registered
 * devices × 40 QoS 1 messages × 5 readings = 20,000 readings per scenario, every scenario of ./matrix.ts in each
 * mode it applies to, one fault at a time, and the report table printed at the end (also
 * test-artifacts/fault-matrix.md).
 */
faultSuite('fault matrix (full)', 'fault-matrix', { devices: 100, messages: 40 }, 900_000)
