// The systems the throughput and steady-load benchmarks compare, each at its documented best settings (and the
// peers also in their per-job modes): what each row runs, what its completion guarantees, and how its jobs are
// made and counted. The parent makes the jobs and counts what is left; the workers run in child processes
// (fixtures/system-worker.ts), so that 1 and 4 processes are measured the same way.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { makeWorkerUtils, runMigrations } from 'graphile-worker';
import { PgBoss } from 'pg-boss';
import { createPastSlots, freshManager, MINUTE, pg, silentGraphileLogger } from './common.ts';

export type SystemId =
  | 'dtm'
  | 'dtm-batch'
  | 'raw-floor'
  | 'graphile'
  | 'graphile-batch'
  | 'pgboss'
  | 'pgboss-batch'
  | 'pgboss-tx';

/**
 * DTM's commit batch in the batched row (BENCH_DTM_BATCH): 50, the fastest in a trial (results/commit-batch-trial.md,
 * whose stall at 64 lanes was a misplanned claim of the reservations that counted abandoned attempts then).
 */
export const DTM_COMMIT_BATCH = Number(process.env.BENCH_DTM_BATCH ?? 50);
/** pg-boss's fetch size in its batched row. */
export const PG_BOSS_BATCH = 100;
/** graphile-worker's local queue in its batched row: its perfTest's setting. */
export const GRAPHILE_LOCAL_QUEUE = 500;

export interface SystemInfo {
  id: SystemId;
  label: string;
  /** Per-job durable completion, or batched, and what a crash does. */
  semantics: string;
  /** The settings it runs with, for the report. */
  settings: string;
  /** Whether it is a peer (compared against DTM) and in which mode. */
  kind: 'dtm-per-slot' | 'dtm-batched' | 'floor' | 'peer-per-job' | 'peer-batched';
}

export const SYSTEMS: Record<SystemId, SystemInfo> = {
  dtm: {
    id: 'dtm',
    label: 'DTM worker, per slot',
    kind: 'dtm-per-slot',
    semantics:
      'per-slot durable completion; the handler’s writes through task.client commit with COMPLETE (exactly once for database effects); a crash rolls the slot back at once',
    settings: 'tm.work({ concurrency, commitBatch: 1 }), pool concurrency + 4',
  },
  'dtm-batch': {
    id: 'dtm-batch',
    label: `DTM worker, commitBatch ${DTM_COMMIT_BATCH}`,
    kind: 'dtm-batched',
    semantics: `batched completion, still exactly once: up to ${DTM_COMMIT_BATCH} slots and their writes commit together; a crash rolls back the whole batch (effects and endings), its slots are retried after backoff`,
    settings: `tm.work({ concurrency, commitBatch: ${DTM_COMMIT_BATCH} })`,
  },
  'raw-floor': {
    id: 'raw-floor',
    label: 'raw SQL floor (DTM’s statements through pg)',
    kind: 'floor',
    semantics: 'as DTM per slot: the worker’s own prepared statements, one round trip per slot, no library',
    settings: 'one pg.Client per lane',
  },
  graphile: {
    id: 'graphile',
    label: 'graphile-worker, per job',
    kind: 'peer-per-job',
    semantics:
      'per-job durable completion; the handler runs outside the completing transaction (at least once: a crash after the work, before completion, runs it again once the lock expires, 4 h by default)',
    settings:
      'concurrency, maxPoolSize concurrency + 1, no local queue, no completion batching, logs dropped',
  },
  'graphile-batch': {
    id: 'graphile-batch',
    label: 'graphile-worker, local queue + batched completion',
    kind: 'peer-batched',
    semantics:
      'batched completion: jobs are locked in batches and completed together; a crash loses the batch’s completions and its jobs run again after the lock expires (4 h by default)',
    settings: `localQueue { size: ${GRAPHILE_LOCAL_QUEUE} }, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize concurrency + 1`,
  },
  pgboss: {
    id: 'pgboss',
    label: 'pg-boss, per job',
    kind: 'peer-per-job',
    semantics:
      'per-job durable completion; the handler runs outside the completing transaction (at least once: a crash runs it again after expiry, 15 min by default)',
    settings:
      'localConcurrency concurrency, batchSize 1, burstWhenReadyExceeds 1 (queue stats refreshed every second: superviseIntervalSeconds, monitorIntervalSeconds and queueCacheIntervalSeconds 1), pollingIntervalSeconds and notifyPollingIntervalSeconds 0.5, notify queue',
  },
  'pgboss-batch': {
    id: 'pgboss-batch',
    label: `pg-boss, batchSize ${PG_BOSS_BATCH}`,
    kind: 'peer-batched',
    semantics: `batched completion: ${PG_BOSS_BATCH} jobs fetched in one statement and completed in one; a crash re-runs the whole batch after expiry`,
    settings: `localConcurrency concurrency, batchSize ${PG_BOSS_BATCH}, burstWhenBatchFull, pollingIntervalSeconds and notifyPollingIntervalSeconds 0.5, notify queue`,
  },
  'pgboss-tx': {
    id: 'pgboss-tx',
    label: 'pg-boss, transactional per job',
    kind: 'peer-per-job',
    semantics:
      'per-job durable completion in the handler’s transaction (transactional: true): the same guarantee as DTM per slot',
    settings:
      'transactional, localConcurrency concurrency, batchSize 1, burstWhenReadyExceeds 1 (stats every second), pool concurrency + 4',
  },
};

