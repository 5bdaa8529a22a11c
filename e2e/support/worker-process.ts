import type { AcquiredTask } from '@dtm/core';
import { TaskManager } from '@dtm/core';
import { E2E_INTERVAL, E2E_RETRY } from './stack-env.ts';

/**
 * A real worker process for the browser tests, on the public worker API. Each slot's work waits while the
 * test holds it back (a row in e2e_holds, read through the held transaction), fails if the test says so (a
 * row in e2e_fails), else writes a result row through `task.client` and completes. Names come from E2E_NAMES; it stops on SIGTERM or when the parent goes.
 */
const connectionString = process.env.DATABASE_URL;
const schema = process.env.DTM_SCHEMA;
const names = (process.env.E2E_NAMES ?? '').split(',').filter(Boolean);
const workerName = process.env.DTM_WORKER_NAME ?? `e2e-worker:${process.pid}`;
const retryMs = Number(process.env.E2E_RETRY_MS ?? Number.NaN);
if (!connectionString || !schema || names.length === 0)
  throw new Error('DATABASE_URL, DTM_SCHEMA, E2E_NAMES needed');

const tm = new TaskManager({
  connectionString,
  schema,
  workerName,
  poolSize: names.length * 2 + 4,
  retry: Number.isFinite(retryMs) ? { baseMs: retryMs, maxMs: retryMs, jitter: 0 } : E2E_RETRY,
});

async function isHeldBack(task: AcquiredTask): Promise<boolean> {
  const { rowCount } = await task.client.query(
    `SELECT 1 FROM "${schema}".e2e_holds WHERE name = $1 AND slot = $2`,
    [task.task.name, task.task.slot],
  );
  return (rowCount ?? 0) > 0;
}

const workers = names.map((name) =>
  tm.work({
    name,
    interval: E2E_INTERVAL,
    backlog: 'P7D',
    concurrency: 2,
    // Look for due slots often: a slot freed by a crashed holder emits no notification.
    pollInterval: 500,
    shutdownGraceMs: 2_000,
    handler: async (task) => {
      while (await isHeldBack(task)) {
        if (task.signal.aborted) throw new Error('lock lost');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const { rows } = await task.client.query<{ message: string }>(
        `SELECT message FROM "${schema}".e2e_fails WHERE name = $1 AND slot = $2`,
        [task.task.name, task.task.slot],
      );
      if (rows[0]) throw new Error(rows[0].message);
      await task.client.query(
        `INSERT INTO "${schema}".e2e_results (name, slot, worker) VALUES ($1, $2, $3)`,
        [task.task.name, task.task.slot, workerName],
      );
      return `processed by ${workerName}`;
    },
  }),
);

let isStopping = false;
async function stop(): Promise<void> {
  if (isStopping) return;
  isStopping = true;
  await Promise.all(workers.map((worker) => worker.stop()));
  await tm.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
process.send?.('ready');
