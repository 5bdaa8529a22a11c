import { DatabaseError, sqlStateOf } from '@dtm/core';
import type pg from 'pg';
import type { RouteDeps } from './deps.ts';

/**
 * Runs one of the API's own read-only aggregate queries on the API's pool. Plain reads: they never take a
 * row lock, so they never wait on nor disturb a worker holding a slot. Failures become the core's
 * `DatabaseError` (with the SQLSTATE), so that the one `onError` maps them like every other database error.
 */
export async function readOnly<R extends pg.QueryResultRow>(
  deps: RouteDeps,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  try {
    const result = await deps.tm.pool.query<R>(text, values);
    return result.rows;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatabaseError(`reading: ${reason}`, { cause: error, sqlState: sqlStateOf(error) });
  }
}

/**
 * The live overlay as rows: the committed AVAILABLE rows held by a running transaction right now (the
 * core's `holders` view), with the holder's worker name and since when. It reads the AVAILABLE rows that
 * the caller's filter on name (and slot) leaves, through `tasks_available_idx`: filter it.
 */
export function heldRowsSql(s: string): string {
  return `SELECT h.name, h.slot, h.failed_attempts, h.worker, h.since FROM ${s}.holders h`;
}
