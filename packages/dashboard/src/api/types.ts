/** A task row's state as stored. */
export type TaskState = 'AVAILABLE' | 'ACQUIRED' | 'COMPLETE' | 'SKIP';

/**
 * A grid cell's state: the task states plus FAILING, MISSING (a gap: no row, from the name's first slot on),
 * FUTURE (no row, not started yet) and BEFORE_FIRST (no row, before the name's first slot: not expected).
 */
export type CellState =
  | 'COMPLETE'
  | 'ACQUIRED'
  | 'AVAILABLE'
  | 'FAILING'
  | 'SKIP'
  | 'MISSING'
  | 'FUTURE'
  | 'BEFORE_FIRST';

/** Every cell state, worst first (the order the API uses to pick a bucket's state). */
export const CELL_STATES_WORST_FIRST: readonly CellState[] = [
  'FAILING',
  'MISSING',
  'AVAILABLE',
  'ACQUIRED',
  'SKIP',
  'COMPLETE',
  'FUTURE',
  'BEFORE_FIRST',
];

/**
 * The letters of cell states on the wire (a grid row's `states`, a detail's counts): the letter at index i
 * codes `CELL_STATES_WORST_FIRST[i]` (the API's `CELL_STATE_CODES`, see docs/http-api.md).
 */
export const CELL_STATE_CODES = 'FMARSCUB';

/** The worker holding a running slot. */
export interface Holder {
  worker: string | null;
  since: Date | null;
}

/** Wire shape of {@link Holder}. */
export interface WireHolder {
  worker: string | null;
  since: string | null;
}

/** Parses an ISO-8601 instant from the wire. */
export function toDate(value: string): Date {
  return new Date(value);
}

/** Parses an optional ISO-8601 instant from the wire. */
export function toDateOrNull(value: string | null | undefined): Date | null {
  return value ? new Date(value) : null;
}

/** Maps a wire holder to the domain. */
export function toHolder(holder: WireHolder | null | undefined): Holder | null {
  return holder ? { worker: holder.worker, since: toDateOrNull(holder.since) } : null;
}
