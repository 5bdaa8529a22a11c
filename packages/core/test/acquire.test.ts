import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { resolveConnectionLoss, sessionSettings } from '../src/connection.ts';
import { holderStatements } from '../src/holder-statements.ts';
import {
  BadInputError,
  DtmError,
  LockLostError,
  TaskBusyError,
  TaskManager,
  TaskNotAvailableError,
  TaskNotFoundError,
} from '../src/index.ts';
import { Lane, type NextTake } from '../src/lane.ts';
import { LaneRegistry } from '../src/lane-registry.ts';
import { toSchema } from '../src/schema.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, note text)`);
/** A schema of its own for the round trip that completes and takes: one of its tests alters a column. */
const chained = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });

async function newSlot(slotsAgo = 100) {
  return newSlotOf(tm, slotsAgo);
}

async function newSlotOf(manager: TaskManager, slotsAgo = 100) {
  const name = uniqueName();
  const slot = pastSlot(slotsAgo);
  await manager.createTask({ name, slot, interval: 'PT5M' });
  return { name, slot };
}

async function resultCount(name: string): Promise<number> {
  const { rows } = await tm.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${tm.schema}".results WHERE name = $1`,
    [name],
  );
  return Number(rows[0]?.n);
}

describe('acquire and the handle', () => {
  it('acquire → complete commits the work with COMPLETE and records both transitions', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot, { worker: 'worker-a' });
    expect(held.task).toMatchObject({
      state: 'ACQUIRED',
      acquiredBy: 'worker-a',
      holder: { worker: 'worker-a' },
    });
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'done')`, [name, slot]);
    await held.complete('42 records');
    const task = await tm.getTask(name, slot);
    expect(task).toMatchObject({
      state: 'COMPLETE',
      message: '42 records',
      acquiredBy: 'worker-a',
      holder: null,
    });
    expect(task?.completedAt).toBeInstanceOf(Date);
    expect(await resultCount(name)).toBe(1);
    expect((await tm.history(name, slot)).map((h) => [h.fromState, h.toState, h.actor])).toEqual([
      [null, 'AVAILABLE', tm.workerName],
      ['AVAILABLE', 'ACQUIRED', 'worker-a'],
      ['ACQUIRED', 'COMPLETE', 'worker-a'],
    ]);
  });

  it('while held, every other reader sees ACQUIRED with the holder, and AVAILABLE again once released', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot, { worker: 'reader-test-worker' });
    const seen = await tm.getTask(name, slot);
    expect(seen?.state).toBe('ACQUIRED');
    expect(seen?.holder?.worker).toBe('reader-test-worker');
    expect(seen?.holder?.since).toBeInstanceOf(Date);
    expect((await tm.listTasks({ name, states: ['ACQUIRED'] })).map((t) => t.slot)).toEqual([slot]);
    expect(await tm.listTasks({ name, states: ['AVAILABLE'] })).toEqual([]);
    await held.release();
    expect(await tm.getTask(name, slot)).toMatchObject({
      state: 'AVAILABLE',
      holder: null,
      acquiredBy: null,
    });
    expect(await tm.history(name, slot)).toHaveLength(1);
  });

  it('readers see the worker that holds the slot now when one connection serves workers of several names', async () => {
    const { name, slot } = await newSlot();
    const oneConnection = new TaskManager({ connectionString: databaseUrl, schema: tm.schema, poolSize: 1 });
    try {
      for (const worker of ['worker-one', 'worker-two', 'worker-one']) {
        const held = await oneConnection.acquire(name, slot, { worker });
        expect(held.task.holder?.worker).toBe(worker);
        expect((await tm.getTask(name, slot))?.holder?.worker).toBe(worker);
        await held.release();
        expect((await tm.getTask(name, slot))?.state).toBe('AVAILABLE');
      }
    } finally {
      await oneConnection.close();
    }
  });

  it('a transaction that ends after locking a slot, without holding it, leaves no holder behind', async () => {
    // A worker that races for a slot in its backoff locks the row, finds it not takeable and rolls back:
    // the row keeps that transaction's id (its xmax), which no running transaction has any more.
    const { name, slot } = await newSlot();
    const failing = await tm.acquire(name, slot);
    await failing.fail('first attempt');
    await expect(tm.acquire(name, slot)).rejects.toBeInstanceOf(TaskNotAvailableError);
    expect(await tm.getTask(name, slot)).toMatchObject({
      state: 'AVAILABLE',
      holder: null,
      failedAttempts: 1,
    });
    expect(await tm.listTasks({ name, states: ['ACQUIRED'] })).toEqual([]);
  });

  it('acquire fails at once with TaskBusyError while another worker holds the slot', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    const started = Date.now();
    await expect(tm.acquire(name, slot)).rejects.toThrow(TaskBusyError);
    expect(Date.now() - started).toBeLessThan(5_000);
    await held.complete();
  });

  it('acquire of a COMPLETE or SKIP slot is TaskNotAvailableError; of a missing one TaskNotFoundError', async () => {
    const done = await newSlot();
    await (await tm.acquire(done.name, done.slot)).complete();
    await expect(tm.acquire(done.name, done.slot)).rejects.toThrow(TaskNotAvailableError);
    const skipped = await newSlot();
    await (await tm.acquire(skipped.name, skipped.slot)).skip('source down for maintenance');
    expect(await tm.getTask(skipped.name, skipped.slot)).toMatchObject({
      state: 'SKIP',
      message: 'source down for maintenance',
    });
    await expect(tm.acquire(skipped.name, skipped.slot)).rejects.toThrow(/is SKIP, not AVAILABLE/);
    await expect(tm.acquire(done.name, pastSlot(3))).rejects.toThrow(TaskNotFoundError);
  });

  it('fail returns the slot to AVAILABLE with the message, one more attempt and a next-attempt time', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'partial')`, [name, slot]);
    const before = Date.now();
    await held.fail('source unreachable: ECONNREFUSED');
    const task = await tm.getTask(name, slot);
    expect(task).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'source unreachable: ECONNREFUSED',
    });
    expect(task?.nextAttemptAt?.getTime()).toBeGreaterThanOrEqual(before + 50_000);
    expect(await resultCount(name)).toBe(0);
    expect((await tm.history(name, slot)).at(-1)).toMatchObject({
      fromState: 'ACQUIRED',
      toState: 'AVAILABLE',
      message: 'source unreachable: ECONNREFUSED',
    });
    await expect(tm.acquire(name, slot)).rejects.toThrow(/waiting out its retry backoff/);
  });

  it('fail still records its message after the work’s own SQL failed (savepoint)', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'before error')`, [
      name,
      slot,
    ]);
    await expect(held.client.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
    await held.fail('division by zero');
    expect(await tm.getTask(name, slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'division by zero',
    });
    expect(await resultCount(name)).toBe(0);
  });

  it('complete and fail work without the client ever being read, and fail after client writes undoes them', async () => {
    const done = await newSlot();
    await (await tm.acquire(done.name, done.slot)).complete('no writes');
    expect(await tm.getTask(done.name, done.slot)).toMatchObject({ state: 'COMPLETE', message: 'no writes' });
    const failed = await newSlot();
    await (await tm.acquire(failed.name, failed.slot)).fail('external call failed');
    expect(await tm.getTask(failed.name, failed.slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'external call failed',
    });
    const undone = await newSlot();
    const held = await tm.acquire(undone.name, undone.slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'undone')`, [
      undone.name,
      undone.slot,
    ]);
    await held.fail('later step failed');
    expect(await resultCount(undone.name)).toBe(0);
    expect(await tm.getTask(undone.name, undone.slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
    });
  });

  it('release rolls back everything: no result, no history, still AVAILABLE', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'x')`, [name, slot]);
    await held.release();
    await held.release();
    expect(await resultCount(name)).toBe(0);
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'AVAILABLE', failedAttempts: 0 });
  });

  it('a handle cannot be finished twice', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.complete();
    await expect(held.complete()).rejects.toThrow(DtmError);
    await expect(held.fail('late')).rejects.toThrow(/already finished/);
  });

  it('run completes on return and fails with the error message on throw', async () => {
    const ok = await newSlot();
    expect(await tm.run(ok.name, ok.slot, async () => 'value')).toBe('value');
    expect((await tm.getTask(ok.name, ok.slot))?.state).toBe('COMPLETE');
    const bad = await newSlot();
    await expect(
      tm.run(bad.name, bad.slot, async () => {
        throw new Error('timeout after 30 s reading the source');
      }),
    ).rejects.toThrow('timeout after 30 s');
    expect(await tm.getTask(bad.name, bad.slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'timeout after 30 s reading the source',
    });
  });

  it('run records a failure when the work left its transaction aborted', async () => {
    const { name, slot } = await newSlot();
    await expect(
      tm.run(name, slot, async (task) => {
        await task.client.query('SELECT 1/0').catch(() => {});
      }),
    ).rejects.toThrow(/current transaction is aborted/);
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
  });

  it('complete after the work left its transaction aborted throws and undoes the work for good; fail records why', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'undone')`, [name, slot]);
    await expect(held.client.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
    await expect(held.complete()).rejects.toThrow(/current transaction is aborted/);
    expect(held.isHeld).toBe(true);
    // the work was rolled back to its savepoint: completing now would commit COMPLETE without it
    await expect(held.complete()).rejects.toThrow(/rolled back when ending it failed/);
    await held.fail('division by zero');
    expect(await tm.getTask(name, slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'division by zero',
    });
    expect(await resultCount(name)).toBe(0);
  });

  it('a completing statement that fails rolls the work back and records the failure as a failed attempt', async () => {
    const { name, slot } = await newSlot();
    const schema = `"${tm.schema}"`;
    await tm.pool.query(
      `CREATE FUNCTION ${schema}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$`,
    );
    await tm.pool.query(
      `CREATE TRIGGER refuse BEFORE UPDATE ON ${schema}.tasks
       FOR EACH ROW WHEN (NEW.message = 'refuse me') EXECUTE FUNCTION ${schema}.refuse()`,
    );
    try {
      const held = await tm.acquire(name, slot);
      await held.client.query(`INSERT INTO ${schema}.results VALUES ($1, $2, 'doomed')`, [name, slot]);
      await expect(held.complete('refuse me')).rejects.toThrow(/refused by a trigger/);
      expect(held.outcome).toBe('fail');
      expect(held.ended).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
      expect(await resultCount(name)).toBe(0);
      const failed = await tm.getTask(name, slot);
      expect(failed).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1, holder: null });
      expect(failed?.message).toMatch(/completing .* failed: refused by a trigger/);
      expect((await tm.history(name, slot)).map((h) => h.toState)).toEqual([
        'AVAILABLE',
        'ACQUIRED',
        'AVAILABLE',
      ]);
      await tm.requeue({ name, slots: [slot] }, { reason: 'trigger fixed' });
      const again = await tm.acquire(name, slot);
      await again.complete();
      expect((await tm.getTask(name, slot))?.state).toBe('COMPLETE');
    } finally {
      await tm.pool.query(`DROP FUNCTION ${schema}.refuse() CASCADE`);
    }
  });

  it('records when the work started and when it ended: acquired and completed times, and both transitions', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query('SELECT pg_sleep(0.3)');
    await held.complete();
    const task = await tm.getTask(name, slot);
    const acquiredAt = task?.acquiredAt?.getTime() ?? Number.NaN;
    const completedAt = task?.completedAt?.getTime() ?? Number.NaN;
    expect(completedAt - acquiredAt).toBeGreaterThanOrEqual(300);
    const [, acquired, completed] = await tm.history(name, slot);
    expect(acquired).toMatchObject({ toState: 'ACQUIRED' });
    expect(acquired?.at.getTime()).toBe(acquiredAt);
    expect(completed).toMatchObject({ toState: 'COMPLETE' });
    expect(completed?.at.getTime()).toBe(completedAt);
  });

  it('a connection whose prepared statements were discarded is replaced: the next acquire works', async () => {
    const single = await createManager({ poolSize: 1 });
    const { name, slot } = await newSlotOf(single);
    const first = await single.acquire(name, slot);
    await first.release();
    await single.pool.query('DISCARD ALL'); // the pool's only connection: its prepared statements are gone
    await expect(single.acquire(name, slot)).rejects.toThrow(/prepared statement .* does not exist/);
    const held = await single.acquire(name, slot);
    await held.complete();
    expect((await single.getTask(name, slot))?.state).toBe('COMPLETE');
  });

  it('after pg_terminate_backend on the holder, its signal fires, complete throws LockLostError, nothing survives, and the attempt is counted as abandoned', async () => {
    const { name, slot } = await newSlot();
    const held = await tm.acquire(name, slot);
    await held.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'doomed')`, [name, slot]);
    const { rows } = await held.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await tm.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    await new Promise<void>((resolve) => {
      if (held.signal.aborted) resolve();
      else held.signal.addEventListener('abort', () => resolve());
    });
    expect(held.signal.reason).toBeInstanceOf(LockLostError);
    await expect(held.complete()).rejects.toThrow(LockLostError);
    expect(await resultCount(name)).toBe(0);
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'AVAILABLE', holder: null });
    // The next taker counts the attempt (its reservation outlived it), and the slot backs off (60 s here).
    await waitFor('the abandoned attempt to be counted', async () => {
      const error = await tm.acquire(name, slot).then(
        (task) => task,
        (caught: unknown) => caught,
      );
      if (!(error instanceof Error)) throw new Error('acquired a slot that should be backing off');
      return error instanceof TaskNotAvailableError;
    });
    const counted = await tm.getTask(name, slot);
    expect(counted).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
    expect(counted?.message).toMatch(/the holder went away/);
    expect(counted?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect((await tm.history(name, slot)).map((h) => [h.toState, h.message])).toEqual([
      ['AVAILABLE', null],
      ['ACQUIRED', null],
      ['AVAILABLE', counted?.message],
    ]);
    await tm.requeue({ name, slots: [slot] }, { reason: 'try again' });
    const again = await tm.acquire(name, slot);
    await again.complete();
  });

  it('acquire rejects bad input with BadInputError', async () => {
    await expect(tm.acquire('', pastSlot())).rejects.toThrow(BadInputError);
    await expect(tm.acquire('x', 'soon')).rejects.toThrow(BadInputError);
  });
});

describe('acquireNext', () => {
  it('takes the oldest due AVAILABLE slot, skipping held, finished and backing-off ones; null when none', async () => {
    const name = uniqueName();
    const from = pastSlot(5);
    await tm.createTasks({ name, from, to: new Date(from.getTime() + 5 * 300_000), interval: 'PT5M' });
    const slots = (await tm.listTasks({ name })).map((t) => t.slot);
    await (await tm.acquire(name, slots[0] as Date)).complete();
    await (await tm.acquire(name, slots[1] as Date)).fail('backing off');
    const held = await tm.acquire(name, slots[2] as Date);
    const next = await tm.acquireNext({ name });
    expect(next?.task.slot).toEqual(slots[3]);
    const newest = await tm.acquireNext({ name, order: 'newest' });
    expect(newest?.task.slot).toEqual(slots[4]);
    expect(await tm.acquireNext({ name })).toBeNull();
    await Promise.all([held.release(), next?.release(), newest?.release()]);
    const ranged = await tm.acquireNext({ name, from: slots[3], to: slots[4] });
    expect(ranged?.task.slot).toEqual(slots[3]);
    await ranged?.release();
  });

  it('findOrCreateAndAcquire creates and takes the current slot when the backlog is done', async () => {
    const name = uniqueName();
    const first = await tm.findOrCreateAndAcquire({ name, interval: 'PT1H', backlog: 'P1D' });
    const hour = 3_600_000;
    expect(first?.task.slot.getTime()).toBe(Math.floor(Date.now() / hour) * hour);
    await first?.complete();
    expect(await tm.findOrCreateAndAcquire({ name, interval: 'PT1H', backlog: 'P1D' })).toBeNull();
    await tm.createTask({
      name,
      slot: new Date(Math.floor(Date.now() / hour) * hour - 5 * hour),
      interval: 'PT1H',
    });
    const backlog = await tm.findOrCreateAndAcquire({ name, interval: 'PT1H', backlog: 'P1D' });
    expect(backlog?.task.slot.getTime()).toBe(Math.floor(Date.now() / hour) * hour - 5 * hour);
    await backlog?.complete();
    const lagged = await tm.findOrCreateAndAcquire({ name, interval: 'PT1H', backlog: 'PT1H', lag: 'PT1H' });
    expect(lagged?.task.slot.getTime()).toBe(Math.floor((Date.now() - hour) / hour) * hour);
    await lagged?.complete();
  });
});

/** A worker's lane on `chained`'s pool: it keeps its connection from slot to slot. */
function openLane(): Lane {
  const schema = toSchema(chained.schema);
  const timings = resolveConnectionLoss();
  return new Lane(
    {
      pool: chained.pool,
      schema,
      statements: holderStatements(schema),
      sessionSettings: sessionSettings(timings),
      heartbeat: { everyMs: timings.heartbeatMs, timeoutMs: timings.heartbeatTimeoutMs },
      registry: new LaneRegistry(chained.pool, schema),
    },
    { isKept: true },
  );
}

function nextOf(name: string): NextTake {
  return { name, from: null, to: null, order: 'oldest', worker: 'lane-test', retry: {} };
}

describe('a lane (the worker completes a slot and takes the next in one round trip)', () => {
  async function threeSlots(): Promise<{ name: string; slots: Date[] }> {
    const name = uniqueName('chained');
    const from = pastSlot(3);
    await chained.createTasks({ name, from, to: new Date(from.getTime() + 3 * 300_000), interval: 'PT5M' });
    return { name, slots: (await chained.listTasks({ name })).map((t) => t.slot) };
  }

  /** Every connection of the manager's pool is back in it: none is left checked out. */
  function allReturned(): boolean {
    return chained.pool.idleCount === chained.pool.totalCount;
  }

  it('completes the slot and holds the next on the same connection, begun in the message that committed', async () => {
    const { name, slots } = await threeSlots();
    const lane = openLane();
    const first = await lane.take(nextOf(name));
    expect(first?.task.slot).toEqual(slots[0]);
    if (!first) return;
    const found = await lane.completeAndTake('first done', nextOf(name));
    if (!('next' in found) || !found.next) throw new Error(`expected the next slot, got ${String(found)}`);
    const { next } = found;
    expect(next.task.slot).toEqual(slots[1]);
    expect(next.client).toBe(first.client);
    expect(first.outcome).toBe('complete');
    const done = await chained.getTask(name, slots[0] as Date);
    expect(done).toMatchObject({ state: 'COMPLETE', message: 'first done' });
    // A worker's lane registers its slot once it has held it for a moment (see LaneRegistry).
    await waitFor('the next slot to show as held', async () => {
      return (await chained.getTask(name, slots[1] as Date))?.state === 'ACQUIRED';
    });
    expect(first.ended).toMatchObject({ state: 'COMPLETE', message: 'first done' });
    const last = await lane.completeAndTake(undefined, nextOf(name));
    if (!('next' in last) || !last.next) throw new Error('expected the third slot');
    expect(await lane.completeAndTake(undefined, nextOf(name))).toEqual({ next: null });
    expect(allReturned()).toBe(false); // the lane keeps its connection
    await lane.close();
    await waitFor('the connection to be back in the pool', allReturned);
    // One message carried both: the second slot's transaction began (now(), its acquired_at) before the
    // first slot's COMMIT, in the same message, had finished.
    const { rows } = await chained.pool.query<{ isSameMessage: boolean }>(
      `SELECT (SELECT acquired_at FROM "${chained.schema}".tasks WHERE name = $1 AND slot = $3)
           <= (SELECT completed_at FROM "${chained.schema}".tasks WHERE name = $1 AND slot = $2) AS "isSameMessage"`,
      [name, slots[0], slots[1]],
    );
    expect(rows[0]?.isSameMessage).toBe(true);
    expect((await chained.listTasks({ name })).map((t) => t.state)).toEqual([
      'COMPLETE',
      'COMPLETE',
      'COMPLETE',
    ]);
  });

  it('a taking that fails after the COMMIT leaves the slot COMPLETE, reports the error and returns the connection', async () => {
    const { name, slots } = await threeSlots();
    await chained.pool.query(`CREATE TABLE "${chained.schema}".results (name text, slot timestamptz)`);
    const lane = openLane();
    const first = await lane.take(nextOf(name));
    if (!first) throw new Error('expected a slot');
    await first.client.query(`INSERT INTO "${chained.schema}".results VALUES ($1, $2)`, [name, slots[0]]);
    // A column's type changes while the slot is held: the ALTER waits for the holder's COMMIT, then runs
    // before the locking statement that follows it, which can no longer use its plan (0A000).
    const alter = new pg.Client(databaseUrl);
    await alter.connect();
    try {
      const { rows } = await alter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const altering = alter.query(`ALTER TABLE "${chained.schema}".tasks ALTER COLUMN message TYPE varchar`);
      await waitFor('the ALTER to wait for the holder', async () => {
        const waiting = await tm.pool.query('SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted', [
          rows[0]?.pid,
        ]);
        return waiting.rowCount;
      });
      const found = await lane.completeAndTake('kept', nextOf(name));
      await altering;
      if (!('error' in found)) throw new Error('expected the taking to fail');
      expect(found.error).toBeInstanceOf(DtmError);
      expect(String(found.error)).toMatch(/cached plan must not change result type/);
    } finally {
      await alter.end();
    }
    expect(first.outcome).toBe('complete');
    expect(await chained.getTask(name, slots[0] as Date)).toMatchObject({
      state: 'COMPLETE',
      message: 'kept',
    });
    const { rowCount } = await chained.pool.query(`SELECT 1 FROM "${chained.schema}".results`);
    expect(rowCount).toBe(1);
    expect(await chained.getTask(name, slots[1] as Date)).toMatchObject({ state: 'AVAILABLE', holder: null });
    // the connection with the stale statement went back to the pool, to be closed
    await waitFor('the connection to be back in the pool', allReturned);
    const again = await lane.take(nextOf(name));
    expect(again?.task.slot).toEqual(slots[1]);
    await again?.complete();
    await lane.close();
  });

  it('a slot that cannot be completed throws as complete() does and stays held, so fail() can record why', async () => {
    const { name, slots } = await threeSlots();
    const lane = openLane();
    const first = await lane.take(nextOf(name));
    if (!first) throw new Error('expected a slot');
    await expect(first.client.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
    await expect(lane.completeAndTake(undefined, nextOf(name))).rejects.toThrow(
      /current transaction is aborted/,
    );
    expect(first.isHeld).toBe(true);
    await first.fail('division by zero');
    expect(await chained.getTask(name, slots[0] as Date)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'division by zero',
    });
    expect(await chained.getTask(name, slots[1] as Date)).toMatchObject({ state: 'AVAILABLE', holder: null });
    await lane.close();
    await waitFor('the connection to be back in the pool', allReturned);
  });
});
