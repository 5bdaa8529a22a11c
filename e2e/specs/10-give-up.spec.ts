import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { E2E_INTERVAL, FLEET_NAMES, HOUR } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.giveUp;
const BROKEN = 'column "reading" does not exist';

test('a slot that gave up (maxAttempts) says so, is not retried, and runs again once re-queued', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(3);
  await harness.failWith(NAME, slot, BROKEN);
  // One attempt and no more: the fleet's first failure gives up.
  await harness.tm.createTasks({
    name: NAME,
    from: slot,
    to: new Date(slot.getTime() + HOUR),
    interval: E2E_INTERVAL,
    maxAttempts: 1,
  });
  await expect.poll(async () => (await harness.tm.getTask(NAME, slot))?.hasGivenUp).toBe(true);

  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  await dashboard.expectCell(slot, ['Failing', `gave up after 1 attempt: ${BROKEN}`]);
  const panel = await dashboard.openPanel(slot);
  await expect(panel).toContainText('none: gave up after 1 attempt — re-queue to retry');
  await dashboard.screenshot('gave-up-panel.png', panel);

  // The cause is fixed; a re-queue gives the slot its attempts back and the fleet runs it to COMPLETE.
  await harness.stopFailing(NAME, slot);
  const outcome = await dashboard.runAction(panel, /^Re-queue/, 'the column was added');
  await expect(outcome).toContainText(/re-queued/i);
  await expect(panel.getByRole('definition').first()).toContainText('Complete');
  const task = await harness.tm.getTask(NAME, slot);
  expect(task).toMatchObject({ state: 'COMPLETE', hasGivenUp: false });
  expect(await harness.resultCount(NAME, slot)).toBe(1);
});
