import { quietLogger, startServer } from '@dtm/api';
import { Dashboard } from '../support/dashboard.ts';
import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.token;

test('without a token nothing can be changed, and a wrong token is rejected with a message', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(4);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');
  await dashboard.open();
  await expect(dashboard.page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  const panel = await dashboard.openPanel(slot);

  // A change asks for the token first; cancelling it changes nothing.
  await panel.getByRole('button', { name: /^Re-queue/ }).click();
  const dialog = dashboard.page.getByTestId('token-dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(panel.getByRole('button', { name: 'Preview re-queue' })).toHaveCount(0);

  // A wrong token is rejected with a message, and not kept.
  await dashboard.closePanel();
  await dashboard.page.getByRole('button', { name: 'Sign in' }).click();
  await dialog.getByLabel('API token').fill('not-the-token');
  await dialog.getByRole('button', { name: 'Sign in' }).click();
  await expect(dialog.getByRole('alert')).toHaveText('The API rejected this token. Check it and try again.');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect(await dashboard.page.evaluate(() => sessionStorage.getItem('dtm.token'))).toBeNull();

  // The API refuses a write without a token too, and nothing changed.
  const response = await dashboard.page.request.post(`${stack.baseUrl}/api/requeue`, {
    data: { name: NAME, slots: [slot.toISOString()], reason: 'no token' },
  });
  expect(response.status()).toBe(401);
  expect(await harness.stateOf(NAME, slot)).toBe('COMPLETE');
});

test('a server started without a token is read-only: the page says so and disables every change', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(4);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');
  const readOnly = await startServer({
    databaseUrl: stack.databaseUrl,
    schema: stack.schema,
    host: '127.0.0.1',
    port: 0,
    isMigrating: false,
    logger: quietLogger,
  });
  try {
    const page = new Dashboard(dashboard.page, readOnly.url);
    await page.open();
    await expect(dashboard.page.getByText('Read-only', { exact: true })).toBeVisible();
    await expect(dashboard.page.getByRole('status').filter({ hasText: 'Read-only mode' })).toBeVisible();
    await page.show(NAME, hoursAgo(12), hoursAgo(-1));
    const panel = await page.openPanel(slot);
    await expect(panel.getByRole('button', { name: /^Re-queue/ })).toBeDisabled();
    await expect(panel).toContainText('The server is read-only');
  } finally {
    await readOnly.close();
  }
});
