import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BadInputError,
  type HistoryPruning,
  type PruneHistoryOptions,
  TaskBusyError,
  TaskManager,
  type WorkerLogger,
} from '../src/index.ts';
import { createManager, databaseUrl, pastSlot, waitFor } from './helpers.ts';

// Each test prunes a schema of its own: pruning works on a whole schema's history.

const stops: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

interface HistoryRow {
  id: string;
  name: string;
  slot: Date;
  from_state: string | null;
  to_state: string;
}

async function history(tm: TaskManager, name?: string): Promise<HistoryRow[]> {
  const { rows } = await tm.pool.query<HistoryRow>(
    `SELECT id, name, slot, from_state, to_state FROM "${tm.schema}".task_history
     WHERE $1::text IS NULL OR name = $1 ORDER BY id`,
    [name ?? null],
  );
  return rows;
}

/** Each slot's latest transition (highest id), by slot. */
async function latestPerSlot(tm: TaskManager, name: string): Promise<Map<number, string>> {
  const { rows } = await tm.pool.query<{ slot: Date; id: string }>(
    `SELECT slot, max(id) AS id FROM "${tm.schema}".task_history WHERE name = $1 GROUP BY slot`,
    [name],
  );
  return new Map(rows.map((row) => [row.slot.getTime(), row.id]));
}

/**
 * Moves the history rows of `name` (those matching `where`) `daysAgo` days into the past. Then waits until
 * every transaction that began before those rows were written has ended (other test files' and other
 * processes' run on the same server): retention never deletes a row that such a transaction may not have
 * read yet, so until then a run would rightly delete less than the test expects.
 */
async function backdate(tm: TaskManager, name: string, daysAgo: number, where = 'TRUE'): Promise<number> {
  const { rowCount } = await tm.pool.query(
    `UPDATE "${tm.schema}".task_history SET at = now() - $2 * interval '1 day' WHERE name = $1 AND ${where}`,
    [name, daysAgo],
  );
  await waitFor(
    'the transactions older than the backdated rows to end',
    async () => {
      const { rows } = await tm.pool.query<{ is_settled: boolean }>(
        `SELECT coalesce(pg_snapshot_xmin(pg_current_snapshot()) > max(xid), true) AS is_settled
         FROM "${tm.schema}".task_history WHERE name = $1`,
        [name],
      );
      return rows[0]?.is_settled;
    },
    120_000,
  );
  return rowCount ?? 0;
}

async function slotCount(tm: TaskManager, name: string): Promise<number> {
  const { rows } = await tm.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${tm.schema}".tasks WHERE name = $1`,
    [name],
  );
  return Number(rows[0]?.n);
}

/** `count` past five-minute slots of `name`, each created, then acquired and completed by hand. */
async function completedSlots(tm: TaskManager, name: string, count: number): Promise<Date[]> {
  const from = pastSlot(count + 10);
  await tm.createTasks({ name, from, to: pastSlot(10), interval: 'PT5M' });
  const slots = Array.from({ length: count }, (_, i) => new Date(from.getTime() + i * 300_000));
  for (const slot of slots) await (await tm.acquire(name, slot)).complete();
  return slots;
}

