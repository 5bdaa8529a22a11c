import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.backfill;

test('select a range with gaps, backfill it, and watch the gaps fill', async ({
  dashboard,
  harness,
  stack,
}) => {
  const existing = [9, 7, 5, 4].map((h) => hoursAgo(h));
  const gaps = [8, 6].map((h) => hoursAgo(h));
  await harness.create(NAME, existing);
  for (const slot of existing) await expect.poll(() => harness.stateOf(NAME, slot)).toBe('COMPLETE');

  await dashboard.open({ token: stack.token });
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));
  for (const gap of gaps) await dashboard.expectCell(gap, ['Missing']);
  // Before the name's first slot nothing was expected: not a gap.
  await dashboard.expectCell(hoursAgo(11), ['Before first slot']);

  // Select from the first slot to the last one: the selection bar counts what the grid shows.
  const bar = await dashboard.selectWithKeyboard(hoursAgo(9), hoursAgo(4));
  await expect(bar).toContainText(`Selected: ${NAME}`);
  await expect(bar).toContainText('2 missing');
  await expect(bar).toContainText('4 complete');

  const outcome = await dashboard.runAction(bar, /^Backfill/, null);
  await expect(outcome).toContainText('2');
  for (const gap of gaps) {
    await expect.poll(() => harness.stateOf(NAME, gap)).toBe('COMPLETE');
    await dashboard.expectCell(gap, ['Complete']);
  }
  await dashboard.screenshot('backfilled.png');
});
