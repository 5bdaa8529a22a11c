import AxeBuilder from '@axe-core/playwright';
import type { Locator } from '@playwright/test';
import { formatUtc } from '../support/dashboard.ts';
import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.keyboard;

test('the page passes an axe-core scan, with the side panel open too', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(6);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');
  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  await dashboard.hover(slot);
  const page = await new AxeBuilder({ page: dashboard.page }).analyze();
  expect(
    page.violations.map(
      (v) => `${v.id}: ${v.help} (${v.nodes.map((node) => node.target.join(' ')).join(', ')})`,
    ),
  ).toEqual([]);
  await dashboard.openPanel(slot);
  const panel = await new AxeBuilder({ page: dashboard.page }).analyze();
  expect(
    panel.violations.map(
      (v) => `${v.id}: ${v.help} (${v.nodes.map((node) => node.target.join(' ')).join(', ')})`,
    ),
  ).toEqual([]);
});

test('keyboard only: reach a slot with the arrow keys, open it with Enter, re-queue it', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(3);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');
  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  await dashboard.hover(slot); // the grid has loaded; from here on, only the keyboard
  await dashboard.page.mouse.move(0, 0);

  const { page } = dashboard;
  /** Presses Tab until `target` has focus (at most 80 times). */
  const tabTo = async (target: Locator) => {
    await expect(target).toBeVisible();
    for (let i = 0; i < 80 && !(await target.evaluate((el) => el === document.activeElement)); i += 1) {
      await page.keyboard.press('Tab');
    }
    await expect(target).toBeFocused();
  };
  const description = page.locator('#grid-focus-description');
  // Tab from the top of the page until the grid has focus.
  await page.keyboard.press('Tab');
  await tabTo(dashboard.grid);
  await page.keyboard.press('Home');
  // The name then the cell's start: a cell that crosses midnight also spells out its end, the slot's start.
  const focused = `${NAME}, ${formatUtc(slot)}`;
  for (let i = 0; i < 30 && !(await description.textContent())?.includes(focused); i += 1) {
    await page.keyboard.press('ArrowRight');
  }
  await expect(description).toContainText(focused);
  await expect(description).toContainText('Complete');
  await page.keyboard.press('Enter');
  await expect(dashboard.panel).toContainText(`${formatUtc(slot)} –`);

  // Tab to the Re-queue button, and through the form with the keyboard.
  await tabTo(dashboard.panel.getByRole('button', { name: /^Re-queue/ }));
  await page.keyboard.press('Enter');
  await tabTo(dashboard.panel.getByLabel('Reason (kept in the history)'));
  await page.keyboard.type('re-run from the keyboard');
  await tabTo(dashboard.panel.getByRole('button', { name: 'Preview re-queue' }));
  await page.keyboard.press('Enter');
  await tabTo(dashboard.panel.getByRole('button', { name: 'Confirm re-queue' }));
  await page.keyboard.press('Enter');
  await expect(dashboard.panel.locator('.outcome')).toContainText(/re-queued/i);
  await expect(dashboard.panel.locator('ol.history')).toContainText('re-run from the keyboard');
  await expect(dashboard.panel.getByRole('definition').first()).toContainText('Complete');
  // The confirm button is gone, and focus with it (to the page body): Tab back to the panel's Done and close.
  await tabTo(dashboard.panel.getByRole('button', { name: 'Done' }));
  await page.keyboard.press('Enter');
  await tabTo(dashboard.panel.getByRole('button', { name: 'Close details' }));
  await page.keyboard.press('Enter');
  await expect(dashboard.panel).toBeHidden();
});
