import { hostname } from 'node:os';
import pg from 'pg';
import type { AcquiredTask, RetryPolicy } from './acquired-task.ts';
import { BatchLane } from './batch-lane.ts';
import {
  type ConnectionLossOptions,
  poolSettings,
  resolveConnectionLoss,
  sessionSettings,
  watchPool,
} from './connection.ts';
import { type RecountingOptions, rebuildCounts, recountChanged, startRecounting } from './counts.ts';
import {
  BadInputError,
  DtmError,
  DuplicateTaskError,
  IntervalMismatchError,
  TaskNotFoundError,
  translatePgError,
} from './errors.ts';
import { type SubscribeOptions, type Subscription, subscribe } from './events.ts';
import { holderStatements } from './holder-statements.ts';
import { Lane, type LaneSettings, type NextTake, nextDueIn } from './lane.ts';
import { LaneRegistry } from './lane-registry.ts';
import { migrate } from './migrate.ts';
import { checkTaskName as checkName, fixedCadence, slotsIn } from './model.ts';
import {
  type Grid,
  type GridRequest,
  type HeldSlot,
  type NameSummary,
  type ReadPools,
  readGrid,
  readHolders,
  readNames,
} from './reads.ts';
import {
  HistoryPruning,
  type HistoryPruningOptions,
  type PruneHistoryOptions,
  type PruneResult,
  pruneHistory,
} from './retention.ts';
import { type Schema, toSchema } from './schema.ts';
import { messageOf, storableText } from './text.ts';
import { assertAligned, formatInterval, type Interval, parseInterval, toDate } from './time.ts';
import { inTransaction } from './transaction.ts';
import { type HistoryEntry, TASK_STATES, type Task, type TaskRow, type TaskState, toTask } from './types.ts';
import { Worker, type WorkerContext, type WorkerOptions } from './worker.ts';

// pg parses timestamptz into Date already; bigint (int8) stays a string, which we convert where read.

/** Options of a TaskManager. */
export interface TaskManagerOptions {
  /** PostgreSQL connection string; the manager then owns its pool and ends it in `close()`. */
  connectionString?: string;
  /** A pool you own (direct or session-pooled connections; never a transaction-pooling pgbouncer). */
  pool?: pg.Pool;
  /**
   * Where committed rows are read (tasks, history, the grid, the names): a pool on a streaming replica, say.
   * Live holders, which only the primary knows, and every write use the main pool. Default: the main pool.
   */
  readPool?: pg.Pool;
  /** Schema holding DTM's tables. Default `dtm`. */
  schema?: string;
  /** Recorded as actor and holder. Default `<hostname>:<pid>`. */
  workerName?: string;
  /** Size of the pool built from `connectionString`; one connection per held slot. Default 10. */
  poolSize?: number;
  /** Backoff between attempts of a failing slot. Defaults: 1 s base, 5 min cap, ±20% jitter. */
  retry?: RetryPolicy;
  /**
   * How fast a lost connection is noticed: the holder's `signal` fires within `holderAbortMs` (default 15 s)
   * of its connection going silent, strictly before the server frees the lock (`serverReleaseMs`, default
   * 45 s, applied to each holding connection as `tcp_keepalives_*` and `tcp_user_timeout`). A pool the manager
   * builds also bounds every query and connection attempt by `serverReleaseMs`; with a pool of your own, set
   * its `query_timeout` and `connectionTimeoutMillis` yourself. Wrong order: `BadInputError`.
   */
  connectionLoss?: ConnectionLossOptions;
}

/** Which slots of a name an operation targets: listed slots, or every slot in [from, to). */
export type SlotSelection =
  | { name: string; slots: ReadonlyArray<Date | string> }
  | { name: string; from: Date | string; to: Date | string };

/** Who did it and why; recorded in history. */
export interface ActorOptions {
  reason: string;
  actor?: string;
  /**
   * Compute the outcomes without changing anything: one read, which takes no row lock and writes nothing
   * (`busy`: the slot's row is locked by a transaction running right now). Default false.
   */
  dryRun?: boolean;
}

export type RequeueOutcome = 'requeued' | 'busy' | 'not_found' | 'unchanged';
export type SkipOutcome = 'skipped' | 'busy' | 'unchanged';

/** Per-slot outcomes of a guarded operation, oldest slot first. */
export interface OperationResult<O extends string> {
  outcomes: Array<{ slot: Date; outcome: O }>;
  counts: Record<O, number>;
}

export interface ListTasksOptions {
  name?: string;
  names?: readonly string[];
  /** Slots at or after. */
  from?: Date | string;
  /** Slots before. */
  to?: Date | string;
  /** Live states (ACQUIRED means held right now). */
  states?: readonly TaskState[];
  /** Only AVAILABLE slots with failed attempts. Default false. */
  isFailing?: boolean;
  /** Keyset cursor: rows after this (name, slot), in (name, slot) order. */
  after?: { name: string; slot: Date | string };
  /** Default 1000, at most 10000. */
  limit?: number;
}

/** Largest number of slots one call may create, re-queue or skip. */
export const MAX_SLOTS_PER_CALL = 10_000;
const MAX_TEXT_LENGTH = 10_000;

/**
 * The library that workers embed: creates slots, hands out exactly one holder per slot with row locks held
 * in an open transaction, and reads state without ever taking a row lock.
 */
export class TaskManager {
  /** The pool every operation uses. */
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly workerName: string;
  readonly #schema: Schema;
  readonly #pools: ReadPools;
  readonly #ownsPool: boolean;
  readonly #retry: RetryPolicy;
  readonly #lanes: LaneSettings;
  /** By when the server has freed the lock of a holder whose connection went silent (see ConnectionLossOptions). */
  readonly #serverReleaseMs: number;

