import { DatabaseError } from '@dtm/core';
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
    const code =
      typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
        ? error.code
        : undefined;
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatabaseError(`reading: ${reason}`, { cause: error, sqlState: code });
  }
}
