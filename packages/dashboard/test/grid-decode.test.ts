import { describe, expect, it } from 'vitest';
import { toGrid, type WireGrid } from '../src/api/grid.ts';
import { FROM, STEP } from './support/fixtures.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** Two rows of 7 slots in cells of 3 (the last cell holds one), as the API sends them. */
function bucketedGrid(): WireGrid {
  const row = {
    interval: 'PT5M',
    intervalMs: STEP,
    firstStart: iso(FROM),
    slotsPerCell: 3,
    firstCellSlots: 3,
    slotCount: 7,
    cellCount: 3,
    summary: { missing: 1, failing: 1, running: 1 },
  };
  return {
    from: iso(FROM - 1000),
    to: iso(FROM + 7 * STEP),
    now: iso(FROM + 6 * STEP),
    messages: ['timeout', 'no data'],
    rows: [
      {
        ...row,
        name: 'alpha',
        states: 'FRM',
        details: [
          [0, 'F1S1C1', 3, 0],
          [1, 'R1C2', 0, null, { worker: 'w-7', since: iso(FROM + 4 * STEP) }],
        ],
      },
      { ...row, name: 'beta', states: 'CSU', details: [[1, null, 0, 1]] },
    ],
  };
}

describe('toGrid (the compact grid format)', () => {
  it('computes cell boundaries from the row geometry, the last cell partial', () => {
    const grid = toGrid(bucketedGrid());
    expect(grid.rows[0]?.cells.map((c) => [c.start.getTime(), c.end.getTime()])).toEqual([
      [FROM, FROM + 3 * STEP],
      [FROM + 3 * STEP, FROM + 6 * STEP],
      [FROM + 6 * STEP, FROM + 7 * STEP],
    ]);
    expect(grid.rows[0]?.slotsPerCell).toBe(3);
    expect(grid.now.getTime()).toBe(FROM + 6 * STEP);
  });

  it('starts with a shorter first cell when the window starts inside an aligned cell', () => {
    const wire = bucketedGrid();
    const rows = wire.rows.map((row) => ({ ...row, firstCellSlots: 1 }));
    const grid = toGrid({ ...wire, rows });
    expect(grid.rows[0]?.cells.map((c) => [c.start.getTime(), c.end.getTime()])).toEqual([
      [FROM, FROM + STEP],
      [FROM + STEP, FROM + 4 * STEP],
      [FROM + 4 * STEP, FROM + 7 * STEP],
    ]);
    expect(grid.rows[1]?.cells[0]?.counts).toEqual({ COMPLETE: 1 });
  });

  it('reads states, counts, attempts, messages and holders from letters and details', () => {
    const [alpha, beta] = toGrid(bucketedGrid()).rows;
    expect(
      alpha?.cells.map(({ state, counts, failedAttempts, message, holder }) => ({
        state,
        counts,
        failedAttempts,
        message,
        holder,
      })),
    ).toEqual([
      {
        state: 'FAILING',
        counts: { FAILING: 1, SKIP: 1, COMPLETE: 1 },
        failedAttempts: 3,
        message: 'timeout',
        holder: null,
      },
      {
        state: 'ACQUIRED',
        counts: { ACQUIRED: 1, COMPLETE: 2 },
        failedAttempts: 0,
        message: null,
        holder: { worker: 'w-7', since: new Date(FROM + 4 * STEP) },
      },
      // No detail: every slot of the cell (one, the last cell being partial) in the state of its letter.
      { state: 'MISSING', counts: { MISSING: 1 }, failedAttempts: 0, message: null, holder: null },
    ]);
    expect(beta?.cells.map((c) => [c.state, c.counts, c.message])).toEqual([
      ['COMPLETE', { COMPLETE: 3 }, null],
      ['SKIP', { SKIP: 3 }, 'no data'],
      ['FUTURE', { FUTURE: 1 }, null],
    ]);
    expect(beta?.summary).toEqual({ missing: 1, failing: 1, running: 1 });
  });

  it('decodes 50 rows of 200 cells, sharing what cells have in common', () => {
    const row = (name: string) => ({
      name,
      interval: 'PT5M',
      intervalMs: STEP,
      firstStart: iso(FROM),
      slotsPerCell: 11,
      firstCellSlots: 11,
      slotCount: 2016,
      cellCount: 184,
      summary: { missing: 0, failing: 1, running: 0 },
      states: `${'C'.repeat(100)}F${'C'.repeat(83)}`,
      details: [[100, 'F1C10', 2, 0]] as WireGrid['rows'][number]['details'],
    });
    const grid = toGrid({
      from: iso(FROM),
      to: iso(FROM + 2016 * STEP),
      now: iso(FROM + 2016 * STEP),
      messages: ['source unreachable'],
      rows: Array.from({ length: 50 }, (_, i) => row(`n${i}`)),
    });
    const [first, second] = grid.rows;
    expect(first?.cells).toHaveLength(184);
    expect(first?.cells[100]).toMatchObject({ state: 'FAILING', counts: { FAILING: 1, COMPLETE: 10 } });
    expect(first?.cells[183]).toMatchObject({ counts: { COMPLETE: 3 }, end: new Date(FROM + 2016 * STEP) });
    expect(second?.cells[5]?.start).toBe(first?.cells[5]?.start);
    expect(second?.cells[5]?.counts).toBe(first?.cells[6]?.counts);
  });

  it('reads B as BEFORE_FIRST, alone and in the counts of a bucket that straddles the first slot', () => {
    const grid = bucketedGrid();
    grid.rows[0] = {
      ...(grid.rows[0] as WireGrid['rows'][number]),
      states: 'BMC',
      details: [[1, 'M1C1B1']],
      summary: { missing: 1, failing: 0, running: 0 },
    };
    const cells = toGrid(grid).rows[0]?.cells ?? [];
    expect(cells.map((c) => [c.state, c.counts])).toEqual([
      ['BEFORE_FIRST', { BEFORE_FIRST: 3 }],
      ['MISSING', { MISSING: 1, COMPLETE: 1, BEFORE_FIRST: 1 }],
      ['COMPLETE', { COMPLETE: 1 }],
    ]);
  });

  it('rejects a state letter it does not know', () => {
    const grid = bucketedGrid();
    grid.rows[0] = { ...(grid.rows[0] as WireGrid['rows'][number]), states: 'FRX' };
    expect(() => toGrid(grid)).toThrow(/unknown cell state letter "X"/);
  });
});
