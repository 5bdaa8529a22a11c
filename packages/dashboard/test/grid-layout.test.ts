import { describe, expect, it } from 'vitest';
import { type GridRow, toGrid } from '../src/api/grid.ts';
import {
  aggregateCells,
  arrangeRows,
  columnsFor,
  countStates,
  fitRows,
  hitTest,
  MIN_SPAN_MS,
  ROW_HEIGHT,
  worstState,
  zoomAround,
} from '../src/lib/grid-layout.ts';
import { type FixtureRow, FROM, STEP, wireGrid, wireRow } from './support/fixtures.ts';

function grid(rows: FixtureRow[], slots: number) {
  return toGrid(wireGrid(rows, slots));
}

describe('bucket aggregation', () => {
  it('asks for as many columns as minimum-width cells fit, within the API limits', () => {
    expect(columnsFor(900)).toBe(300);
    expect(columnsFor(900, 4)).toBe(225);
    expect(columnsFor(0)).toBe(1);
    expect(columnsFor(100_000)).toBe(2000);
  });

  it('orders states worst first as the API does', () => {
    expect(worstState(['COMPLETE', 'SKIP', 'ACQUIRED'])).toBe('ACQUIRED');
    expect(worstState(['MISSING', 'FAILING'])).toBe('FAILING');
    expect(worstState(['FUTURE', 'COMPLETE'])).toBe('COMPLETE');
    expect(worstState([])).toBe('FUTURE');
    expect(worstState(['BEFORE_FIRST', 'FUTURE'])).toBe('FUTURE');
    expect(worstState(['BEFORE_FIRST'])).toBe('BEFORE_FIRST');
    expect(worstState(['BEFORE_FIRST', 'MISSING'])).toBe('MISSING');
  });

  it('merges consecutive cells into buckets drawn by their worst state, with counts, attempts and message', () => {
    const { rows } = grid(
      [
        wireRow('alpha', ['COMPLETE', 'FAILING', 'COMPLETE', 'MISSING', 'SKIP', 'COMPLETE'], {
          1: { failedAttempts: 4, message: 'timeout' },
          4: { message: 'maintenance' },
        }),
      ],
      6,
    );
    const cells = aggregateCells(rows[0]?.cells ?? [], 2);
    expect(cells).toHaveLength(2);
    expect(cells[0]).toMatchObject({
      state: 'FAILING',
      counts: { COMPLETE: 2, FAILING: 1 },
      failedAttempts: 4,
      message: 'timeout',
    });
    expect(cells[0]?.start.getTime()).toBe(FROM);
    expect(cells[0]?.end.getTime()).toBe(FROM + 3 * STEP);
    expect(cells[1]).toMatchObject({ state: 'MISSING', counts: { MISSING: 1, SKIP: 1, COMPLETE: 1 } });
  });

  it('leaves rows that already fit alone and multiplies slots per cell of the rest', () => {
    const { rows } = grid(
      [wireRow('alpha', Array(12).fill('COMPLETE')), wireRow('beta', Array(3).fill('SKIP'))],
      12,
    );
    const fitted = fitRows(rows, 4);
    expect(fitted[0]?.cells).toHaveLength(4);
    expect(fitted[0]?.slotsPerCell).toBe(3);
    expect(fitted[1]).toBe(rows[1]);
  });

  it('counts slots per state across rows for the legend, buckets included', () => {
    const { rows } = grid(
      [wireRow('alpha', ['COMPLETE', 'FAILING']), wireRow('beta', ['MISSING', 'MISSING'])],
      2,
    );
    const bucketed = fitRows(rows, 1);
    expect(countStates(bucketed)).toMatchObject({ COMPLETE: 1, FAILING: 1, MISSING: 2, SKIP: 0 });
  });

  it('draws a bucket with slots before the first slot by its expected slots, counting both', () => {
    const { rows } = grid([wireRow('fresh', ['BEFORE_FIRST', 'BEFORE_FIRST', 'COMPLETE'])], 3);
    const [bucket] = fitRows(rows, 1)[0]?.cells ?? [];
    expect(bucket).toMatchObject({ state: 'COMPLETE', counts: { BEFORE_FIRST: 2, COMPLETE: 1 } });
    expect(countStates(rows)).toMatchObject({ BEFORE_FIRST: 2, COMPLETE: 1, MISSING: 0 });
  });
});

describe('hit-testing', () => {
  const { rows } = grid(
    [wireRow('alpha', Array(10).fill('COMPLETE')), wireRow('beta', Array(10).fill('SKIP'))],
    10,
  );
  const scale = { fromMs: FROM, toMs: FROM + 10 * STEP, width: 500 };

  it('finds the cell under a point by row and time', () => {
    expect(hitTest(rows, scale, 0, 0)).toEqual({ rowIndex: 0, cellIndex: 0 });
    expect(hitTest(rows, scale, 149, ROW_HEIGHT + 3)).toEqual({ rowIndex: 1, cellIndex: 2 });
    expect(hitTest(rows, scale, 499, 2 * ROW_HEIGHT - 1)).toEqual({ rowIndex: 1, cellIndex: 9 });
  });

  it('finds nothing outside the rows or the window', () => {
    expect(hitTest(rows, scale, 10, 2 * ROW_HEIGHT + 1)).toBeNull();
    expect(hitTest(rows, scale, -1, 5)).toBeNull();
    expect(hitTest(rows, scale, 500, 5)).toBeNull();
  });

  it('finds nothing where a row has no cell (a window wider than the data)', () => {
    const wide = { fromMs: FROM - 10 * STEP, toMs: FROM + 10 * STEP, width: 500 };
    expect(hitTest(rows, wide, 10, 5)).toBeNull();
    expect(hitTest(rows, wide, 260, 5)).toEqual({ rowIndex: 0, cellIndex: 0 });
  });
});

describe('row arrangement', () => {
  const rows: GridRow[] = grid(
    [
      wireRow('calm', ['COMPLETE'], {}, { missing: 0, failing: 0, running: 0 }),
      wireRow('gappy', ['MISSING'], {}, { missing: 5, failing: 0, running: 0 }),
      wireRow('broken', ['FAILING'], {}, { missing: 1, failing: 2, running: 0 }),
    ],
    1,
  ).rows;

  it('sorts by name or by trouble (failing, then missing, then running)', () => {
    expect(arrangeRows(rows, { name: '', states: new Set() }, 'name').map((r) => r.name)).toEqual([
      'broken',
      'calm',
      'gappy',
    ]);
    expect(arrangeRows(rows, { name: '', states: new Set() }, 'trouble').map((r) => r.name)).toEqual([
      'broken',
      'gappy',
      'calm',
    ]);
  });

  it('filters by name substring and by states present', () => {
    expect(arrangeRows(rows, { name: 'AL', states: new Set() }, 'name').map((r) => r.name)).toEqual(['calm']);
    expect(arrangeRows(rows, { name: '', states: new Set(['MISSING']) }, 'name').map((r) => r.name)).toEqual([
      'gappy',
    ]);
  });
});

describe('zoom', () => {
  it('keeps the instant under the pointer in place', () => {
    const next = zoomAround({ fromMs: 0, toMs: 1_000_000_000 }, 250_000_000, 0.5);
    expect(next).toEqual({ fromMs: 125_000_000, toMs: 625_000_000 });
  });

  it('never zooms in below the shortest window', () => {
    const next = zoomAround({ fromMs: 0, toMs: MIN_SPAN_MS }, MIN_SPAN_MS / 2, 0.1);
    expect(next.toMs - next.fromMs).toBe(MIN_SPAN_MS);
  });
});
