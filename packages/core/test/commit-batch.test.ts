// Commit batching (tm.work's `commitBatch`): a lane takes several slots in one transaction, runs their
// handlers one after the other, and ends them all in one round trip. Under crashes and terminated backends it
// is also run by test/fault-workers.test.ts (commitBatch 8).
import { afterAll, describe, expect, it } from 'vitest';
import type { AcquiredTask, Worker, WorkerEvents } from '../src/index.ts';
import { createManager, lockerStatuses, pastSlot, uniqueName, waitFor } from './helpers.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});

const tm = await createManager();
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, note text)`);

/** `count` due five-minute slots of a new name (the worker also creates the current slot). */
async function slotsOf(count: number, maxAttempts?: number): Promise<{ name: string; slots: Date[] }> {
  const name = uniqueName('batched');
  const from = pastSlot(count + 5);
  await tm.createTasks({
    name,
    from,
    to: new Date(from.getTime() + count * 300_000),
    interval: 'PT5M',
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  });
  return { name, slots: Array.from({ length: count }, (_, i) => new Date(from.getTime() + i * 300_000)) };
}

function start(
  name: string,
  handler: (task: AcquiredTask) => Promise<unknown>,
  options: { concurrency?: number; commitBatch?: number } = {},
) {
  const events: Array<{ event: keyof WorkerEvents; slot: number; payload: unknown }> = [];
  const worker = tm.work({
    name,
    interval: 'PT5M',
    backlog: 'P1D',
    concurrency: options.concurrency ?? 2,
    commitBatch: options.commitBatch ?? 10,
    retry: { baseMs: 60_000 },
    logger: quiet,
    handler,
  });
  workers.push(worker);
  for (const event of ['completed', 'skipped', 'failed', 'lockLost'] as const) {
    worker.on(event, (payload) => events.push({ event, slot: payload.task.slot.getTime(), payload }));
  }
  return { worker, events };
}

async function rows(name: string) {
  const { rows } = await tm.pool.query<{
    slot: Date;
    state: string;
    failed_attempts: number;
    message: string | null;
    is_backing_off: boolean;
  }>(
    `SELECT slot, state, failed_attempts, message, next_attempt_at > now() AS is_backing_off
     FROM "${tm.schema}".tasks WHERE name = $1 ORDER BY slot`,
    [name],
  );
  return rows;
}

async function results(name: string): Promise<Map<number, number>> {
  const { rows } = await tm.pool.query<{ slot: Date; n: string }>(
    `SELECT slot, count(*) AS n FROM "${tm.schema}".results WHERE name = $1 GROUP BY slot`,
    [name],
  );
  return new Map(rows.map((row) => [row.slot.getTime(), Number(row.n)]));
}

async function historyOf(name: string, slot: Date): Promise<string[]> {
  const history = await tm.history(name, slot);
  return history.map((entry) => `${entry.fromState ?? 'created'}>${entry.toState}`);
}

function write(task: AcquiredTask, note: string): Promise<unknown> {
  return task.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, $3)`, [
    task.task.name,
    task.task.slot,
    note,
  ]);
}

