import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.requeue;

test('re-queue a COMPLETE slot from the side panel: it runs again and returns to COMPLETE live, with history', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(4);
  await harness.create(NAME, [slot]);
  await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');
  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  const panel = await dashboard.openPanel(slot);
  await expect(panel).toContainText('Complete');

  // Hold the work back once the slot is re-queued, so the page can be seen to follow it: pending or running…
  await harness.hold(NAME, slot);
  const outcome = await dashboard.runAction(panel, /^Re-queue/, 'late data arrived for this hour');
  await expect(outcome).toContainText(/re-queued/i);
  await expect(panel.getByRole('definition').first()).toContainText(/Running|Pending/);
  // …then let it finish: the panel and the cell turn COMPLETE by themselves (no reload).
  await harness.letGo(NAME, slot);
  await expect(panel.getByRole('definition').first()).toContainText('Complete');
  const history = panel.locator('ol.history > li');
  await expect(history.filter({ hasText: 'COMPLETE → AVAILABLE' })).toContainText(
    'late data arrived for this hour',
  );
  await expect(history.filter({ hasText: 'COMPLETE → AVAILABLE' })).toContainText('by ');
  await expect(history.last()).toContainText('ACQUIRED → COMPLETE');
  await dashboard.closePanel();
  await dashboard.expectCell(slot, ['Complete']);
  expect(await harness.resultCount(NAME, slot)).toBe(2);
});