  constructor(options: TaskManagerOptions) {
    this.#schema = toSchema(options.schema ?? 'dtm');
    this.schema = this.#schema.name;
    this.workerName = checkText(options.workerName ?? `${hostname()}:${process.pid}`, 'workerName', 200);
    this.#retry = options.retry ?? {};
    const timings = resolveConnectionLoss(options.connectionLoss);
    this.#serverReleaseMs = timings.serverReleaseMs;
    if (options.pool) {
      this.pool = options.pool;
      this.#ownsPool = false;
    } else if (options.connectionString) {
      this.pool = new pg.Pool({
        connectionString: options.connectionString,
        max: options.poolSize ?? 10,
        ...poolSettings(timings),
      });
      this.#ownsPool = true;
    } else {
      throw new BadInputError('TaskManager needs a connectionString or a pool');
    }
    watchPool(this.pool);
    this.#pools = { rows: options.readPool ?? this.pool, live: this.pool, schema: this.#schema };
    this.#lanes = {
      pool: this.pool,
      schema: this.#schema,
      statements: holderStatements(this.#schema),
      sessionSettings: sessionSettings(timings),
      heartbeat: { everyMs: timings.heartbeatMs, timeoutMs: timings.heartbeatTimeoutMs },
      registry: new LaneRegistry(this.pool, this.#schema),
    };
  }

  /**
   * Starts a worker that keeps the name's current slot created and processes its due slots with `handler`,
   * until `stop()`. See `WorkerOptions`.
   */
  work(options: WorkerOptions): Worker {
    const context: WorkerContext = {
      manager: this,
      workerName: this.workerName,
      retry: this.#retry,
      openLane: () => new Lane(this.#lanes, { isKept: true }),
      openBatchLane: (size) => new BatchLane(this.#lanes, size),
      nextTake: (take) => this.#nextTake(take),
      nextDueIn: (name, from, to) => nextDueIn(this.pool, this.#schema, name, from, to),
      serverReleaseMs: this.#serverReleaseMs,
    };
    return new Worker(context, options);
  }

  /** Creates or upgrades DTM's tables in the schema. Idempotent and safe to run from many processes at once. */
  migrate(): Promise<void> {
    return migrate(this.pool, this.#schema);
  }

  /**
   * Delivers the committed transitions of this schema, read from its history over a connection of its own
   * (not from the pool) that reconnects with backoff when it is lost. See `SubscribeOptions`.
   */
  subscribe(options: SubscribeOptions): Promise<Subscription> {
    return subscribe(this.pool.options, this.#schema, options);
  }

  /**
   * The grid of a window: per name, its slots in at most `columns` cells counted by live state, with gaps,
   * failures and holders. Costs the names and cells asked, not the slots they cover. See `GridRequest`.
   */
  grid(request: GridRequest): Promise<Grid> {
    return readGrid(this.#pools, request);
  }

  /** Every task name with its totals by live state, first and last slot, and oldest due slot. */
  listNames(): Promise<NameSummary[]> {
    return readNames(this.#pools);
  }

  /** The slots workers hold right now, of `names` (default every name) in [from, to) (default unbounded). */
  listHolders(filter: { names?: readonly string[]; from?: Date; to?: Date } = {}): Promise<HeldSlot[]> {
    const names = filter.names ? filter.names.map(checkName) : null;
    return readHolders(this.#pools, { ...filter, names });
  }

  /**
   * Brings the stored slot counts (what wide grids and the names' totals add up) up to date with what changed
   * since they were last recounted; one process at a time (null: another was recounting). Reads are exact
   * without it; they only cost more the longer it has not run. The API sidecar runs it continuously
   * (`startRecounting`).
   */
  recountChanged(): Promise<number | null> {
    return recountChanged(this.pool, this.#schema);
  }

  /** Recounts `recountChanged` every `everyMs` (default 500) until `stop()`. */
  startRecounting(options: RecountingOptions = {}): { stop(): Promise<void> } {
    return startRecounting(this.pool, this.#schema, options);
  }

  /**
   * Counts every slot again from scratch: needed only after rows were written with the session setting
   * `dtm.records_history = on` but without history rows (a bulk load), which nothing else tells the counts of.
   */
  rebuildCounts(): Promise<void> {
    return rebuildCounts(this.pool, this.#schema);
  }

  /** Resolves when the database answers (and the read pool's, when it is another); rejects otherwise. */
  async ping(): Promise<void> {
    const pools = new Set([this.pool, this.#pools.rows]);
    for (const pool of pools)
      await pool.query('SELECT 1').catch((error) => {
        throw translatePgError(error, 'reaching the database');
      });
  }

  /**
   * Deletes the history rows recorded longer ago than `olderThan` (default `P30D`), except each slot's latest
   * transition, which is kept so that a slot's history still says how it got where it is; slots themselves are
   * never deleted. Works in batches (default 5,000 rows read, each batch one statement in a transaction of its
   * own) on one connection, and never makes a worker wait. One process at a time per schema: `TaskBusyError`
   * when another is pruning (a dry run, which only counts, runs regardless). Bad options: `BadInputError`,
   * before anything is read. See `PruneHistoryOptions`.
   */
  pruneHistory(options: PruneHistoryOptions = {}): Promise<PruneResult> {
    return pruneHistory(this.pool, this.#schema, options);
  }

  /**
   * Prunes the history as `pruneHistory` does, shortly after the start (default 1 min) and then every hour,
   * until `stop()`; a process whose run finds another pruning skips it. See `HistoryPruningOptions`.
   */
  startHistoryPruning(options: HistoryPruningOptions = {}): HistoryPruning {
    return new HistoryPruning(this, options);
  }

  /** Ends the pool if the manager built it. */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.pool.end();
  }

  /**
   * Creates one AVAILABLE slot. The name's interval (and origin, default the Unix epoch) is fixed by its first
   * slot. Throws `DuplicateTaskError` if the slot exists, `IntervalMismatchError` if the name has another interval.
   */
  async createTask(options: {
    name: string;
    slot: Date | string;
    interval: Interval;
    origin?: Date | string;
    createdBy?: string;
    /** Sets the name's `maxAttempts` (see `setMaxAttempts`); left as it is when not given. */
    maxAttempts?: number | null;
  }): Promise<Task> {
    const name = checkName(options.name);
    const intervalMs = parseInterval(options.interval);
    const originMs = toDate(options.origin ?? new Date(0), 'origin').getTime();
    const slot = toDate(options.slot, 'slot');
    assertAligned(slot, intervalMs, originMs, name);
    const maxAttempts = checkMaxAttempts(options.maxAttempts);
    const created = await this.#createSlots(
      name,
      intervalMs,
      originMs,
      [slot],
      options.createdBy,
      maxAttempts,
    );
    if (created === 0) {
      throw new DuplicateTaskError(`slot ${JSON.stringify(name)} @ ${slot.toISOString()} already exists`);
    }
    const task = await this.getTask(name, slot);
    if (!task) throw new TaskNotFoundError(`slot ${JSON.stringify(name)} @ ${slot.toISOString()} vanished`);
    return task;
  }

  /**
   * Creates every missing slot in [from, to) (`from` rounded up to a slot start); existing ones are left as
   * they are. Returns how many it created. At most 10,000 slots per call.
   */
  async createTasks(options: {
    name: string;
    from: Date | string;
    to: Date | string;
    interval: Interval;
    origin?: Date | string;
    createdBy?: string;
    /** Sets the name's `maxAttempts` (see `setMaxAttempts`); left as it is when not given. */
    maxAttempts?: number | null;
  }): Promise<number> {
    const name = checkName(options.name);
    const intervalMs = parseInterval(options.interval);
    const originMs = toDate(options.origin ?? new Date(0), 'origin').getTime();
    const maxAttempts = checkMaxAttempts(options.maxAttempts);
    const slots = expandRange(options.from, options.to, intervalMs, originMs);
    if (slots.length === 0) {
      if (maxAttempts !== undefined) await this.#registerName(name, intervalMs, originMs, maxAttempts);
      return 0;
    }
    return this.#createSlots(name, intervalMs, originMs, slots, options.createdBy, maxAttempts);
  }

  /** Creates the missing slots of an existing name in [from, to); returns the slots it created (or would). */
  async backfill(options: {
    name: string;
    from: Date | string;
    to: Date | string;
    createdBy?: string;
    dryRun?: boolean;
  }): Promise<Date[]> {
    const name = checkName(options.name);
    const { intervalMs, originMs } = await this.#nameSettings(name);
    const slots = expandRange(options.from, options.to, intervalMs, originMs);
    if (slots.length === 0) return [];
    const createdBy =
      options.createdBy === undefined ? this.workerName : checkText(options.createdBy, 'createdBy', 200);
    return this.#transaction(options.dryRun ?? false, (client) =>
      this.#insertSlots(client, name, slots, createdBy),
    );
  }

  /** The slot with its live state, or null if it does not exist. Never takes a row lock. */
  async getTask(name: string, slot: Date | string): Promise<Task | null> {
    const at = toDate(slot, 'slot');
    const checked = checkName(name);
    const scope = { names: [checked], from: at, to: new Date(at.getTime() + 1) };
    const [task] = await this.#selectTasks(scope, 't.name = $1 AND t.slot = $2', [checked, at], null, 1);
    return task ?? null;
  }

  /**
   * Committed rows in (name, slot) order, each with the live ACQUIRED overlay (a slot a worker holds right now
   * reads ACQUIRED with its holder, and stops doing so the moment the holder's transaction ends). Never takes
   * a row lock.
   */
  async listTasks(options: ListTasksOptions = {}): Promise<Task[]> {
    const names = options.names
      ? options.names.map(checkName)
      : options.name !== undefined
        ? [checkName(options.name)]
        : null;
    const from = options.from === undefined ? null : toDate(options.from, 'from');
    const to = options.to === undefined ? null : toDate(options.to, 'to');
    if (from && to && from > to)
      throw new BadInputError(`inverted range: from ${from.toISOString()} is after to ${to.toISOString()}`);
    const states = options.states ? options.states.map(checkState) : null;
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new BadInputError(`limit must be a whole number from 1 to 10000, got ${String(limit)}`);
    }
    const after = options.after
      ? [checkName(options.after.name), toDate(options.after.slot, 'after.slot')]
      : [null, null];
    return this.#selectTasks(
      { names, from, to },
      `($1::text[] IS NULL OR t.name = ANY($1))
       AND ($2::timestamptz IS NULL OR t.slot >= $2)
       AND ($3::timestamptz IS NULL OR t.slot < $3)
       AND ($4::text IS NULL OR (t.name, t.slot) > ($4, $5::timestamptz))
       AND (NOT $6 OR (t.state = 'AVAILABLE' AND t.failed_attempts > 0))`,
      [names, from, to, after[0], after[1], options.isFailing ?? false],
      states,
      limit,
    );
  }

  /** Every committed transition of a slot, oldest first. */
  async history(name: string, slot: Date | string): Promise<HistoryEntry[]> {
    const { rows } = await this.#read<{
      id: string;
      name: string;
      slot: Date;
      from_state: TaskState | null;
      to_state: TaskState;
      actor: string | null;
      message: string | null;
      at: Date;
    }>(
      `SELECT id, name, slot, from_state, to_state, actor, message, at
       FROM ${this.#schema.sql}.transitions
       WHERE name = $1 AND slot = $2
       ORDER BY id, nth`,
      [checkName(name), toDate(slot, 'slot')],
      'reading history',
    );
    return rows.map((row) => ({
      id: Number(row.id),
      name: row.name,
      slot: row.slot,
      fromState: row.from_state,
      toState: row.to_state,
      actor: row.actor,
      message: row.message,
      at: row.at,
    }));
  }

  /**
   * Takes this exact slot: `SELECT … FOR UPDATE NOWAIT` in a new transaction that stays open until the
   * handle ends it. Fails at once with `TaskBusyError` if another worker holds it, `TaskNotAvailableError`
   * if it is not AVAILABLE, still waiting out its retry backoff or gave up, `TaskNotFoundError` if it does not
   * exist. If its last holder went away without recording an ending, that attempt is counted instead (the slot
   * then waits out its backoff: `TaskNotAvailableError`; see the README, Attempts).
   */
  async acquire(
    name: string,
    slot: Date | string,
    options: { worker?: string; retry?: RetryPolicy } = {},
  ): Promise<AcquiredTask> {
    const take = {
      name: checkName(name),
      slot: toDate(slot, 'slot'),
      worker: options.worker === undefined ? this.workerName : checkText(options.worker, 'worker', 200),
      retry: options.retry ?? this.#retry,
    };
    const task = await new Lane(this.#lanes, { isKept: false }).take(take);
    if (!task)
      throw new TaskNotFoundError(`no slot ${JSON.stringify(take.name)} @ ${take.slot.toISOString()}`);
    return task;
  }

  /**
   * Takes the oldest (or newest) AVAILABLE slot of `name` that is due now, skipping slots other workers hold
   * or are taking (`FOR UPDATE SKIP LOCKED`): never blocks. Null when there is nothing to take.
   */
  async acquireNext(options: {
    name: string;
    from?: Date | string;
    to?: Date | string;
    order?: 'oldest' | 'newest';
    worker?: string;
    /** Backoff if this slot fails; default the manager's `retry`. */
    retry?: RetryPolicy;
  }): Promise<AcquiredTask | null> {
    return new Lane(this.#lanes, { isKept: false }).take(this.#nextTake(options));
  }

  /** acquireNext()'s options, checked. */
  #nextTake(options: Parameters<TaskManager['acquireNext']>[0]): NextTake {
    const name = checkName(options.name);
    const from = options.from === undefined ? null : toDate(options.from, 'from');
    const to = options.to === undefined ? null : toDate(options.to, 'to');
    if (from && to && from > to)
      throw new BadInputError(`inverted range: from ${from.toISOString()} is after to ${to.toISOString()}`);
    const order = options.order ?? 'oldest';
    if (order !== 'oldest' && order !== 'newest')
      throw new BadInputError(`order must be 'oldest' or 'newest'`);
    return {
      name,
      from,
      to,
      order,
      worker: options.worker === undefined ? this.workerName : checkText(options.worker, 'worker', 200),
      retry: options.retry ?? this.#retry,
    };
  }

  /**
   * The seed's flow: the oldest AVAILABLE slot due in the backlog window, else the current slot (created if
   * missing), acquired. The current slot is the one containing `now - lag`; the backlog window reaches
   * `backlog` further back. Null when nothing can be had.
   */
  async findOrCreateAndAcquire(options: {
    name: string;
    interval: Interval;
    backlog: Interval;
    lag?: Interval;
    origin?: Date | string;
    worker?: string;
  }): Promise<AcquiredTask | null> {
    const name = checkName(options.name);
    const intervalMs = parseInterval(options.interval);
    const backlogMs = parseDuration(options.backlog, 'backlog');
    const lagMs = options.lag === undefined ? 0 : parseDuration(options.lag, 'lag');
    const originMs = toDate(options.origin ?? new Date(0), 'origin').getTime();
    const cadence = fixedCadence(intervalMs, originMs);
    const current = new Date(cadence.slotStart(cadence.slotNumber(Date.now() - lagMs)));
    const worker = options.worker;
    const next = await this.acquireNext({
      name,
      from: new Date(current.getTime() - backlogMs),
      to: new Date(current.getTime() + intervalMs),
      ...(worker === undefined ? {} : { worker }),
    });
    if (next) return next;
    await this.#createSlots(name, intervalMs, originMs, [current], worker);
    try {
      return await this.acquire(name, current, worker === undefined ? {} : { worker });
    } catch (error) {
      if (error instanceof DtmError && (error.code === 'BUSY' || error.code === 'NOT_AVAILABLE')) return null;
      throw error;
    }
  }

  /**
   * Acquires the slot, runs `work`, completes on return (with the returned string as message) and fails
   * with the error's message on throw (then rethrows). Returns what `work` returned.
   */
  async run<T>(name: string, slot: Date | string, work: (task: AcquiredTask) => Promise<T>): Promise<T> {
    const task = await this.acquire(name, slot);
    let result: T;
    try {
      result = await work(task);
    } catch (error) {
      if (task.isHeld) await task.fail(messageOf(error));
      throw error;
    }
    try {
      await task.complete();
    } catch (error) {
      // The work's SQL may have left the transaction aborted: record the failure instead of losing it.
      if (task.isHeld) await task.fail(messageOf(error));
      throw error;
    }
    return result;
  }

  /**
   * The guarded re-queue: COMPLETE and SKIP become AVAILABLE (attempts reset), an AVAILABLE slot waiting
   * out its backoff becomes due now, and one that gave up (`maxAttempts`) becomes due now with its attempts
   * reset. A slot a worker holds right now is never waited on nor touched
   * (`SKIP LOCKED`): it is reported `busy`. One transaction; history and a notification per change.
   * With a range, only existing slots are reported (gaps are for `backfill`).
   */
  async requeue(selection: SlotSelection, options: ActorOptions): Promise<OperationResult<RequeueOutcome>> {
    const { name, slots, isRange } = await this.#selectSlots(selection);
    const reason = checkText(options.reason, 'reason', MAX_TEXT_LENGTH);
    const actor = options.actor === undefined ? this.workerName : checkText(options.actor, 'actor', 500);
    const rows = options.dryRun
      ? await this.#previewRequeue(name, slots)
      : await this.#requeueSlots(name, slots, reason, actor);
    const outcomes = isRange ? rows.filter((row) => row.outcome !== 'not_found') : rows;
    return summarize(outcomes, ['requeued', 'busy', 'not_found', 'unchanged']);
  }

  /** requeue's statement, in a transaction that commits. */
  #requeueSlots(
    name: string,
    slots: Date[],
    reason: string,
    actor: string,
  ): Promise<OperationResult<RequeueOutcome>['outcomes']> {
    return this.#transaction(false, async (client) => {
      const { rows } = await client.query<{ slot: Date; outcome: RequeueOutcome }>(
        `WITH wanted AS (
           SELECT slot FROM unnest($2::timestamptz[]) AS slot
         ), existing AS (
           -- a plain read sees held slots too, without waiting for their holders
           SELECT slot FROM ${this.#schema.sql}.tasks WHERE name = $1 AND slot = ANY($2)
         ), lockable AS (
           -- a slot a worker holds right now is skipped, never waited on: it is busy
           SELECT slot, state, next_attempt_at
           FROM ${this.#schema.sql}.tasks
           WHERE name = $1 AND slot = ANY($2)
           FOR UPDATE SKIP LOCKED
         ), requeued AS (
           UPDATE ${this.#schema.sql}.tasks t
           SET state = 'AVAILABLE',
               next_attempt_at = NULL,
               -- a slot that gave up ('infinity') starts a fresh count of attempts, as COMPLETE and SKIP do
               failed_attempts = CASE WHEN l.state = 'AVAILABLE' AND l.next_attempt_at < 'infinity'
                                      THEN t.failed_attempts ELSE 0 END,
               message = CASE WHEN l.state = 'AVAILABLE' AND l.next_attempt_at < 'infinity'
                              THEN t.message ELSE $3 END
           FROM lockable l
           WHERE t.name = $1 AND t.slot = l.slot AND ${isRequeuable('l')}
           RETURNING t.slot, l.state AS from_state
         ), recorded AS (
           INSERT INTO ${this.#schema.sql}.task_history (name, slot, from_state, to_state, actor, message)
           SELECT $1, slot, from_state, 'AVAILABLE', $4, $3 FROM requeued
           RETURNING *
         ), ${announcedCte(this.#schema)}
         SELECT w.slot, ${requeueOutcome({ isMissing: 'e.slot IS NULL', isBusy: 'l.slot IS NULL', isChanged: 'r.slot IS NOT NULL' })} AS outcome
         FROM wanted w
         LEFT JOIN existing e ON e.slot = w.slot
         LEFT JOIN lockable l ON l.slot = w.slot
         LEFT JOIN requeued r ON r.slot = w.slot
         CROSS JOIN announced
         ORDER BY w.slot`,
        [name, slots, reason, actor],
      );
      return rows;
    });
  }

  /**
   * requeue's dry run: the outcomes its statement would report, from one plain read of the rows. Locking them
   * in a transaction that rolls back would leave an aborted locker in each AVAILABLE row's xmax, which the
   * next holder counts as an attempt whose holder went away: only a holder may lock an AVAILABLE row and
   * roll back.
   */
  async #previewRequeue(name: string, slots: Date[]): Promise<OperationResult<RequeueOutcome>['outcomes']> {
    const outcome = requeueOutcome({
      isMissing: 't.slot IS NULL',
      isBusy: isLockedNow(this.#schema, 't'),
      isChanged: isRequeuable('t'),
    });
    const { rows } = await this.#query<{ slot: Date; outcome: RequeueOutcome }>(
      `SELECT w.slot, ${outcome} AS outcome
       FROM unnest($2::timestamptz[]) AS w (slot)
       LEFT JOIN ${this.#schema.sql}.tasks t ON t.name = $1 AND t.slot = w.slot
       ORDER BY w.slot`,
      [name, slots],
      'previewing a re-queue',
    );
    return rows;
  }

  /**
   * Marks slots SKIP by hand: AVAILABLE ones (failing included) and missing ones (created as SKIP). A slot a
   * worker holds right now is never waited on nor touched (`busy`); COMPLETE slots are left alone
   * (`unchanged`) unless `includeComplete`. One transaction; history records actor and reason.
   * Un-skip is `requeue`.
   */
  async skip(
    selection: SlotSelection,
    options: ActorOptions & { includeComplete?: boolean },
  ): Promise<OperationResult<SkipOutcome>> {
    const { name, slots } = await this.#selectSlots(selection);
    const reason = checkText(options.reason, 'reason', MAX_TEXT_LENGTH);
    const actor = options.actor === undefined ? this.workerName : checkText(options.actor, 'actor', 500);
    const includeComplete = options.includeComplete ?? false;
    const rows = options.dryRun
      ? await this.#previewSkip(name, slots, includeComplete)
      : await this.#skipSlots(name, slots, reason, actor, includeComplete);
    return summarize(rows, ['skipped', 'busy', 'unchanged']);
  }

  /** skip's statement, in a transaction that commits. */
  #skipSlots(
    name: string,
    slots: Date[],
    reason: string,
    actor: string,
    includeComplete: boolean,
  ): Promise<OperationResult<SkipOutcome>['outcomes']> {
    return this.#transaction(false, async (client) => {
      const { rows } = await client.query<{ slot: Date; outcome: SkipOutcome }>(
        `WITH wanted AS (
           SELECT slot FROM unnest($2::timestamptz[]) AS slot
         ), created AS (
           -- gaps become SKIP; existing slots are filtered out first so that a held one is not waited on
           INSERT INTO ${this.#schema.sql}.tasks (name, slot, state, created_by, message, completed_at)
           SELECT $1, w.slot, 'SKIP', $4, $3, now()
           FROM wanted w
           WHERE NOT EXISTS (SELECT 1 FROM ${this.#schema.sql}.tasks t WHERE t.name = $1 AND t.slot = w.slot)
           ON CONFLICT (name, slot) DO NOTHING
           RETURNING slot
         ), lockable AS (
           -- a slot a worker holds right now is skipped, never waited on: it is busy
           SELECT slot, state
           FROM ${this.#schema.sql}.tasks
           WHERE name = $1 AND slot = ANY($2)
           FOR UPDATE SKIP LOCKED
         ), skipped AS (
           UPDATE ${this.#schema.sql}.tasks t
           SET state = 'SKIP', message = $3, next_attempt_at = NULL, completed_at = now()
           FROM lockable l
           WHERE t.name = $1 AND t.slot = l.slot AND ${isSkippable('l', '$5')}
           RETURNING t.slot, l.state AS from_state
         ), recorded AS (
           INSERT INTO ${this.#schema.sql}.task_history (name, slot, from_state, to_state, actor, message)
           SELECT $1, slot, NULL, 'SKIP', $4, $3 FROM created
           UNION ALL
           SELECT $1, slot, from_state, 'SKIP', $4, $3 FROM skipped
           RETURNING *
         ), ${announcedCte(this.#schema)}
         SELECT w.slot, ${skipOutcome({ isMissing: 'c.slot IS NOT NULL', isBusy: 'l.slot IS NULL', isChanged: 's.slot IS NOT NULL' })} AS outcome
         FROM wanted w
         LEFT JOIN created c ON c.slot = w.slot
         LEFT JOIN lockable l ON l.slot = w.slot
         LEFT JOIN skipped s ON s.slot = w.slot
         CROSS JOIN announced
         ORDER BY w.slot`,
        [name, slots, reason, actor, includeComplete],
      );
      return rows;
    });
  }

  /** skip's dry run: the outcomes its statement would report, from one plain read (see #previewRequeue). */
  async #previewSkip(
    name: string,
    slots: Date[],
    includeComplete: boolean,
  ): Promise<OperationResult<SkipOutcome>['outcomes']> {
    const outcome = skipOutcome({
      isMissing: 't.slot IS NULL',
      isBusy: isLockedNow(this.#schema, 't'),
      isChanged: isSkippable('t', '$3'),
    });
    const { rows } = await this.#query<{ slot: Date; outcome: SkipOutcome }>(
      `SELECT w.slot, ${outcome} AS outcome
       FROM unnest($2::timestamptz[]) AS w (slot)
       LEFT JOIN ${this.#schema.sql}.tasks t ON t.name = $1 AND t.slot = w.slot
       ORDER BY w.slot`,
      [name, slots, includeComplete],
      'previewing a skip',
    );
    return rows;
  }

  /**
   * After `maxAttempts` failed or abandoned attempts, a slot of `name` is no longer retried automatically: it
   * stays AVAILABLE and failing ("gave up after N attempts", `hasGivenUp`) until it is re-queued, which gives
   * it `maxAttempts` more. Null: retry forever with capped backoff (the default). Applies to failures from now
   * on. `TaskNotFoundError` for an unknown name.
   */
  async setMaxAttempts(name: string, maxAttempts: number | null): Promise<void> {
    const checked = checkMaxAttempts(maxAttempts) ?? null;
    if (!(await this.getTaskName(name))) throw new TaskNotFoundError(`no task name ${JSON.stringify(name)}`);
    await this.#setMaxAttempts(checkName(name), checked);
  }

  /**
   * A name's interval, origin and `maxAttempts` (null: retry forever); null for an unknown name.
   */
  async getTaskName(name: string): Promise<{
    name: string;
    interval: string;
    intervalMs: number;
    origin: Date;
    maxAttempts: number | null;
  } | null> {
    const { rows } = await this.#query<{ interval_ms: string; origin: Date; max_attempts: number | null }>(
      `SELECT interval_ms, origin, max_attempts FROM ${this.#schema.sql}.task_names WHERE name = $1`,
      [checkName(name)],
      'reading a task name',
    );
    const [row] = rows;
    if (!row) return null;
    const intervalMs = Number(row.interval_ms);
    return {
      name,
      interval: formatInterval(intervalMs),
      intervalMs,
      origin: row.origin,
      maxAttempts: row.max_attempts,
    };
  }

  async #nameSettings(name: string): Promise<{ intervalMs: number; originMs: number }> {
    const found = await this.getTaskName(name);
    if (!found) throw new TaskNotFoundError(`no task name ${JSON.stringify(name)}`);
    return { intervalMs: found.intervalMs, originMs: found.origin.getTime() };
  }

