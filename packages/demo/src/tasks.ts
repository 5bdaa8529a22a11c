import { createHash } from 'node:crypto';
import type { AcquiredTask } from '@dtm/core';

/** One task name of the demo and the work each of its slots does. */
export interface DemoTask {
  name: string;
  interval: string;
  intervalMs: number;
  /** Does the slot's work through `task.client`; returns the completion note, throws to fail the slot. */
  handle(task: AcquiredTask, schema: string): Promise<string>;
}

/** A stable number in [0, 1) for a slot, so that the same slots fail (or are slow) on every run. */
export function slotDice(name: string, slot: Date, salt = ''): number {
  const digest = createHash('sha256').update(`${name}|${slot.toISOString()}|${salt}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** Waits `ms`, or rejects as soon as the lock is lost (then nothing the work wrote can commit anyway). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('lock lost'));
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('lock lost'));
      },
      { once: true },
    );
  });
}

/** Records the slot's result; a re-queued slot overwrites its previous result in the same transaction. */
async function saveResult(task: AcquiredTask, schema: string, value: number): Promise<void> {
  await task.client.query(
    `INSERT INTO "${schema}".demo_results (name, slot, value, worker)
     VALUES ($1, $2, $3, current_setting('application_name'))
     ON CONFLICT (name, slot) DO UPDATE SET value = EXCLUDED.value, worker = EXCLUDED.worker, processed_at = now()`,
    [task.task.name, task.task.slot, value],
  );
}

/** Sums the results of another task name inside this slot's time range, through the held transaction. */
async function sumResults(
  task: AcquiredTask,
  schema: string,
  name: string,
): Promise<{ total: number; parts: number }> {
  const { rows } = await task.client.query<{ total: string | null; parts: string }>(
    `SELECT sum(value) AS total, count(*) AS parts FROM "${schema}".demo_results
     WHERE name = $1 AND slot >= $2 AND slot < $3`,
    [name, task.task.slot, new Date(task.task.slot.getTime() + task.task.intervalMs)],
  );
  return { total: Number(rows[0]?.total ?? 0), parts: Number(rows[0]?.parts ?? 0) };
}

/**
 * The demo's three names: a 5-minute sensor count against an unreliable source (a few slots can never reach
 * it, some time out once or twice), an hourly report over the counts, and a daily roll-up.
 */
export const DEMO_TASKS: readonly DemoTask[] = [
  {
    name: 'sensor-count',
    interval: 'PT5M',
    intervalMs: 300_000,
    async handle(task, schema) {
      const { name, slot } = task.task;
      const dice = slotDice(name, slot);
      await pause(200 + Math.floor(dice * 700), task.signal);
      if (dice < 0.025)
        throw new Error('source unreachable: connect ECONNREFUSED 10.20.0.14:5432 (sensor-db-3)');
      if (dice < 0.07 && task.task.failedAttempts < 2) {
        throw new Error('timeout: counting readings on sensor-db-1 took longer than 30 s');
      }
      const readings = 800 + Math.floor(slotDice(name, slot, 'value') * 400);
      await saveResult(task, schema, readings);
      return `${readings} readings`;
    },
  },
  {
    name: 'hourly-report',
    interval: 'PT1H',
    intervalMs: 3_600_000,
    async handle(task, schema) {
      const { name, slot } = task.task;
      const dice = slotDice(name, slot);
      await pause(800 + Math.floor(dice * 1500), task.signal);
      if (dice < 0.1 && task.task.failedAttempts < 3) {
        throw new Error('timeout: reports-replica did not answer within 30 s (statement_timeout)');
      }
      const { total, parts } = await sumResults(task, schema, 'sensor-count');
      await saveResult(task, schema, total);
      return `${total} readings from ${parts} of 12 sensor counts`;
    },
  },
  {
    name: 'daily-rollup',
    interval: 'P1D',
    intervalMs: 86_400_000,
    async handle(task, schema) {
      await pause(1500, task.signal);
      const { total, parts } = await sumResults(task, schema, 'hourly-report');
      await saveResult(task, schema, total);
      return `${total} readings from ${parts} of 24 hourly reports`;
    },
  },
];

/** The table the demo's work writes its results to, beside DTM's own tables. */
export function resultsTableSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS "${schema}".demo_results (
    name text NOT NULL,
    slot timestamptz NOT NULL,
    value bigint NOT NULL,
    worker text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, slot)
  )`;
}
