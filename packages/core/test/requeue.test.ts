import { describe, expect, it } from 'vitest';
import { BadInputError, TaskNotFoundError } from '../src/index.ts';
import { createManager, pastSlot, uniqueName } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });

/** A name with four slots: COMPLETE, SKIP, failing (backing off), pending. */
async function fourSlots() {
  const name = uniqueName();
  const from = pastSlot(4);
  await tm.createTasks({ name, from, to: new Date(from.getTime() + 4 * 300_000), interval: 'PT5M' });
  const slots = (await tm.listTasks({ name })).map((t) => t.slot);
  const [done, skipped, failing, pending] = slots as [Date, Date, Date, Date];
  await (await tm.acquire(name, done)).complete('42 rows');
  await (await tm.acquire(name, skipped)).skip('no data');
  await (await tm.acquire(name, failing)).fail('source unreachable');
  return { name, done, skipped, failing, pending };
}

describe('requeue', () => {
  it('puts COMPLETE and SKIP back to AVAILABLE, makes a backing-off slot due now, leaves pending ones', async () => {
    const { name, done, skipped, failing, pending } = await fourSlots();
    const result = await tm.requeue(
      { name, slots: [done, skipped, failing, pending] },
      { reason: 'late data arrived', actor: 'ops' },
    );
    expect(result.outcomes.map((o) => o.outcome)).toEqual(['requeued', 'requeued', 'requeued', 'unchanged']);
    expect(result.counts).toEqual({ requeued: 3, busy: 0, not_found: 0, unchanged: 1 });
    expect(await tm.getTask(name, done)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 0,
      message: 'late data arrived',
      nextAttemptAt: null,
    });
    expect(await tm.getTask(name, failing)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'source unreachable',
      nextAttemptAt: null,
    });
    expect((await tm.history(name, done)).at(-1)).toMatchObject({
      fromState: 'COMPLETE',
      toState: 'AVAILABLE',
      actor: 'ops',
      message: 'late data arrived',
    });
    const again = await tm.acquire(name, failing);
    await again.complete();
  });

  it('never waits on nor touches a held slot: busy at once, and the holder completes undisturbed', async () => {
    const { name, pending, done } = await fourSlots();
    const held = await tm.acquire(name, pending, { worker: 'busy-worker' });
    const started = Date.now();
    const result = await tm.requeue({ name, slots: [pending, done] }, { reason: 'rerun' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.outcomes).toEqual([
      { slot: done, outcome: 'requeued' },
      { slot: pending, outcome: 'busy' },
    ]);
    expect(held.isHeld).toBe(true);
    expect(held.signal.aborted).toBe(false);
    await held.complete('finished anyway');
    expect(await tm.getTask(name, pending)).toMatchObject({ state: 'COMPLETE', message: 'finished anyway' });
  });

  it('reports slots that do not exist as not_found and a range without listing its gaps', async () => {
    const { name, done } = await fourSlots();
    const missing = new Date(done.getTime() - 300_000);
    expect((await tm.requeue({ name, slots: [missing] }, { reason: 'x' })).counts.not_found).toBe(1);
    const range = await tm.requeue(
      { name, from: new Date(done.getTime() - 3 * 300_000), to: new Date(done.getTime() + 4 * 300_000) },
      { reason: 'rerun the day' },
    );
    expect(range.outcomes).toHaveLength(4);
    expect(range.counts).toMatchObject({ requeued: 3, unchanged: 1, not_found: 0 });
  });

  it('dryRun reports the outcome and changes nothing', async () => {
    const { name, done } = await fourSlots();
    const preview = await tm.requeue({ name, slots: [done] }, { reason: 'preview', dryRun: true });
    expect(preview.counts.requeued).toBe(1);
    expect((await tm.getTask(name, done))?.state).toBe('COMPLETE');
    expect(await tm.history(name, done)).toHaveLength(3);
  });

  it('a re-queue wakes listeners: the AVAILABLE transition is announced at commit', async () => {
    const { name, done } = await fourSlots();
    const seen: string[] = [];
    const subscription = await tm.subscribe({
      onEvent: (event) => {
        if (event.kind === 'transition' && event.name === name)
          seen.push(`${event.from}->${event.to}:${event.actor}`);
      },
      // Its poll is no help within the test's deadline: only the announcement can make it read.
      pollInterval: 60_000,
    });
    try {
      await tm.requeue({ name, slots: [done] }, { reason: 'late data', actor: 'ops' });
      const deadline = Date.now() + 10_000;
      while (!seen.includes('COMPLETE->AVAILABLE:ops') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(seen).toContain('COMPLETE->AVAILABLE:ops');
    } finally {
      await subscription.close();
    }
  });

  it('rejects bad input with a clear error and changes nothing', async () => {
    const { name, done } = await fourSlots();
    const misaligned = new Date(done.getTime() + 1_000);
    await expect(tm.requeue({ name, slots: [misaligned] }, { reason: 'x' })).rejects.toThrow(/not aligned/);
    await expect(tm.requeue({ name, slots: [] }, { reason: 'x' })).rejects.toThrow(BadInputError);
    await expect(tm.requeue({ name, slots: [done] }, { reason: '' })).rejects.toThrow(/reason/);
    await expect(tm.requeue({ name, from: done, to: pastSlot(10) }, { reason: 'x' })).rejects.toThrow(
      /inverted/,
    );
    await expect(
      tm.requeue({ name, from: '1970-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z' }, { reason: 'x' }),
    ).rejects.toThrow(/at most 10000/);
    await expect(tm.requeue({ name: uniqueName(), slots: [done] }, { reason: 'x' })).rejects.toThrow(
      TaskNotFoundError,
    );
    expect((await tm.getTask(name, done))?.state).toBe('COMPLETE');
  });
});
