import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  type CellState,
  type Grid,
  type GridRow,
  type TaskManager,
  TaskNotFoundError,
  worstState,
} from '../src/index.ts';
import { createManager, databaseUrl, uniqueName, waitFor } from './helpers.ts';

const tm = await createManager({ retry: { baseMs: 60_000, jitter: 0 } });
const MINUTE = 60_000;

/** Plain SQL on the test schema, as an operator would write it (no DTM session setting). */
async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    await client.query(`SET search_path TO "${tm.schema}"`);
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * What a grid row's cells must hold, counted the plain way: every slot of each cell, looked up among the
 * name's rows, classified one by one.
 */
async function expectedCells(row: GridRow, now: Date): Promise<Array<Partial<Record<CellState, number>>>> {
  const from = row.cells[0]?.start ?? row.start;
  const to = row.cells.at(-1)?.end ?? row.start;
  const { rows } = await sql(
    'SELECT slot, state, failed_attempts FROM tasks WHERE name = $1 AND slot >= $2 AND slot < $3',
    [row.name, from, to],
  );
  const first = (await sql('SELECT min(slot) AS first FROM tasks WHERE name = $1', [row.name])).rows[0]
    ?.first as Date | null;
  const held = new Set((await tm.listHolders({ names: [row.name] })).map((h) => h.slot.getTime()));
  const bySlot = new Map(rows.map((r) => [(r.slot as Date).getTime(), r]));
  return row.cells.map((cell) => {
    const counts: Partial<Record<CellState, number>> = {};
    for (let t = cell.start.getTime(); t < cell.end.getTime(); t += row.intervalMs) {
      const r = bySlot.get(t);
      const state: CellState = !r
        ? first === null || t < first.getTime()
          ? 'BEFORE_FIRST'
          : t > now.getTime()
            ? 'FUTURE'
            : 'MISSING'
        : r.state === 'AVAILABLE'
          ? held.has(t)
            ? 'ACQUIRED'
            : r.failed_attempts > 0
              ? 'FAILING'
              : 'AVAILABLE'
          : (r.state as CellState);
      counts[state] = (counts[state] ?? 0) + 1;
    }
    return counts;
  });
}

async function expectGridMatchesRows(grid: Grid): Promise<void> {
  for (const row of grid.rows) {
    const expected = await expectedCells(row, grid.now);
    expect(
      row.cells.map((cell) => cell.counts),
      row.name,
    ).toEqual(expected);
    for (const cell of row.cells) expect(cell.state).toBe(worstState(cell.counts));
  }
}

/** A one-minute name over `count` slots from `from`: a mix of every state, with gaps. */
async function mixedName(from: Date, count: number): Promise<string> {
  const name = uniqueName('mixed');
  await tm.createTasks({ name, from, to: new Date(from.getTime() + count * MINUTE), interval: 'PT1M' });
  // Through DTM: some complete, some skipped, some failing.
  for (let i = 0; i < 40; i++) {
    const task = await tm.acquireNext({ name });
    if (!task) break;
    if (i % 5 === 0) await task.fail(`source unreachable #${i}`);
    else if (i % 7 === 0) await task.skip('no data');
    else await task.complete();
  }
  // By hand: a block of COMPLETE, a few gaps, a SKIP with a message.
  await sql(`UPDATE tasks SET state = 'COMPLETE' WHERE name = $1 AND slot >= $2 AND slot < $3`, [
    name,
    new Date(from.getTime() + 100 * MINUTE),
    new Date(from.getTime() + 900 * MINUTE),
  ]);
  await sql(`DELETE FROM tasks WHERE name = $1 AND slot IN ($2, $3, $4)`, [
    name,
    new Date(from.getTime() + 300 * MINUTE),
    new Date(from.getTime() + 301 * MINUTE),
    new Date(from.getTime() + 950 * MINUTE),
  ]);
  await sql(`UPDATE tasks SET state = 'SKIP', message = 'maintenance' WHERE name = $1 AND slot = $2`, [
    name,
    new Date(from.getTime() + 1000 * MINUTE),
  ]);
  return name;
}

