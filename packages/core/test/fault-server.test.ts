// Fault tests that break the server or the network: on a PostgreSQL of their own (embedded, own port and data
// folder under .data/), never the shared one. The network faults black-hole one connection on loopback with
// nftables: every packet of the holder's connection is dropped, in both directions, and nothing is closed.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '@dtm/dev-db';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskManager } from '../src/index.ts';
import { blackHole, unblockAll } from './black-hole.ts';
import {
  createFaultSchema,
  createSlots,
  dropFaultSchema,
  expectEachSlotDoneOnce,
  isOnPath,
  killAll,
  remaining,
  type WorkerLine,
  WorkerProcess,
  waitForAllComplete,
} from './fault-helpers.ts';
import type { WorkerProcessConfig } from './fixtures/worker-process.ts';
import { waitFor } from './helpers.ts';

/** Why the black-hole tests cannot run on this machine, or null when they can. */
const noNft = isOnPath('nft') ? null : 'nft is not on PATH (apt-get install nftables; the rules need root)';
if (noNft) console.warn(`skipping the network black-hole tests (4, 4b): ${noNft}`);

const db: EmbeddedDatabase = await startEmbeddedPostgres({
  dataDir: fileURLToPath(new URL(`../../../.data/fault-${randomBytes(4).toString('hex')}`, import.meta.url)),
  isThrowaway: true,
});
const managers: TaskManager[] = [];
const spawned: WorkerProcess[] = [];
afterAll(async () => {
  await unblockAll();
  await killAll(spawned);
  await Promise.all(managers.map(dropFaultSchema)).catch(() => {});
  await db.stop();
});

async function scenario() {
  const { tm, schema } = await createFaultSchema(db.url);
  managers.push(tm);
  const start = (config: Omit<WorkerProcessConfig, 'url' | 'schema'>): WorkerProcess => {
    const worker = new WorkerProcess({ url: db.url, schema, ...config });
    spawned.push(worker);
    return worker;
  };
  return { tm, start };
}

const QUICK = { holderAbortMs: 3_000, serverReleaseMs: 6_000 };

