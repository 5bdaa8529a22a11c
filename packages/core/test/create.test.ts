import { describe, expect, it } from 'vitest';
import { BadInputError, DuplicateTaskError, IntervalMismatchError, TaskNotFoundError } from '../src/index.ts';
import { createManager, pastSlot, uniqueName } from './helpers.ts';

const tm = await createManager();

describe('creating slots', () => {
  it('createTask makes an AVAILABLE slot with its creator, interval and a history entry', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    const task = await tm.createTask({ name, slot, interval: 'PT5M', createdBy: 'scheduler' });
    expect(task).toMatchObject({
      name,
      slot,
      interval: 'PT5M',
      intervalMs: 300_000,
      state: 'AVAILABLE',
      createdBy: 'scheduler',
      failedAttempts: 0,
      message: null,
      holder: null,
    });
    const history = await tm.history(name, slot);
    expect(history).toMatchObject([{ fromState: null, toState: 'AVAILABLE', actor: 'scheduler' }]);
  });

  it('createTask throws DuplicateTaskError on an existing key and changes nothing', async () => {
    const name = uniqueName();
    const slot = pastSlot();
    await tm.createTask({ name, slot, interval: 'PT5M' });
    await expect(tm.createTask({ name, slot, interval: 'PT5M' })).rejects.toThrow(DuplicateTaskError);
    expect(await tm.history(name, slot)).toHaveLength(1);
  });

  it('createTasks is idempotent and returns how many it created', async () => {
    const name = uniqueName();
    const from = pastSlot(12);
    const to = new Date(from.getTime() + 12 * 300_000);
    expect(await tm.createTasks({ name, from, to, interval: 'PT5M' })).toBe(12);
    expect(await tm.createTasks({ name, from, to: new Date(to.getTime() + 300_000), interval: 'PT5M' })).toBe(
      1,
    );
    expect(await tm.listTasks({ name })).toHaveLength(13);
  });

  it('createTasks rounds a misaligned start up to the next slot', async () => {
    const name = uniqueName();
    const from = pastSlot(10);
    const created = await tm.createTasks({
      name,
      from: new Date(from.getTime() + 1),
      to: new Date(from.getTime() + 3 * 300_000),
      interval: 300_000,
    });
    expect(created).toBe(2);
  });

  it('a name keeps the interval of its first slot: another interval is an IntervalMismatchError', async () => {
    const name = uniqueName();
    const hourSlot = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 5 * 3_600_000);
    await tm.createTask({ name, slot: pastSlot(), interval: 'PT5M' });
    await expect(tm.createTask({ name, slot: hourSlot, interval: 'PT1H' })).rejects.toThrow(
      IntervalMismatchError,
    );
    await expect(
      tm.createTasks({
        name,
        from: hourSlot,
        to: new Date(hourSlot.getTime() + 3_600_000),
        interval: 'PT1H',
      }),
    ).rejects.toThrow(/has interval PT5M/);
  });

  it('a misaligned slot is a clear error naming the aligned slot', async () => {
    const slot = new Date(pastSlot().getTime() + 60_000);
    await expect(tm.createTask({ name: uniqueName(), slot, interval: 'PT5M' })).rejects.toThrow(
      /not aligned to its interval PT5M; the slot containing it starts at/,
    );
  });

  it.each([
    ['an empty name', { name: '' }],
    ['a name of 201 characters', { name: 'x'.repeat(201) }],
    ['a name with NUL', { name: 'a\u0000b' }],
    ['an invalid slot', { slot: 'not a date' }],
    ['a month interval', { interval: 'P1M' }],
  ])('rejects %s with BadInputError before touching the database', async (_, override) => {
    const before = await tm.listTasks({ limit: 10_000 });
    await expect(
      tm.createTask({ name: uniqueName(), slot: pastSlot(), interval: 'PT5M', ...override }),
    ).rejects.toThrow(BadInputError);
    expect(await tm.listTasks({ limit: 10_000 })).toEqual(before);
  });

  it('rejects inverted and absurdly large ranges', async () => {
    const name = uniqueName();
    await expect(
      tm.createTasks({ name, from: pastSlot(0), to: pastSlot(10), interval: 'PT5M' }),
    ).rejects.toThrow(/inverted range/);
    await expect(
      tm.createTasks({ name, from: '2000-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', interval: 'PT1S' }),
    ).rejects.toThrow(/at most 10000 per call/);
    expect(await tm.getTaskName(name)).toBeNull();
  });

  it('names with quotes, semicolons, emoji and 200 characters round-trip verbatim', async () => {
    const names = [
      `Robert'); DROP TABLE tasks;--`,
      'double "quoted" \\ backslash',
      'emoji 🚀 report ✓ naïve 日本語',
      '🚀'.repeat(200),
      ' leading and trailing spaces ',
      'x'.repeat(200),
    ];
    const slot = pastSlot();
    for (const name of names) {
      await tm.createTask({ name, slot, interval: 'PT5M' });
      const task = await tm.getTask(name, slot);
      expect(task?.name).toBe(name);
      expect((await tm.listTasks({ name })).map((t) => t.name)).toEqual([name]);
    }
  });

  it('backfill creates only the missing slots of an existing name, and needs the name to exist', async () => {
    const name = uniqueName();
    const from = pastSlot(6);
    await tm.createTask({ name, slot: new Date(from.getTime() + 2 * 300_000), interval: 'PT5M' });
    const to = new Date(from.getTime() + 6 * 300_000);
    const preview = await tm.backfill({ name, from, to, dryRun: true });
    expect(preview).toHaveLength(5);
    expect(await tm.listTasks({ name })).toHaveLength(1);
    expect(await tm.backfill({ name, from, to })).toEqual(preview);
    expect(await tm.listTasks({ name })).toHaveLength(6);
    expect(await tm.backfill({ name, from, to })).toEqual([]);
    await expect(tm.backfill({ name: uniqueName(), from, to })).rejects.toThrow(TaskNotFoundError);
  });
});