describe('the grid', () => {
  const from = new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 3000 * MINUTE);

  it('counts every cell as the rows say, narrow and wide, before and after the counts are recounted', async () => {
    const name = await mixedName(from, 2500);
    const window = { names: [name], from: new Date(from.getTime() - 17 * MINUTE), to: new Date() };
    for (const columns of [2000, 200, 37, 7, 2, 1]) {
      const grid = await tm.grid({ ...window, columns });
      expect(grid.rows[0]?.cells.length).toBeLessThanOrEqual(columns);
      await expectGridMatchesRows(grid);
    }
    await tm.recountChanged();
    for (const columns of [200, 37, 2, 1]) await expectGridMatchesRows(await tm.grid({ ...window, columns }));
  });

  it('shows rows changed by hand in SQL in the next answer, stored counts or not', async () => {
    const name = await mixedName(from, 1200);
    await tm.recountChanged();
    const window = { names: [name], from, to: new Date(), columns: 20 };
    const before = await tm.grid(window);
    expect(before.rows[0]?.slotsPerCell).toBeGreaterThanOrEqual(16);
    await sql(`UPDATE tasks SET state = 'SKIP' WHERE name = $1 AND slot >= $2 AND slot < $3`, [
      name,
      new Date(from.getTime() + 400 * MINUTE),
      new Date(from.getTime() + 500 * MINUTE),
    ]);
    const after = await tm.grid(window);
    expect(after.rows[0]?.summary).toEqual(before.rows[0]?.summary);
    await expectGridMatchesRows(after);
    await tm.recountChanged();
    await expectGridMatchesRows(await tm.grid(window));
  });

  it('answers for a name with slots 174 years apart as for any other', async () => {
    const name = uniqueName('far');
    const near = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    await tm.createTasks({ name, from: near, to: new Date(near.getTime() + 600_000), interval: 'PT1S' });
    await tm.createTask({ name, slot: '2200-01-01T00:00:00Z', interval: 'PT1S' });
    await tm.recountChanged();
    const grid = await tm.grid({
      names: [name],
      from: near,
      to: new Date(near.getTime() + 600_000),
      columns: 60,
    });
    await expectGridMatchesRows(grid);
    expect(grid.rows[0]?.summary.missing).toBe(0);
    const summary = (await tm.listNames()).find((n) => n.name === name);
    expect(summary).toMatchObject({ counts: { AVAILABLE: 601 }, lastSlot: new Date('2200-01-01T00:00:00Z') });
    const wide = await tm.grid({
      names: [name],
      from: near,
      to: new Date('2200-01-02T00:00:00Z'),
      columns: 100,
    });
    expect(wide.rows[0]?.cells.length).toBeLessThanOrEqual(100);
    const total = wide.rows[0]?.cells.reduce((sum, cell) => sum + (cell.counts.AVAILABLE ?? 0), 0);
    expect(total).toBe(601);
  });

  it('shows held slots as ACQUIRED with their holder, and refuses unknown names', async () => {
    const name = uniqueName('held');
    const start = new Date(from.getTime());
    await tm.createTasks({
      name,
      from: start,
      to: new Date(start.getTime() + 100 * MINUTE),
      interval: 'PT1M',
    });
    const held = await tm.acquire(name, new Date(start.getTime() + 10 * MINUTE), { worker: 'w-1' });
    try {
      const grid = await tm.grid({
        names: [name],
        from: start,
        to: new Date(start.getTime() + 100 * MINUTE),
      });
      await expectGridMatchesRows(grid);
      const cell = grid.rows[0]?.cells.find((c) => c.state === 'ACQUIRED');
      expect(cell?.holder).toMatchObject({ worker: 'w-1' });
      expect(grid.rows[0]?.summary.running).toBe(1);
    } finally {
      await held.complete();
    }
    await expect(tm.grid({ names: ['no-such-name'], from, to: new Date() })).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
  });

  it('matches the rows, bucket for bucket, after workers and recounts ran side by side', async () => {
    const name = await mixedName(from, 3000);
    await sql(`UPDATE tasks SET state = 'AVAILABLE' WHERE name = $1`, [name]);
    const recounting = tm.startRecounting({ everyMs: 20 });
    const workers = [0, 1, 2].map(() =>
      tm.work({
        name,
        interval: 'PT1M',
        backlog: 'P3D',
        concurrency: 4,
        handler: async (task) => {
          if (task.task.slot.getMinutes() % 9 === 0) throw new Error('flaky');
          return 'ok';
        },
      }),
    );
    const window = { names: [name], from, to: new Date(), columns: 50 };
    try {
      await waitFor(
        'the workers to finish the backlog',
        async () => {
          const grid = await tm.grid(window);
          const counts = grid.rows[0]?.cells ?? [];
          return counts.every((cell) => !cell.counts.AVAILABLE && !cell.counts.ACQUIRED);
        },
        60_000,
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
      await recounting.stop();
    }
    await expectGridMatchesRows(await tm.grid(window));
    await tm.recountChanged();
    await expectGridMatchesRows(await tm.grid(window));
  });
});

describe('the names', () => {
  it('totals every slot by live state, with first, last and oldest due slot, as the rows say', async () => {
    const from = new Date(Math.floor(Date.now() / MINUTE) * MINUTE - 2000 * MINUTE);
    const name = await mixedName(from, 1500);
    const check = async (manager: TaskManager) => {
      const summary = (await manager.listNames()).find((n) => n.name === name);
      const { rows } = await sql(
        `SELECT count(*) FILTER (WHERE state = 'AVAILABLE')::int AS available,
                count(*) FILTER (WHERE state = 'COMPLETE')::int AS complete,
                count(*) FILTER (WHERE state = 'SKIP')::int AS skip,
                count(*) FILTER (WHERE state = 'AVAILABLE' AND failed_attempts > 0)::int AS failing,
                min(slot) AS first, max(slot) AS last,
                min(slot) FILTER (WHERE state = 'AVAILABLE' AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
                  AS due
         FROM tasks WHERE name = $1`,
        [name],
      );
      const [r] = rows;
      expect(summary).toEqual({
        name,
        interval: 'PT1M',
        intervalMs: MINUTE,
        origin: new Date(0),
        maxAttempts: null,
        firstSlot: r.first,
        lastSlot: r.last,
        counts: { AVAILABLE: r.available, ACQUIRED: 0, COMPLETE: r.complete, SKIP: r.skip },
        failing: r.failing,
        oldestDueSlot: r.due,
      });
    };
    await check(tm);
    await tm.recountChanged();
    await check(tm);
    await sql(`DELETE FROM tasks WHERE name = $1 AND slot < $2`, [
      name,
      new Date(from.getTime() + 50 * MINUTE),
    ]);
    await check(tm);
    await tm.rebuildCounts();
    await check(tm);
  });
});
