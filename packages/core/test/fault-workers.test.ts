// Fault tests on the shared PostgreSQL: real worker processes (test/fixtures/worker-process.ts) killed,
// cut off, timed out and stopped mid-work. Each asserts that every slot ends COMPLETE exactly once, with one
// result row written by its last handler start, and that nothing is left held.
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskManager } from '../src/index.ts';
import {
  connect,
  createFaultSchema,
  createSlots,
  dropFaultSchema,
  expectEachSlotDoneOnce,
  killAll,
  remaining,
  WorkerProcess,
  waitForAllComplete,
} from './fault-helpers.ts';
import type { WorkerProcessConfig } from './fixtures/worker-process.ts';
import { databaseUrl, waitFor } from './helpers.ts';

const managers: TaskManager[] = [];
const spawned: WorkerProcess[] = [];
afterAll(async () => {
  await killAll(spawned);
  await Promise.all(managers.map(dropFaultSchema));
});

/** A schema of its own for one scenario, and a way to start worker processes on it. */
async function scenario() {
  const { tm, schema } = await createFaultSchema(databaseUrl);
  managers.push(tm);
  const start = (config: Omit<WorkerProcessConfig, 'url' | 'schema'>): WorkerProcess => {
    const worker = new WorkerProcess({ url: databaseUrl, schema, ...config });
    spawned.push(worker);
    return worker;
  };
  return { tm, schema, start };
}

async function completed(manager: TaskManager, name: string): Promise<number> {
  const { rows } = await manager.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${manager.schema}".tasks WHERE name = $1 AND state = 'COMPLETE'`,
    [name],
  );
  return Number(rows[0]?.n);
}

// A thousand slots through processes killed every few hundred ms: seconds on an idle machine, minutes on a busy one.
const CHAOS_TIMEOUT_MS = 300_000;

