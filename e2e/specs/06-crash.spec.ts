import { expect, test } from '../support/fixtures.ts';
import { hoursAgo } from '../support/harness.ts';
import { CRASH_NAME } from '../support/stack-env.ts';
import { startWorker, type WorkerProcess } from '../support/workers.ts';

test('a worker killed mid-slot: the slot leaves it at once, the attempt is counted, and another worker processes it after its backoff', async ({
  dashboard,
  harness,
  stack,
}) => {
  const slot = hoursAgo(5);
  // A second's backoff for the abandoned attempt (the suite's workers otherwise wait an hour after a failure).
  const options = {
    names: [CRASH_NAME],
    databaseUrl: stack.databaseUrl,
    schema: stack.schema,
    retryMs: 1_000,
  };
  const workers: WorkerProcess[] = [await startWorker({ ...options, name: 'crash-worker-1' })];
  try {
    await harness.hold(CRASH_NAME, slot);
    await harness.create(CRASH_NAME, [slot]);
    await expect.poll(() => harness.holderOf(CRASH_NAME, slot)).toBe('crash-worker-1');
    workers.push(await startWorker({ ...options, name: 'crash-worker-2' }));

    await dashboard.open();
    await dashboard.show(CRASH_NAME, hoursAgo(12), hoursAgo(-1));
    await dashboard.expectCell(slot, ['Running', 'Held by crash-worker-1']);

    // SIGKILL mid-slot: no cleanup runs; the connection drops and PostgreSQL rolls the holder back. The attempt
    // is counted as abandoned (with the holder's backoff), then the other worker takes the slot.
    const killedAt = Date.now();
    await workers[0]?.kill();
    await expect.poll(() => harness.holderOf(CRASH_NAME, slot), { timeout: 20_000 }).toBe('crash-worker-2');
    console.log(`[crash] slot taken over by crash-worker-2 ${Date.now() - killedAt} ms after the SIGKILL`);

    // The cell leaves the killed worker by itself (the API tells of changed holders; no reload), and
    // opening the slot shows its new holder; then the work may finish and the cell turns COMPLETE live.
    await dashboard.expectCell(slot, ['Running', 'Held by crash-worker-2']);
    const panel = await dashboard.openPanel(slot);
    await expect(panel).toContainText('crash-worker-2 since');
    await harness.letGo(CRASH_NAME, slot);
    await expect(panel.getByRole('definition').first()).toContainText('Complete');
    const history = panel.locator('ol.history > li');
    await expect(history.last()).toContainText('ACQUIRED → COMPLETE');
    await expect(history.last()).toContainText('by crash-worker-2');
    // The killed worker's attempt is in the history as one that never ended.
    await expect(panel.locator('ol.history')).toContainText('the holder went away');
    await dashboard.closePanel();
    await dashboard.expectCell(slot, ['Complete']);
    expect(await harness.resultCount(CRASH_NAME, slot)).toBe(1);
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
});
