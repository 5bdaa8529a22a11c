import { describe, expect, it } from 'vitest';
import { gridResponse } from '../src/schemas.ts';
import { createTestApp, getJson, gridCells, pastSlot, uniqueName } from './helpers.ts';

// A gap is a slot with no row from the name's first slot on (`dtm status` and `dtm_missing_slots` count
// the same): the slots before the first one are BEFORE_FIRST, not MISSING, and not in `summary.missing`.

const FIVE_MIN = 300_000;
const { app, worker, schema } = await createTestApp();

/** The `i`-th 5-minute slot after `from`. */
const at = (from: Date, i: number) => new Date(from.getTime() + i * FIVE_MIN);

/**
 * A whole hour, `hours` before the last one: cells of 3 or 4 five-minute slots are aligned to it (cells are
 * aligned to multiples of their size from the name's origin).
 */
const hourSlot = (hours: number) =>
  new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - hours * 3_600_000);

/** An app whose clock stands in slot 9 after `CLOCK_BASE`: slot 9 is the current one. */
const CLOCK_BASE = hourSlot(2);
const clocked = await createTestApp({ now: () => new Date(at(CLOCK_BASE, 9).getTime() + 60_000) });

async function grid(name: string, from: Date, to: Date, columns = 200, on = app) {
  const body = gridResponse.parse(
    await getJson(
      on,
      `/api/grid?names=${encodeURIComponent(name)}&from=${from.toISOString()}&to=${to.toISOString()}&columns=${columns}`,
    ),
  );
  const row = body.rows[0];
  if (!row) throw new Error('no row');
  return { body, row, cells: gridCells(body) };
}

/** Creates `slots` of `name` as AVAILABLE and completes them. */
async function complete(name: string, slots: Date[]) {
  for (const slot of slots) {
    await worker.createTask({ name, slot, interval: 'PT5M' });
    await (await worker.acquire(name, slot)).complete();
  }
}

describe('GET /api/grid before a name’s first slot', () => {
  it('shows the slots before the first slot as BEFORE_FIRST and counts only the gaps after it', async () => {
    const name = uniqueName('new');
    const from = pastSlot(9);
    // Slots 0–3 predate the name; 4 is its first slot, 5 a real gap, 6–8 complete, 9 the current slot (no row).
    await complete(name, [at(from, 4), at(from, 6), at(from, 7), at(from, 8)]);
    const { row, cells } = await grid(name, from, at(from, 11));
    expect(row.states).toBe('BBBBCMCCCMU');
    expect(cells[0]).toMatchObject({ state: 'BEFORE_FIRST', counts: { BEFORE_FIRST: 1 }, message: null });
    expect(row.summary).toEqual({ missing: 2, failing: 0, running: 0 });
  });

  it('takes the first slot from before the window: a gap at the window’s start is still MISSING', async () => {
    const name = uniqueName('old');
    const from = pastSlot(6);
    await complete(name, [pastSlot(20), at(from, 2)]);
    const { row } = await grid(name, from, at(from, 3));
    expect(row.states).toBe('MMC');
    expect(row.summary.missing).toBe(2);
  });

  it('counts in a bucket that straddles the first slot only the slots from it on (rows with gaps)', async () => {
    const name = uniqueName('straddle');
    const from = hourSlot(1);
    // Buckets of three: [before, first, gap] [C C C] [C gap C], all started.
    await complete(
      name,
      [1, 3, 4, 5, 6, 8].map((i) => at(from, i)),
    );
    const { row, cells } = await grid(name, from, at(from, 9), 3);
    expect(row).toMatchObject({ slotsPerCell: 3, cellCount: 3, states: 'MCM' });
    expect(cells.map((c) => c.counts)).toEqual([
      { MISSING: 1, COMPLETE: 1, BEFORE_FIRST: 1 },
      { COMPLETE: 3 },
      { MISSING: 1, COMPLETE: 2 },
    ]);
    expect(row.summary.missing).toBe(2);
  });

  it('counts in a bucket that straddles the first slot only the slots from it on (rows without gaps)', async () => {
    const name = uniqueName('contiguous');
    const from = CLOCK_BASE;
    // Slot 0 predates the name, 1–8 complete (counted arithmetically), 9 the current slot (no row), 10–11 future.
    await clocked.worker.createTasks({ name, from: at(from, 1), to: at(from, 9), interval: 'PT5M' });
    for (let i = 1; i < 9; i++) await (await clocked.worker.acquire(name, at(from, i))).complete();
    const { row, cells } = await grid(name, from, at(from, 12), 4, clocked.app);
    expect(row).toMatchObject({ slotsPerCell: 3, cellCount: 4, states: 'CCCM' });
    expect(cells.map((c) => c.counts)).toEqual([
      { COMPLETE: 2, BEFORE_FIRST: 1 },
      { COMPLETE: 3 },
      { COMPLETE: 3 },
      { MISSING: 1, FUTURE: 2 },
    ]);
    expect(row.summary.missing).toBe(1);
  });

  it('shows a window wholly before the first slot as BEFORE_FIRST, with nothing missing', async () => {
    const name = uniqueName('later');
    await complete(name, [pastSlot(2)]);
    // Two hours from a whole hour, in cells of half an hour (aligned to it).
    const from = hourSlot(4);
    const { row } = await grid(name, from, at(from, 24), 4);
    expect(row.states).toBe('BBBB');
    expect(row.details).toEqual([]);
    expect(row.summary.missing).toBe(0);
  });

  it('keeps the slots before a first slot that lies in the future BEFORE_FIRST, and FUTURE after it', async () => {
    const name = uniqueName('planned');
    const from = pastSlot(2);
    // Slots 0–2 have started, 3 and 4 have not; the name's first slot is 4.
    await worker.createTask({ name, slot: at(from, 4), interval: 'PT5M' });
    const { row } = await grid(name, from, at(from, 6));
    expect(row.states).toBe('BBBBAU');
    expect(row.summary.missing).toBe(0);
  });

  it('shows a registered name without rows as BEFORE_FIRST throughout, nothing missing', async () => {
    const name = uniqueName('empty');
    // The core registers a name in a statement of its own before creating its slots, so a name can be empty.
    await worker.pool.query(`INSERT INTO "${schema}".task_names (name, interval_ms) VALUES ($1, $2)`, [
      name,
      FIVE_MIN,
    ]);
    const from = hourSlot(1);
    const { row, cells } = await grid(name, from, at(from, 8), 4);
    expect(row).toMatchObject({ slotCount: 8, states: 'BBBB', details: [] });
    expect(cells.map((c) => c.counts)).toEqual(Array(4).fill({ BEFORE_FIRST: 2 }));
    expect(row.summary).toEqual({ missing: 0, failing: 0, running: 0 });
  });

  it('counts the same gaps as dtm_missing_slots when the window covers the look-back', async () => {
    const name = uniqueName('metrics');
    const from = pastSlot(12);
    await complete(name, [at(from, 5), at(from, 8)]);
    const { row } = await grid(name, from, pastSlot(-2));
    const text = await (await app.request('/metrics')).text();
    const metric = new RegExp(`^dtm_missing_slots\\{name="${name}"\\} (\\d+)$`, 'm').exec(text);
    // Slots 6, 7 and 9–12 (12 is the current one) are gaps; 0–4 predate the name.
    expect(row.summary.missing).toBe(6);
    expect(Number(metric?.[1])).toBe(row.summary.missing);
  });
});
