import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Limits } from '../src/deps.ts';
import { gridResponse, namesResponse, taskResponse, tasksResponse } from '../src/schemas.ts';
import { createTestApp, getJson, gridCells, openEvents, pastSlot, post, uniqueName } from './helpers.ts';

const FIVE_MIN = 300_000;
/**
 * A 5-minute slot at a whole hour, `hours` before the last whole hour: cells of 1, 2, 3, 4, 6 or 12 slots are
 * aligned to it (cells are aligned to multiples of their size from the name's origin).
 */
function hourSlot(hours: number): Date {
  return new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - hours * 3_600_000);
}

const { app, worker } = await createTestApp();
/** An app whose clock stands in the seventh slot after `CLOCK_BASE`: that slot is the current one. */
const CLOCK_BASE = hourSlot(2);
const clocked = await createTestApp({ now: () => new Date(CLOCK_BASE.getTime() + 6 * FIVE_MIN + 60_000) });

/** A 5-minute name with six slots: COMPLETE, failing, SKIP, AVAILABLE, a gap, then COMPLETE. */
/**
 * Six 5-minute slots from `from` (default: six slots ago): COMPLETE, FAILING, SKIP, AVAILABLE, a gap, COMPLETE.
 */
async function sixSlots(from = pastSlot(6), seeder = worker) {
  const name = uniqueName('report');
  const slots = Array.from({ length: 6 }, (_, i) => new Date(from.getTime() + i * FIVE_MIN));
  const [done, failing, skipped, pending, gap, last] = slots as [Date, Date, Date, Date, Date, Date];
  for (const slot of [done, failing, skipped, pending, last]) {
    await seeder.createTask({ name, slot, interval: 'PT5M', createdBy: 'seeder' });
  }
  await (await seeder.acquire(name, done)).complete('42 rows');
  await (await seeder.acquire(name, failing)).fail('source unreachable');
  await (await seeder.acquire(name, skipped)).skip('no data that day');
  await (await seeder.acquire(name, last)).complete('7 rows');
  return { name, from, done, failing, skipped, pending, gap, last };
}

/** An app with `limits`, its event stream open, and a new AVAILABLE slot whose creation the stream told of. */
async function streamedSlot(limits: Partial<Limits>) {
  const cached = await createTestApp({ limits });
  const stream = await openEvents(cached.app);
  await stream.next((e) => e.event === 'ready');
  const name = uniqueName();
  const slot = pastSlot(2);
  await cached.worker.createTask({ name, slot, interval: 'PT5M' });
  await stream.next((e) => e.event === 'transition' && e.data.includes(`"${name}"`));
  return { cached, stream, name, slot };
}

describe('GET /api/health', () => {
  it('answers ok with the database up', async () => {
    expect(await getJson(app, '/api/health')).toEqual({ ok: true, database: 'up' });
  });
});

describe('GET /api/names', () => {
  it('lists each name with interval, first and last slot, counts by state, failing and oldest due slot', async () => {
    const s = await sixSlots();
    const body = namesResponse.parse(await getJson(app, '/api/names'));
    const mine = body.names.find((n) => n.name === s.name);
    expect(mine).toEqual({
      name: s.name,
      interval: 'PT5M',
      intervalMs: FIVE_MIN,
      maxAttempts: null,
      firstSlot: s.done.toISOString(),
      lastSlot: s.last.toISOString(),
      counts: { AVAILABLE: 2, ACQUIRED: 0, COMPLETE: 2, SKIP: 1 },
      failing: 1,
      // the failing slot waits out its backoff, so the pending one is the oldest due
      oldestDueSlot: expect.any(String),
    });
    expect([s.failing.toISOString(), s.pending.toISOString()]).toContain(mine?.oldestDueSlot);
    const names = body.names.map((n) => n.name);
    expect(names).toEqual([...names].sort());
  });
});

