import type { GridCell, GridRow } from '../api/grid.ts';
import { CELL_STATES_WORST_FIRST, type CellState } from '../api/types.ts';

/** Row height of the grid in CSS pixels (the row headers use the same). */
export const ROW_HEIGHT = 24;
/** Narrowest cell drawn; a wider window is bucketed so that cells are at least this wide. */
export const MIN_CELL_WIDTH = 3;
/** Most cells per row the API serves. */
export const MAX_COLUMNS = 2000;

/** Where the time axis lies on the canvas. */
export interface TimeScale {
  fromMs: number;
  toMs: number;
  /** Width of the drawing area in CSS pixels. */
  width: number;
}

/** The `columns` to request for a drawing area `width` pixels wide: width / min cell width, 1…2000. */
export function columnsFor(width: number, minCellWidth = MIN_CELL_WIDTH): number {
  return Math.max(1, Math.min(MAX_COLUMNS, Math.floor(width / minCellWidth)));
}

/** The x coordinate of an instant. */
export function xOf(ms: number, scale: TimeScale): number {
  return ((ms - scale.fromMs) / (scale.toMs - scale.fromMs)) * scale.width;
}

/** The instant at an x coordinate. */
export function timeAt(x: number, scale: TimeScale): number {
  return scale.fromMs + (x / scale.width) * (scale.toMs - scale.fromMs);
}

