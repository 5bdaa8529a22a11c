import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
    // Full-app tests drive many user events through jsdom; on a loaded machine they can pass 5 s.
    testTimeout: 20_000,
  },
});
