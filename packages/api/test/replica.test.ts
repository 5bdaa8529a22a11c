// The API over a real streaming replica: a primary and a hot standby of their own (embedded, own ports and
// data folders under .data/), whatever DATABASE_URL says. Pausing the replica's replay shows which pool each
// read uses: a committed write the replica has received but not replayed is invisible to the reads of
// committed rows, while live holders and writes, which go to the primary, are not held back.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { TaskManager } from '@dtm/core';
import { type EmbeddedDatabase, type Replica, startEmbeddedPostgres, startReplica } from '@dtm/dev-db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridResponse, namesResponse, taskResponse, tasksResponse } from '../src/schemas.ts';
import { type RunningServer, startServer } from '../src/start-server.ts';
import { gridCells, pastSlot, silentLogger, TOKEN, uniqueName, waitFor } from './helpers.ts';

const FIVE_MIN = 300_000;

interface Stack {
  primary: EmbeddedDatabase;
  replica: Replica;
  /** Plays the workers, on the primary. */
  worker: TaskManager;
  /** The test's own connections to the replica, to pause and resume its replay. */
  standby: pg.Pool;
  server: RunningServer;
  /** What the server logged as warnings. */
  warnings: string[];
}

let stack: Stack;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const id = randomBytes(4).toString('hex');
  const dataDir = (role: string) => fileURLToPath(new URL(`../../../.data/${role}-${id}`, import.meta.url));
  const primary = await startEmbeddedPostgres({
    dataDir: dataDir('replica-test-primary'),
    isThrowaway: true,
  });
  cleanups.push(() => primary.stop());
  const replica = await startReplica(primary, { dataDir: dataDir('replica-test-standby') });
  cleanups.push(() => replica.stop());
  const standby = new pg.Pool({ connectionString: replica.url, max: 2 });
  standby.on('error', () => {});
  cleanups.push(() => standby.end());
  const worker = new TaskManager({ connectionString: primary.url, workerName: 'replica-test-worker' });
  cleanups.push(() => worker.close());
  await worker.migrate();
  const warnings: string[] = [];
  const server = await startServer({
    databaseUrl: primary.url,
    readDatabaseUrl: replica.url,
    port: 0,
    auth: { token: TOKEN, tokenName: 'ci' },
    dashboardDir: null,
    isMigrating: false,
    limits: { gridCacheMs: 0, namesCacheMs: 0 },
    logger: { ...silentLogger, warn: (_fields, message) => warnings.push(message) },
  });
  cleanups.push(() => server.close());
  stack = { primary, replica, worker, standby, server, warnings };
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function request(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${stack.server.url}${path}`, init);
  return { status: response.status, body: await response.json() };
}

async function get(path: string): Promise<unknown> {
  const { status, body } = await request(path);
  if (status !== 200) throw new Error(`GET ${path}: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** `POST /api/requeue` of one slot, with the token. */
function requeue(name: string, slot: Date): Promise<{ status: number; body: unknown }> {
  return request('/api/requeue', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, slots: [slot.toISOString()], reason: 'run it again' }),
  });
}

/** What every read route of the API says of one slot. */
async function apiView(name: string, slot: Date) {
  const quoted = encodeURIComponent(name);
  const one = taskResponse.parse(await get(`/api/tasks/${quoted}/${slot.toISOString()}`));
  const listed = tasksResponse.parse(await get(`/api/tasks?name=${quoted}`));
  const names = namesResponse.parse(await get('/api/names'));
  const end = new Date(slot.getTime() + FIVE_MIN);
  const grid = gridResponse.parse(
    await get(`/api/grid?names=${quoted}&from=${slot.toISOString()}&to=${end.toISOString()}`),
  );
  const [cell] = gridCells(grid);
  return {
    state: one.task.state,
    holder: one.task.holder?.worker ?? null,
    history: one.history.map((entry) => entry.toState),
    listed: listed.tasks.map((task) => `${task.slot} ${task.state}`),
    counts: names.names.find((summary) => summary.name === name)?.counts,
    cell: cell?.state,
    cellHolder: cell?.holder?.worker ?? null,
  };
}

/** Waits until the replica has `replayed` (or only `received`) everything the primary has written so far. */
async function replicaHas(what: 'replayed' | 'received'): Promise<void> {
  const { rows } = await stack.worker.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const position = what === 'replayed' ? 'pg_last_wal_replay_lsn()' : 'pg_last_wal_receive_lsn()';
  await waitFor(`the replica to have ${what} ${rows[0]?.lsn}`, async () => {
    const result = await stack.standby.query<{ ok: boolean }>(`SELECT ${position} >= $1::pg_lsn AS ok`, [
      rows[0]?.lsn,
    ]);
    return result.rows[0]?.ok;
  });
}

/** Runs `body` while the replica's replay is paused (it keeps receiving the primary's WAL), then resumes it. */
async function whileReplayPaused(body: () => Promise<void>): Promise<void> {
  await stack.standby.query('SELECT pg_wal_replay_pause()');
  try {
    await waitFor('replay to pause', async () => {
      const { rows } = await stack.standby.query<{ state: string }>(
        'SELECT pg_get_wal_replay_pause_state() AS state',
      );
      return rows[0]?.state === 'paused';
    });
    await body();
  } finally {
    await stack.standby.query('SELECT pg_wal_replay_resume()');
  }
}

/** A name with one slot (AVAILABLE, or COMPLETE), replayed on the replica. */
async function replayedSlot(prefix: string, isComplete = false): Promise<{ name: string; slot: Date }> {
  const name = uniqueName(prefix);
  const slot = pastSlot(10);
  await stack.worker.createTask({ name, slot, interval: 'PT5M' });
  if (isComplete) await (await stack.worker.acquire(name, slot)).complete('done');
  await replicaHas('replayed');
  return { name, slot };
}

