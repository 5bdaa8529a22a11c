import { describe, expect, it } from 'vitest';
import type { GridRow } from '../src/api/grid.ts';
import { toGrid } from '../src/api/grid.ts';
import {
  gapTargets,
  isCellSelected,
  selectColumn,
  selectRange,
  summarizeSelection,
} from '../src/lib/selection.ts';
import { FROM, STEP, wireGrid, wireRow } from './support/fixtures.ts';

const { rows } = toGrid(
  wireGrid(
    [
      wireRow('alpha', ['COMPLETE', 'SKIP', 'MISSING', 'FAILING', 'COMPLETE', 'ACQUIRED']),
      wireRow('beta', ['MISSING', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'SKIP', 'FUTURE']),
      wireRow('gamma', ['COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE']),
    ],
    6,
  ),
);

describe('selection', () => {
  it('spans from the earlier cell start to the later cell end within one row (drag or shift-click)', () => {
    const selection = selectRange(rows, { rowIndex: 0, cellIndex: 4 }, { rowIndex: 0, cellIndex: 1 });
    expect(selection).toEqual({
      names: ['alpha'],
      from: new Date(FROM + STEP),
      to: new Date(FROM + 5 * STEP),
    });
  });

  it('covers every row between anchor and target when they are in different rows', () => {
    const selection = selectRange(rows, { rowIndex: 2, cellIndex: 0 }, { rowIndex: 0, cellIndex: 1 });
    expect(selection?.names).toEqual(['alpha', 'beta', 'gamma']);
  });

  it('selects a whole column across all rows', () => {
    const selection = selectColumn(rows, FROM + 2.5 * STEP);
    expect(selection).toEqual({
      names: ['alpha', 'beta', 'gamma'],
      from: new Date(FROM + 2 * STEP),
      to: new Date(FROM + 3 * STEP),
    });
  });

  it('holds the cells whose slot starts inside the range, in the selected rows only', () => {
    const selection = { names: ['alpha'], from: new Date(FROM + STEP), to: new Date(FROM + 3 * STEP) };
    const alpha = rows[0]?.cells ?? [];
    expect(alpha.map((cell) => isCellSelected(selection, 'alpha', cell))).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
    ]);
    const beta = rows[1]?.cells[1];
    expect(beta && isCellSelected(selection, 'beta', beta)).toBe(false);
  });

  it('summarizes what the selection holds per name', () => {
    const selection = { names: ['alpha', 'beta'], from: new Date(FROM), to: new Date(FROM + 4 * STEP) };
    const [alpha, beta] = summarizeSelection(rows, selection);
    expect(alpha?.counts).toMatchObject({ COMPLETE: 1, SKIP: 1, MISSING: 1, FAILING: 1, ACQUIRED: 0 });
    expect(beta?.counts).toMatchObject({ MISSING: 1, COMPLETE: 3 });
  });

  it('counts the slots before a name’s first slot apart from the gaps', () => {
    const fresh = toGrid(
      wireGrid([wireRow('fresh', ['BEFORE_FIRST', 'BEFORE_FIRST', 'COMPLETE', 'MISSING'])], 4),
    );
    const all = { names: ['fresh'], from: new Date(FROM), to: new Date(FROM + 4 * STEP) };
    expect(summarizeSelection(fresh.rows, all)[0]?.counts).toMatchObject({
      BEFORE_FIRST: 2,
      COMPLETE: 1,
      MISSING: 1,
    });
  });

  it('sends skip and backfill from each name’s first slot: slots before it are not gaps', () => {
    const grid = toGrid(
      wireGrid(
        [
          wireRow('young', ['BEFORE_FIRST', 'BEFORE_FIRST', 'MISSING', 'COMPLETE']),
          wireRow('old', ['MISSING', 'COMPLETE', 'MISSING', 'COMPLETE']),
          wireRow('unborn', ['BEFORE_FIRST', 'BEFORE_FIRST', 'BEFORE_FIRST', 'BEFORE_FIRST']),
        ],
        4,
      ),
    );
    const selection = {
      names: ['young', 'old', 'unborn', 'hidden'],
      from: new Date(FROM),
      to: new Date(FROM + 4 * STEP),
    };
    expect(gapTargets(grid.rows, selection)).toEqual([
      { name: 'young', from: new Date(FROM + 2 * STEP), to: selection.to },
      { name: 'old', from: selection.from, to: selection.to },
      // not in the grid: the range as selected
      { name: 'hidden', from: selection.from, to: selection.to },
    ]);
  });

  it('finds the first slot inside a bucket that straddles it, after the bucket’s slots before it', () => {
    const row: GridRow = {
      name: 'bucketed',
      interval: 'PT5M',
      intervalMs: STEP,
      slotsPerCell: 4,
      summary: { missing: 1, failing: 0, running: 0 },
      cells: [
        {
          start: new Date(FROM),
          end: new Date(FROM + 4 * STEP),
          state: 'BEFORE_FIRST',
          counts: { BEFORE_FIRST: 4 },
          failedAttempts: 0,
          message: null,
          holder: null,
        },
        {
          start: new Date(FROM + 4 * STEP),
          end: new Date(FROM + 8 * STEP),
          state: 'MISSING',
          counts: { BEFORE_FIRST: 3, MISSING: 1 },
          failedAttempts: 0,
          message: null,
          holder: null,
        },
      ],
    };
    const selection = { names: ['bucketed'], from: new Date(FROM), to: new Date(FROM + 8 * STEP) };
    expect(gapTargets([row], selection)).toEqual([
      { name: 'bucketed', from: new Date(FROM + 7 * STEP), to: selection.to },
    ]);
  });
});
