// Whatever the work does, no slot loops hot: text PostgreSQL cannot store, a transaction the work ends itself,
// a statement that outlives the heartbeat, a process that dies with every attempt. Each attempt is counted,
// backed off, and, with maxAttempts, given up on until an operator re-queues the slot.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AcquiredTask,
  LockLostError,
  TaskNotAvailableError,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
} from '../src/index.ts';
import { createManager, databaseUrl, pastSlot, uniqueName, waitFor } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
await tm.pool.query(`CREATE TABLE "${tm.schema}".results (name text, slot timestamptz, note text)`);

const quiet: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };
const workers: Worker[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  for (const child of children) child.kill('SIGKILL');
});

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

/** One past slot of a new name (and the current one, which a worker creates: its handlers skip it). */
async function oneSlot(prefix: string): Promise<{ name: string; slot: Date }> {
  const name = uniqueName(prefix);
  const slot = pastSlot(20);
  await tm.createTask({ name, slot, interval: 'PT5M' });
  return { name, slot };
}

function isThe(slot: Date, task: AcquiredTask): boolean {
  return task.task.slot.getTime() === slot.getTime();
}

async function historyOf(name: string, slot: Date): Promise<Array<[string | null, string, string | null]>> {
  return (await tm.history(name, slot)).map((h) => [h.fromState, h.toState, h.message]);
}

/** Waits `ms` of wall time: used only to let a loop show itself (the assertions are on counts). */
function during(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('text PostgreSQL cannot store (NUL)', () => {
  it('complete, skip and fail with a NUL in their message record it, with U+FFFD in its place', async () => {
    const done = await oneSlot('nul');
    await (await tm.acquire(done.name, done.slot)).complete('ok \u0000 done');
    expect(await tm.getTask(done.name, done.slot)).toMatchObject({
      state: 'COMPLETE',
      message: 'ok \uFFFD done',
    });
    const skipped = await oneSlot('nul');
    await (await tm.acquire(skipped.name, skipped.slot)).skip('no \u0000 data');
    expect(await tm.getTask(skipped.name, skipped.slot)).toMatchObject({
      state: 'SKIP',
      message: 'no \uFFFD data',
    });
    const failed = await oneSlot('nul');
    await (await tm.acquire(failed.name, failed.slot)).fail('bad \u0000 byte');
    expect(await tm.getTask(failed.name, failed.slot)).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      message: 'bad \uFFFD byte',
    });
  });

  it('a handler that throws an error with a NUL in its message is failed once and backs off', async () => {
    const { name, slot } = await oneSlot('nul-throw');
    let runs = 0;
    work({
      name,
      handler: async (task) => {
        if (!isThe(slot, task)) return;
        runs += 1;
        throw new Error('bad \u0000 input');
      },
    });
    await waitFor('the failure', async () => (await tm.getTask(name, slot))?.failedAttempts === 1);
    await during(500);
    expect(runs).toBe(1);
    expect(await tm.getTask(name, slot)).toMatchObject({ failedAttempts: 1, message: 'bad \uFFFD input' });
  });

  it('a handler that returns a note with a NUL completes its slot once; one whose error cannot be described is failed once', async () => {
    const { name, slot } = await oneSlot('nul-note');
    const odd = await oneSlot('odd-error');
    let runs = 0;
    let oddRuns = 0;
    const completed: Array<string | null> = [];
    const worker = work({
      name,
      handler: async (task) => {
        if (isThe(slot, task)) runs += 1;
        return 'counted \u0000 rows';
      },
    });
    worker.on('completed', ({ task }) => completed.push(task.message));
    work({
      name: odd.name,
      handler: async (task) => {
        if (!isThe(odd.slot, task)) return;
        oddRuns += 1;
        throw {
          toString() {
            throw new Error('not describable');
          },
        };
      },
    });
    await waitFor('the note', async () => (await tm.getTask(name, slot))?.state === 'COMPLETE');
    await waitFor(
      'the odd failure',
      async () => (await tm.getTask(odd.name, odd.slot))?.failedAttempts === 1,
    );
    await during(500);
    expect(runs).toBe(1);
    expect(oddRuns).toBe(1);
    expect((await tm.getTask(name, slot))?.message).toBe('counted \uFFFD rows');
    // the event carries what was recorded
    expect(completed).toContain('counted \uFFFD rows');
    expect((await tm.getTask(odd.name, odd.slot))?.message).toBe('[object Object]');
  });

  it('reasons and actors with a NUL are stored cleaned, not refused', async () => {
    const { name, slot } = await oneSlot('nul-reason');
    await tm.skip({ name, slots: [slot] }, { reason: 'down \u0000 now', actor: 'ops \u0000 bot' });
    const [, skipped] = await tm.history(name, slot);
    expect(skipped).toMatchObject({ message: 'down \uFFFD now', actor: 'ops \uFFFD bot' });
  });
});

