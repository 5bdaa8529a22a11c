import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TaskManager } from '@dtm/core';
import { testDatabaseUrl } from '@dtm/dev-db/test-database';
import pg from 'pg';
import { afterAll } from 'vitest';

export const databaseUrl = testDatabaseUrl();

const BIN = join(import.meta.dirname, '..', 'bin', 'dtm.js');

/** A fresh schema name for one test file, dropped after its tests. */
export function freshSchema(): string {
  const schema = `cli_${randomBytes(6).toString('hex')}`;
  afterAll(async () => {
    const client = new pg.Client(databaseUrl);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  return schema;
}

/** A migrated TaskManager on `schema`, closed after the file's tests. */
export async function createManager(schema: string): Promise<TaskManager> {
  const tm = new TaskManager({
    connectionString: databaseUrl,
    schema,
    poolSize: 10,
    workerName: 'test-worker',
  });
  await tm.migrate();
  afterAll(() => tm.close());
  return tm;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `dtm` bin as a process against the test database; never throws on a non-zero exit. */
export function runDtm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, NO_COLOR: '1', ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(error);
        else resolve({ status: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** A slot start `slotsAgo` intervals before the current one (aligned to the epoch). */
export function slotAgo(intervalMs: number, slotsAgo: number): Date {
  return new Date(Math.floor(Date.now() / intervalMs) * intervalMs - slotsAgo * intervalMs);
}

/** How many rows the schema's history holds: a write that was refused must leave it unchanged. */
export async function historyCount(tm: TaskManager): Promise<number> {
  const { rows } = await tm.pool.query<{ count: string }>(`SELECT count(*) FROM "${tm.schema}".task_history`);
  return Number(rows[0]?.count);
}
