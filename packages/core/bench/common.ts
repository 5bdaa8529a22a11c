import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TaskManager, type WorkerLogger } from '../src/index.ts';

export const MINUTE = 60_000;
export const quiet: WorkerLogger = { debug() {}, info() {}, warn() {}, error() {} };

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

/** Polls `check` every `everyMs` until it is true; throws after ten minutes. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + 600_000;
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

export { pg };