  /** Resolves a selection to validated, aligned slot starts of an existing name. */
  async #selectSlots(selection: SlotSelection): Promise<{ name: string; slots: Date[]; isRange: boolean }> {
    if (typeof selection !== 'object' || selection === null)
      throw new BadInputError('a selection { name, slots } or { name, from, to } is required');
    const name = checkName(selection.name);
    if ('slots' in selection) {
      if (!Array.isArray(selection.slots) || selection.slots.length === 0)
        throw new BadInputError('slots must be a non-empty array');
      if (selection.slots.length > MAX_SLOTS_PER_CALL)
        throw new BadInputError(
          `at most ${MAX_SLOTS_PER_CALL} slots per call, got ${selection.slots.length}`,
        );
      const dates = selection.slots.map((slot, i) => toDate(slot, `slots[${i}]`));
      const { intervalMs, originMs } = await this.#nameSettings(name);
      for (const slot of dates) assertAligned(slot, intervalMs, originMs, name);
      const unique = [...new Set(dates.map((slot) => slot.getTime()))].sort((a, b) => a - b);
      return { name, slots: unique.map((t) => new Date(t)), isRange: false };
    }
    const { intervalMs, originMs } = await this.#nameSettings(name);
    return { name, slots: expandRange(selection.from, selection.to, intervalMs, originMs), isRange: true };
  }

  /** Registers the name (or checks its interval), then inserts the slots that do not exist yet. */
  async #createSlots(
    name: string,
    intervalMs: number,
    originMs: number,
    slots: Date[],
    createdBy?: string,
    maxAttempts?: number | null,
  ): Promise<number> {
    const actor = createdBy === undefined ? this.workerName : checkText(createdBy, 'createdBy', 200);
    await this.#registerName(name, intervalMs, originMs, maxAttempts);
    const created = await this.#transaction(false, (client) => this.#insertSlots(client, name, slots, actor));
    return created.length;
  }

  /**
   * Inserts the slots that do not exist yet, with their history. Slots that exist are filtered out by a
   * plain read first: ON CONFLICT alone would wait for a worker holding an existing slot (its uncommitted
   * UPDATE makes the unique check wait for its transaction), and creating must never wait on a holder.
   */
  async #insertSlots(client: pg.PoolClient, name: string, slots: Date[], actor: string): Promise<Date[]> {
    const { rows } = await client.query<{ slot: Date }>(
      `WITH created AS (
         INSERT INTO ${this.#schema.sql}.tasks (name, slot, created_by)
         SELECT $1, wanted.slot, $3
         FROM unnest($2::timestamptz[]) AS wanted (slot)
         WHERE NOT EXISTS (SELECT 1 FROM ${this.#schema.sql}.tasks t WHERE t.name = $1 AND t.slot = wanted.slot)
         ON CONFLICT (name, slot) DO NOTHING
         RETURNING name, slot
       ), recorded AS (
         INSERT INTO ${this.#schema.sql}.task_history (name, slot, from_state, to_state, actor)
         SELECT name, slot, NULL, 'AVAILABLE', $3 FROM created
         RETURNING *
       ), ${announcedCte(this.#schema)}
       SELECT slot FROM created CROSS JOIN announced ORDER BY slot`,
      [name, slots, actor],
    );
    return rows.map((row) => row.slot);
  }

  /** Registers a new name with its interval, or checks that an existing name has the same interval and origin. */
  async #registerName(
    name: string,
    intervalMs: number,
    originMs: number,
    maxAttempts?: number | null,
  ): Promise<void> {
    const select = () =>
      this.#query<{ interval_ms: string; origin: Date; max_attempts: number | null }>(
        `SELECT interval_ms, origin, max_attempts FROM ${this.#schema.sql}.task_names WHERE name = $1`,
        [name],
        `reading task name ${JSON.stringify(name)}`,
      );
    let [row] = (await select()).rows;
    if (!row) {
      await this.#query(
        `INSERT INTO ${this.#schema.sql}.task_names (name, interval_ms, origin)
         VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING`,
        [name, intervalMs, new Date(originMs)],
        `registering task name ${JSON.stringify(name)}`,
      );
      [row] = (await select()).rows;
      if (!row) throw new TaskNotFoundError(`task name ${JSON.stringify(name)} could not be registered`);
    }
    if (Number(row.interval_ms) !== intervalMs || row.origin.getTime() !== originMs) {
      throw new IntervalMismatchError(
        `task name ${JSON.stringify(name)} has interval ${formatInterval(Number(row.interval_ms))} from origin ${row.origin.toISOString()}; it cannot take slots of ${formatInterval(intervalMs)} from ${new Date(originMs).toISOString()}`,
      );
    }
    if (maxAttempts !== undefined && row.max_attempts !== maxAttempts)
      await this.#setMaxAttempts(name, maxAttempts);
  }

  async #setMaxAttempts(name: string, maxAttempts: number | null): Promise<void> {
    await this.#query(
      `UPDATE ${this.#schema.sql}.task_names SET max_attempts = $2 WHERE name = $1`,
      [name, maxAttempts],
      `setting maxAttempts of ${JSON.stringify(name)}`,
    );
  }

  /**
   * Reads task rows (from the read pool) with the live overlay: the slots held right now, read from the
   * primary first (the `holders` view, within `scope`), read ACQUIRED with their holder; `states` filters by
   * live state.
   */
  async #selectTasks(
    scope: { names: string[] | null; from: Date | null; to: Date | null },
    where: string,
    values: unknown[],
    states: TaskState[] | null,
    limit: number,
  ): Promise<Task[]> {
    const held = await readHolders(this.#pools, scope);
    const n = values.length;
    const { rows } = await this.#read<TaskRow>(
      `SELECT live.* FROM (
         SELECT t.*, n.interval_ms,
                h.slot IS NOT NULL AS is_held,
                h.worker AS holder_worker,
                h.since AS holder_since,
                CASE WHEN h.slot IS NOT NULL THEN 'ACQUIRED' ELSE t.state END AS live_state
         FROM ${this.#schema.sql}.tasks t
         JOIN ${this.#schema.sql}.task_names n ON n.name = t.name
         LEFT JOIN unnest($${n + 1}::text[], $${n + 2}::timestamptz[], $${n + 3}::text[], $${n + 4}::timestamptz[])
           AS h (name, slot, worker, since) ON h.name = t.name AND h.slot = t.slot AND t.state = 'AVAILABLE'
         WHERE ${where}
       ) live
       WHERE $${n + 5}::text[] IS NULL OR live.live_state = ANY ($${n + 5})
       ORDER BY live.name, live.slot
       LIMIT $${n + 6}`,
      [
        ...values,
        held.map((h) => h.name),
        held.map((h) => h.slot),
        held.map((h) => h.worker),
        held.map((h) => h.since),
        states,
        limit,
      ],
      'reading tasks',
    );
    return rows.map(toTask);
  }

  /** A read of committed rows, on the read pool. */
  async #read<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
    doing: string,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pools.rows.query<R>(text, values);
    } catch (error) {
      throw translatePgError(error, doing);
    }
  }

  async #query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
    doing: string,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw translatePgError(error, doing);
    }
  }

  /**
   * Runs `body` in a transaction that records the history of what it changes (which is what tells the slot
   * counts); commits, or rolls back when `isDryRun`.
   */
  #transaction<T>(isDryRun: boolean, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, 'writing slots', body, {
      begin: "BEGIN; SET LOCAL dtm.records_history = 'on'",
      isDryRun,
    });
  }
}

