import { queryOptions } from '@tanstack/react-query';
import { apiFetch, withQuery } from './client.ts';
import {
  CELL_STATE_CODES,
  CELL_STATES_WORST_FIRST,
  type CellState,
  type Holder,
  toDate,
  toHolder,
  type WireHolder,
} from './types.ts';

/**
 * What a cell's letter does not say: `[cell, counts, failedAttempts, message, holder]`, trailing defaults
 * left out. `counts` is letters and counts worst first (`F1C10`); `message` an index into `messages`.
 */
export type WireCellDetail = [
  cell: number,
  counts?: string | null,
  failedAttempts?: number,
  message?: number | null,
  holder?: WireHolder | null,
];

/** Wire shape of a grid row: geometry, a letter per cell and the sparse details (docs/http-api.md). */
export interface WireGridRow {
  name: string;
  interval: string;
  intervalMs: number;
  firstStart: string;
  /** Cells are aligned to multiples of `slotsPerCell` from the name's origin: the first may hold fewer. */
  slotsPerCell: number;
  firstCellSlots: number;
  slotCount: number;
  cellCount: number;
  summary: { missing: number; failing: number; running: number };
  states: string;
  details: WireCellDetail[];
}

/** Wire shape of `GET /api/grid`. */
export interface WireGrid {
  from: string;
  to: string;
  now: string;
  messages: string[];
  rows: WireGridRow[];
}

/** One drawn cell: a slot, or a bucket of consecutive slots drawn by its worst state. */
export interface GridCell {
  start: Date;
  end: Date;
  state: CellState;
  /** Slots per state inside the cell. */
  counts: Partial<Record<CellState, number>>;
  /** The most failed attempts of any slot inside. */
  failedAttempts: number;
  /** Short message of the worst slot (a failure, or a skip's reason). */
  message: string | null;
  holder: Holder | null;
}

/** One task name's row. */
export interface GridRow {
  name: string;
  /** ISO-8601 duration, e.g. `PT5M`. */
  interval: string;
  intervalMs: number;
  /** 1 when each cell is one slot; more when cells are buckets. */
  slotsPerCell: number;
  summary: { missing: number; failing: number; running: number };
  cells: GridCell[];
}

/** The matrix of names × slots over a window. */
export interface Grid {
  from: Date;
  to: Date;
  now: Date;
  rows: GridRow[];
}

/** What to ask the grid for. */
export interface GridRequest {
  from: Date;
  to: Date;
  /** Most cells per row (the server buckets slots to fit); default 200, max 2000. */
  columns: number;
  /** Names to include; default every name. */
  names?: readonly string[];
}

/** Cell state by the char code of its wire letter. */
const STATE_OF_CODE: Array<CellState | undefined> = [];
for (const [i, state] of CELL_STATES_WORST_FIRST.entries())
  STATE_OF_CODE[CELL_STATE_CODES.charCodeAt(i)] = state;

function stateOfCode(code: number): CellState {
  const state = STATE_OF_CODE[code];
  if (!state)
    throw new Error(`the grid has an unknown cell state letter ${JSON.stringify(String.fromCharCode(code))}`);
  return state;
}

/** `F1C10` → `{ FAILING: 1, COMPLETE: 10 }`. */
function parseCounts(text: string): Partial<Record<CellState, number>> {
  const counts: Partial<Record<CellState, number>> = {};
  let at = 0;
  while (at < text.length) {
    const state = stateOfCode(text.charCodeAt(at));
    let end = at + 1;
    while (end < text.length && text.charCodeAt(end) <= 57) end++;
    counts[state] = Number(text.slice(at + 1, end));
    at = end;
  }
  return counts;
}

/** Values that many cells of one grid share, made once: boundaries per row geometry, uniform counts. */
interface Shared {
  boundaries: Map<string, Date[]>;
  counts: Map<string, Partial<Record<CellState, number>>>;
}

/**
 * The `cellCount + 1` cell boundaries of a row (rows with the same geometry share one array): cell 0 holds
 * `firstCellSlots` slots, each next one `slotsPerCell` (the last may hold fewer).
 */
