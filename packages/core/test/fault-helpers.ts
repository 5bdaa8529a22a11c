import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect } from 'vitest';
import { TaskManager } from '../src/index.ts';
import type { WorkerProcessConfig } from './fixtures/worker-process.ts';
import { waitFor } from './helpers.ts';

/** True when an executable file named `command` is in one of the folders of PATH. */
export function isOnPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((folder) => {
    if (folder === '') return false;
    const file = join(folder, command);
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** One JSON line a worker process printed. */
export interface WorkerLine {
  event: string;
  at: number;
  pid: number;
  slot?: string;
  attempt?: string;
  port?: number;
  [key: string]: unknown;
}

const FIXTURE = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url));

/** A real worker process (test/fixtures/worker-process.ts) and what it printed. */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly lines: WorkerLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';

  constructor(config: WorkerProcessConfig) {
    this.child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) this.lines.push(JSON.parse(part) as WorkerLine);
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The first line matching, once printed. */
  waitForLine(what: string, match: (line: WorkerLine) => boolean, timeoutMs = 20_000): Promise<WorkerLine> {
    return waitFor(`${what} (pid ${this.pid})`, () => this.lines.find(match), timeoutMs);
  }

  count(event: string): number {
    return this.lines.filter((line) => line.event === event).length;
  }
}

/** A schema of its own on `url`, migrated, with the `starts` and `results` tables the fixture writes. */
export async function createFaultSchema(url: string): Promise<{ tm: TaskManager; schema: string }> {
  const schema = `f_${randomBytes(6).toString('hex')}`;
  const tm = new TaskManager({ connectionString: url, schema, poolSize: 10 });
  await tm.migrate();
  await tm.pool.query(`
    CREATE TABLE "${schema}".starts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      slot timestamptz NOT NULL, attempt uuid NOT NULL, pid integer NOT NULL,
      -- read through the holder's connection once it held the slot, so after the lock (the holding
      -- transaction's start may be earlier: a worker's lane takes its next slot in the message that completes
      -- the previous one); the insert itself may land after a later attempt's (it waits for a connection of
      -- its own, and a killed holder's may be written late)
      held_at timestamptz NOT NULL
    );
    CREATE TABLE "${schema}".results (slot timestamptz NOT NULL, attempt uuid NOT NULL, pid integer NOT NULL);`);
  return { tm, schema };
}

/** `count` one-minute slots, all in the past and within a day. */
export async function createSlots(tm: TaskManager, name: string, count: number): Promise<void> {
  const minute = 60_000;
  const to = Math.floor(Date.now() / minute) * minute - 60 * minute;
  await tm.createTasks({ name, from: new Date(to - count * minute), to: new Date(to), interval: 'PT1M' });
}

/** Waits until every slot of the name is COMPLETE (none AVAILABLE, none held). */
export async function waitForAllComplete(tm: TaskManager, name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'every slot to be COMPLETE',
    async () => {
      try {
        const isHeld = (await tm.listTasks({ name, states: ['ACQUIRED'], limit: 1 })).length > 0;
        return !isHeld && (await remaining(tm, name)) === 0;
      } catch {
        return false; // the server may be restarting
      }
    },
    timeoutMs,
  );
}

/**
 * The exactly-once check: every slot COMPLETE, none held; exactly one result row per slot, written by the
 * slot's last handler start (so no handler started on it after the attempt that committed); every start
 * recorded. Returns how many slots were started more than once (their earlier attempts were interrupted).
 */
export async function expectEachSlotDoneOnce(
  tm: TaskManager,
  name: string,
): Promise<{ slots: number; restarted: number }> {
  const schema = `"${tm.schema}"`;
  const { rows: tasks } = await tm.pool.query<{ slot: Date; state: string }>(
    `SELECT slot, state FROM ${schema}.tasks WHERE name = $1`,
    [name],
  );
  expect(tasks.length).toBeGreaterThan(0);
  expect(tasks.filter((task) => task.state !== 'COMPLETE')).toEqual([]);
  expect(await tm.listTasks({ name, states: ['ACQUIRED'] })).toEqual([]);
  const { rows: duplicates } = await tm.pool.query(
    `SELECT slot, count(*) AS n FROM ${schema}.results GROUP BY slot HAVING count(*) <> 1`,
  );
  expect(duplicates).toEqual([]);
  const { rows: checks } = await tm.pool.query<{
    slot: Date;
    has_result: boolean;
    last_start_wrote: boolean;
  }>(
    `SELECT t.slot,
            r.slot IS NOT NULL AS has_result,
            r.attempt = (SELECT s.attempt FROM ${schema}.starts s WHERE s.slot = t.slot ORDER BY s.held_at DESC, s.id DESC LIMIT 1)
              AS last_start_wrote
     FROM ${schema}.tasks t LEFT JOIN ${schema}.results r ON r.slot = t.slot
     WHERE t.name = $1`,
    [name],
  );
  expect(checks.filter((check) => !check.has_result || !check.last_start_wrote)).toEqual([]);
  const { rows } = await tm.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT slot FROM ${schema}.starts GROUP BY slot HAVING count(*) > 1) twice`,
  );
  return { slots: tasks.length, restarted: Number(rows[0]?.n ?? 0) };
}

/** How many slots of the name are not COMPLETE yet. */
export async function remaining(tm: TaskManager, name: string): Promise<number> {
  const { rows } = await tm.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${tm.schema}".tasks WHERE name = $1 AND state <> 'COMPLETE'`,
    [name],
  );
  return Number(rows[0]?.n);
}

/** Drops the schema and ends the manager. */
export async function dropFaultSchema(tm: TaskManager): Promise<void> {
  await tm.pool.query(`DROP SCHEMA IF EXISTS "${tm.schema}" CASCADE`);
  await tm.close();
}

/** Ends worker processes that are still running (SIGKILL) and waits for them. */
export async function killAll(workers: WorkerProcess[]): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((worker) => worker.exited));
}

/** A direct connection that is not part of any pool (for pg_terminate_backend and friends). */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  return client;
}