/**
 * The CTE that announces the names of the transitions a statement recorded in its `recorded` CTE (its
 * history rows, `RETURNING *`) through announce() (sql/000001.sql). It yields one row, and the statement must
 * read it (`CROSS JOIN announced`) for it to run.
 */
function announcedCte(schema: Schema): string {
  return `announced AS (SELECT ${schema.sql}.announce(array_agg(r::${schema.sql}.task_history)) FROM recorded r)`;
}

// The outcome rules of requeue and skip, written once for their statements and their dry runs. A statement
// applies them to the rows it locked (`l`) and reports what it changed; a dry run applies them to the rows as
// it reads them, and reports as busy the rows that the statement's SKIP LOCKED would pass over.

/** The rows requeue changes: COMPLETE and SKIP, and AVAILABLE ones waiting out their backoff or given up. */
function isRequeuable(row: string): string {
  return `(${row}.state IN ('COMPLETE', 'SKIP') OR (${row}.state = 'AVAILABLE' AND ${row}.next_attempt_at > now()))`;
}

/** The rows skip changes: AVAILABLE ones, and COMPLETE ones when `includeComplete` (a boolean parameter). */
function isSkippable(row: string, includeComplete: string): string {
  return `(${row}.state = 'AVAILABLE' OR (${row}.state = 'COMPLETE' AND ${includeComplete}))`;
}