describe('commit batching', () => {
  it('processes every slot exactly once, its writes committed with its ending, in batches of up to k', async () => {
    const { name, slots } = await slotsOf(95);
    const inFlight = new Set<number>();
    let mostAtOnce = 0;
    const { worker, events } = start(
      name,
      async (task) => {
        inFlight.add(task.task.slot.getTime());
        await write(task, 'done');
        return `wrote ${task.task.slot.toISOString()}`;
      },
      { concurrency: 3, commitBatch: 10 },
    );
    worker.on('acquired', () => {
      mostAtOnce = Math.max(mostAtOnce, inFlight.size);
    });
    // Every slot complete, and told: a batch's commit is seen before its round trip (which goes on to lock the
    // next batch) comes back and its events are emitted.
    const completedCount = () => events.filter((e) => e.event === 'completed').length;
    await waitFor('every slot complete and its event emitted', async () => {
      const now = await rows(name);
      return now.every((row) => row.state === 'COMPLETE') && completedCount() >= now.length;
    });
    // The slots made here, and the current one, which the worker creates.
    const all = await rows(name);
    expect(all.length).toBeGreaterThan(slots.length);
    const written = await results(name);
    expect(written.size).toBe(all.length);
    expect([...written.values()].every((n) => n === 1)).toBe(true);
    const completed = events.filter((e) => e.event === 'completed');
    expect(completed).toHaveLength(all.length);
    const first = completed.find((e) => e.slot === slots[0]?.getTime())?.payload as WorkerEvents['completed'];
    expect(first.task).toMatchObject({ state: 'COMPLETE', message: `wrote ${slots[0]?.toISOString()}` });
    expect((await rows(name))[0]?.message).toBe(`wrote ${slots[0]?.toISOString()}`);
    expect(await historyOf(name, slots[0] as Date)).toEqual([
      'created>AVAILABLE',
      'AVAILABLE>ACQUIRED',
      'ACQUIRED>COMPLETE',
    ]);
    // No slot was left locked by a transaction that aborted: a later taker finds no abandoned attempt.
    expect(await lockerStatuses(tm, name)).not.toContain('aborted');
  });

  it('a failed slot rolls back alone: its writes go, its batch-mates commit theirs', async () => {
    const { name, slots } = await slotsOf(6);
    const failing = slots[2] as Date;
    const { events } = start(
      name,
      async (task) => {
        await write(task, 'attempted');
        if (task.task.slot.getTime() === failing.getTime()) throw new Error('source unreachable');
      },
      { concurrency: 1, commitBatch: 6 },
    );
    await waitFor('every slot complete but the failed one', async () => {
      const now = await rows(name);
      return now.length > 6 && now.every((row) => row.state === 'COMPLETE' || row.failed_attempts > 0);
    });
    const byState = await rows(name);
    const failed = byState.find((row) => row.slot.getTime() === failing.getTime());
    expect(failed).toMatchObject({
      state: 'AVAILABLE',
      failed_attempts: 1,
      message: 'source unreachable',
      is_backing_off: true,
    });
    const written = await results(name);
    expect(written.has(failing.getTime())).toBe(false);
    expect(written.size).toBe(byState.length - 1);
    const failedEvent = events.find((e) => e.event === 'failed')?.payload as WorkerEvents['failed'];
    expect(failedEvent.message).toBe('source unreachable');
    expect(failedEvent.task).toMatchObject({ failedAttempts: 1, state: 'AVAILABLE', hasGivenUp: false });
    expect(await historyOf(name, failing)).toEqual([
      'created>AVAILABLE',
      'AVAILABLE>ACQUIRED',
      'ACQUIRED>AVAILABLE',
    ]);
  });

  it('skip, fail, complete and release called by the handler are each written as decided, and maxAttempts holds', async () => {
    const { name, slots } = await slotsOf(4, 1);
    const [skipped, failed, completed, released] = slots as [Date, Date, Date, Date];
    const seen = new Map<number, number>();
    start(
      name,
      async (task) => {
        const slot = task.task.slot.getTime();
        seen.set(slot, (seen.get(slot) ?? 0) + 1);
        if (slot === skipped.getTime()) await task.skip('no data that day \u0000');
        if (slot === failed.getTime()) await task.fail('bad input');
        if (slot === completed.getTime()) {
          await task.complete('by hand');
          await expect(task.complete('twice')).rejects.toThrow(/already ended/);
        }
        if (slot === released.getTime()) {
          if ((seen.get(slot) ?? 0) === 1) await task.release();
          else return 'second time';
        }
      },
      { concurrency: 1, commitBatch: 4 },
    );
    await waitFor('each slot ended', async () => {
      const now = await rows(name);
      return now[3]?.state === 'COMPLETE' && now[0]?.state === 'SKIP';
    });
    const [a, b, c, d] = await rows(name);
    expect(a).toMatchObject({ state: 'SKIP', message: 'no data that day \uFFFD' });
    expect(b).toMatchObject({
      state: 'AVAILABLE',
      failed_attempts: 1,
      message: 'gave up after 1 attempt: bad input',
    });
    expect(c).toMatchObject({ state: 'COMPLETE', message: 'by hand' });
    // Released unchanged (not an attempt), then taken again.
    expect(d).toMatchObject({ state: 'COMPLETE', failed_attempts: 0, message: 'second time' });
    expect(seen.get(released.getTime())).toBe(2);
    expect(seen.get(failed.getTime())).toBe(1);
  });

  it('work that commits through task.client loses the batch: no slot of it is completed, each is recorded as a failed attempt', async () => {
    const { name, slots } = await slotsOf(3);
    const offender = slots[1] as Date;
    const { events } = start(
      name,
      async (task) => {
        await write(task, 'attempted');
        if (task.task.slot.getTime() === offender.getTime()) await task.client.query('COMMIT');
      },
      { concurrency: 1, commitBatch: 3 },
    );
    await waitFor('the batch lost', () => events.some((e) => e.event === 'lockLost'));
    const lost = events.find((e) => e.event === 'lockLost')?.payload as WorkerEvents['lockLost'];
    expect(lost.error.message).toMatch(/ended the batch's transaction itself .*task\.client/);
    // The batch's slots come back as failed attempts saying what happened, never COMPLETE from it.
    const batchRows = async () => (await rows(name)).filter((row) => row.slot <= (slots[2] as Date));
    await waitFor(
      'the abandoned attempts counted',
      async () => (await batchRows()).every((row) => row.failed_attempts === 1),
      30_000,
    );
    for (const row of await batchRows()) {
      expect(row).toMatchObject({ state: 'AVAILABLE', is_backing_off: true });
      expect(row.message).toMatch(/ended the batch's transaction itself/);
    }
  });

  it('stop() lets the running handler finish and gives the rest of the batch back unchanged', async () => {
    const { name, slots } = await slotsOf(5);
    let release: () => void = () => {};
    const started: number[] = [];
    const { worker } = start(
      name,
      async (task) => {
        started.push(task.task.slot.getTime());
        await write(task, 'done');
        if (started.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { concurrency: 1, commitBatch: 5 },
    );
    await waitFor('the first handler running', () => started.length === 1);
    const stopped = worker.stop();
    release();
    await stopped;
    expect(started).toEqual([slots[0]?.getTime()]);
    const after = await rows(name);
    expect(after[0]).toMatchObject({ state: 'COMPLETE' });
    for (const row of after.slice(1, 5))
      expect(row).toMatchObject({ state: 'AVAILABLE', failed_attempts: 0 });
    expect([...(await results(name)).keys()]).toEqual([slots[0]?.getTime()]);
    // Given back by commit: the next taker takes them as they are, nothing counted.
    const next = await tm.acquireNext({ name, from: slots[1], to: new Date((slots[4]?.getTime() ?? 0) + 1) });
    expect(next?.task).toMatchObject({ slot: slots[1], failedAttempts: 0 });
    await next?.release();
  });

  it('refuses a commitBatch out of range', () => {
    expect(() =>
      tm.work({ name: 'x', interval: 'PT5M', backlog: 0, commitBatch: 0, handler: async () => {} }),
    ).toThrow(/commitBatch/);
  });
});
