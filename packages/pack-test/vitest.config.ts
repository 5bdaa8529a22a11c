import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['@dtm/dev-db/vitest-setup'],
    // Packing builds three packages, and npm installs from the registry.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