describe('work that ends the slot’s transaction', () => {
  it('a handler that COMMITs through task.client: never COMPLETE, failed once with what happened, backed off', async () => {
    const { name, slot } = await oneSlot('commit');
    let runs = 0;
    const failures: Array<{ message: string; failedAttempts: number }> = [];
    const worker = work({
      name,
      handler: async (task) => {
        if (!isThe(slot, task)) return;
        runs += 1;
        await task.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'escaped')`, [
          name,
          slot,
        ]);
        await task.client.query('COMMIT');
      },
    });
    worker.on('failed', ({ task }) =>
      failures.push({ message: task.message ?? '', failedAttempts: task.failedAttempts }),
    );
    await waitFor('the failure', () => failures.length === 1);
    await during(500);
    expect(runs).toBe(1);
    const failed = await tm.getTask(name, slot);
    expect(failed).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
    expect(failed?.message).toMatch(/committed the slot’s transaction itself.*outside the slot/);
    expect(failed?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(failures[0]).toEqual({ message: failed?.message, failedAttempts: 1 });
    // what it committed itself is there (once): the message says so
    const { rowCount } = await tm.pool.query(`SELECT 1 FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rowCount).toBe(1);
    expect((await historyOf(name, slot)).map(([, to]) => to)).toEqual(['AVAILABLE', 'ACQUIRED', 'AVAILABLE']);
  });

  it('a handler that ROLLBACKs through task.client: failed once with what happened, nothing committed', async () => {
    const { name, slot } = await oneSlot('rollback');
    let runs = 0;
    work({
      name,
      handler: async (task) => {
        if (!isThe(slot, task)) return;
        runs += 1;
        await task.client.query(`INSERT INTO "${tm.schema}".results VALUES ($1, $2, 'undone')`, [name, slot]);
        await task.client.query('ROLLBACK');
      },
    });
    await waitFor('the failure', async () => (await tm.getTask(name, slot))?.failedAttempts === 1);
    await during(500);
    expect(runs).toBe(1);
    expect((await tm.getTask(name, slot))?.message).toMatch(/ROLLBACK through task.client/);
    const { rowCount } = await tm.pool.query(`SELECT 1 FROM "${tm.schema}".results WHERE name = $1`, [name]);
    expect(rowCount).toBe(0);
  });

  it('complete() after the work committed throws LockLostError and records the failure', async () => {
    const { name, slot } = await oneSlot('commit-by-hand');
    const held = await tm.acquire(name, slot);
    await held.client.query('COMMIT');
    await expect(held.complete('done')).rejects.toThrow(LockLostError);
    expect(held.outcome).toBe('fail');
    expect(held.ended).toMatchObject({ state: 'AVAILABLE', failedAttempts: 1 });
    expect((await tm.getTask(name, slot))?.state).toBe('AVAILABLE');
  });
});

describe('attempts that never end', () => {
  it('a statement that outlives the heartbeat loses its lock once; the attempt is counted and backed off', async () => {
    const quick = await createManager({
      retry: { baseMs: 60_000, jitter: 0 },
      connectionLoss: { holderAbortMs: 600, serverReleaseMs: 3_000 },
    });
    const name = uniqueName('outlives');
    const slot = pastSlot(20);
    await quick.createTask({ name, slot, interval: 'PT5M' });
    let runs = 0;
    const logged: string[] = [];
    const worker = quick.work({
      name,
      interval: 'PT5M',
      backlog: 'P1D',
      pollInterval: 60_000,
      logger: { ...quiet, warn: (_fields, message) => logged.push(message) },
      handler: async (task) => {
        if (task.task.slot.getTime() !== slot.getTime()) return;
        runs += 1;
        await task.client.query('SELECT pg_sleep(2)');
      },
    });
    workers.push(worker);
    await waitFor(
      'the abandoned attempt to be counted',
      async () => (await quick.getTask(name, slot))?.failedAttempts === 1,
    );
    await during(1_500);
    expect(runs).toBe(1);
    const counted = await quick.getTask(name, slot);
    expect(counted?.message).toMatch(/the holder went away/);
    expect(counted?.nextAttemptAt?.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(
      logged.some(
        (line) =>
          line.includes(`lost the lock on slot ${slot.toISOString()}`) &&
          line.includes('counts as abandoned'),
      ),
    ).toBe(true);
  });

  for (const mode of ['exit', 'sigkill'] as const) {
    it(`a handler that ${mode === 'exit' ? 'calls process.exit' : 'is SIGKILLed by a watchdog'} every time, across 3 respawning processes, is retried only as its backoff allows`, async () => {
      const name = uniqueName(`poison-${mode}`);
      const slot = pastSlot(20);
      await tm.createTask({ name, slot, interval: 'PT5M' });
      await tm.createTask({ name, slot: pastSlot(0), interval: 'PT5M' });
      await (await tm.acquire(name, pastSlot(0))).complete(); // only the poison slot is due
      const attempts: number[] = [];
      let isRunning = true;
      const fixture = fileURLToPath(new URL('./fixtures/poison-worker.ts', import.meta.url));
      // Default backoff for this name's workers: the fixture's manager has the default retry (1 s, doubling).
      const start = (): void => {
        if (!isRunning) return;
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', fixture, databaseUrl, tm.schema, name, mode, '60000'],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        children.push(child);
        let buffer = '';
        child.stdout?.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) if (line.includes('"attempt"')) attempts.push(Date.now());
        });
        child.on('exit', () => start()); // respawned at once
      };
      for (let i = 0; i < 3; i++) start();
      await waitFor('the first attempt', () => attempts.length > 0, 30_000);
      const first = attempts[0] as number;
      // Backoff 1, 2, 4, 8 s (±20%) after each counted attempt: at most 5 attempts in the first 12 s.
      await waitFor('12 s after the first attempt', () => Date.now() - first > 12_000, 20_000);
      isRunning = false;
      const within = attempts.filter((at) => at - first <= 12_000).length;
      expect(within).toBeGreaterThanOrEqual(2);
      expect(within).toBeLessThanOrEqual(5);
      const task = await tm.getTask(name, slot);
      expect(task?.failedAttempts).toBeGreaterThanOrEqual(within - 1);
      expect(task?.message).toMatch(/the holder went away/);
      console.log(
        `${mode}: ${within} attempts in the first 12 s, at ${attempts.map((at) => at - first).join(', ')} ms`,
      );
    }, 60_000);
  }
});

