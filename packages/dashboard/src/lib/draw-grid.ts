import type { GridRow } from '../api/grid.ts';
import type { CellState } from '../api/types.ts';
import { type CellStyle, cellStyle } from './cell-style.ts';
import { type CellRef, cellCounts, ROW_HEIGHT, severity, type TimeScale, xOf } from './grid-layout.ts';
import { isCellSelected, type Selection } from './selection.ts';

/** The drawing calls the grid needs (a subset of CanvasRenderingContext2D, so tests can record them). */
export interface GridDrawContext {
  fillStyle: string | CanvasGradient | CanvasPattern;
  strokeStyle: string | CanvasGradient | CanvasPattern;
  globalAlpha: number;
  lineWidth: number;
  clearRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  strokeRect(x: number, y: number, w: number, h: number): void;
  beginPath(): void;
  rect(x: number, y: number, w: number, h: number): void;
  fill(): void;
}

/** Options of {@link drawGrid}. */
export interface DrawGridOptions {
  scale: TimeScale;
  /** Height of the drawing area in CSS pixels. */
  height: number;
  /** When not empty, cells holding none of these states are drawn faded. Default: none faded. */
  highlight?: ReadonlySet<CellState>;
  /** Turns a style into a fill (a pattern with its mark); default the plain colour. */
  paint?: (style: CellStyle) => string | CanvasGradient | CanvasPattern;
}

/** Vertical inset of a cell inside its row. */
const CELL_INSET = 2;

/** The pixel box of a cell, snapped to whole pixels and at least one pixel wide, or null when off-screen. */
export function cellBox(
  start: Date,
  end: Date,
  rowIndex: number,
  scale: TimeScale,
): { x: number; y: number; w: number; h: number } | null {
  const left = xOf(start.getTime(), scale);
  const right = xOf(end.getTime(), scale);
  if (right <= 0 || left >= scale.width) return null;
  // Visible cells keep at least one pixel, even the sub-pixel ones at the right edge.
  const x0 = Math.min(scale.width - 1, Math.max(0, Math.round(left)));
  const x1 = Math.min(scale.width, Math.max(Math.round(right), x0 + 1));
  // A one-pixel gap separates cells that are wide enough to keep a gap and still read as a cell.
  const w = x1 - x0 >= 5 ? x1 - x0 - 1 : x1 - x0;
  return { x: x0, y: rowIndex * ROW_HEIGHT + CELL_INSET, w, h: ROW_HEIGHT - 2 * CELL_INSET };
}

function isHighlighted(
  counts: Partial<Record<CellState, number>>,
  highlight: ReadonlySet<CellState>,
): boolean {
  for (const state in counts) if (highlight.has(state as CellState)) return true;
  return false;
}

/**
 * Draws every visible cell in one pass: cells are batched by paint, and each batch is one path of
 * rectangles filled once (one `rect` per visible cell, except that touching cells of the same paint in a
 * row share one; one `fill` per paint). Returns the number of cells drawn.
 */
export function drawGrid(ctx: GridDrawContext, rows: readonly GridRow[], options: DrawGridOptions): number {
  const { scale, height } = options;
  const highlight = options.highlight ?? new Set<CellState>();
  const paint = options.paint ?? ((style: CellStyle) => style.color);
  ctx.clearRect(0, 0, scale.width, height);
  const batches = new Map<
    string,
    { style: CellStyle; state: CellState; faded: boolean; boxes: number[]; lastRow: number }
  >();
  let drawn = 0;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!row) continue;
    if ((r + 1) * ROW_HEIGHT < 0 || r * ROW_HEIGHT > height) continue;
    for (const cell of row.cells) {
      const box = cellBox(cell.start, cell.end, r, scale);
      if (!box) continue;
      const style = cellStyle(cell.state, cell.failedAttempts);
      const faded = highlight.size > 0 && !isHighlighted(cellCounts(cell), highlight);
      const key = faded ? `${style.key}/faded` : style.key;
      let batch = batches.get(key);
      if (!batch) {
        batch = { style, state: cell.state, faded, boxes: [], lastRow: -1 };
        batches.set(key, batch);
      }
      drawn++;
      // Cells that touch or overlap the previous box of the same paint in this row (narrower than a
      // pixel or two, in a wide window) extend it: the same picture with far fewer rectangles.
      const b = batch.boxes;
      const last = b.length - 4;
      if (batch.lastRow === r && box.x <= (b[last] ?? 0) + (b[last + 2] ?? 0)) {
        b[last + 2] = Math.max(box.x + box.w, (b[last] ?? 0) + (b[last + 2] ?? 0)) - (b[last] ?? 0);
        continue;
      }
      b.push(box.x, box.y, box.w, box.h);
      batch.lastRow = r;
    }
  }
  // Least severe first, so that where narrow cells overlap the worst state ends on top.
  const ordered = [...batches.values()].sort((x, y) => severity(y.state) - severity(x.state));
  for (const batch of ordered) {
    ctx.globalAlpha = batch.faded ? 0.2 : 1;
    ctx.fillStyle = paint(batch.style);
    ctx.beginPath();
    const b = batch.boxes;
    for (let i = 0; i < b.length; i += 4) ctx.rect(b[i] ?? 0, b[i + 1] ?? 0, b[i + 2] ?? 0, b[i + 3] ?? 0);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  return drawn;
}

/** What the overlay marks above the cells. */
export interface OverlayState {
  hover: CellRef | null;
  focus: CellRef | null;
  /** Whether the canvas has keyboard focus (the focus ring is drawn only then). */
  hasFocus: boolean;
  selection: Selection | null;
}

/** Draws hover, selection and the keyboard focus ring on the overlay canvas (cheap: redrawn on every move). */
export function drawOverlay(
  ctx: GridDrawContext,
  rows: readonly GridRow[],
  options: { scale: TimeScale; height: number } & OverlayState,
): void {
  const { scale } = options;
  ctx.clearRect(0, 0, scale.width, options.height);
  if (options.selection) {
    ctx.fillStyle = 'rgba(17, 17, 17, 0.35)';
    ctx.beginPath();
    rows.forEach((row, r) => {
      for (const cell of row.cells) {
        if (!isCellSelected(options.selection, row.name, cell)) continue;
        const box = cellBox(cell.start, cell.end, r, scale);
        if (box) ctx.rect(box.x, box.y + box.h - 4, box.w, 4);
      }
    });
    ctx.fill();
  }
  const outline = (ref: CellRef | null, color: string, width: number) => {
    const cell = ref ? rows[ref.rowIndex]?.cells[ref.cellIndex] : undefined;
    if (!ref || !cell) return;
    const box = cellBox(cell.start, cell.end, ref.rowIndex, scale);
    if (!box) return;
    ctx.lineWidth = width;
    ctx.strokeStyle = '#FFFFFF';
    ctx.strokeRect(box.x - width, box.y - width, box.w + 2 * width, box.h + 2 * width);
    ctx.strokeStyle = color;
    ctx.strokeRect(box.x - width / 2 - 1, box.y - width / 2 - 1, box.w + width + 2, box.h + width + 2);
  };
  outline(options.hover, '#333333', 1);
  if (options.hasFocus) outline(options.focus, '#000000', 2);
}
