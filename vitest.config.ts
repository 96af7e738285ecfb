import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end files start real processes on real ports; two workers suit the 2-core CI machine.
    maxWorkers: 2,
    // Test files share their worker's module cache: each file used to load fastify, sharp and the
    // gateway's modules again (import time 25 s of a 70 s run, now 7 s). State lives in what a test
    // creates, not in modules; a helper that needs per-file hooks has its files call it
    // (test/e2e/scheduler-world.ts).
    isolate: false,
  },
});