describe('GET /api/tasks', () => {
  it('returns rows of a name in slot order with failed attempts, message and next attempt', async () => {
    const s = await sixSlots();
    const body = tasksResponse.parse(await getJson(app, `/api/tasks?name=${encodeURIComponent(s.name)}`));
    expect(body.tasks.map((t) => [t.slot, t.state])).toEqual([
      [s.done.toISOString(), 'COMPLETE'],
      [s.failing.toISOString(), 'AVAILABLE'],
      [s.skipped.toISOString(), 'SKIP'],
      [s.pending.toISOString(), 'AVAILABLE'],
      [s.last.toISOString(), 'COMPLETE'],
    ]);
    expect(body.tasks[1]).toMatchObject({
      failedAttempts: 1,
      message: 'source unreachable',
      nextAttemptAt: expect.any(String),
      holder: null,
      createdBy: 'seeder',
      interval: 'PT5M',
      intervalMs: FIVE_MIN,
    });
    expect(body.nextCursor).toBeNull();
  });

  it('filters by state (repeated or comma-separated), failing, and range', async () => {
    const s = await sixSlots();
    const q = `name=${encodeURIComponent(s.name)}`;
    const complete = tasksResponse.parse(await getJson(app, `/api/tasks?${q}&state=COMPLETE`));
    expect(complete.tasks).toHaveLength(2);
    const two = tasksResponse.parse(await getJson(app, `/api/tasks?${q}&state=COMPLETE,SKIP`));
    const twoRepeated = tasksResponse.parse(await getJson(app, `/api/tasks?${q}&state=COMPLETE&state=SKIP`));
    expect(two.tasks).toHaveLength(3);
    expect(twoRepeated.tasks).toEqual(two.tasks);
    const failing = tasksResponse.parse(await getJson(app, `/api/tasks?${q}&failing=true`));
    expect(failing.tasks.map((t) => t.slot)).toEqual([s.failing.toISOString()]);
    const range = tasksResponse.parse(
      await getJson(app, `/api/tasks?${q}&from=${s.failing.toISOString()}&to=${s.pending.toISOString()}`),
    );
    expect(range.tasks.map((t) => t.slot)).toEqual([s.failing.toISOString(), s.skipped.toISOString()]);
  });

  it('pages with an opaque cursor until nextCursor is null, without repeats or gaps', async () => {
    const s = await sixSlots();
    const slots: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `name=${encodeURIComponent(s.name)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = tasksResponse.parse(await getJson(app, `/api/tasks?${query}`));
      slots.push(...page.tasks.map((t) => t.slot));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(slots).toEqual([s.done, s.failing, s.skipped, s.pending, s.last].map((d) => d.toISOString()));
  });

  it('lists every name when name is omitted, ordered by name then slot', async () => {
    await sixSlots();
    const body = tasksResponse.parse(await getJson(app, '/api/tasks?limit=1000'));
    const keys = body.tasks.map((t) => `${t.name} ${t.slot}`);
    expect(keys).toEqual([...keys].sort());
    expect(new Set(body.tasks.map((t) => t.name)).size).toBeGreaterThan(1);
  });
});

describe('GET /api/tasks/:name/:slot', () => {
  it('returns the slot with its history, oldest first', async () => {
    const s = await sixSlots();
    const body = taskResponse.parse(
      await getJson(
        app,
        `/api/tasks/${encodeURIComponent(s.name)}/${encodeURIComponent(s.done.toISOString())}`,
      ),
    );
    expect(body.task).toMatchObject({
      name: s.name,
      slot: s.done.toISOString(),
      state: 'COMPLETE',
      message: '42 rows',
    });
    expect(body.history.map((h) => [h.fromState, h.toState])).toEqual([
      [null, 'AVAILABLE'],
      ['AVAILABLE', 'ACQUIRED'],
      ['ACQUIRED', 'COMPLETE'],
    ]);
    expect(body.history[0]?.actor).toBe('seeder');
  });

  it('says when a slot gave up: its maxAttempts reached, it is retried only once re-queued', async () => {
    const name = uniqueName('capped');
    const slot = pastSlot(3);
    await worker.createTask({ name, slot, interval: 'PT5M', maxAttempts: 1 });
    await (await worker.acquire(name, slot)).fail('source unreachable');
    const path = `/api/tasks/${encodeURIComponent(name)}/${encodeURIComponent(slot.toISOString())}`;
    const body = taskResponse.parse(await getJson(app, path));
    expect(body.task).toMatchObject({
      state: 'AVAILABLE',
      failedAttempts: 1,
      hasGivenUp: true,
      nextAttemptAt: null,
      message: 'gave up after 1 attempt: source unreachable',
    });
    const requeued = await post(app, '/api/requeue', {
      name,
      slots: [slot.toISOString()],
      reason: 'source back',
    });
    expect(requeued.status).toBe(200);
    const after = taskResponse.parse(await getJson(app, path));
    expect(after.task).toMatchObject({ hasGivenUp: false, failedAttempts: 0 });
  });

  it('decodes names with slashes, spaces and non-ASCII characters', async () => {
    const name = `odd/name ü ${uniqueName()}?#%`;
    const slot = pastSlot(3);
    await worker.createTask({ name, slot, interval: 'PT5M' });
    const body = taskResponse.parse(
      await getJson(app, `/api/tasks/${encodeURIComponent(name)}/${encodeURIComponent(slot.toISOString())}`),
    );
    expect(body.task.name).toBe(name);
  });

  it('answers 404 for a slot that does not exist', async () => {
    const s = await sixSlots();
    const body = await getJson(app, `/api/tasks/${encodeURIComponent(s.name)}/${s.gap.toISOString()}`, 404);
    expect(body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });
});

describe('GET /api/grid', () => {
  it('gives one cell per slot with states, MISSING for a gap, FUTURE after now, messages and attempts', async () => {
    const s = await sixSlots();
    const to = new Date(s.from.getTime() + 8 * FIVE_MIN); // two slots past the last: the current one and a future one
    const body = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${encodeURIComponent(s.name)}&from=${s.from.toISOString()}&to=${to.toISOString()}`,
      ),
    );
    expect(body.rows).toHaveLength(1);
    const row = body.rows[0];
    if (!row) throw new Error('no row');
    expect(row).toMatchObject({
      name: s.name,
      interval: 'PT5M',
      intervalMs: FIVE_MIN,
      firstStart: s.done.toISOString(),
      slotsPerCell: 1,
      slotCount: 8,
      cellCount: 8,
      states: 'CFSAMCMU',
    });
    // Only the cells that their letter does not describe fully: attempts and messages, one slot each.
    expect(body.messages).toEqual(['42 rows', 'source unreachable', 'no data that day', '7 rows']);
    expect(row.details).toEqual([
      [0, null, 0, 0],
      [1, null, 1, 1],
      [2, null, 0, 2],
      [5, null, 0, 3],
    ]);
    const cells = gridCells(body);
    expect(cells.map((c) => c.state)).toEqual([
      'COMPLETE',
      'FAILING',
      'SKIP',
      'AVAILABLE',
      'MISSING',
      'COMPLETE',
      'MISSING', // the current slot has started and has no row
      'FUTURE',
    ]);
    expect(cells[1]).toMatchObject({
      failedAttempts: 1,
      message: 'source unreachable',
      counts: { FAILING: 1 },
    });
    expect(cells[2]).toMatchObject({ message: 'no data that day' });
    expect(cells[0]).toMatchObject({
      start: s.done.toISOString(),
      end: s.failing.toISOString(),
      counts: { COMPLETE: 1 },
      holder: null,
    });
    expect(row.summary).toEqual({ missing: 2, failing: 1, running: 0 });
  });

  it('buckets slots so that a row has at most `columns` cells, with the worst state and counts per state', async () => {
    const s = await sixSlots(hourSlot(1));
    const to = new Date(s.from.getTime() + 6 * FIVE_MIN);
    const body = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${encodeURIComponent(s.name)}&from=${s.from.toISOString()}&to=${to.toISOString()}&columns=2`,
      ),
    );
    const row = body.rows[0];
    if (!row) throw new Error('no row');
    expect(row).toMatchObject({ slotsPerCell: 3, slotCount: 6, cellCount: 2, states: 'FM' });
    expect(body.messages).toEqual(['source unreachable']);
    expect(row.details).toEqual([
      [0, 'F1S1C1', 1, 0],
      [1, 'M1A1C1'],
    ]);
    expect(gridCells(body)).toEqual([
      {
        start: s.done.toISOString(),
        end: s.pending.toISOString(),
        state: 'FAILING',
        counts: { COMPLETE: 1, FAILING: 1, SKIP: 1 },
        failedAttempts: 1,
        message: 'source unreachable',
        holder: null,
      },
      {
        start: s.pending.toISOString(),
        end: to.toISOString(),
        state: 'MISSING',
        counts: { AVAILABLE: 1, MISSING: 1, COMPLETE: 1 },
        failedAttempts: 0,
        message: null,
        holder: null,
      },
    ]);
  });

  it('buckets with a partial last cell: counts add up to the slots of each cell, the current slot MISSING', async () => {
    const s = await sixSlots(CLOCK_BASE, clocked.worker);
    const to = new Date(s.from.getTime() + 8 * FIVE_MIN);
    const body = gridResponse.parse(
      await getJson(
        clocked.app,
        `/api/grid?names=${encodeURIComponent(s.name)}&from=${s.from.toISOString()}&to=${to.toISOString()}&columns=3`,
      ),
    );
    expect(body.rows[0]).toMatchObject({ slotsPerCell: 3, slotCount: 8, cellCount: 3, states: 'FMM' });
    expect(gridCells(body).map((c) => [c.start, c.end, c.counts])).toEqual([
      [s.done.toISOString(), s.pending.toISOString(), { FAILING: 1, SKIP: 1, COMPLETE: 1 }],
      [
        s.pending.toISOString(),
        new Date(s.last.getTime() + FIVE_MIN).toISOString(),
        { AVAILABLE: 1, MISSING: 1, COMPLETE: 1 },
      ],
      [new Date(s.last.getTime() + FIVE_MIN).toISOString(), to.toISOString(), { MISSING: 1, FUTURE: 1 }],
    ]);
  });

  it('sends a letter per cell and no detail for a cell whose slots are all in one state', async () => {
    const name = uniqueName('steady');
    const from = CLOCK_BASE;
    const { worker: seeder } = clocked;
    await seeder.createTasks({ name, from, to: new Date(from.getTime() + 6 * FIVE_MIN), interval: 'PT5M' });
    for (let i = 0; i < 5; i++) {
      await (await seeder.acquire(name, new Date(from.getTime() + i * FIVE_MIN))).complete();
    }
    const to = new Date(from.getTime() + 10 * FIVE_MIN);
    const body = gridResponse.parse(
      await getJson(
        clocked.app,
        `/api/grid?names=${encodeURIComponent(name)}&from=${from.toISOString()}&to=${to.toISOString()}&columns=5`,
      ),
    );
    // Rows without gaps (counted arithmetically): CC CC CA, then the current slot (no row) and the future.
    expect(body.rows[0]).toMatchObject({ slotsPerCell: 2, cellCount: 5, states: 'CCAMU' });
    expect(body.rows[0]?.details).toEqual([
      [2, 'A1C1'],
      [3, 'M1U1'],
    ]);
    expect(body.rows[0]?.summary).toEqual({ missing: 1, failing: 0, running: 0 });
  });

  it('aligns an unaligned window to the first slot inside it and covers every name when names is omitted', async () => {
    const s = await sixSlots();
    const from = new Date(s.from.getTime() + 1_000);
    const to = new Date(s.from.getTime() + 3 * FIVE_MIN);
    const body = gridResponse.parse(
      await getJson(app, `/api/grid?from=${from.toISOString()}&to=${to.toISOString()}`),
    );
    const row = body.rows.find((r) => r.name === s.name);
    if (!row) throw new Error('no row');
    expect(row.firstStart).toBe(s.failing.toISOString());
    expect(gridCells(body, body.rows.indexOf(row)).map((c) => c.start)).toEqual([
      s.failing.toISOString(),
      s.skipped.toISOString(),
    ]);
    expect(body.rows.length).toBeGreaterThan(1);
    expect(body.from).toBe(from.toISOString());
  });

  it('handles a long window of a name with sparse rows: a 1-second name over a day, bucketed', async () => {
    const name = uniqueName('fast');
    const now = Date.now();
    const slot = new Date(Math.floor(now / 1000) * 1000 - 3_600_000);
    await worker.createTask({ name, slot, interval: 'PT1S' });
    const from = new Date(slot.getTime() - 43_200_000);
    const to = new Date(slot.getTime() + 43_200_000);
    const body = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${encodeURIComponent(name)}&from=${from.toISOString()}&to=${to.toISOString()}&columns=100`,
      ),
    );
    const row = body.rows[0];
    if (!row) throw new Error('no row');
    // Cells aligned to 1,024 slots (four level-1 buckets of stored counts): at most 100 of them.
    expect(row).toMatchObject({ slotsPerCell: 1024, slotCount: 86_400 });
    expect(row.cellCount).toBeLessThanOrEqual(100);
    const cells = gridCells(body);
    const total = cells.reduce(
      (sum, c) => sum + Object.values(c.counts).reduce((a, b) => a + (b ?? 0), 0),
      0,
    );
    expect(total).toBe(86_400);
    expect(cells.filter((c) => c.counts.AVAILABLE).length).toBe(1);
  });
});

describe('a grid of two centuries', () => {
  it('answers for 21 million five-minute slots in at most 200 cells, every slot counted once', async () => {
    const s = await sixSlots();
    const body = gridResponse.parse(
      await getJson(
        app,
        `/api/grid?names=${encodeURIComponent(s.name)}&from=1900-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`,
      ),
    );
    const row = body.rows[0];
    if (!row) throw new Error('no row');
    expect(row.slotCount).toBe((Date.UTC(2100, 0, 1) - Date.UTC(1900, 0, 1)) / FIVE_MIN);
    expect(row.cellCount).toBeLessThanOrEqual(200);
    const counted = gridCells(body).reduce(
      (sum, cell) => sum + Object.values(cell.counts).reduce((a, b) => a + (b ?? 0), 0),
      0,
    );
    expect(counted).toBe(row.slotCount);
    // The gap, and the current slot (started, no row yet).
    expect(row.summary).toMatchObject({ missing: 2, failing: 1 });
  });
});

describe('the size of a grid', () => {
  it('a week of 5-minute slots for 50 names in 200 columns, mostly COMPLETE, is under 100 KB of JSON', async () => {
    const prefix = uniqueName('week');
    const last = pastSlot(1);
    const first = new Date(last.getTime() - 2_015 * FIVE_MIN);
    await worker.pool.query(
      `INSERT INTO "${worker.schema}".task_names (name, interval_ms)
       SELECT $1 || '-' || lpad(i::text, 2, '0'), $2 FROM generate_series(1, 50) i`,
      [prefix, FIVE_MIN],
    );
    // Every slot COMPLETE with a message (as reports write), except one failing slot per name.
    await worker.pool.query(
      `INSERT INTO "${worker.schema}".tasks (name, slot, state, failed_attempts, message)
       SELECT $1 || '-' || lpad(i::text, 2, '0'), $2::timestamptz + s * interval '5 minutes',
              CASE WHEN s = i * 20 THEN 'AVAILABLE' ELSE 'COMPLETE' END,
              CASE WHEN s = i * 20 THEN 3 ELSE 0 END,
              CASE WHEN s = i * 20 THEN 'source unreachable' ELSE (s * 7) || ' rows' END
       FROM generate_series(1, 50) i, generate_series(0, 2015) s`,
      [prefix, first],
    );
    const names = Array.from({ length: 50 }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`);
    const to = new Date(last.getTime() + FIVE_MIN);
    const response = await app.request(
      `/api/grid?names=${names.join(',')}&from=${first.toISOString()}&to=${to.toISOString()}&columns=200`,
    );
    expect(response.status).toBe(200);
    const text = await response.text();
    const body = gridResponse.parse(JSON.parse(text));
    expect(body.rows).toHaveLength(50);
    expect(body.messages).toEqual(['source unreachable']);
    // Cells of 11 slots, aligned to multiples of 11 slots from the epoch: the first and last are partial.
    const firstN = first.getTime() / FIVE_MIN;
    const cellOf = (n: number) => Math.floor(n / 11) - Math.floor(firstN / 11);
    const cellCount = cellOf(firstN + 2015) + 1;
    for (const [i, row] of body.rows.entries()) {
      expect(row).toMatchObject({ slotCount: 2016, slotsPerCell: 11, cellCount });
      const failingCell = cellOf(firstN + (i + 1) * 20);
      expect(row.states).toBe(`${'C'.repeat(failingCell)}F${'C'.repeat(cellCount - 1 - failingCell)}`);
      expect(row.details).toEqual([[failingCell, 'F1C10', 3, 0]]);
    }
    // The cell-per-object format of before sent about 1.7 MB for this grid.
    expect(Buffer.byteLength(text)).toBeLessThan(100_000);
  });
});

