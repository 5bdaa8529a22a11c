import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.skip;
const REASON = 'source database down for maintenance (OPS-2210)';

test('skip a range with a gap, see it skipped, then un-skip one slot and see a worker process it', async ({
  dashboard,
  harness,
  stack,
}) => {
  const [older, gap, newer] = [6, 5, 4].map((h) => hoursAgo(h));
  if (!older || !gap || !newer) throw new Error('unreachable');
  for (const slot of [older, newer])
    await harness.failWith(NAME, slot, 'timeout: source did not answer within 30 s');
  await harness.create(NAME, [older, newer]);
  for (const slot of [older, newer]) await expect.poll(() => harness.stateOf(NAME, slot)).toBe('FAILING');

  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  await dashboard.expectCell(gap, ['Missing']);
  const bar = await dashboard.selectWithKeyboard(older, newer);
  await expect(bar).toContainText('2 failing');
  await expect(bar).toContainText('1 missing');

  const outcome = await dashboard.runAction(bar, /^Skip/, REASON);
  await expect(outcome).toContainText('3');
  for (const slot of [older, gap, newer]) await dashboard.expectCell(slot, ['Skipped', `Reason: ${REASON}`]);
  await bar.getByRole('button', { name: 'Clear selection' }).click();

  // Un-skip the former gap: it becomes AVAILABLE and a worker processes it.
  const panel = await dashboard.openPanel(gap);
  const unskip = await dashboard.runAction(panel, /^Re-queue \(un-skip\)/, 'source is back');
  await expect(unskip).toContainText(/re-queued/i);
  await expect(panel.getByRole('definition').first()).toContainText('Complete');
  await expect(panel.locator('ol.history')).toContainText(/processed by|ACQUIRED → COMPLETE/);
  await dashboard.closePanel();
  await dashboard.expectCell(gap, ['Complete']);
  await dashboard.expectCell(older, ['Skipped']);
  expect(await harness.resultCount(NAME, gap)).toBe(1);
});
