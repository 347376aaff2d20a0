import { faultSuite } from './suite.ts'

/**
 * The fault matrix reduced to fit `npm test` (and so .ci/run): 28 devices × 20 messages × 5 readings = 2,800
 * readings, two faults per mode. The full matrix is `npm run test:faults` (matrix.fault.test.ts).
 */
faultSuite('fault matrix (reduced)', 'fault-matrix-reduced', { devices: 28, messages: 20 }, 300_000, [
  ['broker-kill', 'direct'],
  ['invalid-flood', 'direct'],
  ['writer-kill', 'kafka'],
  ['resends', 'kafka'],
])
