import { test as base } from '@playwright/test';
import { Dashboard } from './dashboard.ts';
import { Harness } from './harness.ts';
import { readStackEnv, type StackEnv } from './stack-env.ts';

/** The flows' fixtures: the stack's address, the database harness, and the dashboard page. */
export const test = base.extend<{ stack: StackEnv; harness: Harness; dashboard: Dashboard }>({
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
