import type { CellState } from '../api/types.ts';

/** The second visual cue beside colour, so that states stay apart without colour vision. */
export type CellMark = 'solid' | 'dots' | 'checker' | 'cross' | 'stripes' | 'hatch' | 'plain' | 'dash';

/** How one cell is painted. */
export interface CellStyle {
  /** Stable id of the paint, for batching cells into one fill per style. */
  key: string;
  /** Base colour. */
  color: string;
  /** Colour of the mark drawn over the base. */
  markColor: string;
  mark: CellMark;
  /** A text glyph for the legend, the tooltip and screen readers. */
  glyph: string;
  /** Words for the state. */
  label: string;
}

/**
 * Okabe–Ito palette (distinguishable with the common colour-vision deficiencies). Failing is a vermillion
 * ramp: the more failed attempts, the darker. Missing (a gap) is a saturated hatch, future a pale blank, so
 * that the two never look alike. Before the name's first slot (not expected) is near-white with a faint dash:
 * neutral, and marked so that it reads neither as a gap nor as time still to come.
 */
const BASE: Record<Exclude<CellState, 'FAILING'>, Omit<CellStyle, 'key'>> = {
  COMPLETE: { color: '#009E73', markColor: '#009E73', mark: 'solid', glyph: '✓', label: 'Complete' },
  ACQUIRED: { color: '#0072B2', markColor: '#FFFFFF', mark: 'dots', glyph: '▶', label: 'Running' },
  AVAILABLE: { color: '#56B4E9', markColor: '#DDF0FB', mark: 'checker', glyph: '○', label: 'Pending' },
  SKIP: { color: '#A0A0A0', markColor: '#E6E6E6', mark: 'stripes', glyph: '⊘', label: 'Skipped' },
  MISSING: { color: '#F3D8E7', markColor: '#CC79A7', mark: 'hatch', glyph: '?', label: 'Missing' },
  FUTURE: { color: '#F4F4F4', markColor: '#F4F4F4', mark: 'plain', glyph: '·', label: 'Future' },
  BEFORE_FIRST: {
    color: '#FBFBFB',
    markColor: '#D9D9D9',
    mark: 'dash',
    glyph: '–',
    label: 'Before first slot',
  },
};

/** Failing colours by level (1 attempt, 2, 3–4, 5 or more). */
export const FAILING_RAMP: readonly string[] = ['#F4A582', '#E4773A', '#D55E00', '#8F3B00'];

/** 0-based intensity level of a failing cell: 1 attempt → 0, 2 → 1, 3–4 → 2, 5+ → 3. */
export function failingLevel(failedAttempts: number): number {
  if (failedAttempts <= 1) return 0;
  if (failedAttempts === 2) return 1;
  if (failedAttempts <= 4) return 2;
  return 3;
}

const styles = new Map<string, CellStyle>();

/** The paint of a cell in `state` (for FAILING, `failedAttempts` sets the intensity). Pure; results are shared. */
export function cellStyle(state: CellState, failedAttempts = 0): CellStyle {
  const key = state === 'FAILING' ? `FAILING:${failingLevel(failedAttempts)}` : state;
  const cached = styles.get(key);
  if (cached) return cached;
  const style: CellStyle =
    state === 'FAILING'
      ? {
          key,
          color: FAILING_RAMP[failingLevel(failedAttempts)] ?? '#D55E00',
          markColor: failingLevel(failedAttempts) >= 2 ? '#FFFFFF' : '#7A2E00',
          mark: 'cross',
          glyph: '✕',
          label: 'Failing',
        }
      : { key, ...BASE[state] };
  styles.set(key, style);
  return style;
}

/** The tile size in CSS pixels of the repeating mark pattern. */
export const TILE_SIZE = 6;

/** The drawing calls a mark tile needs (a subset of CanvasRenderingContext2D). */
export interface TileContext {
  fillStyle: string | CanvasGradient | CanvasPattern;
  strokeStyle: string | CanvasGradient | CanvasPattern;
  lineWidth: number;
  fillRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  stroke(): void;
}

/** Paints one `size`×`size` tile of a style's pattern: the base colour and its mark. */
export function drawTile(ctx: TileContext, style: CellStyle, size = TILE_SIZE): void {
  const u = size / TILE_SIZE;
  ctx.fillStyle = style.color;
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = style.markColor;
  ctx.strokeStyle = style.markColor;
  ctx.lineWidth = u;
  switch (style.mark) {
    case 'dots':
      ctx.fillRect(2 * u, 2 * u, 2 * u, 2 * u);
      break;
    case 'checker':
      ctx.fillRect(0, 0, 3 * u, 3 * u);
      ctx.fillRect(3 * u, 3 * u, 3 * u, 3 * u);
      break;
    case 'stripes':
      ctx.fillRect(0, 0, size, 2 * u);
      break;
    case 'cross':
      ctx.beginPath();
      ctx.moveTo(0, 0);
      ctx.lineTo(size, size);
      ctx.moveTo(size, 0);
      ctx.lineTo(0, size);
      ctx.stroke();
      break;
    case 'hatch':
      ctx.lineWidth = 1.5 * u;
      ctx.beginPath();
      ctx.moveTo(-u, u);
      ctx.lineTo(u, -u);
      ctx.moveTo(0, size);
      ctx.lineTo(size, 0);
      ctx.moveTo(size - u, size + u);
      ctx.lineTo(size + u, size - u);
      ctx.stroke();
      break;
    case 'dash':
      ctx.fillRect(u, 2.5 * u, 4 * u, u);
      break;
    case 'solid':
    case 'plain':
      break;
  }
}

/** The same pattern as a CSS background, for DOM swatches (legend, tooltip, panel). */
export function cssBackground(style: CellStyle): string {
  const m = style.markColor;
  switch (style.mark) {
    case 'dots':
      return `radial-gradient(${m} 1px, transparent 1.5px) 0 0 / 6px 6px, ${style.color}`;
    case 'checker':
      return `conic-gradient(${m} 25%, transparent 0 50%, ${m} 0 75%, transparent 0) 0 0 / 6px 6px, ${style.color}`;
    case 'stripes':
      return `repeating-linear-gradient(180deg, ${m} 0 2px, transparent 2px 6px), ${style.color}`;
    case 'cross':
      return `repeating-linear-gradient(45deg, ${m} 0 1px, transparent 1px 4px), repeating-linear-gradient(-45deg, ${m} 0 1px, transparent 1px 4px), ${style.color}`;
    case 'hatch':
      return `repeating-linear-gradient(-45deg, ${m} 0 1.5px, transparent 1.5px 4px), ${style.color}`;
    case 'dash': {
      // A 1px line across each 6px tile, cut to a 4px dash by bands of the base colour laid over it.
      const c = style.color;
      return `linear-gradient(90deg, ${c} 0 1px, transparent 1px 5px, ${c} 5px) 0 0 / 6px 6px, linear-gradient(180deg, transparent 0 2.5px, ${m} 2.5px 3.5px, transparent 3.5px) 0 0 / 6px 6px, ${c}`;
    }
    default:
      return style.color;
  }
}