/** What a child process needs to run its share of a system. */
export interface ChildConfig {
  system: SystemId;
  url: string;
  schema: string;
  queue: string;
  /** This process's concurrency. */
  concurrency: number;
  /** Distinct per process: lane numbers of the raw floor. */
  index: number;
  /** Whether handlers record enqueue → start latency (steady load). */
  isTimed: boolean;
  /** DTM: the backlog that reaches every slot. */
  backlog: string;
}

/** A system's jobs, made in the parent: how to count what is left, add more, and clean up. */
export interface Prepared {
  schema: string;
  queue: string;
  backlog: string;
  remaining(): Promise<number>;
  /** Enqueues `count` more jobs now (steady load), due at once. */
  enqueue(count: number): Promise<void>;
  drop(): Promise<void>;
}

const QUEUE = 'noop';

/** Makes `jobs` due jobs of `system` on `url`, in a schema of their own. */
export async function prepare(system: SystemId, url: string, jobs: number): Promise<Prepared> {
  if (system === 'dtm' || system === 'dtm-batch' || system === 'raw-floor') return prepareDtm(url, jobs);
  if (system === 'graphile' || system === 'graphile-batch') return prepareGraphile(url, jobs);
  return preparePgBoss(url, jobs);
}

async function prepareDtm(url: string, jobs: number): Promise<Prepared> {
  const tm = await freshManager(url, 2);
  // Slots from a year back, so that steady load can add slots after them (each a minute later).
  const backlog = 'P300D';
  const first = Math.floor(Date.now() / MINUTE) * MINUTE - 250 * 1440 * MINUTE;
  let next = first;
  const add = async (count: number) => {
    if (count <= 0) return;
    await tm.createTasks({
      name: QUEUE,
      from: new Date(next),
      to: new Date(next + count * MINUTE),
      interval: 'PT1M',
    });
    next += count * MINUTE;
  };
  if (jobs > 0) await createPastSlots(tm, QUEUE, jobs);
  return {
    schema: tm.schema,
    queue: QUEUE,
    backlog,
    remaining: async () => {
      const { rows } = await tm.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${tm.schema}".tasks WHERE state <> 'COMPLETE'`,
      );
      return Number(rows[0]?.n);
    },
    enqueue: add,
    drop: async () => {
      await tm.pool.query(`DROP SCHEMA "${tm.schema}" CASCADE`);
      await tm.close();
    },
  };
}

async function prepareGraphile(url: string, jobs: number): Promise<Prepared> {
  const schema = `gw_${randomBytes(4).toString('hex')}`;
  await runMigrations({ connectionString: url, schema, logger: silentGraphileLogger });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const utils = await makeWorkerUtils({ pgPool: pool, schema, logger: silentGraphileLogger });
  let key = 0;
  const add = async (count: number) => {
    for (let done = 0; done < count; done += 5_000) {
      const chunk = Math.min(5_000, count - done);
      await utils.addJobs(
        Array.from({ length: chunk }, () => ({
          identifier: QUEUE,
          payload: {},
          jobKey: `slot-${key++}`,
        })),
      );
    }
  };
  await add(jobs);
  return {
    schema,
    queue: QUEUE,
    backlog: '',
    remaining: async () => {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"._private_jobs`);
      return Number(rows[0]?.n);
    },
    enqueue: add,
    drop: async () => {
      await utils.release();
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

async function preparePgBoss(url: string, jobs: number): Promise<Prepared> {
  const schema = `boss_${randomBytes(4).toString('hex')}`;
  const boss = new PgBoss({ connectionString: url, schema, max: 2, supervise: false, schedule: false });
  // pg-boss's types lose its EventEmitter base under this configuration; it is one (its documented 'error').
  EventEmitter.prototype.on.call(boss, 'error', () => {});
  await boss.start();
  await boss.createQueue(QUEUE, { notify: true });
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  let key = 0;
  const add = async (count: number) => {
    for (let done = 0; done < count; done += 5_000) {
      const chunk = Math.min(5_000, count - done);
      await boss.insert(
        QUEUE,
        Array.from({ length: chunk }, () => ({ data: {}, singletonKey: `slot-${key++}` })),
      );
    }
  };
  await add(jobs);
  return {
    schema,
    queue: QUEUE,
    backlog: '',
    remaining: async () => {
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state < 'completed'`,
        [QUEUE],
      );
      return Number(rows[0]?.n);
    },
    enqueue: add,
    drop: async () => {
      await boss.stop({ graceful: false });
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}
