import { defineConfig } from 'vitest/config'

// The full fault matrix (`npm run test:faults`; README "Fault matrix"): one file, scenarios one after another
// (each kills processes and may run its own InfluxDB, Kafka or Mosquitto). Not part of `npm test`, which runs the
// reduced form (test/faults/reduced.test.ts).
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.test.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
})
