import type pg from 'pg';
import { recountChanged } from './counts.ts';
import { BadInputError, DtmError, sqlStateOf, TaskBusyError, translatePgError } from './errors.ts';
import { formatInterval, type Interval, parseDuration } from './model.ts';
import type { Schema } from './schema.ts';
import type { TaskManager } from './task-manager.ts';
import type { WorkerLogger } from './worker.ts';

/** Options of `tm.pruneHistory()`. */
export interface PruneHistoryOptions {
  /**
   * How long history is kept: rows recorded (`at`, the database's clock) longer ago than this are deleted,
   * except each slot's latest transition. An ISO-8601 duration of fixed length (`P30D`, `PT12H`, `P400D`) or
   * milliseconds, from one hour to 36,500 days. Default `P30D`.
   */
  olderThan?: Interval;
  /**
   * How many rows each batch reads, in id order, and at most deletes: each batch is one statement in a
   * transaction of its own. 1–100,000. Default 5,000.
   */
  batchSize?: number;
  /** Count the rows that would be deleted, delete nothing (and take no lock). Default false. */
  dryRun?: boolean;
  /** Stops the run between two batches; it then resolves with what it did so far. Default: none. */
  signal?: AbortSignal;
}

/** What a run of `tm.pruneHistory()` did. */
export interface PruneResult {
  /** Rows deleted (in a dry run: that would be deleted). */
  deleted: number;
  /** Batches run, each one statement in a transaction of its own. */
  batches: number;
}

/** Options of `tm.startHistoryPruning()`. */
export interface HistoryPruningOptions {
  /** As `pruneHistory`'s `olderThan`. Default `P30D`. */
  olderThan?: Interval;
  /** As `pruneHistory`'s `batchSize`. Default 5,000. */
  batchSize?: number;
  /** Time from the end of one run to the start of the next, in ms (10 to 7 days). Default 3,600,000 (1 h). */
  everyMs?: number;
  /** Time from the start to the first run, in ms (0 to 7 days). Default 60,000 (1 min). */
  firstRunAfterMs?: number;
  /**
   * One `info` line per run that deleted something, `debug` for a run skipped because another process was
   * pruning, `warn` for a run that failed (the next one is tried as usual). Default: the console, `info` and
   * above.
   */
  logger?: WorkerLogger;
}

const DEFAULT_RETENTION = 'P30D';
const MIN_RETENTION_MS = 3_600_000;
const MAX_RETENTION_MS = 36_500 * 86_400_000;
const DEFAULT_BATCH_SIZE = 5_000;
const MAX_BATCH_SIZE = 100_000;
const DEFAULT_EVERY_MS = 3_600_000;
const DEFAULT_FIRST_RUN_AFTER_MS = 60_000;
const MAX_PERIOD_MS = 7 * 86_400_000;

/**
 * The rows of the batch (`examined e`) that may be deleted: recorded before the cutoff ($4), and not their
 * slot's latest transition, which is kept for good so that a slot's history still says how it got where it
 * is (a later row of the same slot exists: one probe of task_history_slot_idx). Every rule of what pruning
 * deletes is here and only here: a dry run counts these rows, a batch deletes them. A further rule is one more
 * `AND` line. The recounting of the slot counts reads the rows of the transactions that had not ended at its
 * position (sql/000001.sql): those are never deleted, however old, until it has read them.
 */
function prunable(schema: Schema): string {
  return `SELECT e.id
          FROM examined e
          WHERE e.at < $4
            AND e.xid < (SELECT pg_snapshot_xmin(snapshot) FROM ${schema.sql}.counts_position)
            AND EXISTS (SELECT FROM ${schema.sql}.task_history later
                        WHERE later.name = e.name AND later.slot = e.slot AND later.id > e.id)`;
}

/**
 * One batch: the next `batchSize` ($3) rows by id after $1 and up to $2 (the largest id when the run began;
 * rows recorded since are newer than the cutoff, unless their transaction is older than the retention, and
 * the next run sees those), of which it deletes the prunable ones (a dry run counts them). It
 * reads a bounded number of rows however few it deletes, so that no statement runs long. `last_id` is where
 * the next batch starts; null when there was nothing left to read.
 */
