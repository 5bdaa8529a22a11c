import { randomBytes } from 'node:crypto';
import { testDatabaseUrl } from '@dtm/dev-db/test-database';
import pg from 'pg';
import { afterAll } from 'vitest';
import { TaskManager, type TaskManagerOptions } from '../src/index.ts';

export const databaseUrl = testDatabaseUrl();

/**
 * A migrated TaskManager in a schema of its own (so test files run in parallel and in any order); the
 * schema is dropped after the file's tests.
 */
export async function createManager(options: Partial<TaskManagerOptions> = {}): Promise<TaskManager> {
  const schema = options.schema ?? `t_${randomBytes(6).toString('hex')}`;
  const tm = new TaskManager({ connectionString: databaseUrl, poolSize: 40, ...options, schema });
  await tm.migrate();
  afterAll(async () => {
    await tm.close();
    await dropSchema(schema);
  });
  return tm;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let nameCounter = 0;
/** A task name unique within the file. */
export function uniqueName(prefix = 'task'): string {
  nameCounter += 1;
  return `${prefix}-${nameCounter}`;
}

/** A five-minute slot start some hours ago, so nothing in a test is in the future. */
export function pastSlot(slotsAgo = 100): Date {
  const interval = 300_000;
  return new Date(Math.floor(Date.now() / interval) * interval - slotsAgo * interval);
}

/**
 * The status of the last transaction that locked or wrote each of the name's rows (xmax), when one did. A
 * worker that takes a slot reads an aborted one as an attempt abandoned by a holder that went away.
 */
export async function lockerStatuses(tm: TaskManager, name: string): Promise<string[]> {
  const { rows } = await tm.pool.query<{ status: string }>(
    `SELECT pg_xact_status((pg_current_xact_id()::text::bigint - age(xmax))::text::xid8) AS status
     FROM "${tm.schema}".tasks
     WHERE name = $1 AND xmax <> '0'::xid`,
    [name],
  );
  return rows.map((row) => row.status);
}
