import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Test files that run one after another, alone on the machine (vitest runs this project after the parallel one):
 * what they assert depends on timing, on killed processes or on a broker they share with the other files.
 * Every other file runs in parallel with up to PARALLEL_FILES others: each test has its own InfluxDB database,
 * Kafka topics, consumer group, client ids, temporary folders and ports (test/helpers/env.ts), and most of them spend
 * their time waiting for InfluxDB, Kafka, timers and child processes, not on the CPU.
 */
const ALONE = [
  // kill -9 of services, daemons of their own (a Kafka JVM), bounded recovery and drain deadlines
  'test/faults/**/*.test.ts',
  'test/e2e/crash.test.ts',
  'test/e2e/scale-out.test.ts',
  'test/e2e/graceful-shutdown.test.ts',
  'test/integration/mosquitto-crash.test.ts',
  // latency, keepalive, duration or timing-ratio bounds
  'test/integration/broker-limits.test.ts',
  'test/integration/broker-ingest.test.ts',
  'test/integration/mqtt-conformance.test.ts',
  'test/integration/api-live.test.ts',
  'test/integration/api-cost.test.ts',
  'test/integration/firmware-sim.test.ts',
  'test/integration/fleet-health.test.ts',
  'test/unit/registry-store.test.ts',
  // a wall-clock budget per payload (test/fuzz/harness.ts PAYLOAD_BUDGET_MS): next to two other files on a busy
  // machine a 7-byte payload "took 2177 ms"
  'test/fuzz/fuzz-pipeline.test.ts',
  // Chromium, with polling deadlines
  'test/browser/**/*.test.ts',
  // the shared Mosquitto of infra/up.sh (:1884): some of these subscribe to senshagen/v1/devices/+/readings and
  // count what arrives, so none of them may publish while another listens
  'test/integration/mqtt-brokers.test.ts',
  'test/integration/mqtt-ingest-drain.test.ts',
  'test/integration/mqtt-subscribed-ingest.test.ts',
  'test/integration/mqtt-reconnect-log.test.ts',
  'test/e2e/prometheus-metrics.test.ts',
  'test/e2e/device-formats.test.ts',
]

/** Files of the parallel project at once: 3 on CI's 2 cores, as most of them wait rather than compute. */
const PARALLEL_FILES = 3
/**
 * A test's (and hook's) time limit in the parallel project: a hang guard, no timing target. Tests that start several
 * `senshagen` processes (each ~4 s of CPU for tsx start-up) share the CPU with two other files there; on a busy
 * machine (load 11-13 on 2 cores) three of them took just over 60 s.
 */
const PARALLEL_TIMEOUT_MS = 180_000

// the full fault matrix runs on its own (npm run test:faults, vitest.faults.config.ts)
const EXCLUDE = [...configDefaults.exclude, 'test/faults/**/*.fault.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: [...EXCLUDE, ...ALONE],
          fileParallelism: true,
          maxWorkers: PARALLEL_FILES,
          testTimeout: PARALLEL_TIMEOUT_MS,
          hookTimeout: PARALLEL_TIMEOUT_MS,
        },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, exclude: EXCLUDE, fileParallelism: false },
      },
    ],
  },
})