describe('the grid cache', () => {
  it('serves identical requests within gridCacheMs from one computation, and a different window afresh', async () => {
    const cached = await createTestApp({ limits: { gridCacheMs: 60_000 } });
    const name = uniqueName();
    const slot = pastSlot(2);
    await cached.worker.createTask({ name, slot, interval: 'PT5M' });
    const path = (to: Date) =>
      `/api/grid?names=${encodeURIComponent(name)}&from=${slot.toISOString()}&to=${to.toISOString()}`;
    const to = new Date(slot.getTime() + FIVE_MIN);
    const [a, b] = await Promise.all([getJson(cached.app, path(to)), getJson(cached.app, path(to))]);
    expect(a).toEqual(b);
    await (await cached.worker.acquire(name, slot)).complete();
    const again = gridResponse.parse(await getJson(cached.app, path(to)));
    expect(again.rows[0]?.states).toBe('A');
    const other = gridResponse.parse(await getJson(cached.app, path(new Date(to.getTime() + FIVE_MIN))));
    expect(other.rows[0]?.states[0]).toBe('C');
  });

  it('computes identical concurrent requests once, even with reuse off', async () => {
    const name = uniqueName();
    const slot = pastSlot(2);
    await worker.createTask({ name, slot, interval: 'PT5M' });
    const path = `/api/grid?names=${encodeURIComponent(name)}&from=${slot.toISOString()}&to=${new Date(slot.getTime() + FIVE_MIN).toISOString()}`;
    const computations = async () => {
      const text = await (await app.request('/metrics')).text();
      return Number(/^dtm_api_grid_computations_total (\d+)$/m.exec(text)?.[1]);
    };
    const before = await computations();
    const bodies = await Promise.all([getJson(app, path), getJson(app, path), getJson(app, path)]);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect(await computations()).toBe(before + 1);
    // gridCacheMs is 0 here: a later request computes afresh.
    await getJson(app, path);
    expect(await computations()).toBe(before + 2);
  });

  it('sends the same grid gzipped to a client that accepts gzip', async () => {
    const s = await sixSlots();
    const path = `/api/grid?names=${encodeURIComponent(s.name)}&from=${s.from.toISOString()}&to=${new Date(s.last.getTime() + FIVE_MIN).toISOString()}`;
    const plain = await getJson(app, path);
    const response = await app.request(path, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const body = JSON.parse(gunzipSync(Buffer.from(await response.arrayBuffer())).toString());
    expect({ ...body, now: null }).toEqual({ ...plain, now: null });
  });

  it('never serves a grid computed before a change that the event stream told of', async () => {
    const { cached, stream, name, slot } = await streamedSlot({ gridCacheMs: 60_000 });
    try {
      const path = `/api/grid?names=${encodeURIComponent(name)}&from=${slot.toISOString()}&to=${new Date(slot.getTime() + FIVE_MIN).toISOString()}`;
      expect(gridResponse.parse(await getJson(cached.app, path)).rows[0]?.states).toBe('A');
      await (await cached.worker.acquire(name, slot)).complete();
      await stream.next((e) => e.event === 'transition' && e.data.includes('"COMPLETE"'));
      expect(gridResponse.parse(await getJson(cached.app, path)).rows[0]?.states).toBe('C');
    } finally {
      await stream.close();
    }
  });
});

describe('the names cache', () => {
  const computations = async (target = app) => {
    const text = await (await target.request('/metrics')).text();
    return Number(/^dtm_api_names_computations_total (\d+)$/m.exec(text)?.[1]);
  };

  it('computes concurrent /api/names requests once, even with reuse off', async () => {
    await sixSlots();
    const before = await computations();
    const bodies = await Promise.all([
      getJson(app, '/api/names'),
      getJson(app, '/api/names'),
      getJson(app, '/api/names'),
    ]);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[2]).toEqual(bodies[0]);
    expect(await computations()).toBe(before + 1);
    // namesCacheMs is 0 here: a later request computes afresh.
    await getJson(app, '/api/names');
    expect(await computations()).toBe(before + 2);
  });

  it('reuses a summary within namesCacheMs, but never one computed before a change the event stream told of', async () => {
    const { cached, stream, name, slot } = await streamedSlot({ namesCacheMs: 60_000 });
    try {
      const countsOf = async () =>
        namesResponse.parse(await getJson(cached.app, '/api/names')).names.find((n) => n.name === name)
          ?.counts;
      expect(await countsOf()).toMatchObject({ AVAILABLE: 1, COMPLETE: 0 });
      const before = await computations(cached.app);
      expect(await countsOf()).toMatchObject({ AVAILABLE: 1, COMPLETE: 0 });
      expect(await computations(cached.app)).toBe(before);
      await (await cached.worker.acquire(name, slot)).complete();
      await stream.next((e) => e.event === 'transition' && e.data.includes('"COMPLETE"'));
      expect(await countsOf()).toMatchObject({ AVAILABLE: 0, COMPLETE: 1 });
      expect(await computations(cached.app)).toBe(before + 1);
    } finally {
      await stream.close();
    }
  });

  it('sends the same summary gzipped to a client that accepts gzip', async () => {
    // A schema of its own: in the shared one, a failing slot's 1 s backoff may end between the two requests
    // and change its oldestDueSlot.
    const own = await createTestApp();
    await own.worker.createTask({ name: uniqueName(), slot: pastSlot(3), interval: 'PT5M' });
    const plain = await getJson(own.app, '/api/names');
    const response = await own.app.request('/api/names', { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(JSON.parse(gunzipSync(Buffer.from(await response.arrayBuffer())).toString())).toEqual(plain);
  });
});

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document covering every route of docs/http-api.md', async () => {
    const doc = await getJson<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    }>(app, '/api/openapi.json');
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/backfill',
        '/api/events',
        '/api/grid',
        '/api/health',
        '/api/names',
        '/api/openapi.json',
        '/api/requeue',
        '/api/skip',
        '/api/tasks',
        '/api/tasks/{name}/{slot}',
        '/api/whoami',
        '/metrics',
      ].sort(),
    );
    expect(doc.paths['/api/requeue']?.post).toMatchObject({ security: [{ bearer: [] }] });
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Task', 'Grid', 'RequeueRequest', 'Error']),
    );
    expect(JSON.stringify(doc)).not.toContain('#/$defs');
  });
});

describe('GET /metrics', () => {
  it('reports slots by name and state, failing, oldest due age, missing slots and request series', async () => {
    const s = await sixSlots();
    await app.request('/api/health');
    const response = await app.request('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await response.text();
    const label = `name="${s.name}"`;
    expect(text).toContain(`dtm_slots{${label},state="COMPLETE"} 2`);
    expect(text).toContain(`dtm_slots{${label},state="AVAILABLE"} 2`);
    expect(text).toContain(`dtm_failing_slots{${label}} 1`);
    // the gap, and the current slot if no row exists yet (from the first slot on)
    expect(text).toMatch(new RegExp(`dtm_missing_slots\\{${label}\\} [12]\\n`));
    expect(text).toMatch(new RegExp(`dtm_oldest_due_age_seconds\\{${label}\\} \\d+`));
    expect(text).toContain('dtm_http_requests_total{method="GET",route="/api/health",status="200"}');
    expect(text).toContain(
      'dtm_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/health"}',
    );
    expect(text).toContain('dtm_database_up 1');
  });
});