describe('maxAttempts', () => {
  it('a worker with maxAttempts gives a failing slot up after that many attempts, until it is re-queued', async () => {
    const { name, slot } = await oneSlot('give-up');
    let runs = 0;
    const failed: Array<{ failedAttempts: number; hasGivenUp: boolean }> = [];
    const worker = work({
      name,
      maxAttempts: 2,
      retry: { baseMs: 100, jitter: 0 },
      handler: async (task) => {
        if (!isThe(slot, task)) return;
        runs += 1;
        throw new Error(`source unreachable (${runs})`);
      },
    });
    worker.on('failed', ({ task }) =>
      failed.push({ failedAttempts: task.failedAttempts, hasGivenUp: task.hasGivenUp }),
    );
    await waitFor('two failures', () => failed.length === 2);
    await during(700);
    expect(runs).toBe(2);
    expect(failed).toEqual([
      { failedAttempts: 1, hasGivenUp: false },
      { failedAttempts: 2, hasGivenUp: true },
    ]);
    expect(await tm.getTaskName(name)).toMatchObject({ maxAttempts: 2 });
    const given = await tm.getTask(name, slot);
    expect(given).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 2,
      hasGivenUp: true,
      nextAttemptAt: null,
      message: 'gave up after 2 attempts: source unreachable (2)',
    });
    await expect(tm.acquire(name, slot)).rejects.toThrow(TaskNotAvailableError);
    // the operator re-queues it: two more attempts
    expect((await tm.requeue({ name, slots: [slot] }, { reason: 'source is back' })).counts.requeued).toBe(1);
    await waitFor('two more failures', () => failed.length === 4);
    expect(runs).toBe(4);
    // counted from zero again (the worker may take it again before a read here could see 0)
    expect(failed.slice(2)).toEqual([
      { failedAttempts: 1, hasGivenUp: false },
      { failedAttempts: 2, hasGivenUp: true },
    ]);
    expect(await tm.getTask(name, slot)).toMatchObject({ failedAttempts: 2, hasGivenUp: true });
  });

  it('an abandoned attempt counts towards maxAttempts', async () => {
    const { name, slot } = await oneSlot('give-up-abandoned');
    await tm.setMaxAttempts(name, 1);
    const held = await tm.acquire(name, slot);
    const { rows } = await held.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await tm.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    await waitFor('the lock to be lost', () => held.signal.aborted);
    await waitFor('the abandoned attempt to be counted', async () => {
      await tm.acquire(name, slot).then(
        (task) => task.release(),
        () => {},
      );
      return (await tm.getTask(name, slot))?.hasGivenUp;
    });
    const given = await tm.getTask(name, slot);
    expect(given?.failedAttempts).toBe(1);
    expect(given?.message).toMatch(/^gave up after 1 attempt: the holder went away/);
  });
});
