import type { GridCell, GridRow } from '../api/grid.ts';
import type { CellState } from '../api/types.ts';
import { type CellRef, cellCounts, cellIndexAt } from './grid-layout.ts';

/** A selected range: some names × the half-open time range `[from, to)`. */
export interface Selection {
  names: string[];
  from: Date;
  to: Date;
}

/**
 * The rectangle between two cells (shift-click, or a drag): the rows between them, inclusive, and the time
 * from the earlier cell's start to the later cell's end.
 */
export function selectRange(rows: readonly GridRow[], anchor: CellRef, target: CellRef): Selection | null {
  const a = rows[anchor.rowIndex]?.cells[anchor.cellIndex];
  const b = rows[target.rowIndex]?.cells[target.cellIndex];
  if (!a || !b) return null;
  const top = Math.min(anchor.rowIndex, target.rowIndex);
  const bottom = Math.max(anchor.rowIndex, target.rowIndex);
  return {
    names: rows.slice(top, bottom + 1).map((row) => row.name),
    from: new Date(Math.min(a.start.getTime(), b.start.getTime())),
    to: new Date(Math.max(a.end.getTime(), b.end.getTime())),
  };
}

/** The whole column at instant `ms`: every row, spanning the cells that contain `ms`. */
export function selectColumn(rows: readonly GridRow[], ms: number): Selection | null {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const row of rows) {
    const cell = row.cells[cellIndexAt(row.cells, ms)];
    if (!cell) continue;
    from = Math.min(from, cell.start.getTime());
    to = Math.max(to, cell.end.getTime());
  }
  if (!Number.isFinite(from) || rows.length === 0) return null;
  return { names: rows.map((row) => row.name), from: new Date(from), to: new Date(to) };
}

/** Whether a cell lies in the selection (its start inside the range, as the API counts a range's slots). */
export function isCellSelected(selection: Selection | null, name: string, cell: GridCell): boolean {
  if (!selection?.names.includes(name)) return false;
  const start = cell.start.getTime();
  return start >= selection.from.getTime() && start < selection.to.getTime();
}

/** A name's part of a selection, as the actions send it. */
export interface SelectionTarget {
  name: string;
  from: Date;
  to: Date;
}

/**
 * The ranges for the actions that create a selection's missing slots (skip and backfill): per name, from its
 * first slot on. Slots before it are not gaps (BEFORE_FIRST): a range over them would create them and move
 * the name's first slot back. A name with nothing but such slots in the selection is left out; one the grid
 * does not show keeps the whole range.
 */
export function gapTargets(rows: readonly GridRow[], selection: Selection): SelectionTarget[] {
  return selection.names.flatMap((name) => {
    const row = rows.find((candidate) => candidate.name === name);
    const firstMs = row ? firstSlotMs(row) : Number.NEGATIVE_INFINITY;
    const from = Math.max(selection.from.getTime(), firstMs);
    return from < selection.to.getTime() ? [{ name, from: new Date(from), to: selection.to }] : [];
  });
}

/**
 * Where a row's slots from the name's first slot on begin: in the first cell with any, after its
 * BEFORE_FIRST slots (the earliest of a cell). Infinity when every slot of the row is before the first slot.
 */
function firstSlotMs(row: GridRow): number {
  for (const cell of row.cells) {
    const counts = cellCounts(cell);
    const before = counts.BEFORE_FIRST ?? 0;
    const slots = Object.values(counts).reduce((total, n) => total + (n ?? 0), 0);
    if (slots > before) return cell.start.getTime() + before * row.intervalMs;
  }
  return Number.POSITIVE_INFINITY;
}

/** What a selection holds for one name. */
export interface SelectionPart {
  name: string;
  counts: Record<CellState, number>;
}

/** Slots per state per name inside the selection, as the grid shows them. */
export function summarizeSelection(rows: readonly GridRow[], selection: Selection): SelectionPart[] {
  return selection.names.map((name) => {
    const counts: Record<CellState, number> = {
      COMPLETE: 0,
      ACQUIRED: 0,
      AVAILABLE: 0,
      FAILING: 0,
      SKIP: 0,
      MISSING: 0,
      FUTURE: 0,
      BEFORE_FIRST: 0,
    };
    const row = rows.find((candidate) => candidate.name === name);
    for (const cell of row?.cells ?? []) {
      if (!isCellSelected(selection, name, cell)) continue;
      for (const [state, n] of Object.entries(cellCounts(cell)) as Array<[CellState, number]>)
        counts[state] += n;
    }
    return { name, counts };
  });
}
