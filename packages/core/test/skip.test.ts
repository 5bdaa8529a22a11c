import { describe, expect, it } from 'vitest';
import { createManager, pastSlot, uniqueName } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });

describe('manual skip', () => {
  it('skips AVAILABLE (failing included) and missing slots, leaves COMPLETE alone, reports a held one busy', async () => {
    const name = uniqueName();
    const from = pastSlot(6);
    const at = (i: number) => new Date(from.getTime() + i * 300_000);
    // slots 0..4 exist; 5 is a gap
    await tm.createTasks({ name, from, to: at(5), interval: 'PT5M' });
    await (await tm.acquire(name, at(0))).complete();
    await (await tm.acquire(name, at(1))).fail('source unreachable');
    const held = await tm.acquire(name, at(2), { worker: 'holder' });
    const result = await tm.skip(
      { name, from, to: at(6) },
      { reason: 'source down for maintenance', actor: 'ops' },
    );
    expect(result.outcomes.map((o) => o.outcome)).toEqual([
      'unchanged',
      'skipped',
      'busy',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(result.counts).toEqual({ skipped: 4, busy: 1, unchanged: 1 });
    expect(await tm.getTask(name, at(5))).toMatchObject({
      state: 'SKIP',
      message: 'source down for maintenance',
    });
    expect(await tm.getTask(name, at(1))).toMatchObject({ state: 'SKIP', failedAttempts: 1 });
    expect((await tm.history(name, at(5))).map((h) => [h.fromState, h.toState, h.actor, h.message])).toEqual([
      [null, 'SKIP', 'ops', 'source down for maintenance'],
    ]);
    await held.complete();
    expect((await tm.getTask(name, at(2)))?.state).toBe('COMPLETE');
  });

  it('skips COMPLETE slots only with includeComplete, and un-skip is requeue', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await tm.createTask({ name, slot, interval: 'PT5M' });
    await (await tm.acquire(name, slot)).complete();
    expect((await tm.skip({ name, slots: [slot] }, { reason: 'r' })).counts.unchanged).toBe(1);
    expect(
      (await tm.skip({ name, slots: [slot] }, { reason: 'r', includeComplete: true })).counts.skipped,
    ).toBe(1);
    expect((await tm.requeue({ name, slots: [slot] }, { reason: 'un-skip' })).counts.requeued).toBe(1);
    const again = await tm.acquire(name, slot);
    await again.complete();
  });

  it('dryRun creates and changes nothing', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await tm.createTask({ name, slot, interval: 'PT5M' });
    const gap = new Date(slot.getTime() + 300_000);
    const preview = await tm.skip({ name, slots: [slot, gap] }, { reason: 'r', dryRun: true });
    expect(preview.counts.skipped).toBe(2);
    expect(await tm.listTasks({ name })).toMatchObject([{ state: 'AVAILABLE' }]);
  });
});
