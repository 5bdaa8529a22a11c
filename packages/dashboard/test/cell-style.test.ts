import { describe, expect, it } from 'vitest';
import { CELL_STATES_WORST_FIRST } from '../src/api/types.ts';
import { cellStyle, cssBackground, drawTile, FAILING_RAMP, failingLevel } from '../src/lib/cell-style.ts';
import { FakeContext } from './support/fake-canvas.ts';

// Every state the API sends, so that a new one cannot go without its own look.
const STATES = CELL_STATES_WORST_FIRST;

describe('cell styles', () => {
  it('give every state its own colour, its own mark and its own glyph', () => {
    const styles = STATES.map((state) => cellStyle(state, 1));
    expect(new Set(styles.map((s) => s.color)).size).toBe(STATES.length);
    expect(new Set(styles.map((s) => s.mark)).size).toBe(STATES.length);
    expect(new Set(styles.map((s) => s.glyph)).size).toBe(STATES.length);
  });

  it('paint each state with its palette colour and second cue', () => {
    expect(cellStyle('COMPLETE')).toMatchObject({ color: '#009E73', mark: 'solid', label: 'Complete' });
    expect(cellStyle('ACQUIRED')).toMatchObject({ color: '#0072B2', mark: 'dots', label: 'Running' });
    expect(cellStyle('AVAILABLE')).toMatchObject({ mark: 'checker', label: 'Pending' });
    expect(cellStyle('SKIP')).toMatchObject({ mark: 'stripes', label: 'Skipped' });
    expect(cellStyle('FAILING', 1)).toMatchObject({ mark: 'cross', label: 'Failing' });
  });

  it('draw missing slots hatched and future slots blank, so that a gap never looks like the future', () => {
    const missing = cellStyle('MISSING');
    const future = cellStyle('FUTURE');
    expect(missing.mark).toBe('hatch');
    expect(future.mark).toBe('plain');
    expect(missing.markColor).not.toBe(missing.color);
    expect(cssBackground(missing)).toContain('repeating-linear-gradient');
    expect(cssBackground(future)).toBe(future.color);
  });

  it('draw slots before a name’s first slot near-white with a faint dash: neither a gap nor the future', () => {
    const before = cellStyle('BEFORE_FIRST');
    expect(before).toMatchObject({ mark: 'dash', label: 'Before first slot' });
    expect(before.mark).not.toBe(cellStyle('MISSING').mark);
    expect(before.mark).not.toBe(cellStyle('FUTURE').mark);
    // Neutral: a pale grey base, its mark only a little darker (no hue, nothing like the gap's magenta).
    for (const colour of [before.color, before.markColor]) {
      const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(colour.slice(i, i + 2), 16));
      expect(r === g && g === b && (r ?? 0) >= 0xc0, colour).toBe(true);
    }
    const ctx = new FakeContext();
    drawTile(ctx, before, 6);
    expect(ctx.ops('fillRect')).toEqual([
      expect.objectContaining({ fillStyle: before.color, args: [0, 0, 6, 6] }),
      expect.objectContaining({ fillStyle: before.markColor, args: [1, 2.5, 4, 1] }),
    ]);
    expect(cssBackground(before)).toContain(before.markColor);
  });

  it('make failing cells stronger the more attempts failed', () => {
    expect([1, 2, 3, 4, 5, 50].map(failingLevel)).toEqual([0, 1, 2, 2, 3, 3]);
    expect(cellStyle('FAILING', 1).color).toBe(FAILING_RAMP[0]);
    expect(cellStyle('FAILING', 7).color).toBe(FAILING_RAMP[3]);
    expect(cellStyle('FAILING', 1).key).not.toBe(cellStyle('FAILING', 7).key);
  });

  it('draw a tile as the base colour with the mark over it', () => {
    const ctx = new FakeContext();
    drawTile(ctx, cellStyle('FAILING', 3), 6);
    expect(ctx.ops('fillRect')[0]).toMatchObject({ fillStyle: FAILING_RAMP[2], args: [0, 0, 6, 6] });
    expect(ctx.ops('lineTo')).toHaveLength(2);
    const solid = new FakeContext();
    drawTile(solid, cellStyle('COMPLETE'), 6);
    expect(solid.ops('fillRect')).toHaveLength(1);
  });
});