/** A connection of the test's own that holds a row lock on one history row until `release()`. */
async function lockHistoryRow(
  tm: TaskManager,
  id: string,
): Promise<{ pid: number; release(): Promise<void> }> {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT 1 FROM "${tm.schema}".task_history WHERE id = $1 FOR UPDATE`, [id]);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return {
    pid: rows[0]?.pid as number,
    async release() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** Whether some session waits for a lock that session `pid` holds. */
async function isBlocking(tm: TaskManager, pid: number): Promise<boolean> {
  const { rows } = await tm.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
    [pid],
  );
  return Number(rows[0]?.n) > 0;
}

/** A logger that keeps what it is told. */
function recordingLogger(): WorkerLogger & {
  lines: Array<{ level: string; fields: Record<string, unknown> }>;
} {
  const lines: Array<{ level: string; fields: Record<string, unknown> }> = [];
  const record = (level: string) => (fields: Record<string, unknown>) => {
    lines.push({ level, fields });
  };
  return {
    lines,
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}

/** Options as a caller without types could pass them. */
function loose(options: Record<string, unknown>): PruneHistoryOptions {
  return options;
}

/** A second process's manager on the same schema: another API sidecar. */
function secondManager(tm: TaskManager): TaskManager {
  const other = new TaskManager({ connectionString: databaseUrl, schema: tm.schema, poolSize: 4 });
  stops.push(() => other.close());
  return other;
}

describe('pruning the history', () => {
  it('deletes old history in batches while workers run, keeps every slot and its latest transition, and never holds up the workers', async () => {
    const tm = await createManager({ retry: { baseMs: 10, maxMs: 10, jitter: 0 } });
    const old = 'old-slots';
    const from = pastSlot(410);
    await tm.createTasks({ name: old, from, to: pastSlot(10), interval: 'PT5M' });
    // A real worker does the old slots: every fifth fails its first attempt, so those have five rows.
    const failedOnce = new Set<number>();
    const quiet: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };
    const oldWorker = tm.work({
      name: old,
      interval: 'PT5M',
      backlog: 'P3D',
      concurrency: 4,
      logger: quiet,
      handler: async (task) => {
        const index = (task.task.slot.getTime() - from.getTime()) / 300_000;
        if (index % 5 === 0 && !failedOnce.has(index)) {
          failedOnce.add(index);
          throw new Error('source not ready');
        }
      },
    });
    const isAllComplete = async () => {
      const { rows } = await tm.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${tm.schema}".tasks WHERE name = $1 AND state <> 'COMPLETE'`,
        [old],
      );
      return Number(rows[0]?.n) === 0;
    };
    await waitFor('the old slots done', isAllComplete);
    await oldWorker.stop();
    const slotsBefore = await slotCount(tm, old);
    const latestBefore = await latestPerSlot(tm, old);
    const oldRows = await backdate(tm, old, 40);
    // A creation and an ended attempt per slot, and a failed attempt for one slot in five.
    expect(oldRows).toBeGreaterThan(2 * slotsBefore);

    // Meanwhile workers go on with another name's slots, inserting history rows and updating slots.
    const live = 'live-slots';
    await tm.createTasks({ name: live, from: pastSlot(5_010), to: pastSlot(10), interval: 'PT5M' });
    const completedAt: number[] = [];
    const liveWorker = tm.work({
      name: live,
      interval: 'PT5M',
      backlog: 'P30D',
      concurrency: 4,
      logger: quiet,
      handler: async () => {},
    });
    liveWorker.on('completed', () => completedAt.push(performance.now()));
    stops.push(() => liveWorker.stop());
    await waitFor('the live worker under way', () => completedAt.length >= 100);

    const startedAt = performance.now();
    const result = await tm.pruneHistory({ batchSize: 100 });
    const endedAt = performance.now();
    const completedMeanwhile = completedAt.filter((at) => at > startedAt && at < endedAt).length;
    await liveWorker.stop();

    expect(result.deleted).toBe(oldRows - slotsBefore);
    expect(result.batches).toBeGreaterThan(result.deleted / 100);
    expect(completedMeanwhile).toBeGreaterThan(0);
    // Every slot is still there, with exactly its latest transition.
    expect(await slotCount(tm, old)).toBe(slotsBefore);
    const left = await history(tm, old);
    expect(left).toHaveLength(slotsBefore);
    expect(new Map(left.map((row) => [row.slot.getTime(), row.id]))).toEqual(latestBefore);
    // The latest row is the attempt that completed the slot: its start and its end.
    expect((await tm.history(old, from)).map((entry) => entry.toState)).toEqual(['ACQUIRED', 'COMPLETE']);
    // The live name's history is recent: all of it is kept (each slot still has its creation).
    const liveRows = await history(tm, live);
    expect(liveRows.filter((row) => row.from_state === null)).toHaveLength(await slotCount(tm, live));
  });

  it('keeps the rows recorded within the retention, whatever their slot', async () => {
    const tm = await createManager();
    const name = 'report';
    const slots = await completedSlots(tm, name, 20);
    const half = (slots[10] as Date).toISOString();
    await backdate(tm, name, 31, `from_state IS NULL AND slot < '${half}'`); // created 31 days ago
    await backdate(tm, name, 29, `from_state IS NULL AND slot >= '${half}'`); // created 29 days ago
    const before = await history(tm, name);
    expect(before).toHaveLength(40);

    const month = await tm.pruneHistory();
    expect(month.deleted).toBe(10);
    expect((await history(tm, name)).map((row) => row.id)).toEqual(
      before
        .filter((row) => row.from_state !== null || row.slot.getTime() >= new Date(half).getTime())
        .map((row) => row.id),
    );

    const week = await tm.pruneHistory({ olderThan: 'P7D' });
    expect(week.deleted).toBe(10);
    const left = await history(tm, name);
    expect(left.map((row) => row.to_state)).toEqual(slots.map(() => 'COMPLETE'));

    // Once only the latest transitions are left, another run finds nothing, however old they are.
    await backdate(tm, name, 400);
    expect(await tm.pruneHistory({ olderThan: 'P7D' })).toMatchObject({ deleted: 0 });
    expect(await history(tm, name)).toEqual(left);
  });

  it('a dry run counts what a run deletes and changes nothing', async () => {
    const tm = await createManager();
    await completedSlots(tm, 'counted', 30);
    await backdate(tm, 'counted', 45);
    const before = await history(tm);
    const dry = await tm.pruneHistory({ dryRun: true, batchSize: 7 });
    expect(dry.deleted).toBe(30);
    expect(dry.batches).toBeGreaterThanOrEqual(60 / 7);
    expect(await history(tm)).toEqual(before);
    expect(await tm.pruneHistory({ batchSize: 7 })).toEqual(dry);
    expect(await history(tm)).toHaveLength(30);
  });

  it('two sidecars prune one at a time: while one works, the other skips its runs', async () => {
    const tm = await createManager();
    const name = 'shared';
    await completedSlots(tm, name, 25);
    await backdate(tm, name, 60);
    const latestBefore = await latestPerSlot(tm, name);
    // The first pruner is held up by a row lock of the test on the first row it deletes.
    const [first] = (await history(tm, name)).filter((row) => row.from_state === null);
    const lock = await lockHistoryRow(tm, first?.id as string);

    const logA = recordingLogger();
    const sidecarA = tm.startHistoryPruning({ firstRunAfterMs: 0, everyMs: 20, batchSize: 10, logger: logA });
    stops.push(() => sidecarA.stop());
    await waitFor('sidecar A at work', () => isBlocking(tm, lock.pid));

    const other = secondManager(tm);
    const logB = recordingLogger();
    const sidecarB: HistoryPruning = other.startHistoryPruning({
      firstRunAfterMs: 0,
      everyMs: 20,
      batchSize: 10,
      logger: logB,
    });
    stops.push(() => sidecarB.stop());
    await waitFor('sidecar B to skip twice', () => logB.lines.filter((l) => l.level === 'debug').length >= 2);
    await expect(other.pruneHistory()).rejects.toBeInstanceOf(TaskBusyError);
    expect(await history(tm, name)).toHaveLength(50);

    await lock.release();
    await waitFor('sidecar A done', () => logA.lines.some((line) => line.level === 'info'));
    const pruned = [...logA.lines, ...logB.lines].filter((line) => line.level === 'info');
    expect(pruned.map((line) => line.fields.deleted)).toEqual([25]);
    expect(logB.lines.filter((line) => line.level !== 'debug')).toEqual([]);
    expect(await latestPerSlot(tm, name)).toEqual(latestBefore);
    expect(await history(tm, name)).toHaveLength(25);
    // The lock is let go at the end of each run: they go on pruning, one at a time.
    const prunedBefore = pruned.length;
    await completedSlots(tm, 'later', 5);
    await backdate(tm, 'later', 60);
    const prunedSince = () =>
      [...logA.lines, ...logB.lines]
        .filter((line) => line.level === 'info')
        .slice(prunedBefore)
        .reduce((sum, line) => sum + Number(line.fields.deleted), 0);
    await waitFor('the later rows pruned', () => prunedSince() === 5);
    expect(await history(tm, 'later')).toHaveLength(5);
    await Promise.all([sidecarA.stop(), sidecarB.stop()]);
  });

  it('an aborted run stops after its current batch, and the next run deletes the rest', async () => {
    const tm = await createManager();
    const name = 'aborted';
    await completedSlots(tm, name, 40);
    await backdate(tm, name, 60);
    // The 40 creations come first (ids 1–40), then each slot's ended attempt. The run reads 10 rows per
    // batch: it is held up in its third batch, on the 25th creation.
    const created = (await history(tm, name)).filter((row) => row.from_state === null);
    const lock = await lockHistoryRow(tm, created[24]?.id as string);
    const abort = new AbortController();
    const running = tm.pruneHistory({ batchSize: 10, signal: abort.signal });
    await waitFor('the run held up', () => isBlocking(tm, lock.pid));
    abort.abort();
    await lock.release();
    const stopped = await running;
    expect(stopped).toEqual({ deleted: 30, batches: 3 });
    expect(await history(tm, name)).toHaveLength(50);
    expect(await tm.pruneHistory({ batchSize: 10 })).toMatchObject({ deleted: 10 });
    expect(await history(tm, name)).toHaveLength(40);
    expect(await tm.pruneHistory({ signal: AbortSignal.abort() })).toEqual({ deleted: 0, batches: 0 });
  });

  it('refuses bad options with BadInputError and changes nothing', async () => {
    const tm = await createManager();
    await completedSlots(tm, 'kept', 5);
    await backdate(tm, 'kept', 90);
    const before = await history(tm);
    const bad: Array<[PruneHistoryOptions, RegExp]> = [
      [{ olderThan: 'P1M' }, /invalid olderThan "P1M"/],
      [{ olderThan: 'PT59M' }, /from 3600000 \(PT1H\)/],
      [{ olderThan: -1 }, /invalid olderThan/],
      [{ olderThan: 'thirty days' }, /ISO-8601/],
      [{ olderThan: 'P36501D' }, /to 3153600000000 \(P36500D\)/],
      [{ batchSize: 0 }, /batchSize must be a whole number from 1 to 100000/],
      [{ batchSize: 2.5 }, /batchSize/],
      [{ batchSize: 1_000_000 }, /batchSize/],
      [loose({ dryRun: 'yes' }), /dryRun/],
      [loose({ signal: {} }), /signal must be an AbortSignal/],
    ];
    for (const [options, message] of bad) {
      const refused = tm.pruneHistory(options);
      await expect(refused).rejects.toBeInstanceOf(BadInputError);
      await expect(refused).rejects.toThrow(message);
    }
    expect(() => tm.startHistoryPruning({ everyMs: 0 })).toThrow(BadInputError);
    expect(() => tm.startHistoryPruning({ olderThan: 'P1Y' })).toThrow(BadInputError);
    expect(() => tm.startHistoryPruning({ firstRunAfterMs: -5 })).toThrow(BadInputError);
    expect(await history(tm)).toEqual(before);
  });
});