/**
 * Whether the row is locked (or being written) by a transaction running right now, read without locking it:
 * its xmax is that transaction's id. A locker that has ended leaves its id there, but in no one's lock.
 */
function isLockedNow(schema: Schema, row: string): string {
  return `${row}.xmax IN (SELECT xid FROM ${schema.sql}.holding_sessions)`;
}

/** Conditions (SQL) on a wanted slot's rows, from which its outcome is decided. */
interface OutcomeConditions {
  isMissing: string;
  isBusy: string;
  isChanged: string;
}

/** A wanted slot's requeue outcome. Busy comes before changed: a slot locked by another is never changed. */
function requeueOutcome(is: OutcomeConditions): string {
  return `CASE WHEN ${is.isMissing} THEN 'not_found'
               WHEN ${is.isBusy} THEN 'busy'
               WHEN ${is.isChanged} THEN 'requeued'
               ELSE 'unchanged' END`;
}

/** A wanted slot's skip outcome: a missing slot is (or would be) created as SKIP; otherwise as for requeue. */
function skipOutcome(is: OutcomeConditions): string {
  return `CASE WHEN ${is.isMissing} THEN 'skipped'
               WHEN ${is.isBusy} THEN 'busy'
               WHEN ${is.isChanged} THEN 'skipped'
               ELSE 'unchanged' END`;
}

