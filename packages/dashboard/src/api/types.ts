// The states, their order and their wire letters are the core's shared model (one definition for the core,
// the API, the CLI and the dashboard).
export { CELL_STATE_CODES, CELL_STATES_WORST_FIRST, type CellState, type TaskState } from '@dtm/core/model';

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
