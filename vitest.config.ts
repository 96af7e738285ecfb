import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end files start real processes on real ports; two workers suit the 2-core CI machine.
    maxWorkers: 2,
  },
});
