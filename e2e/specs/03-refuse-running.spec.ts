import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.refuse;

test('re-queue of a running slot is refused with an explanation; the worker completes undisturbed', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(3);
  await harness.hold(NAME, slot);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.holderOf(NAME, slot)).not.toBeNull();
  const holder = await harness.holderOf(NAME, slot);

  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  const panel = await dashboard.openPanel(slot);
  await expect(panel).toContainText('Running');
  const requeue = panel.getByRole('button', { name: /^Re-queue/ });
  await expect(requeue).toBeDisabled();
  await expect(panel).toContainText('A worker is running this slot right now');

  // The API refuses it too (a page that had not seen the worker yet would get this answer).
  const response = await dashboard.page.request.post(`${stack.baseUrl}/api/requeue`, {
    headers: { authorization: `Bearer ${stack.token}` },
    data: { name: NAME, slots: [slot.toISOString()], reason: 'should be refused' },
  });
  expect(response.status()).toBe(409);
  expect((await response.json()).counts).toMatchObject({ requeued: 0, busy: 1 });

  await harness.letGo(NAME, slot);
  await expect(panel.getByRole('definition').first()).toContainText('Complete');
  const history = panel.locator('ol.history > li');
  await expect(history.last()).toContainText('ACQUIRED → COMPLETE');
  await expect(history.last()).toContainText(`by ${holder}`);
  await expect(panel.locator('ol.history')).not.toContainText('should be refused');
  expect(await harness.resultCount(NAME, slot)).toBe(1);
});