/** Index of the cell containing instant `ms` (cells sorted by start, not overlapping), or -1. */
export function cellIndexAt(cells: readonly GridCell[], ms: number): number {
  let lo = 0;
  let hi = cells.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const cell = cells[mid];
    if (!cell) return -1;
    if (ms < cell.start.getTime()) hi = mid - 1;
    else if (ms >= cell.end.getTime()) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** A cell's position in the displayed rows. */
export interface CellRef {
  rowIndex: number;
  cellIndex: number;
}

/** The cell under the point (x, y) of the canvas, or null between cells and outside the rows. */
export function hitTest(rows: readonly GridRow[], scale: TimeScale, x: number, y: number): CellRef | null {
  if (x < 0 || x >= scale.width || y < 0) return null;
  const rowIndex = Math.floor(y / ROW_HEIGHT);
  const row = rows[rowIndex];
  if (!row) return null;
  const cellIndex = cellIndexAt(row.cells, timeAt(x, scale));
  return cellIndex < 0 ? null : { rowIndex, cellIndex };
}

/** Rank of a state, 0 = worst. */
export function severity(state: CellState): number {
  return CELL_STATES_WORST_FIRST.indexOf(state);
}

/** The worst of some states (FUTURE when there are none). */
export function worstState(states: Iterable<CellState>): CellState {
  let worst: CellState | null = null;
  for (const state of states) if (worst === null || severity(state) < severity(worst)) worst = state;
  return worst ?? 'FUTURE';
}

/** Slots per state of a cell (a single slot's cell may carry no counts: then it is one of its state). */
export function cellCounts(cell: GridCell): Partial<Record<CellState, number>> {
  // A cell with an empty counts object is still one slot of its own state.
  for (const _ in cell.counts) return cell.counts;
  return { [cell.state]: 1 };
}

/** Merges consecutive cells into one bucket drawn by its worst state, summing counts. */
export function mergeCells(cells: readonly GridCell[]): GridCell {
  const first = cells[0];
  const last = cells[cells.length - 1];
  if (!first || !last) throw new RangeError('mergeCells needs at least one cell');
  const counts: Partial<Record<CellState, number>> = {};
  let worst = first;
  let failedAttempts = 0;
  let holder = null;
  for (const cell of cells) {
    for (const [state, n] of Object.entries(cellCounts(cell)) as Array<[CellState, number]>) {
      counts[state] = (counts[state] ?? 0) + n;
    }
    if (severity(cell.state) < severity(worst.state)) worst = cell;
    failedAttempts = Math.max(failedAttempts, cell.failedAttempts);
    holder ??= cell.holder;
  }
  return {
    start: first.start,
    end: last.end,
    state: worst.state,
    counts,
    failedAttempts,
    message: worst.message,
    holder,
  };
}

/**
 * Buckets a row's cells so that at most `maxCells` remain: groups of ⌈n / maxCells⌉ consecutive cells, each
 * drawn by its worst state. Used when the server sent more cells than the canvas has room for.
 */
export function aggregateCells(cells: readonly GridCell[], maxCells: number): GridCell[] {
  if (cells.length <= maxCells) return [...cells];
  const size = Math.ceil(cells.length / Math.max(1, maxCells));
  const out: GridCell[] = [];
  for (let i = 0; i < cells.length; i += size) out.push(mergeCells(cells.slice(i, i + size)));
  return out;
}

/** Fits every row to at most `maxCells` cells (see {@link aggregateCells}). */
export function fitRows(rows: readonly GridRow[], maxCells: number): GridRow[] {
  return rows.map((row) => {
    if (row.cells.length <= maxCells) return row;
    const cells = aggregateCells(row.cells, maxCells);
    return { ...row, cells, slotsPerCell: row.slotsPerCell * Math.ceil(row.cells.length / maxCells) };
  });
}

/** Slots per state over all rows (the legend's counts). */
export function countStates(rows: readonly GridRow[]): Record<CellState, number> {
  const totals: Record<CellState, number> = {
    COMPLETE: 0,
    ACQUIRED: 0,
    AVAILABLE: 0,
    FAILING: 0,
    SKIP: 0,
    MISSING: 0,
    FUTURE: 0,
    BEFORE_FIRST: 0,
  };
  for (const row of rows) {
    for (const cell of row.cells) {
      for (const [state, n] of Object.entries(cellCounts(cell)) as Array<[CellState, number]>)
        totals[state] += n;
    }
  }
  return totals;
}

/** How rows are ordered. */
export type RowSort = 'name' | 'trouble';

/** Row filters: a case-insensitive name substring and the states a row must contain (none = all rows). */
export interface RowFilter {
  name: string;
  states: ReadonlySet<CellState>;
}

/** Trouble score: failing first, then gaps, then running. */
function trouble(row: GridRow): number {
  return row.summary.failing * 1e12 + row.summary.missing * 1e6 + row.summary.running;
}

/** Applies the name and state filters and the sort. */
export function arrangeRows(rows: readonly GridRow[], filter: RowFilter, sort: RowSort): GridRow[] {
  const needle = filter.name.trim().toLowerCase();
  const kept = rows.filter((row) => {
    if (needle !== '' && !row.name.toLowerCase().includes(needle)) return false;
    if (filter.states.size === 0) return true;
    return row.cells.some((cell) =>
      (Object.keys(cellCounts(cell)) as CellState[]).some((state) => filter.states.has(state)),
    );
  });
  return kept.sort((a, b) =>
    sort === 'trouble'
      ? trouble(b) - trouble(a) || a.name.localeCompare(b.name)
      : a.name.localeCompare(b.name),
  );
}

/** Shortest window zooming in reaches. */
export const MIN_SPAN_MS = 10 * 60_000;
/** Longest window zooming out reaches. */
export const MAX_SPAN_MS = 400 * 86_400_000;

/** The window after zooming by `factor` (< 1 zooms in) around instant `centerMs`, which stays in place. */
export function zoomAround(
  scale: Pick<TimeScale, 'fromMs' | 'toMs'>,
  centerMs: number,
  factor: number,
): { fromMs: number; toMs: number } {
  const span = scale.toMs - scale.fromMs;
  const next = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, span * factor));
  const ratio = span > 0 ? (centerMs - scale.fromMs) / span : 0.5;
  const fromMs = Math.round(centerMs - ratio * next);
  return { fromMs, toMs: fromMs + Math.round(next) };
}
