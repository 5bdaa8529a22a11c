import { formatUtc } from '../support/dashboard.ts';
import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { FLEET_NAMES } from '../support/stack-env.ts';

const NAME = FLEET_NAMES.states;
const UNREACHABLE = 'source unreachable: connect ECONNREFUSED 10.20.0.14:5432 (sensor-db-3)';

test('the grid shows completed, failing (with its message), skipped, missing and running slots', async ({
  dashboard,
  harness,
}) => {
  const [done, failing, skipped, gap, running] = [10, 8, 7, 6, 5].map((h) => hoursAgo(h));
  if (!done || !failing || !skipped || !gap || !running) throw new Error('unreachable');
  await harness.failWith(NAME, failing, UNREACHABLE);
  await harness.hold(NAME, running);
  await harness.create(NAME, [done, failing, running]);
  await harness.tm.skip(
    { name: NAME, slots: [skipped] },
    { reason: 'sensor-7 offline for maintenance', actor: 'ops:e2e' },
  );
  await expect.poll(() => harness.stateOf(NAME, done)).toBe('COMPLETE');
  await expect.poll(() => harness.stateOf(NAME, failing)).toBe('FAILING');
  await expect.poll(() => harness.holderOf(NAME, running)).toMatch(/^e2e-worker-[ab]$/);
  const holder = await harness.holderOf(NAME, running);

  await dashboard.open();
  await dashboard.show(NAME, hoursAgo(12), hoursAgo(-1));

  await dashboard.expectCell(done, ['Complete']);
  await dashboard.expectCell(failing, ['Failing', 'Failed attempts: 1', UNREACHABLE]);
  await dashboard.expectCell(skipped, ['Skipped', 'Reason: sensor-7 offline for maintenance']);
  await dashboard.expectCell(gap, ['Missing']);
  await dashboard.expectCell(running, ['Running', `Held by ${holder}`]);
  await dashboard.screenshot('grid.png');

  const panel = await dashboard.openPanel(failing);
  await expect(panel).toContainText('Failing');
  await expect(panel.locator('pre.message').first()).toHaveText(UNREACHABLE);
  await expect(panel.getByRole('heading', { name: 'History' })).toBeVisible();
  await dashboard.screenshot('side-panel.png');
  await dashboard.screenshot('side-panel-only.png', panel);
  await dashboard.closePanel();

  const runningPanel = await dashboard.openPanel(running);
  await expect(runningPanel).toContainText(`${holder} since`);
  await expect(runningPanel).toContainText(formatUtc(running));
  await dashboard.closePanel();
  await harness.letGo(NAME, running);
  await dashboard.expectCell(running, ['Complete']);
});