function boundariesOf(row: WireGridRow, shared: Shared): Date[] {
  const key = `${row.firstStart}/${row.intervalMs}/${row.slotsPerCell}/${row.firstCellSlots}/${row.slotCount}`;
  let boundaries = shared.boundaries.get(key);
  if (!boundaries) {
    const firstMs = Date.parse(row.firstStart);
    boundaries = new Array<Date>(row.cellCount + 1);
    for (let cell = 0; cell <= row.cellCount; cell++) {
      const slot =
        cell === 0 ? 0 : Math.min(row.slotCount, row.firstCellSlots + (cell - 1) * row.slotsPerCell);
      boundaries[cell] = new Date(firstMs + slot * row.intervalMs);
    }
    shared.boundaries.set(key, boundaries);
  }
  return boundaries;
}

/** `{ [state]: slots }`, frozen and shared by every cell that has it. */
function uniformCounts(state: CellState, slots: number, shared: Shared): Partial<Record<CellState, number>> {
  const key = `${state}${slots}`;
  let counts = shared.counts.get(key);
  if (!counts) {
    counts = Object.freeze({ [state]: slots });
    shared.counts.set(key, counts);
  }
  return counts;
}

function toGridRow(row: WireGridRow, messages: readonly string[], shared: Shared): GridRow {
  const boundaries = boundariesOf(row, shared);
  const cells = new Array<GridCell>(row.cellCount);
  let detailAt = 0;
  for (let cell = 0; cell < row.cellCount; cell++) {
    const state = stateOfCode(row.states.charCodeAt(cell));
    while (detailAt < row.details.length && (row.details[detailAt]?.[0] ?? cell) < cell) detailAt++;
    const detail = row.details[detailAt]?.[0] === cell ? row.details[detailAt] : undefined;
    const start = boundaries[cell] as Date;
    const end = boundaries[cell + 1] as Date;
    const counted = detail?.[1];
    const message = detail?.[3];
    cells[cell] = {
      start,
      end,
      state,
      counts: counted
        ? parseCounts(counted)
        : uniformCounts(state, Math.round((end.getTime() - start.getTime()) / row.intervalMs), shared),
      failedAttempts: detail?.[2] ?? 0,
      message: message === null || message === undefined ? null : (messages[message] ?? null),
      holder: toHolder(detail?.[4]),
    };
  }
  return {
    name: row.name,
    interval: row.interval,
    intervalMs: row.intervalMs,
    slotsPerCell: row.slotsPerCell,
    summary: row.summary,
    cells,
  };
}

/**
 * Maps the wire grid to the domain: the one place that knows the compact format. Every cell becomes a
 * `GridCell`, since the readers (drawing, hit tests, selection, merging, tooltips) work on cells; what
 * cells share is made once (boundary Dates per row geometry, the counts of single-state cells), so that
 * decoding 10,000 cells is a pass over a string with a small object per cell.
 */
export function toGrid(wire: WireGrid): Grid {
  const shared: Shared = { boundaries: new Map(), counts: new Map() };
  return {
    from: toDate(wire.from),
    to: toDate(wire.to),
    now: toDate(wire.now),
    rows: wire.rows.map((row) => toGridRow(row, wire.messages, shared)),
  };
}

/** `GET /api/grid`. */
export async function fetchGrid(request: GridRequest, signal?: AbortSignal): Promise<Grid> {
  const path = withQuery('/api/grid', {
    names: request.names?.join(','),
    from: request.from.toISOString(),
    to: request.to.toISOString(),
    columns: Math.max(1, Math.min(2000, Math.floor(request.columns))),
  });
  return toGrid(await apiFetch<WireGrid>(path, signal ? { signal } : {}));
}

/** Query key prefix of every grid query (invalidate it after writes and on live events). */
export const gridKey = ['grid'] as const;

/**
 * The grid query. `window` is either a fixed range or a preset length ending now: presets are resolved
 * when the query runs, so a refetch moves the window along with the clock.
 */
export function gridQueryOptions(window: { from: Date; to: Date } | { lastMs: number }, columns: number) {
  const key =
    'lastMs' in window ? { lastMs: window.lastMs } : { from: window.from.getTime(), to: window.to.getTime() };
  return queryOptions({
    queryKey: [...gridKey, key, columns],
    queryFn: ({ signal }) => {
      const range = 'lastMs' in window ? presetRange(window.lastMs, new Date()) : window;
      return fetchGrid({ ...range, columns }, signal);
    },
  });
}

/** The range of a preset ending now, its end rounded up to the next minute so that refetches share edges. */
export function presetRange(lastMs: number, now: Date): { from: Date; to: Date } {
  const minute = 60_000;
  const to = Math.ceil(now.getTime() / minute) * minute;
  return { from: new Date(to - lastMs), to: new Date(to) };
}
