import { faultSuite } from './suite.ts'

/**
 * The fault matrix reduced to fit `npm test` (and so .ci/run): 28 devices × 20 messages × 5 readings = 2,800
 * readings, three faults in direct mode (invalid-restart, a restart amid invalid traffic, took 46–143 s here) and
 * two in Kafka mode. The full matrix is `npm run test:faults` (matrix.fault.test.ts).
 */
faultSuite('fault matrix (reduced)', 'fault-matrix-reduced', { devices: 28, messages: 20 }, 300_000, [
  ['broker-kill', 'direct'],
  ['invalid-flood', 'direct'],
  ['invalid-restart', 'direct'],
  ['writer-kill', 'kafka'],
  ['resends', 'kafka'],
])