function batchStatement(schema: Schema, isDryRun: boolean): string {
  const deleted = `, deleted AS (
            DELETE FROM ${schema.sql}.task_history h USING prunable p WHERE h.id = p.id
            RETURNING h.id
          )`;
  return `WITH examined AS (
            SELECT id, name, slot, at, xid
            FROM ${schema.sql}.task_history
            WHERE id > $1 AND id <= $2
            ORDER BY id
            LIMIT $3
          ), prunable AS (
            ${prunable(schema)}
          )${isDryRun ? '' : deleted}
          SELECT (SELECT max(id) FROM examined) AS last_id,
                 (SELECT count(*) FROM ${isDryRun ? 'prunable' : 'deleted'}) AS count`;
}

/** The run's cutoff, on the database's clock (which stamped `at`), and the last id it reads. */
function boundsStatement(schema: Schema): string {
  return `SELECT now() - $1::bigint * interval '1 millisecond' AS cutoff,
                 (SELECT max(id) FROM ${schema.sql}.task_history) AS last_id`;
}

/**
 * The session-level advisory lock that lets one pruner at a time work on a schema's history (taken with
 * pg_try_advisory_lock: a second pruner gives up at once instead of waiting). The schema is part of the key,
 * so that pruners of two schemas in one database do not exclude each other.
 */
function lockKey(schema: Schema): string {
  return `${schema.name}.task_history/prune`;
}