describe('the API with DTM_READ_DATABASE_URL on a streaming replica', () => {
  it('reads grid, names, tasks and history from the replica: a write shows once the replica replayed it', async () => {
    const { name, slot } = await replayedSlot('replayed');
    const before = await apiView(name, slot);
    expect(before).toMatchObject({
      state: 'AVAILABLE',
      history: ['AVAILABLE'],
      listed: [`${slot.toISOString()} AVAILABLE`],
      counts: { AVAILABLE: 1, COMPLETE: 0 },
      cell: 'AVAILABLE',
    });
    const next = new Date(slot.getTime() + FIVE_MIN);
    await whileReplayPaused(async () => {
      await (await stack.worker.acquire(name, slot)).complete('done on the primary');
      await stack.worker.createTask({ name, slot: next, interval: 'PT5M' });
      expect((await stack.worker.getTask(name, slot))?.state).toBe('COMPLETE');
      // The replica has the commits, only not replayed: what the API reads is its replayed state.
      await replicaHas('received');
      expect(await apiView(name, slot)).toEqual(before);
    });
    const after = await waitFor('the API to show the replayed write', async () => {
      const view = await apiView(name, slot);
      return view.state === 'COMPLETE' ? view : null;
    });
    expect(after).toMatchObject({
      state: 'COMPLETE',
      history: ['AVAILABLE', 'ACQUIRED', 'COMPLETE'],
      listed: [`${slot.toISOString()} COMPLETE`, `${next.toISOString()} AVAILABLE`],
      counts: { AVAILABLE: 1, COMPLETE: 1 },
      cell: 'COMPLETE',
    });
  });

  it('reads live holders from the primary: a slot held there is ACQUIRED with its holder while replay is paused', async () => {
    const { name, slot } = await replayedSlot('held');
    await whileReplayPaused(async () => {
      const held = await stack.worker.acquire(name, slot, { worker: 'holder-on-primary' });
      expect(await apiView(name, slot)).toMatchObject({
        state: 'ACQUIRED',
        holder: 'holder-on-primary',
        listed: [`${slot.toISOString()} ACQUIRED`],
        counts: { AVAILABLE: 0, ACQUIRED: 1 },
        cell: 'ACQUIRED',
        cellHolder: 'holder-on-primary',
      });
      await held.release();
      expect(await apiView(name, slot)).toMatchObject({
        state: 'AVAILABLE',
        holder: null,
        counts: { AVAILABLE: 1, ACQUIRED: 0 },
        cell: 'AVAILABLE',
        cellHolder: null,
      });
    });
  });

  it('writes through the API to the primary, and they succeed while replay is paused', async () => {
    const { name, slot } = await replayedSlot('requeued', true);
    await whileReplayPaused(async () => {
      expect(await requeue(name, slot)).toMatchObject({ status: 200, body: { counts: { requeued: 1 } } });
      expect((await stack.worker.getTask(name, slot))?.state).toBe('AVAILABLE');
      expect((await apiView(name, slot)).state).toBe('COMPLETE');
    });
    const after = await waitFor('the API to show the re-queue', async () => {
      const view = await apiView(name, slot);
      return view.state === 'AVAILABLE' ? view : null;
    });
    expect(after.history).toEqual(['AVAILABLE', 'ACQUIRED', 'COMPLETE', 'AVAILABLE']);
  });

  it('recounts the stored slot counts on the primary, and the replica reads them', async () => {
    const name = uniqueName('counted');
    const slots = [pastSlot(12), pastSlot(11), pastSlot(10)];
    for (const slot of slots) await stack.worker.createTask({ name, slot, interval: 'PT5M' });
    await (await stack.worker.acquire(name, slots[0] as Date)).complete('done');
    // Nothing but the server's recounting loop writes the stored counts.
    const storedCounts = `SELECT coalesce(sum(slots), 0)::int AS slots, coalesce(sum(complete), 0)::int AS complete
      FROM dtm.slot_counts WHERE name = $1 AND level = 0`;
    await waitFor('the recounting loop to store the counts', async () => {
      const { rows } = await stack.worker.pool.query(storedCounts, [name]);
      return rows[0]?.slots === 3 && rows[0]?.complete === 1;
    });
    await replicaHas('replayed');
    const onReplica = await stack.standby.query(storedCounts, [name]);
    expect(onReplica.rows[0]).toEqual({ slots: 3, complete: 1 });
    const names = namesResponse.parse(await get('/api/names'));
    expect(names.names.find((summary) => summary.name === name)?.counts).toEqual({
      AVAILABLE: 2,
      ACQUIRED: 0,
      COMPLETE: 1,
      SKIP: 0,
    });
    expect(stack.warnings.filter((warning) => warning.includes('recount'))).toEqual([]);
  });

  // Last: it stops the replica.
  it('with the replica stopped, reports the database down and answers reads 503, while writes reach the primary', async () => {
    const { name, slot } = await replayedSlot('down', true);
    expect(await request('/api/health')).toEqual({ status: 200, body: { ok: true, database: 'up' } });
    await stack.replica.stop();
    expect(await request('/api/health')).toEqual({ status: 503, body: { ok: false, database: 'down' } });
    expect(await request(`/api/tasks/${name}/${slot.toISOString()}`)).toMatchObject({
      status: 503,
      body: { error: { code: 'UNAVAILABLE' } },
    });
    expect(await requeue(name, slot)).toMatchObject({ status: 200, body: { counts: { requeued: 1 } } });
    expect((await stack.worker.getTask(name, slot))?.state).toBe('AVAILABLE');
  });
});