describe('faults with real worker processes', () => {
  it.each([1, 8])(
    '1. four workers × concurrency 4 (commitBatch %i) drain 1,000 slots while one of them is SIGKILLed and restarted every few hundred ms',
    async (commitBatch) => {
      const { tm, start } = await scenario();
      const name = 'chaos';
      await createSlots(tm, name, 1_000);
      const config = { name, concurrency: 4, commitBatch, workMs: 15 };
      const workers = Array.from({ length: 4 }, () => start(config));
      let kills = 0;
      // The chaos loop: kill a random live worker, start a replacement, until the drain is done.
      while ((await remaining(tm, name)) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 400));
        const index = Math.floor(Math.random() * workers.length);
        const victim = workers[index];
        if (!victim || (await remaining(tm, name)) === 0) break;
        victim.child.kill('SIGKILL');
        await victim.exited;
        kills += 1;
        workers[index] = start(config);
      }
      await waitForAllComplete(tm, name);
      const { slots, restarted } = await expectEachSlotDoneOnce(tm, name);
      expect(slots).toBeGreaterThanOrEqual(1_001); // and the current slot, which the workers create
      expect(kills).toBeGreaterThanOrEqual(3);
      // the survivors carry on: a new slot is picked up without any help
      await tm.createTask({
        name,
        slot: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000),
        interval: 'PT1M',
      });
      await waitForAllComplete(tm, name);
      await expectEachSlotDoneOnce(tm, name);
      console.log(
        `chaos (commitBatch ${commitBatch}): ${kills} SIGKILLs, ${restarted} slots restarted after a kill, ${slots + 1} slots done once`,
      );
      await killAll(workers);
    },
    CHAOS_TIMEOUT_MS,
  );

  it.each([1, 8])(
    '2. pg_terminate_backend on every holder, repeatedly, during a run (commitBatch %i)',
    async (commitBatch) => {
      const { tm, start } = await scenario();
      const name = 'terminated';
      await createSlots(tm, name, 200);
      const workers = [
        start({ name, concurrency: 4, commitBatch, workMs: 40, workerName: `term-a-${commitBatch}` }),
        start({ name, concurrency: 4, commitBatch, workMs: 40, workerName: `term-b-${commitBatch}` }),
      ];
      // both started (a loaded machine starts a process in seconds), so that there are holders to terminate
      await waitFor('both workers to hold slots', () =>
        workers.every((worker) => worker.count('acquired') > 0),
      );
      const admin = await connect(databaseUrl);
      let terminated = 0;
      for (let round = 0; round < 8; round++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        // A worker's sessions are named after it (application_name): its holders, and its idle pooled connections.
        const { rows } = await admin.query<{ ok: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name IN ($1, $2)`,
          [`term-a-${commitBatch}`, `term-b-${commitBatch}`],
        );
        terminated += rows.filter((row) => row.ok).length;
      }
      await admin.end();
      await waitForAllComplete(tm, name);
      const { restarted } = await expectEachSlotDoneOnce(tm, name);
      expect(terminated).toBeGreaterThanOrEqual(8);
      const lost = workers.reduce((sum, worker) => sum + worker.count('lockLost'), 0);
      expect(lost).toBeGreaterThan(0);
      expect(workers.every((worker) => worker.child.exitCode === null)).toBe(true);
      console.log(
        `terminate: ${terminated} holder backends terminated, ${lost} locks lost, ${restarted} slots re-run`,
      );
      await killAll(workers);
    },
  );

  it('5. idle_in_transaction_session_timeout shorter than the work: signal fires, the slot goes back to AVAILABLE, then done once', async () => {
    const { tm, start } = await scenario();
    const name = 'idle-timeout';
    await createSlots(tm, name, 3);
    const worker = start({
      name,
      concurrency: 2,
      workMs: 800,
      idleTimeoutFirstMs: 300,
      holderAbortMs: 6_000,
      serverReleaseMs: 12_000,
    });
    const aborted = await worker.waitForLine('an aborted handler', (line) => line.event === 'aborted');
    const lost = await worker.waitForLine('lockLost', (line) => line.event === 'lockLost');
    expect(lost.slot).toBe(aborted.slot);
    expect(String(lost.error)).toMatch(/lost the lock|terminat|idle-in-transaction/i);
    await waitForAllComplete(tm, name);
    const { slots, restarted } = await expectEachSlotDoneOnce(tm, name);
    expect(restarted).toBe(slots); // the past slots and the current one, each timed out once
    const history = await tm.history(name, new Date(String(aborted.slot)));
    // the timed-out attempt is counted as abandoned (its lock was lost), never COMPLETE before the retry
    expect(history.map((entry) => entry.toState)).toEqual([
      'AVAILABLE',
      'ACQUIRED',
      'AVAILABLE',
      'ACQUIRED',
      'COMPLETE',
    ]);
    expect(history[2]?.message).toMatch(/the holder went away/);
    await killAll([worker]);
  });

  it('6. a COMMIT that fails after the work was done: the slot is re-run and the failed attempt’s results do not exist', async () => {
    const { tm, schema, start } = await scenario();
    const name = 'commit-fails';
    await createSlots(tm, name, 3);
    // At COMMIT of a slot's first attempt (one start recorded), the backend terminates itself.
    await tm.pool.query(`
      CREATE FUNCTION "${schema}".doom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.state = 'COMPLETE' AND NEW.name = '${name}'
           AND (SELECT count(*) FROM "${schema}".starts WHERE slot = NEW.slot) = 1 THEN
          PERFORM pg_terminate_backend(pg_backend_pid());
        END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER doom AFTER UPDATE ON "${schema}".tasks
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "${schema}".doom();`);
    const worker = start({ name, concurrency: 2, workMs: 20 });
    await waitForAllComplete(tm, name);
    const { slots, restarted } = await expectEachSlotDoneOnce(tm, name);
    expect(restarted).toBe(slots);
    expect(worker.count('lockLost')).toBe(slots);
    await tm.pool.query(`DROP TRIGGER doom ON "${schema}".tasks`);
    await killAll([worker]);
  });

  it('7. graceful stop while handlers run: short work finishes, long work is aborted back to AVAILABLE, nothing stuck', async () => {
    const { tm, schema, start } = await scenario();
    const name = 'graceful';
    await createSlots(tm, name, 40);
    const finishing = start({
      name,
      concurrency: 4,
      workMs: 400,
      ignoresSignal: true,
      shutdownGraceMs: 5_000,
    });
    const aborted = start({ name, concurrency: 4, workMs: 30_000, shutdownGraceMs: 300 });
    await waitFor(
      'both workers to hold slots',
      () => finishing.count('acquired') >= 4 && aborted.count('acquired') >= 4,
    );
    finishing.child.kill('SIGTERM');
    aborted.child.kill('SIGTERM');
    const [a, b] = await Promise.all([finishing.exited, aborted.exited]);
    // each stopped, then re-raised SIGTERM to end as the signal would have
    expect([a.signal, b.signal]).toEqual(['SIGTERM', 'SIGTERM']);
    expect(finishing.count('completed')).toBe(finishing.count('acquired'));
    expect(aborted.count('lockLost')).toBe(4);
    expect(aborted.count('completed')).toBe(0);
    expect(await tm.listTasks({ name, states: ['ACQUIRED'] })).toEqual([]);
    // what finished committed its result; what was aborted left none
    const { rows } = await tm.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".results`);
    expect(Number(rows[0]?.n)).toBe(await completed(tm, name));
    // a new worker takes the rest, the aborted slots included
    const rest = start({ name, concurrency: 4, workMs: 5 });
    await waitForAllComplete(tm, name);
    await expectEachSlotDoneOnce(tm, name);
    await killAll([rest]);
  });
});
