import { defineConfig } from '@playwright/test';
import { CHROMIUM_PATH } from './support/chromium.ts';

/**
 * The browser suite. `support/global-setup.ts` starts the real stack (PostgreSQL, the API serving the built
 * dashboard, worker processes) on free ports with a fresh schema and passes its address through the
 * environment. One Playwright worker: the flows share the stack (each on task names of its own), and the
 * machine has two cores for the browser, the API, PostgreSQL and the workers. Without Debian's Chromium every
 * flow is skipped, with the reason, and no stack is started.
 */
export default defineConfig({
  testDir: './specs',
  globalSetup: './support/global-setup.ts',
  outputDir: './test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    viewport: { width: 1400, height: 900 },
    timezoneId: 'UTC',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
