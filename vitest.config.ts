import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, fast, may use fakes) and `integration`
// (real influxd, real brokers, real OPC UA/Modbus servers on loopback).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{core,bus,influxdb,protocols,gateway,ingest,rules,uplink,dashboards,simulators,deploy,docs}/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
