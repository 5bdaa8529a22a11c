import { test as base } from '@playwright/test';
import { noChromium } from './chromium.ts';
import { Dashboard } from './dashboard.ts';
import { Harness } from './harness.ts';
import { readStackEnv, type StackEnv } from './stack-env.ts';

/**
 * The flows' fixtures: the stack's address, the database harness, and the dashboard page. Every flow is
 * skipped, with the reason, on a machine without Debian's Chromium (automatic fixtures run before the
 * browser is launched).
 */
export const test = base.extend<{
  requiresChromium: undefined;
  stack: StackEnv;
  harness: Harness;
  dashboard: Dashboard;
}>({
  requiresChromium: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright's fixture signature
    async ({}, use, testInfo) => {
      testInfo.skip(noChromium !== null, noChromium ?? '');
      await use(undefined);
    },
    { auto: true },
  ],
  // biome-ignore lint/correctness/noEmptyPattern: Playwright's fixture signature
  stack: async ({}, use) => {
    await use(readStackEnv());
  },
  harness: async ({ stack }, use) => {
    const harness = new Harness(stack);
    await use(harness);
    await harness.close();
  },
  dashboard: async ({ page, stack }, use) => {
    await use(new Dashboard(page, stack.baseUrl));
  },
});

export { expect } from '@playwright/test';
