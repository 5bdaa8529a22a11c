import { queryOptions } from '@tanstack/react-query';
import { apiFetch, withQuery } from './client.ts';
import { type CellState, type Holder, toDate, toHolder, type WireHolder } from './types.ts';

/** Wire shape of a grid cell. */
export interface WireGridCell {
  start: string;
  end: string;
  state: CellState;
  counts: Partial<Record<CellState, number>>;
  failedAttempts: number;
  message: string | null;
  holder: WireHolder | null;
}

/** Wire shape of a grid row. */
export interface WireGridRow {
  name: string;
  interval: string;
  intervalMs: number;
  slotsPerCell: number;
  summary: { missing: number; failing: number; running: number };
  cells: WireGridCell[];
}

/** Wire shape of `GET /api/grid`. */
export interface WireGrid {
  from: string;
  to: string;
  now: string;
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

function toGridCell(cell: WireGridCell): GridCell {
  return {
    start: toDate(cell.start),
    end: toDate(cell.end),
    state: cell.state,
    counts: cell.counts,
    failedAttempts: cell.failedAttempts,
    message: cell.message,
    holder: toHolder(cell.holder),
  };
}

/** Maps the wire grid to the domain. */
export function toGrid(wire: WireGrid): Grid {
  return {
    from: toDate(wire.from),
    to: toDate(wire.to),
    now: toDate(wire.now),
    rows: wire.rows.map((row) => ({
      name: row.name,
      interval: row.interval,
      intervalMs: row.intervalMs,
      slotsPerCell: row.slotsPerCell,
      summary: row.summary,
      cells: row.cells.map(toGridCell),
    })),
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
