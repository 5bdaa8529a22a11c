// `@dtm/core/metrics`: the worker's Prometheus series. prom-client is an optional peer dependency, loaded
// only by this entry point, so the core itself never needs it.
import type { Registry } from 'prom-client';
import { onAttemptEnd } from './attempts.ts';
import type { Worker } from './worker.ts';

const prom = await import('prom-client').catch((error: unknown) => {
  throw new Error('@dtm/core/metrics needs the prom-client package: npm install prom-client', {
    cause: error,
  });
});

/** Upper bounds of the attempt duration histogram, in seconds: from milliseconds to an hour. */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The series of one registry, shared by every worker observed on it. */
interface WorkerSeries {
  attempts: InstanceType<typeof prom.Counter<'name' | 'outcome'>>;
  durations: InstanceType<typeof prom.Histogram<'name' | 'outcome'>>;
  errors: InstanceType<typeof prom.Counter<'name'>>;
  workers: Set<Worker>;
}

const seriesOf = new WeakMap<Registry, WorkerSeries>();

/**
 * Counts `worker`'s attempts in `registry` (default prom-client's global one), whose series it registers
 * at the first call for that registry; every worker of the process may be observed on one registry:
 *
 * - `dtm_worker_attempts_total{name,outcome}`: ended attempts, by task name and outcome (`completed`,
 *   `skipped`, `failed`, `abandoned`: the lock was lost while the work ran, `released`: given back
 *   unchanged, by `task.release()` or `stop()`);
 * - `dtm_worker_attempt_duration_seconds{name,outcome}`: their durations, a histogram;
 * - `dtm_worker_slots_held{name}`: slots whose handler runs right now;
 * - `dtm_worker_errors_total{name}`: failures around the handlers (database unreachable, pool exhausted),
 *   which the worker retries.
 *
 * Returns what stops observing the worker. Add `collectDefaultMetrics({ register: registry })` for the
 * process's own series (event-loop lag, heap, GC).
 */
export function observeWorker(worker: Worker, registry: Registry = prom.register): () => void {
  let series = seriesOf.get(registry);
  if (!series) {
    series = registerSeries(registry);
    seriesOf.set(registry, series);
  }
  const { attempts, durations, errors, workers } = series;
  workers.add(worker);
  const name = worker.name;
  const stopAttempts = onAttemptEnd(worker, ({ outcome, durationMs }) => {
    attempts.inc({ name, outcome });
    durations.observe({ name, outcome }, durationMs / 1000);
  });
  const onError = () => errors.inc({ name });
  worker.on('error', onError);
  return () => {
    stopAttempts();
    worker.off('error', onError);
    workers.delete(worker);
  };
}

function registerSeries(registry: Registry): WorkerSeries {
  const registers = [registry];
  const workers = new Set<Worker>();
  new prom.Gauge({
    name: 'dtm_worker_slots_held',
    help: 'Slots whose handler runs right now, by task name.',
    labelNames: ['name'],
    registers,
    collect() {
      this.reset();
      const held = new Map<string, number>();
      for (const worker of workers) held.set(worker.name, (held.get(worker.name) ?? 0) + worker.runningCount);
      for (const [name, count] of held) this.set({ name }, count);
    },
  });
  return {
    attempts: new prom.Counter({
      name: 'dtm_worker_attempts_total',
      help: 'Ended attempts, by task name and outcome (completed, skipped, failed, abandoned, released).',
      labelNames: ['name', 'outcome'],
      registers,
    }),
    durations: new prom.Histogram({
      name: 'dtm_worker_attempt_duration_seconds',
      help: 'How long attempts took, from acquiring the slot to recording its end, by task name and outcome.',
      labelNames: ['name', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    errors: new prom.Counter({
      name: 'dtm_worker_errors_total',
      help: 'Failures around the handlers (database unreachable, pool exhausted), retried, by task name.',
      labelNames: ['name'],
      registers,
    }),
    workers,
  };
}
