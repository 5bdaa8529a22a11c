import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['@dtm/dev-db/vitest-setup'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
