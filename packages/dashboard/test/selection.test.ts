import { describe, expect, it } from 'vitest';
import { toGrid } from '../src/api/grid.ts';
import { isCellSelected, selectColumn, selectRange, summarizeSelection } from '../src/lib/selection.ts';
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
});
