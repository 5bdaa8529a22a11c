import { TaskManager } from '@dtm/core';
import { type ChildMessage, onStopRequest } from './children.ts';
import { DEMO_TASKS } from './tasks.ts';

/**
 * A demo worker process: exactly what a user writes with the public worker API. One `tm.work` loop per task
 * name; each slot's work writes its result through `task.client`, so it commits with COMPLETE or not at all.
 */
const connectionString = process.env.DATABASE_URL;
if (!connectionString) throw new Error('DATABASE_URL is required');
const schema = process.env.DTM_SCHEMA ?? 'dtm';
const workerName = process.env.DTM_WORKER_NAME ?? `demo-worker:${process.pid}`;

const tm = new TaskManager({ connectionString, schema, workerName, poolSize: 16 });
const workers = DEMO_TASKS.map((demo) =>
  tm.work({
    name: demo.name,
    interval: demo.interval,
    backlog: 'P2D',
    concurrency: 3,
    handler: (task) => demo.handle(task, schema),
  }),
);

// Stopping lets running slots finish (or gives them back when their work cannot), then closes the pool.
onStopRequest(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await tm.close();
});
process.send?.({ type: 'ready' } satisfies ChildMessage);
