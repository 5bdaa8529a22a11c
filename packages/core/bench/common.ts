import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Logger } from 'graphile-worker';
import pg from 'pg';
import { TaskManager, type WorkerLogger } from '../src/index.ts';

export const MINUTE = 60_000;
export const quiet: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };
/** graphile-worker's logger with every line dropped (its per-job success line included). */
export const silentGraphileLogger = new Logger(() => () => {});

/** A migrated manager in a fresh schema. */
export async function freshManager(url: string, poolSize = 20): Promise<TaskManager> {
  const tm = new TaskManager({
    connectionString: url,
    schema: `bench_${randomBytes(4).toString('hex')}`,
    poolSize,
    workerName: `bench-${process.pid}`,
  });
  await tm.migrate();
  return tm;
}

/** `count` one-minute slots of `name`, ending an hour ago (all due, all within `backlogFor(count)`). */
export async function createPastSlots(tm: TaskManager, name: string, count: number): Promise<void> {
  const to = Math.floor(Date.now() / MINUTE) * MINUTE - 60 * MINUTE;
  for (let done = 0; done < count; done += 10_000) {
    const chunk = Math.min(10_000, count - done);
    const from = to - (count - done) * MINUTE;
    await tm.createTasks({
      name,
      from: new Date(from),
      to: new Date(from + chunk * MINUTE),
      interval: 'PT1M',
    });
  }
}

/** A backlog (ISO duration) reaching every slot that createPastSlots made. */
export function backlogFor(count: number): string {
  return `PT${count + 120}M`;
}

export async function remaining(pool: pg.Pool, schema: string, name: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM "${schema}".tasks WHERE name = $1 AND state <> 'COMPLETE'`,
    [name],
  );
  return Number(rows[0]?.n);
}

/** Polls `check` every `everyMs` until it is true; throws after `timeoutMs` (default ten minutes). */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  everyMs = 5,
  timeoutMs = 600_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The median of `values` with their spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] ?? Number.NaN)
      : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

/** A random order of `items` (Fisher–Yates). */
export function shuffle<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** A child process that speaks in lines: `node --import tsx file ...args`. */
export class LineChild {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(file: string, args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      this.lines.push(...parts.filter((part) => part.trim() !== ''));
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Waits for a line that `match` accepts; throws with the child's stderr if it exits first. */
  async waitFor(what: string, match: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    let found: string | undefined;
    await until(
      what,
      () => {
        found = this.lines.find(match);
        if (found === undefined && this.child.exitCode !== null)
          throw new Error(`the child exited (${this.child.exitCode}) before ${what}: ${this.stderr}`);
        return found !== undefined;
      },
      10,
      timeoutMs,
    );
    return found as string;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** The durability settings of the server at `url`, as it reports them. */
export async function serverSettings(url: string): Promise<Record<string, string>> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'max_connections',
                      'shared_buffers', 'autovacuum', 'server_version')`,
    );
    return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
  } finally {
    await client.end();
  }
}

export { pg };
