import { configDefaults, defineConfig } from 'vitest/config'

// Integration and end-to-end tests share one InfluxDB, one Kafka broker and one Mosquitto (each test uses
// its own database, topics, consumer group and client ids), so files run one after another on this 2-core
// machine; unit tests are fast either way.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the full fault matrix runs on its own (npm run test:faults, vitest.faults.config.ts)
    exclude: [...configDefaults.exclude, 'test/faults/**/*.fault.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
})
