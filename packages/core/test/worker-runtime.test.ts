import { afterAll, describe, expect, it } from 'vitest';
import {
  type AcquiredTask,
  BadInputError,
  LockLostError,
  TaskManager,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
} from '../src/index.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, note text)`);

const quiet: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];

function work(options: Partial<WorkerOptions> & Pick<WorkerOptions, 'name' | 'handler'>): Worker {
  const worker = tm.work({
    interval: 'PT5M',
    backlog: 'P1D',
    logger: quiet,
    pollInterval: 60_000,
    ...options,
  });
  workers.push(worker);
  return worker;
}

async function createPast(name: string, count: number): Promise<Date[]> {
  const from = pastSlot(count + 10);
  await tm.createTasks({ name, from, to: pastSlot(10), interval: 'PT5M' });
  return Array.from({ length: count }, (_, i) => new Date(from.getTime() + i * 300_000));
}

async function states(name: string): Promise<Record<string, number>> {
  const { rows } = await tm.pool.query<{ state: string; n: string }>(
    `SELECT state, count(*) AS n FROM "${tm.schema}".tasks WHERE name = $1 GROUP BY state`,
    [name],
  );
  return Object.fromEntries(rows.map((row) => [row.state, Number(row.n)]));
}

async function writeResult(task: AcquiredTask, note = 'done'): Promise<void> {
  await task.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, $3)`, [
    task.task.name,
    task.task.slot,
    note,
  ]);
}

describe('the worker runtime', () => {
  it('drains due slots oldest first, completes each on return with its results, and keeps the current slot created', async () => {
    const name = uniqueName();
    const slots = await createPast(name, 5);
    const seen: Date[] = [];
    const completed: string[] = [];
    const worker = work({
      name,
      handler: async (task) => {
        seen.push(task.task.slot);
        await writeResult(task);
        return 'counted';
      },
    });
    worker.on('completed', ({ task }) => completed.push(task.slot.toISOString()));
    // five past slots plus the current one that the worker creates
    await waitFor('six completed slots', async () => (await states(name)).COMPLETE === 6);
    await worker.stop();
    expect(seen.slice(0, 5)).toEqual(slots);
    expect(completed).toHaveLength(6);
    const current = new Date(Math.floor(Date.now() / 300_000) * 300_000);
    expect((await tm.getTask(name, current))?.state).toBe('COMPLETE');
    expect((await tm.getTask(name, slots[0] as Date))?.message).toBe('counted');
    const { rows } = await tm.pool.query(`SELECT 1 FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rows).toHaveLength(6);
  });

  it('creates the whole backlog window with keepCreated: backlog', async () => {
    const name = uniqueName();
    const worker = work({ name, backlog: 'PT1H', keepCreated: 'backlog', handler: async () => {} });
    await waitFor('13 completed slots', async () => (await states(name)).COMPLETE === 13);
    await worker.stop();
    expect(await states(name)).toEqual({ COMPLETE: 13 });
  });

  it('workers of two names on one manager, each taking its next slot in the round trip that ends one, take only their own', async () => {
    const [a, b] = [uniqueName(), uniqueName()];
    await createPast(a, 40);
    await createPast(b, 40);
    const taken: Array<[worker: string, slot: string]> = [];
    const start = (name: string) =>
      work({
        name,
        concurrency: 2,
        handler: async (task) => {
          taken.push([name, task.task.name]);
        },
      });
    const workers = [start(a), start(b)];
    await waitFor(
      'both drained',
      async () => (await states(a)).COMPLETE === 41 && (await states(b)).COMPLETE === 41,
    );
    await Promise.all(workers.map((worker) => worker.stop()));
    expect(taken).toHaveLength(82);
    expect(taken.filter(([worker, slot]) => worker !== slot)).toEqual([]);
  });

  it('runs at most `concurrency` handlers at once, each on its own connection', async () => {
    const name = uniqueName();
    await createPast(name, 12);
    let running = 0;
    let most = 0;
    const pids = new Set<number>();
    const worker = work({
      name,
      concurrency: 3,
      keepCreated: 'current',
      handler: async (task) => {
        running += 1;
        most = Math.max(most, running);
        const { rows } = await task.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        pids.add(rows[0]?.pid ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 30));
        running -= 1;
      },
    });
    await waitFor('13 completed slots', async () => (await states(name)).COMPLETE === 13);
    await worker.stop();
    expect(most).toBe(3);
    expect(pids.size).toBeGreaterThanOrEqual(3);
  });

  it('fails a slot with the error’s message, rolls back its writes and sets its next attempt by the worker’s retry policy', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    const failures: string[] = [];
    let attempts = 0;
    const worker = work({
      name,
      backlog: 'P1D',
      retry: { baseMs: 300, maxMs: 300, jitter: 0 },
      handler: async (task) => {
        if (task.task.slot.getTime() !== slot.getTime()) return;
        attempts += 1;
        await writeResult(task, `attempt ${attempts}`);
        if (attempts < 3) throw new Error(`source unreachable (${attempts})`);
      },
    });
    worker.on('failed', ({ message }) => failures.push(message));
    await waitFor('the first failure', () => failures.length === 1);
    const failed = await tm.getTask(name, slot);
    expect(failed).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'source unreachable (1)',
    });
    expect(failed?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() - 100);
    // retried after the backoff without any notification or poll: the worker waits for the next-attempt time
    await waitFor('the slot to complete', async () => (await tm.getTask(name, slot))?.state === 'COMPLETE');
    await worker.stop();
    expect(failures).toEqual(['source unreachable (1)', 'source unreachable (2)']);
    const { rows } = await tm.pool.query(
      `SELECT note FROM "${tm.schema}".results WHERE slot = $1 AND name = $2`,
      [slot, name],
    );
    expect(rows).toEqual([{ note: 'attempt 3' }]);
  });

  it('completes and fails slots whose handler never reads its client, with backoff on failure', async () => {
    const name = uniqueName();
    const [good, bad] = (await createPast(name, 2)) as [Date, Date];
    const failures: string[] = [];
    const worker = work({
      name,
      retry: { baseMs: 60_000, jitter: 0 },
      handler: async (task) => {
        if (task.task.slot.getTime() === bad.getTime()) throw new Error('source unreachable');
        return 'nothing to write';
      },
    });
    worker.on('failed', ({ message }) => failures.push(message));
    await waitFor(
      'one completed and one failed slot',
      async () => failures.length === 1 && (await tm.getTask(name, good))?.state === 'COMPLETE',
    );
    const failedAt = Date.now();
    await worker.stop();
    expect(await tm.getTask(name, good)).toMatchObject({ state: 'COMPLETE', message: 'nothing to write' });
    const failed = await tm.getTask(name, bad);
    expect(failed).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1, message: 'source unreachable' });
    expect(failed?.nextAttemptAt?.getTime()).toBeGreaterThan(failedAt + 50_000);
    expect((await tm.history(name, bad)).map((h) => [h.fromState, h.toState])).toEqual([
      [null, 'AVAILABLE'],
      ['AVAILABLE', 'ACQUIRED'],
      ['ACQUIRED', 'AVAILABLE'],
    ]);
  });

  it('one lane retries its own failed slot after the backoff', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let attempts = 0;
    const worker = work({
      name,
      concurrency: 1,
      retry: { baseMs: 20, jitter: 0 },
      handler: async (task) => {
        // (The worker also creates and runs the current slot.)
        if (task.task.slot.getTime() !== slot.getTime()) return;
        attempts += 1;
        if (attempts <= 2) throw new Error(`not yet (${attempts})`);
      },
    });
    await waitFor('the slot completed at its third attempt', async () => {
      return (await tm.getTask(name, slot))?.state === 'COMPLETE';
    });
    expect(await tm.getTask(name, slot)).toMatchObject({ failedAttempts: 2 });
    expect(attempts).toBe(3);
    await worker.stop();
  });

  it('a holder whose backend is terminated is counted by the next taker, who names it, and backs the slot off', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    const doomed = new TaskManager({
      connectionString: databaseUrl,
      schema: tm.schema,
      workerName: `doomed-${name}`,
      poolSize: 2,
    });
    try {
      await doomed.acquire(name, slot);
      await waitFor(
        'the holder to show',
        async () => (await tm.getTask(name, slot))?.holder?.worker === `doomed-${name}`,
      );
      await tm.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND backend_xid IS NOT NULL`,
        [`doomed-${name}`],
      );
      await waitFor('the slot to be free', async () => (await tm.getTask(name, slot))?.holder === null);
      // The next taker counts the attempt instead of taking the slot, which now waits out its backoff (60 s).
      await expect(tm.acquire(name, slot)).rejects.toThrow(
        /waiting out its retry backoff after 1 failed attempts/,
      );
      const counted = await tm.getTask(name, slot);
      expect(counted).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
      expect(counted?.message).toMatch(
        new RegExp(
          `^the holder went away: the attempt of doomed-${name} started at .* never ended .*; counted by ${tm.workerName}$`,
        ),
      );
      expect(counted?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() + 50_000);
      const history = await tm.history(name, slot);
      expect(history.at(-1)).toMatchObject({
        fromState: 'ACQUIRED',
        toState: 'AVAILABLE',
        actor: `doomed-${name}`,
      });
      expect(history.at(-2)).toMatchObject({
        fromState: 'AVAILABLE',
        toState: 'ACQUIRED',
        actor: `doomed-${name}`,
      });
    } finally {
      await doomed.close();
    }
  });

  it('a slot given back (release) or a take that found nothing is never counted as abandoned', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    for (let round = 0; round < 3; round++) {
      const held = await tm.acquire(name, slot);
      await held.client.query('SELECT 1');
      await held.release();
    }
    expect(await tm.acquireNext({ name, from: new Date(0), to: new Date(1) })).toBeNull();
    const last = await tm.acquire(name, slot);
    expect(last.task.failedAttempts).toBe(0);
    await last.complete('done');
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'COMPLETE', failedAttempts: 0 });
  });

  it('a worker’s slot held for more than a moment shows as held, with its worker', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let finish: () => void = () => {};
    const worker = work({
      name,
      concurrency: 1,
      handler: async (task) => {
        if (task.task.slot.getTime() !== slot.getTime()) return;
        await new Promise<void>((resolve) => (finish = resolve));
      },
    });
    await waitFor(
      'the slot to show as held',
      async () => (await tm.getTask(name, slot))?.state === 'ACQUIRED',
    );
    expect((await tm.getTask(name, slot))?.holder?.worker).toBe(tm.workerName);
    finish();
    await waitFor('the slot completed', async () => (await tm.getTask(name, slot))?.state === 'COMPLETE');
    await worker.stop();
  });

  it('rolls back what a handler wrote through its client before its SQL failed and it threw, and records the failure', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    const failures: string[] = [];
    const worker = work({
      name,
      handler: async (task) => {
        if (task.task.slot.getTime() !== slot.getTime()) return;
        await writeResult(task, 'written before the error');
        await task.client.query('SELECT 1/0');
      },
    });
    worker.on('failed', ({ message }) => failures.push(message));
    await waitFor('the failure', () => failures.length === 1);
    await worker.stop();
    expect(failures[0]).toMatch(/division by zero/);
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
    const { rows } = await tm.pool.query(`SELECT 1 FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rows).toHaveLength(0);
  });

  it('leaves a slot the handler skipped as SKIP and reports it', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    const skipped: Date[] = [];
    const worker = work({
      name,
      handler: async (task) => {
        if (task.task.slot.getTime() === slot.getTime()) await task.skip('source down');
      },
    });
    worker.on('skipped', ({ task }) => skipped.push(task.slot));
    await waitFor('the skip', () => skipped.length === 1);
    await worker.stop();
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'SKIP', message: 'source down' });
  });

  it('picks up a re-queued slot at once through NOTIFY, long before its next poll', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let runs = 0;
    const worker = work({
      name,
      pollInterval: 600_000,
      handler: async (task) => {
        if (task.task.slot.getTime() === slot.getTime()) runs += 1;
      },
    });
    await waitFor('the first run', () => runs === 1 && worker.isListening);
    await waitFor(
      'the slot to read COMPLETE',
      async () => (await tm.getTask(name, slot))?.state === 'COMPLETE',
    );
    const requeued = Date.now();
    await tm.requeue({ name, slots: [slot] }, { reason: 'late data' });
    await waitFor('the second run', () => runs === 2, 5_000);
    const latency = Date.now() - requeued;
    await worker.stop();
    expect(latency).toBeLessThan(1_000);
  });

  it('does not listen while every lane is busy, and hears a re-queue again once a lane waits', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let release = () => {};
    let runs = 0;
    const worker = work({
      name,
      pollInterval: 600_000,
      handler: async (task) => {
        if (task.task.slot.getTime() !== slot.getTime()) return;
        runs += 1;
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
      },
    });
    await waitFor(
      'the first run to be under way and the listener paused',
      () => runs === 1 && !worker.isListening,
    );
    release();
    await waitFor('the worker to wait, listening', async () => {
      return worker.isListening && (await tm.getTask(name, slot))?.state === 'COMPLETE';
    });
    const requeued = Date.now();
    await tm.requeue({ name, slots: [slot] }, { reason: 'late data' });
    await waitFor('the second run', () => runs === 2, 5_000);
    expect(Date.now() - requeued).toBeLessThan(1_000);
    await worker.stop();
  });

  it('stop() lets a running handler finish within the grace period', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let isStarted = false;
    const worker = work({
      name,
      shutdownGraceMs: 10_000,
      handler: async (task) => {
        isStarted = true;
        await gate;
        await writeResult(task);
      },
    });
    await waitFor('the handler to start', () => isStarted);
    const stopped = worker.stop();
    setTimeout(release, 200);
    await stopped;
    expect(await tm.getTask(name, slot)).toMatchObject({ state: 'COMPLETE' });
    expect(worker.runningCount).toBe(0);
  });

  /**
   * A no-op worker of 4 lanes on `name`, on a manager of its own (so that no other test's worker uses the pool
   * whose connections are counted), and how many slots it completed.
   */
  function countingWorker(own: TaskManager, name: string): { worker: Worker; completed: () => number } {
    let completed = 0;
    const worker = own.work({
      name,
      interval: 'PT5M',
      backlog: 'P2D',
      logger: quiet,
      pollInterval: 60_000,
      concurrency: 4,
      handler: async () => {},
    });
    worker.on('completed', () => {
      completed += 1;
    });
    return { worker, completed: () => completed };
  }

  it('stop() while lanes complete slots and take the next in one round trip leaves no slot held, no connection out', async () => {
    const own = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
    const name = uniqueName();
    await own.createTasks({ name, from: pastSlot(410), to: pastSlot(10), interval: 'PT5M' });
    for (let round = 0; round < 3; round++) {
      const { worker, completed } = countingWorker(own, name);
      await waitFor('some slots completed', () => completed() >= 20);
      await worker.stop();
      expect(await own.listTasks({ name, states: ['ACQUIRED'] })).toEqual([]);
      expect(own.pool.idleCount).toBe(own.pool.totalCount);
    }
  });

  it('lanes that ran out of work give their connections back to the pool while the worker keeps running', async () => {
    const own = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
    const name = uniqueName();
    await own.createTasks({ name, from: pastSlot(30), to: pastSlot(10), interval: 'PT5M' });
    const { worker, completed } = countingWorker(own, name);
    await waitFor('the slots completed', () => completed() >= 20);
    // An idle lane keeps its connection for a moment (a trickle of due slots wakes it again at once), then
    // gives it back: an idle worker holds none.
    await waitFor(
      'every connection back in the pool',
      () => own.pool.idleCount === own.pool.totalCount,
      10_000,
    );
    expect(worker.runningCount).toBe(0);
    await worker.stop();
    await own.close();
  });

  it('stop() aborts a handler still running after the grace period: signal fires, the slot is AVAILABLE unchanged', async () => {
    const name = uniqueName();
    const [slot] = (await createPast(name, 1)) as [Date];
    let signal: AbortSignal | undefined;
    const lost: boolean[] = [];
    const worker = work({
      name,
      shutdownGraceMs: 200,
      handler: async (task) => {
        signal = task.signal;
        await writeResult(task);
        await new Promise(() => {}); // ignores its signal and never returns
      },
    });
    worker.on('lockLost', ({ isShutdown }) => lost.push(isShutdown));
    await waitFor('the handler to start', () => signal);
    const started = Date.now();
    await worker.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(LockLostError);
    expect(lost).toEqual([true]);
    await waitFor(
      'the slot to read AVAILABLE',
      async () => (await tm.getTask(name, slot))?.state === 'AVAILABLE',
    );
    expect(await tm.getTask(name, slot)).toMatchObject({ failedAttempts: 0, holder: null });
    const { rows } = await tm.pool.query(`SELECT 1 FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rows).toEqual([]);
  });

  it('refuses bad options with BadInputError', () => {
    const handler = async () => {};
    expect(() => tm.work({ name: 'x', interval: 'P1M', backlog: 0, handler })).toThrow(BadInputError);
    expect(() => tm.work({ name: 'x', interval: 'PT5M', backlog: 0, concurrency: 0, handler })).toThrow(
      /concurrency/,
    );
    expect(() =>
      tm.work({ name: 'x', interval: 'PT5M', backlog: 0, keepCreated: 'all' as 'current', handler }),
    ).toThrow(/keepCreated/);
  });
});

describe('connection-loss settings', () => {
  it('refuses a holder timeout that is not strictly before the server releases the lock', () => {
    const options = { connectionString: databaseUrl, schema: 'unused' };
    expect(
      () =>
        new TaskManager({ ...options, connectionLoss: { holderAbortMs: 45_000, serverReleaseMs: 45_000 } }),
    ).toThrow(BadInputError);
    expect(
      () =>
        new TaskManager({ ...options, connectionLoss: { holderAbortMs: 15_000, serverReleaseMs: 15_500 } }),
    ).toThrow(/before the server frees its lock/);
    expect(() => new TaskManager({ ...options, connectionLoss: { holderAbortMs: 10 } })).toThrow(
      BadInputError,
    );
  });

  it('gives every holding connection server-side keepalives and tcp_user_timeout (defaults: 45 s in total)', async () => {
    const settingsOf = async (manager: TaskManager) => {
      const created = await manager.createTask({ name: uniqueName(), slot: pastSlot(), interval: 'PT5M' });
      const task = await manager.acquire(created.name, created.slot);
      const { rows } = await task.client.query<Record<string, string>>(
        `SELECT current_setting('tcp_keepalives_idle') AS idle,
                current_setting('tcp_keepalives_interval') AS interval,
                current_setting('tcp_keepalives_count') AS count,
                current_setting('tcp_user_timeout') AS user_timeout`,
      );
      await task.release();
      return rows[0];
    };
    expect(await settingsOf(tm)).toEqual({ idle: '15', interval: '10', count: '3', user_timeout: '45000' });
    const quick = await createManager({ connectionLoss: { holderAbortMs: 3_000, serverReleaseMs: 7_000 } });
    expect(await settingsOf(quick)).toEqual({ idle: '2', interval: '1', count: '5', user_timeout: '7000' });
  });

  it('a statement that hangs on the held connection past the heartbeat timeout fires the signal and destroys the connection', async () => {
    const quick = await createManager({ connectionLoss: { holderAbortMs: 900, serverReleaseMs: 3_000 } });
    const created = await quick.createTask({ name: uniqueName(), slot: pastSlot(), interval: 'PT5M' });
    const task = await quick.acquire(created.name, created.slot);
    const { rows } = await task.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]?.pid;
    const started = Date.now();
    const hanging = task.client.query('SELECT pg_sleep(30)').catch((error: unknown) => error);
    await waitFor('the signal', () => task.signal.aborted, 5_000);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(task.signal.reason).toBeInstanceOf(LockLostError);
    expect(String(task.signal.reason)).toMatch(/did not answer within 600 ms/);
    expect(await hanging).toBeInstanceOf(Error);
    // the backend is gone (the server saw the socket close), so the slot is free again
    await waitFor('the backend to end', async () => {
      const { rows } = await tm.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
      return rows.length === 0;
    });
    expect((await quick.getTask(created.name, created.slot))?.state).toBe('AVAILABLE');
    expect(quick.pool.totalCount).toBeLessThanOrEqual(1);
  });
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
});