/** The options of a run, checked before anything touches the database. */
function checkPruneOptions(options: PruneHistoryOptions): {
  retentionMs: number;
  batchSize: number;
  isDryRun: boolean;
  signal: AbortSignal | undefined;
} {
  if (typeof options !== 'object' || options === null)
    throw new BadInputError('pruneHistory options must be an object');
  const dryRun = options.dryRun ?? false;
  if (typeof dryRun !== 'boolean') throw new BadInputError('dryRun must be true or false');
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new BadInputError('signal must be an AbortSignal');
  return {
    retentionMs: checkRetention(options.olderThan),
    batchSize: checkWhole(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize', 1, MAX_BATCH_SIZE),
    isDryRun: dryRun,
    signal,
  };
}

function checkRetention(olderThan: Interval | undefined): number {
  return parseRetention(olderThan ?? DEFAULT_RETENTION);
}

/**
 * Milliseconds of a history retention (`olderThan`): an ISO-8601 duration of fixed length or milliseconds,
 * from one hour to 36,500 days; otherwise a `BadInputError` that names the value `what` (default
 * `olderThan`). For callers that check a setting before they connect (an environment variable, an option on
 * the command line).
 */
export function parseRetention(value: Interval, what = 'olderThan'): number {
  return parseDuration(value, what, MIN_RETENTION_MS, MAX_RETENTION_MS);
}

function checkWhole(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new BadInputError(`${what} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  return value;
}

/**
 * Deletes the history rows recorded longer ago than `olderThan`, except each slot's latest transition, in
 * batches of their own transactions on one connection of `pool`, under the schema's pruning lock
 * (`TaskBusyError` when another process holds it; a dry run takes none). Slots are never deleted. Deleting
 * history rows takes no lock that workers wait for: they only insert history rows, and nothing locks them.
 */
export async function pruneHistory(
  pool: pg.Pool,
  schema: Schema,
  options: PruneHistoryOptions = {},
): Promise<PruneResult> {
  const { retentionMs, batchSize, isDryRun, signal } = checkPruneOptions(options);
  const result: PruneResult = { deleted: 0, batches: 0 };
  if (signal?.aborted) return result;
  const doing = `${isDryRun ? 'counting' : 'pruning'} the history of schema ${schema.name}`;
  // The history the slot counts have not read yet is kept (see prunable): let them read up to now first (a
  // dry run too, so that it counts what a run would delete; the counts are derived data, nothing anyone sees
  // changes).
  await recountChanged(pool, schema);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw translatePgError(error, doing);
  }
  let isLocked = false;
  let isBroken = false;
  try {
    if (!isDryRun) {
      const { rows } = await client.query<{ is_locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS is_locked',
        [lockKey(schema)],
      );
      isLocked = rows[0]?.is_locked === true;
      if (!isLocked)
        throw new TaskBusyError(`${doing}: another process is pruning it right now; nothing was done`);
    }
    const { rows } = await client.query<{ cutoff: Date; last_id: string | null }>(boundsStatement(schema), [
      retentionMs,
    ]);
    const cutoff = rows[0]?.cutoff;
    const until = rows[0]?.last_id ?? null;
    const statement = batchStatement(schema, isDryRun);
    let after = '0';
    while (until !== null && BigInt(after) < BigInt(until) && !signal?.aborted) {
      const batch = await client.query<{ last_id: string | null; count: string }>(statement, [
        after,
        until,
        batchSize,
        cutoff,
      ]);
      const [row] = batch.rows;
      result.batches += 1;
      result.deleted += Number(row?.count ?? 0);
      if (!row?.last_id) break;
      after = row.last_id;
    }
    return result;
  } catch (error) {
    // Not an error the server sent (nor ours): the connection itself failed, and is not reused.
    isBroken = !(error instanceof DtmError) && sqlStateOf(error) === undefined;
    throw translatePgError(error, doing);
  } finally {
    if (isLocked && !isBroken) {
      // A session lock outlives the statement: it must be let go before the connection goes back to the pool.
      isBroken = !(await client
        .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey(schema)])
        .then(
          () => true,
          () => false,
        ));
    }
    // A broken connection, or one that could not let go of the lock, is closed (and the lock with it).
    client.release(isBroken ? new Error('the pruning connection failed') : undefined);
  }
}

/**
 * Prunes a schema's history periodically (built by `tm.startHistoryPruning()`): a first run shortly after the
 * start, then one every `everyMs` after the previous one ended, each as `tm.pruneHistory()`. Of many processes
 * pruning one schema (replicas of the API sidecar), one works at a time; the others skip their run. Runs never
 * overlap in one process. Failures are logged, never thrown.
 */
export class HistoryPruning {
  readonly #tm: TaskManager;
  readonly #olderThan: string;
  readonly #batchSize: number;
  readonly #everyMs: number;
  readonly #log: WorkerLogger;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #isStopped = false;

  /** @internal Built by `tm.startHistoryPruning()`. */
  constructor(tm: TaskManager, options: HistoryPruningOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw new BadInputError('history pruning options must be an object');
    this.#tm = tm;
    this.#olderThan = formatInterval(checkRetention(options.olderThan));
    this.#batchSize = checkWhole(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize', 1, MAX_BATCH_SIZE);
    this.#everyMs = checkWhole(options.everyMs ?? DEFAULT_EVERY_MS, 'everyMs', 10, MAX_PERIOD_MS);
    const firstRunAfterMs = checkWhole(
      options.firstRunAfterMs ?? DEFAULT_FIRST_RUN_AFTER_MS,
      'firstRunAfterMs',
      0,
      MAX_PERIOD_MS,
    );
    this.#log = options.logger ?? consoleLogger;
    this.#schedule(firstRunAfterMs);
  }

  /** Stops the runs: a run under way ends after its current batch. Resolves when it has. Idempotent. */
  async stop(): Promise<void> {
    this.#isStopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#isStopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#run().finally(() => {
        this.#running = null;
        this.#schedule(this.#everyMs);
      });
    }, delayMs);
    // The pruning never keeps a process alive by itself.
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const fields = { schema: this.#tm.schema, olderThan: this.#olderThan };
    const startedAt = performance.now();
    try {
      const { deleted, batches } = await this.#tm.pruneHistory({
        olderThan: this.#olderThan,
        batchSize: this.#batchSize,
        signal: this.#abort.signal,
      });
      if (deleted > 0) {
        const ms = Math.round(performance.now() - startedAt);
        this.#log.info(
          { ...fields, deleted, batches, ms },
          `pruned ${deleted} history rows older than ${this.#olderThan} from schema ${this.#tm.schema} in ${batches} batches (${ms} ms)`,
        );
      }
    } catch (error) {
      if (error instanceof TaskBusyError) {
        this.#log.debug(fields, 'another process is pruning the history: skipped');
      } else {
        const message = error instanceof Error ? error.message : String(error);
        this.#log.warn(
          { ...fields, error: message },
          'pruning the history failed; the next run will try again',
        );
      }
    }
  }
}

/** Info and above to the console, one line each. */
const consoleLogger: WorkerLogger = {
  debug() {},
  info(_fields, message) {
    console.log(`[dtm] ${message}`);
  },
  warn(fields, message) {
    console.warn(`[dtm] ${message} ${JSON.stringify(fields)}`);
  },
  error(fields, message) {
    console.error(`[dtm] ${message} ${JSON.stringify(fields)}`);
  },
};
