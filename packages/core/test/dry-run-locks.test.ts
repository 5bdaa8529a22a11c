import { afterAll, describe, expect, it } from 'vitest';
import { TaskManager } from '../src/index.ts';
import { createManager, databaseUrl, lockerStatuses, pastSlot, uniqueName } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
/** Holds slots on connections of its own, as another worker process would. */
const other = new TaskManager({ connectionString: databaseUrl, schema: tm.schema, workerName: 'other' });
afterAll(() => other.close());

/**
 * A name with one slot of each kind an operation tells apart: COMPLETE, SKIP, failing (backing off), gave up
 * (`maxAttempts`), pending (due now), held right now by the other manager, and a gap (no row).
 */
async function everyKind() {
  const name = uniqueName();
  const from = pastSlot(7);
  const at = (i: number) => new Date(from.getTime() + i * 300_000);
  await tm.createTasks({ name, from, to: at(6), interval: 'PT5M' });
  await (await tm.acquire(name, at(0))).complete('42 rows');
  await (await tm.acquire(name, at(1))).skip('no data');
  await (await tm.acquire(name, at(2))).fail('source unreachable');
  await tm.setMaxAttempts(name, 1);
  await (await tm.acquire(name, at(3))).fail('source gone');
  const held = await other.acquire(name, at(5), { worker: 'holder' });
  const slots = [at(0), at(1), at(2), at(3), at(4), at(5), at(6)];
  return { name, from, to: at(7), slots, held };
}

/** Slots of AVAILABLE rows only: due now, waiting out a backoff, and given up. */
async function availableOnly() {
  const name = uniqueName();
  const from = pastSlot(3);
  const at = (i: number) => new Date(from.getTime() + i * 300_000);
  await tm.createTasks({ name, from, to: at(3), interval: 'PT5M' });
  await (await tm.acquire(name, at(0))).fail('source unreachable');
  await tm.setMaxAttempts(name, 1);
  await (await tm.acquire(name, at(1))).fail('source gone');
  const tasks = await tm.listTasks({ name });
  expect(tasks.map((t) => [t.state, t.nextAttemptAt !== null, t.hasGivenUp])).toEqual([
    ['AVAILABLE', true, false],
    ['AVAILABLE', false, true],
    ['AVAILABLE', false, false],
  ]);
  return { name, slots: tasks.map((t) => t.slot) };
}

describe('a dry run of requeue or skip', () => {
  it('reports for requeue what the real run that follows reports, busy for a slot held elsewhere', async () => {
    const { name, slots, held } = await everyKind();
    const expected = ['requeued', 'requeued', 'requeued', 'requeued', 'unchanged', 'busy', 'not_found'];
    const preview = await tm.requeue({ name, slots }, { reason: 'preview', dryRun: true });
    const result = await tm.requeue({ name, slots }, { reason: 'rerun' });
    expect(result.outcomes.map((o) => o.outcome)).toEqual(expected);
    expect(preview).toEqual(result);
    expect(held.isHeld).toBe(true);
    await held.complete();
  });

  it('reports for requeue over a range what the real run reports, its gaps left out', async () => {
    const { name, from, to, held } = await everyKind();
    const preview = await tm.requeue({ name, from, to }, { reason: 'preview', dryRun: true });
    const result = await tm.requeue({ name, from, to }, { reason: 'rerun' });
    expect(result.counts).toEqual({ requeued: 4, busy: 1, not_found: 0, unchanged: 1 });
    expect(preview).toEqual(result);
    await held.complete();
  });

  it.each([
    [false, ['unchanged', 'unchanged', 'skipped', 'skipped', 'skipped', 'busy', 'skipped']],
    [true, ['skipped', 'unchanged', 'skipped', 'skipped', 'skipped', 'busy', 'skipped']],
  ])(
    'reports for skip (includeComplete %s) what the real run that follows reports',
    async (includeComplete, expected) => {
      const { name, from, to, held } = await everyKind();
      const preview = await tm.skip({ name, from, to }, { reason: 'preview', includeComplete, dryRun: true });
      const result = await tm.skip({ name, from, to }, { reason: 'maintenance', includeComplete });
      expect(result.outcomes.map((o) => o.outcome)).toEqual(expected);
      expect(preview).toEqual(result);
      await held.complete();
    },
  );

  it('of requeue leaves no aborted locker on AVAILABLE rows, due, backing off or given up', async () => {
    const { name, slots } = await availableOnly();
    expect(await lockerStatuses(tm, name)).not.toContain('aborted');
    const preview = await tm.requeue({ name, slots }, { reason: 'preview', dryRun: true });
    expect(preview.counts).toEqual({ requeued: 2, busy: 0, not_found: 0, unchanged: 1 });
    expect(await lockerStatuses(tm, name)).not.toContain('aborted');
    expect((await tm.listTasks({ name })).map((t) => t.nextAttemptAt !== null || t.hasGivenUp)).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('of skip leaves no aborted locker on AVAILABLE rows, due, backing off or given up', async () => {
    const { name, slots } = await availableOnly();
    expect(await lockerStatuses(tm, name)).not.toContain('aborted');
    const preview = await tm.skip({ name, slots }, { reason: 'preview', dryRun: true });
    expect(preview.counts).toEqual({ skipped: 3, busy: 0, unchanged: 0 });
    expect(await lockerStatuses(tm, name)).not.toContain('aborted');
    expect((await tm.listTasks({ name })).map((t) => t.state)).toEqual([
      'AVAILABLE',
      'AVAILABLE',
      'AVAILABLE',
    ]);
  });
});