function summarize<O extends string>(
  rows: Array<{ slot: Date; outcome: O }>,
  kinds: readonly O[],
): OperationResult<O> {
  const counts = Object.fromEntries(kinds.map((kind) => [kind, 0])) as Record<O, number>;
  for (const row of rows) counts[row.outcome] += 1;
  return { outcomes: rows.map((row) => ({ slot: row.slot, outcome: row.outcome })), counts };
}

function expandRange(
  fromValue: Date | string,
  toValue: Date | string,
  intervalMs: number,
  originMs: number,
): Date[] {
  const from = toDate(fromValue, 'from');
  const to = toDate(toValue, 'to');
  if (from > to)
    throw new BadInputError(`inverted range: from ${from.toISOString()} is after to ${to.toISOString()}`);
  const cadence = fixedCadence(intervalMs, originMs);
  const { first, end } = slotsIn(cadence, from.getTime(), to.getTime());
  if (end - first > MAX_SLOTS_PER_CALL) {
    throw new BadInputError(
      `range ${from.toISOString()} – ${to.toISOString()} holds ${end - first} slots of ${cadence.interval}; at most ${MAX_SLOTS_PER_CALL} per call`,
    );
  }
  return Array.from({ length: end - first }, (_, i) => new Date(cadence.slotStart(first + i)));
}

function parseDuration(value: Interval, what: string): number {
  if (value === 0 || value === 'PT0S') return 0;
  try {
    return parseInterval(value);
  } catch {
    throw new BadInputError(
      `${what} must be an ISO-8601 duration (PT1H, P1D) or milliseconds, got ${JSON.stringify(value)}`,
    );
  }
}

function checkMaxAttempts(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000)
    throw new BadInputError(
      `maxAttempts must be a whole number from 1 to 1000000, or null, got ${String(value)}`,
    );
  return value;
}

function checkText(value: unknown, what: string, maxLength: number): string {
  if (typeof value !== 'string' || value.trim().length === 0)
    throw new BadInputError(`${what} must be a non-empty string`);
  if ([...value].length > maxLength)
    throw new BadInputError(`${what} must be at most ${maxLength} characters`);
  // NUL, which PostgreSQL text cannot hold, is replaced rather than refused: a reason or an actor is always
  // storable (see storableText).
  return storableText(value, maxLength);
}

function checkState(state: unknown): TaskState {
  if (typeof state === 'string' && (TASK_STATES as readonly string[]).includes(state))
    return state as TaskState;
  throw new BadInputError(`unknown state ${JSON.stringify(state)}; use one of ${TASK_STATES.join(', ')}`);
}
