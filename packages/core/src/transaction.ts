import type pg from 'pg';
import { translatePgError } from './errors.ts';

/**
 * Runs `body` in a transaction on a connection of `pool`: opened with `begin` (default `BEGIN`; it may set
 * options too), committed, or rolled back when `isDryRun` or when anything fails. A connection whose rollback
 * failed is not reused. Errors are translated, `doing` naming what was under way.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  doing: string,
  body: (client: pg.PoolClient) => Promise<T>,
  options: { begin?: string; isDryRun?: boolean } = {},
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw translatePgError(error, doing);
  }
  let isBroken = false;
  try {
    await client.query(options.begin ?? 'BEGIN');
    const result = await body(client);
    await client.query(options.isDryRun ? 'ROLLBACK' : 'COMMIT');
    return result;
  } catch (error) {
    isBroken = !(await client.query('ROLLBACK').then(
      () => true,
      () => false,
    ));
    throw translatePgError(error, doing);
  } finally {
    client.release(isBroken ? new Error('rollback failed') : undefined);
  }
}
