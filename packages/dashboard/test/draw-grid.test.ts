import { describe, expect, it } from 'vitest';
import { toGrid } from '../src/api/grid.ts';
import type { CellState } from '../src/api/types.ts';
import { cellStyle } from '../src/lib/cell-style.ts';
import { drawGrid, drawOverlay } from '../src/lib/draw-grid.ts';
import { ROW_HEIGHT } from '../src/lib/grid-layout.ts';
import { FakeContext } from './support/fake-canvas.ts';
import { FROM, STEP, wireGrid, wireRow } from './support/fixtures.ts';

const STATES: CellState[] = ['COMPLETE', 'ACQUIRED', 'AVAILABLE', 'FAILING', 'SKIP', 'MISSING', 'FUTURE'];

function rows() {
  return toGrid(wireGrid([wireRow('alpha', STATES), wireRow('beta', [...STATES].reverse())], 7)).rows;
}

describe('drawGrid', () => {
  it('draws one rectangle per visible cell and fills once per paint', () => {
    const ctx = new FakeContext();
    const drawn = drawGrid(ctx, rows(), {
      scale: { fromMs: FROM, toMs: FROM + 7 * STEP, width: 700 },
      height: 48,
    });
    expect(drawn).toBe(14);
    expect(ctx.ops('rect')).toHaveLength(14);
    expect(ctx.ops('fill')).toHaveLength(7);
  });

  it('paints each cell with the colour of its state, in its row', () => {
    const ctx = new FakeContext();
    drawGrid(ctx, rows(), { scale: { fromMs: FROM, toMs: FROM + 7 * STEP, width: 700 }, height: 48 });
    const rects = ctx.ops('rect');
    STATES.forEach((state, i) => {
      const cell = rects.find((r) => r.args[0] === i * 100 && (r.args[1] ?? 0) < ROW_HEIGHT);
      expect(cell?.fillStyle, state).toBe(cellStyle(state, 2).color);
    });
    const inBeta = rects.find((r) => r.args[0] === 0 && (r.args[1] ?? 0) >= ROW_HEIGHT);
    expect(inBeta?.fillStyle).toBe(cellStyle('FUTURE').color);
  });

  it('skips cells outside the window', () => {
    const ctx = new FakeContext();
    const drawn = drawGrid(ctx, rows(), {
      scale: { fromMs: FROM + 2 * STEP, toMs: FROM + 4 * STEP, width: 200 },
      height: 48,
    });
    expect(drawn).toBe(4);
    expect(ctx.ops('rect').map((r) => r.args[0])).toEqual(expect.arrayContaining([0, 100]));
  });

  it('fades cells without the states picked in the legend', () => {
    const ctx = new FakeContext();
    drawGrid(ctx, rows(), {
      scale: { fromMs: FROM, toMs: FROM + 7 * STEP, width: 700 },
      height: 48,
      highlight: new Set(['FAILING' as const]),
    });
    const failing = cellStyle('FAILING', 2).color;
    for (const rect of ctx.ops('rect')) expect(rect.globalAlpha).toBe(rect.fillStyle === failing ? 1 : 0.2);
  });

  it('merges touching cells of one state narrower than a pixel and draws the worst state last', () => {
    const many = Array.from({ length: 400 }, (_, i): CellState => (i === 200 ? 'FAILING' : 'COMPLETE'));
    const grid = toGrid(wireGrid([wireRow('alpha', many)], 400));
    const ctx = new FakeContext();
    const drawn = drawGrid(ctx, grid.rows, {
      scale: { fromMs: FROM, toMs: FROM + 400 * STEP, width: 100 },
      height: 24,
    });
    expect(drawn).toBe(400);
    const rects = ctx.ops('rect');
    expect(rects.length).toBeLessThan(5);
    expect(rects[rects.length - 1]?.fillStyle).toBe(cellStyle('FAILING', 2).color);
  });

  it('draws all 100,800 cells of 50 names × 2,016 slots in one pass', () => {
    const states = Array.from({ length: 2016 }, (_, i): CellState => STATES[i % 7] ?? 'COMPLETE');
    const grid = toGrid(
      wireGrid(
        Array.from({ length: 50 }, (_, r) => wireRow(`n${r}`, states)),
        2016,
      ),
    );
    const ctx = new FakeContext();
    const drawn = drawGrid(ctx, grid.rows, {
      scale: { fromMs: FROM, toMs: FROM + 2016 * STEP, width: 4032 },
      height: 1200,
    });
    expect(drawn).toBe(100_800);
    expect(ctx.ops('rect')).toHaveLength(100_800);
  });
});

describe('drawOverlay', () => {
  it('outlines the focused cell only while the grid has keyboard focus', () => {
    const scale = { fromMs: FROM, toMs: FROM + 7 * STEP, width: 700 };
    const focus = { rowIndex: 1, cellIndex: 2 };
    const focused = new FakeContext();
    drawOverlay(focused, rows(), { scale, height: 48, hover: null, focus, hasFocus: true, selection: null });
    expect(focused.ops('strokeRect').length).toBeGreaterThan(0);
    const blurred = new FakeContext();
    drawOverlay(blurred, rows(), { scale, height: 48, hover: null, focus, hasFocus: false, selection: null });
    expect(blurred.ops('strokeRect')).toHaveLength(0);
  });

  it('marks every selected cell', () => {
    const ctx = new FakeContext();
    drawOverlay(ctx, rows(), {
      scale: { fromMs: FROM, toMs: FROM + 7 * STEP, width: 700 },
      height: 48,
      hover: null,
      focus: null,
      hasFocus: false,
      selection: { names: ['alpha', 'beta'], from: new Date(FROM + STEP), to: new Date(FROM + 3 * STEP) },
    });
    expect(ctx.ops('rect')).toHaveLength(4);
  });
});
