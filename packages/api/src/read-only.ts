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
 * The live overlay as rows: the committed AVAILABLE rows whose advisory lock is granted right now (see the
 * core's `holders` view), with the holder's worker name and since when. Starts from the few holders and
 * finds each one's row through `tasks_lock_key_idx` (sql/000002.sql), so that no reader hashes the lock
 * key of every row it reads.
 */
export function heldRowsSql(s: string): string {
  return `SELECT t.name, t.slot, t.failed_attempts, h.worker, h.since
     FROM ${s}.holders h
     JOIN ${s}.tasks t ON ${s}.slot_lock_key(t.name, t.slot) = h.lock_key AND t.state = 'AVAILABLE'`;
}