describe('faults of the server and the network', () => {
  it.skipIf(noNft)(
    '4. a holder whose network is black-holed mid-work stops (signal) before the server frees the lock; the slot is then done once',
    async () => {
      const { tm, start } = await scenario();
      const name = 'black-hole';
      await createSlots(tm, name, 1);
      const holder = start({
        name,
        concurrency: 1,
        workMs: 10,
        firstWorkMs: 60_000,
        pollInterval: 60_000,
        ...QUICK,
      });
      const held = await holder.waitForLine(
        'the holder to hold the oldest slot',
        (line) => line.event === 'acquired',
      );
      const other = start({ name, concurrency: 1, workMs: 10, pollInterval: 100, ...QUICK });
      await other.waitForLine('the other worker to start', (line) => line.event === 'started');

      const unblock = await blackHole(held.port as number);
      const darkAt = Date.now();
      const aborted = await holder.waitForLine('the holder to abort', (line) => line.event === 'aborted');
      // The next attempt (the first counted as abandoned once the server freed the lock) is either worker's: the
      // cut-off holder is alive and takes slots on a new connection.
      const taken = await waitFor('a worker to take the slot again', () =>
        [...holder.lines, ...other.lines].find(
          (line) => line.event === 'acquired' && line.slot === held.slot && line.at >= aborted.at,
        ),
      );
      await waitFor('it to complete the slot', () =>
        [...holder.lines, ...other.lines].some(
          (line) => line.event === 'completed' && line.slot === held.slot,
        ),
      );
      await unblock();
      console.log(
        `black hole: holder aborted after ${aborted.at - darkAt} ms, the slot was taken again after ${taken.at - darkAt} ms`,
      );
      expect(aborted.at).toBeLessThan(taken.at);
      // (timers may run late on a loaded machine; the order above is what matters)
      expect(aborted.at - darkAt).toBeLessThanOrEqual(QUICK.holderAbortMs + 1_500);
      expect(taken.at - darkAt).toBeGreaterThan(QUICK.holderAbortMs);

      await waitForAllComplete(tm, name);
      const { restarted } = await expectEachSlotDoneOnce(tm, name);
      expect(restarted).toBe(1);
      // both carry on: the cut-off worker included
      await tm.createTask({
        name,
        slot: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000),
        interval: 'PT1M',
      });
      await waitForAllComplete(tm, name);
      expect(holder.child.exitCode).toBeNull();
      expect(other.child.exitCode).toBeNull();
      await killAll([holder, other]);
    },
  );

  it.skipIf(noNft)(
    '4b. the black hole lands while the server’s reply is unacknowledged: tcp_user_timeout frees the lock, after the holder stopped',
    async () => {
      const { tm, start } = await scenario();
      const name = 'unacknowledged';
      await createSlots(tm, name, 1);
      const holder = start({
        name,
        concurrency: 1,
        mode: 'pg-sleep',
        workMs: 10,
        firstWorkMs: 1_500,
        pollInterval: 60_000,
        ...QUICK,
      });
      const sleeping = await holder.waitForLine(
        'the holder to wait on pg_sleep',
        (line) => line.event === 'sleeping',
      );
      // The rule lands while the server computes: its reply will never be acknowledged, so keepalives do not run.
      const unblock = await blackHole(sleeping.port as number);
      const darkAt = Date.now();
      const other = start({ name, concurrency: 1, workMs: 10, pollInterval: 100, ...QUICK });
      const aborted = await holder.waitForLine('the holder to abort', (line) => line.event === 'aborted');
      // The slot's next attempt (its first counted as abandoned, as the other worker finds once the server freed
      // the lock) is either worker's: the holder is alive and takes slots on a new connection.
      const isRetry = (line: WorkerLine) =>
        line.event === 'acquired' && line.slot === sleeping.slot && line.at >= aborted.at;
      const taken = await waitFor('a worker to take the slot again', () =>
        [...holder.lines, ...other.lines].find(isRetry),
      );
      await waitFor('it to complete the slot', () =>
        [...holder.lines, ...other.lines].some(
          (line) => line.event === 'completed' && line.slot === sleeping.slot,
        ),
      );
      await unblock();
      console.log(
        `unacknowledged reply: holder aborted after ${aborted.at - darkAt} ms, the slot was taken again after ${taken.at - darkAt} ms`,
      );
      expect(aborted.at).toBeLessThan(taken.at);
      // the server freed it no sooner than tcp_user_timeout after its reply (sent when pg_sleep ended)
      expect(taken.at - darkAt).toBeGreaterThan(QUICK.serverReleaseMs);
      await waitForAllComplete(tm, name);
      expect((await expectEachSlotDoneOnce(tm, name)).restarted).toBe(1);
      expect(holder.child.exitCode).toBeNull();
      await killAll([holder, other]);
    },
  );

  it('3. PostgreSQL restarted (fast) mid-run: workers log, retry, resume on their own; every slot done once', async () => {
    const { tm, start } = await scenario();
    const name = 'restart';
    await createSlots(tm, name, 400);
    const workers = [
      start({ name, concurrency: 4, workMs: 20, ...QUICK }),
      start({ name, concurrency: 4, workMs: 20, ...QUICK }),
    ];
    await waitFor('a quarter of the slots to be done', async () => (await remaining(tm, name)) < 300);
    await db.restart(500);
    await waitForAllComplete(tm, name);
    const { restarted } = await expectEachSlotDoneOnce(tm, name);
    for (const worker of workers) {
      expect(worker.child.exitCode).toBeNull();
      expect(worker.lines.some((line) => line.event === 'log' && line.level === 'warn')).toBe(true);
    }
    // they resumed listening too: a new slot is taken at once
    await tm.createTask({
      name,
      slot: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000),
      interval: 'PT1M',
    });
    await waitForAllComplete(tm, name);
    console.log(`restart: ${restarted} slots re-run after the restart`);
    await killAll(workers);
  });
});
