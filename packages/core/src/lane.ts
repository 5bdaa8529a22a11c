import { randomInt } from 'node:crypto';
import type pg from 'pg';
import { AcquiredTask, type RetryPolicy, retryDelay } from './acquired-task.ts';
import { destroyConnection, sessionName } from './connection.ts';
import {
  LockLostError,
  sqlStateOf,
  TaskBusyError,
  TaskNotAvailableError,
  TaskNotFoundError,
  translatePgError,
} from './errors.ts';
import {
  batch,
  type EndedRow,
  execute,
  type HolderStatements,
  isSetUp,
  type SetUpStatement,
  setUp,
} from './holder-statements.ts';
import { type LaneRegistry, REGISTER_AFTER_MS, type Registration } from './lane-registry.ts';
import type { Schema } from './schema.ts';
import { storableText } from './text.ts';
import { type Task, type TaskRow, toTask } from './types.ts';

/** The liveness check on a held connection (see `ConnectionLossOptions`). */
export interface Heartbeat {
  everyMs: number;
  timeoutMs: number;
}

/** What every lane of a manager shares. */
export interface LaneSettings {
  pool: pg.Pool;
  schema: Schema;
  statements: HolderStatements;
  /** The session settings a holding connection runs once (see connection.ts). */
  sessionSettings: SetUpStatement;
  heartbeat: Heartbeat;
  registry: LaneRegistry;
}

/** The oldest (or newest) due slot of a name within [from, to), for `worker`. */
export interface NextTake {
  name: string;
  from: Date | null;
  to: Date | null;
  order: 'oldest' | 'newest';
  worker: string;
  retry: RetryPolicy;
}

/** One exact slot, for `worker`. */
export interface SlotTake {
  name: string;
  slot: Date;
  worker: string;
  retry: RetryPolicy;
}

/** How a handle ended: by `complete`, `skip`, `fail`, `release`, or by losing its lock (or `abort`). */
export type HandleOutcome = 'complete' | 'skip' | 'fail' | 'release' | 'lost';

/** What a lane found when it completed a slot and looked for its next one in the same round trip. */
export type NextSlot = { next: AcquiredTask | null } | { error: unknown };

/** The statements a lane sends for a take, built once for as long as the take is the same. */
interface Plan {
  key: string;
  doing: string;
  setUp: SetUpStatement[];
  /** Locks the slot, in the transaction that then stays open for the work. */
  lock: string;
}

/** The row the locking statement returns. */
interface HeldRow extends TaskRow {
  holder_xid: string;
  /** The last locker's transaction, if it aborted: its holder went away (see holder-statements.ts). */
  abandoned_xid: string | null;
}

/** See Lane.#hold. */
const COUNTED = Symbol('counted an abandoned attempt');

/** SQLSTATEs of a prepared statement that does not exist (26000) or can no longer be planned (0A000). */
const STALE_PREPARED = ['26000', '0A000'];
/** The work ended the slot's transaction: its savepoint is gone (3B001), or any transaction (25P01). */
export const TRANSACTION_ENDED = ['3B001', '25P01'];

/**
 * The one owner of a holding connection, for the connection's whole life: it takes slots on it and hands out
 * `AcquiredTask` views of the slot it holds. A worker's lane keeps its connection from slot to slot and
 * completes one slot and takes the next in one round trip (`completeAndTake`); the manager's `acquire` and
 * `acquireNext` use a lane for one slot, which gives the connection back to the pool when the slot ends.
 *
 * A slot whose last holder went away is counted before it is taken (`abandon`: see holder-statements.ts), and
 * the lane looks again. Every transaction of a lane that locked a slot and does not end it commits rather
 * than rolls back, so that only a holder that went away leaves an aborted transaction's id on a slot.
 */
export class Lane {
  readonly #settings: LaneSettings;
  readonly #isKept: boolean;
  /** The lane's id, under which it registers the slot it holds (see LaneRegistry). */
  readonly #id = newLaneId();
  #client: pg.PoolClient | null = null;
  #holding: Holding | null = null;
  #plan: Plan | null = null;
  #sessionName: { worker: string; statement: SetUpStatement } | null = null;

  /** `isKept`: keep the connection between slots (a worker's lane); else give it back after each slot. */
  constructor(settings: LaneSettings, options: { isKept: boolean }) {
    this.#settings = settings;
    this.#isKept = options.isKept;
  }

  /**
   * Takes a slot: the next due one (null when there is none) or an exact one (`TaskBusyError`,
   * `TaskNotAvailableError`, `TaskNotFoundError` when it cannot). One round trip: `BEGIN; lock…`.
   */
  async take(take: NextTake | SlotTake): Promise<AcquiredTask | null> {
    for (;;) {
      const task = await this.#takeOnce(take);
      if (task === COUNTED) continue;
      if (task || !('slot' in take)) return task;
      // The exact slot was not taken: #explain throws why.
      await this.#explain(take);
    }
  }

  /**
   * Completes the held slot as `complete(message)` does and, in the same round trip, locks the lane's next
   * slot (`…finish; COMMIT; BEGIN; lock…`). Throws as `complete` does when the slot could not be completed;
   * once it is COMPLETE, resolves with the next slot (null when none is due) or with the error that taking it
   * met.
   */
  async completeAndTake(message: string | undefined, take: NextTake): Promise<NextSlot> {
    const holding = this.#holding;
    const client = this.#client;
    if (!holding?.isHeld || !client) throw new TaskNotAvailableError('the lane holds no slot to complete');
    const plan = this.#planFor(take);
    if (!isSetUp(client, plan.setUp)) {
      // Another worker name or order than the slot's own: set up outside a transaction first.
      await holding.finish('COMPLETE', message);
      return this.take(take).then(
        (next) => ({ next }),
        (error: unknown) => ({ error }),
      );
    }
    const after = await holding.finish('COMPLETE', message, plan.lock);
    if (!after) return { next: null };
    if ('error' in after) {
      await this.#endFailedTake(after.error);
      return { error: translatePgError(after.error, plan.doing) };
    }
    try {
      const next = await this.#hold(take, after.locked);
      return { next: next === COUNTED ? await this.take(take) : next };
    } catch (error) {
      return { error };
    }
  }

  /**
   * Gives the connection back to the pool (a slot still held is aborted first); resolves once it is back. The
   * lane takes a connection again at its next take.
   */
  async close(): Promise<void> {
    this.#holding?.abort(new Error('lane closed'));
    await this.#dropConnection();
  }

  /** Called by the holding when its slot ended; `isUsable`: the connection is idle and may be used again. */
  ended(isUsable: boolean, error?: Error): void {
    this.#holding = null;
    if (!isUsable) {
      void this.#dropConnection(error ?? new Error('connection lost while holding a slot'));
    } else if (!this.#isKept) {
      this.#releaseConnection();
    }
  }

  async #takeOnce(take: NextTake | SlotTake): Promise<AcquiredTask | null | typeof COUNTED> {
    const client = await this.#connection(`acquiring a slot of ${JSON.stringify(take.name)}`);
    const plan = this.#planFor(take);
    let results: pg.QueryResult[];
    try {
      await setUp(client, plan.setUp);
      results = await batch(client, `BEGIN; ${plan.lock}`);
    } catch (error) {
      await this.#endFailedTake(error);
      if (!this.#isKept) await this.#dropConnection();
      throw translatePgError(error, plan.doing);
    }
    return this.#hold(take, results.at(-1));
  }

  /**
   * Makes the handle of the slot `locked` holds, or ends the transaction: null when nothing was locked (the
   * empty transaction commits, so that a row it locked and did not return, as a concurrent update can leave,
   * never reads as abandoned), COUNTED when the slot's last holder had gone away and this lane counted that
   * attempt instead of taking the slot (take again).
   */
  async #hold(
    take: NextTake | SlotTake,
    locked: pg.QueryResult | undefined,
  ): Promise<AcquiredTask | null | typeof COUNTED> {
    const client = this.#client;
    const row = locked?.rows[0] as HeldRow | undefined;
    if (!client || !row) {
      await this.#commitEmpty();
      if (!this.#isKept) await this.#dropConnection();
      return null;
    }
    if (row.abandoned_xid !== null) {
      await this.#countAbandoned(take, row);
      return COUNTED;
    }
    row.acquired_by = take.worker;
    row.acquired_at = row.holder_since;
    const registration: Registration = {
      lane: this.#id,
      name: row.name,
      slot: row.slot,
      worker: take.worker,
      since: row.holder_since ?? new Date(),
      xid: row.holder_xid,
    };
    this.#holding = new Holding(this, client, toTask(row), {
      settings: this.#settings,
      xid: row.holder_xid,
      // A worker's slot is registered if it is still held in a moment; one taken by hand at once.
      registration: this.#isKept ? registration : null,
      worker: take.worker,
      retry: take.retry,
    });
    if (!this.#isKept) await this.#settings.registry.register(registration, true);
    return new AcquiredTask(this.#holding);
  }

  /**
   * The slot `row` was last locked by a holder that went away: counts that attempt as failed, with the backoff
   * of this take's policy, and commits. A connection that cannot is dropped, and the slot is left for the
   * next lane to count.
   */
  async #countAbandoned(take: NextTake | SlotTake, row: HeldRow): Promise<void> {
    const client = this.#client;
    if (!client) return;
    try {
      await batch(client, `${abandonStatement(this.#settings.statements, take, row)}; COMMIT`);
    } catch (error) {
      await this.#dropConnection(toError(error));
      throw translatePgError(error, `counting an abandoned attempt of ${JSON.stringify(row.name)}`);
    }
  }

  /** After an exact slot was not taken: throws why. */
  async #explain(take: SlotTake): Promise<void> {
    const { pool, schema } = this.#settings;
    const slotText = `${JSON.stringify(take.name)} @ ${take.slot.toISOString()}`;
    const { rows } = await pool
      .query<{ state: string; is_due: boolean; failed: number }>(
        `SELECT state, failed_attempts AS failed, next_attempt_at IS NULL OR next_attempt_at <= now() AS is_due
         FROM ${schema.sql}.tasks
         WHERE name = $1 AND slot = $2`,
        [take.name, take.slot],
      )
      .catch((error: unknown) => {
        throw translatePgError(error, `acquiring ${slotText}`);
      });
    const [row] = rows;
    if (!row) throw new TaskNotFoundError(`no slot ${slotText}`);
    if (row.state !== 'AVAILABLE')
      throw new TaskNotAvailableError(`slot ${slotText} is ${row.state}, not AVAILABLE`);
    if (!row.is_due) {
      throw new TaskNotAvailableError(
        `slot ${slotText} is waiting out its retry backoff after ${row.failed} failed attempts (or gave up: re-queue it)`,
      );
    }
    throw new TaskBusyError(`acquiring ${slotText}: another worker took it meanwhile`);
  }

  #planFor(take: NextTake | SlotTake): Plan {
    const { statements } = this.#settings;
    const isSlot = 'slot' in take;
    const key = JSON.stringify([
      take.name,
      isSlot ? take.slot.getTime() : [take.from?.getTime(), take.to?.getTime(), take.order],
      take.worker,
    ]);
    if (this.#plan?.key === key) return this.#plan;
    const lockStatement = isSlot
      ? statements.lockSlot
      : take.order === 'oldest'
        ? statements.lockOldest
        : statements.lockNewest;
    this.#plan = {
      key,
      doing: isSlot
        ? `acquiring ${JSON.stringify(take.name)} @ ${take.slot.toISOString()}`
        : `acquiring the next slot of ${JSON.stringify(take.name)}`,
      setUp: [
        this.#settings.sessionSettings,
        this.#sessionNameFor(take.worker),
        lockStatement,
        statements.finish,
        statements.fail,
        statements.abandon,
      ],
      lock: isSlot
        ? execute(lockStatement, [take.name, take.slot])
        : execute(lockStatement, [take.name, take.from, take.to]),
    };
    return this.#plan;
  }

  /** The statement that names the session after `worker`, made again only when the name changes. */
  #sessionNameFor(worker: string): SetUpStatement {
    if (this.#sessionName?.worker !== worker) this.#sessionName = { worker, statement: sessionName(worker) };
    return this.#sessionName.statement;
  }

  async #connection(doing: string): Promise<pg.PoolClient> {
    if (this.#client) return this.#client;
    try {
      this.#client = await this.#settings.pool.connect();
    } catch (error) {
      throw translatePgError(error, doing);
    }
    return this.#client;
  }

  /** Ends a transaction that holds no slot, by COMMIT (see #hold); a connection that cannot is dropped. */
  async #commitEmpty(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await client.query('COMMIT').catch((error: unknown) => this.#dropConnection(toError(error)));
  }

  /** Ends whatever transaction a failed take left; a connection that cannot is dropped. */
  async #endFailedTake(cause?: unknown): Promise<void> {
    const client = this.#client;
    if (!client) return;
    try {
      await client.query('ROLLBACK');
      if (STALE_PREPARED.includes(sqlStateOf(cause) ?? ''))
        await this.#dropConnection(new Error('stale prepared statements'));
    } catch (error) {
      await this.#dropConnection(toError(error));
    }
  }

  /** Gives the connection back as it is: the lane holds nothing. */
  #releaseConnection(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    this.#plan = null;
    client.release();
  }

  async #dropConnection(error?: Error): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    this.#plan = null;
    client.release(error);
  }
}

/**
 * The slot a lane holds: the transaction's state machine behind an `AcquiredTask` view (heartbeat, the work's
 * savepoint, the ending batches, and what a failed ending leaves). The connection stays the lane's.
 */
export class Holding {
  readonly task: Task;
  readonly #lane: Lane;
  readonly #client: pg.PoolClient;
  readonly #settings: LaneSettings;
  /** The holding transaction's id: what became of it is asked by it when an ending fails. */
  readonly #xid: string;
  readonly #worker: string;
  readonly #retry: RetryPolicy;
  /** Made when `signal` is first read or fired: most work never reads it. */
  #abort: AbortController | null = null;
  #state: 'held' | 'finished' | 'lost' = 'held';
  #outcome: HandleOutcome | null = null;
  #ended: Task | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
  #registering: NodeJS.Timeout | undefined;
  #isWorkUndone = false;
  /** The work's savepoint was asked for (see `client`). */
  #hasSavepoint = false;
  readonly #onConnectionLost: (error?: Error) => void;

  constructor(
    lane: Lane,
    client: pg.PoolClient,
    task: Task,
    options: {
      settings: LaneSettings;
      xid: string;
      /** Registered if the slot is still held after REGISTER_AFTER_MS (see LaneRegistry). */
      registration: Registration | null;
      worker: string;
      retry: RetryPolicy;
    },
  ) {
    this.#lane = lane;
    this.#client = client;
    this.task = task;
    this.#settings = options.settings;
    this.#xid = options.xid;
    this.#worker = options.worker;
    this.#retry = options.retry;
    this.#onConnectionLost = (error) => this.#lose(error);
    client.on('error', this.#onConnectionLost);
    client.on('end', this.#onConnectionLost);
    this.#startHeartbeat(options.settings.heartbeat);
    const { registration } = options;
    if (registration) {
      this.#registering = setTimeout(() => {
        if (this.#state === 'held') void options.settings.registry.register(registration);
      }, REGISTER_AFTER_MS);
      this.#registering.unref();
    }
  }

  get client(): pg.PoolClient {
    if (!this.#hasSavepoint && this.#state === 'held') {
      this.#hasSavepoint = true;
      // Its failure is the connection's, which the work's own statements and the ending will meet too.
      this.#client.query('SAVEPOINT dtm_work').catch(ignore);
    }
    return this.#client;
  }

  get signal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  get isHeld(): boolean {
    return this.#state === 'held';
  }

  get outcome(): HandleOutcome | null {
    return this.#outcome;
  }

  get ended(): Task | null {
    return this.#ended;
  }

  abort(reason?: Error): void {
    if (this.#state !== 'held') return;
    // The connection is destroyed with the transaction: the attempt counts as abandoned.
    this.#lose(reason ?? new Error('aborted'), true);
  }

  /**
   * ACQUIRED → COMPLETE or SKIP. With `nextLock` (a lane's locking statement), the batch goes on after COMMIT
   * to lock the lane's next slot. Returns what the part after COMMIT found: the locking statement's result, or
   * the error it met; undefined without `nextLock`.
   */
  async finish(
    state: 'COMPLETE' | 'SKIP',
    message: string | undefined,
    nextLock?: string,
  ): Promise<{ locked: pg.QueryResult | undefined } | { error: unknown } | undefined> {
    const outcome = state === 'COMPLETE' ? 'complete' : 'skip';
    this.#assertHeld(outcome);
    if (this.#isWorkUndone) {
      throw new TaskNotAvailableError(
        `cannot ${outcome} ${this.#describe()}: the work's writes were rolled back when ending it failed; fail or release it`,
      );
    }
    const note = message === undefined || message === null ? null : storableText(String(message));
    const { name, slot } = this.task;
    const finish = execute(this.#settings.statements.finish, [name, slot, state, note, this.#worker]);
    // The savepoint is released first so that the UPDATE runs in the top-level transaction, the one that
    // locked the row (see holder-statements.ts). Its release also fails if the work ended the transaction.
    const statements = [...(this.#hasSavepoint ? ['RELEASE SAVEPOINT dtm_work'] : []), finish, 'COMMIT'];
    const after = await this.#end(
      outcome,
      statements,
      statements.indexOf(finish),
      nextLock ? ['BEGIN', nextLock] : [],
    );
    if (!nextLock || !after) return undefined;
    if ('error' in after) return after;
    return { locked: after.results[1] };
  }

  async fail(message: string): Promise<void> {
    this.#assertHeld('fail');
    const text = storableText(String(message));
    const statements = this.#failing(text, this.#hasSavepoint);
    await this.#end('fail', statements, statements.length - 2, [], text);
  }

  /**
   * Gives the slot back unchanged: the work's writes are rolled back (its savepoint), and the transaction
   * commits, so that its lock never reads as an abandoned attempt (see Lane).
   */
  async release(): Promise<void> {
    if (this.#state !== 'held') return;
    try {
      await batch(
        this.#client,
        this.#hasSavepoint ? 'ROLLBACK TO SAVEPOINT dtm_work; RELEASE SAVEPOINT dtm_work; COMMIT' : 'COMMIT',
      );
      this.#state = 'finished';
      this.#outcome = 'release';
      this.#detach();
      this.#lane.ended(true);
    } catch (error) {
      // A failed rollback means the connection is gone, and with it the transaction: the slot is free.
      this.#lose(toError(error));
    }
  }

  /** The statements that fail the slot with `message` (and the index of the `fail` statement). */
  #failing(message: string, isRollingBack: boolean): string[] {
    const delayMs = retryDelay(this.#retry, this.task.failedAttempts + 1);
    const { name, slot } = this.task;
    const fail = execute(this.#settings.statements.fail, [name, slot, message, delayMs, this.#worker]);
    return isRollingBack
      ? ['ROLLBACK TO SAVEPOINT dtm_work', 'RELEASE SAVEPOINT dtm_work', fail, 'COMMIT']
      : [fail, 'COMMIT'];
  }

  /**
   * Runs the batch that ends the slot (its statements up to COMMIT, then `next`), and hands the connection
   * back to the lane. `endingIndex`: the statement whose row is the slot after its ending (-1: the one
   * before COMMIT). If the batch fails, what became of the slot is asked, not guessed (see #fate).
   */
  async #end(
    outcome: 'complete' | 'skip' | 'fail',
    statements: string[],
    endingIndex: number,
    next: string[],
    failMessage?: string,
  ): Promise<{ results: pg.QueryResult[] } | { error: unknown } | undefined> {
    const index = endingIndex;
    let results: pg.QueryResult[] | undefined;
    let error: unknown;
    try {
      results = await batch(this.#client, [...statements, ...next].join(';\n'));
    } catch (caught) {
      error = caught;
    }
    if (results) {
      this.#finish(outcome, results[index]?.rows[0] as EndedRow | undefined);
      this.#lane.ended(true);
      return { results: results.slice(statements.length) };
    }
    const doing = `${DOING[outcome]} ${this.#describe()}`;
    const fate = await this.#fate(error);
    if (fate === 'committed') {
      // The slot ended; what failed came after COMMIT (taking the next slot), or on the way back.
      this.#finish(outcome, undefined);
      const isUsable = this.#state !== 'lost' && !isConnectionError(error);
      this.#lane.ended(isUsable, isUsable ? undefined : toError(error));
      return next.length > 0 ? { error } : undefined;
    }
    if (fate === 'held') {
      this.#isWorkUndone = true;
      throw translatePgError(error, doing);
    }
    if (fate === 'endedByWork') {
      const what = await this.#whatTheWorkDid();
      await this.#recordFailure(failMessage === undefined ? what : `${what}; then it failed: ${failMessage}`);
      if (outcome !== 'fail') throw new LockLostError(`${doing}: ${what}; recorded as a failed attempt`);
      return undefined;
    }
    if (fate === 'rolledBack') {
      // The ending failed and was rolled back on a live connection: record why, as a failed attempt.
      const reason = error instanceof Error ? error.message : String(error);
      await this.#recordFailure(
        `${doing} failed: ${reason}${failMessage === undefined ? '' : ` (failing it with: ${failMessage})`}`,
      );
      throw translatePgError(error, `${doing}: rolled back, recorded as a failed attempt`);
    }
    this.#lose(toError(error));
    throw new LockLostError(
      `${doing}: the lock was lost, nothing was written; the attempt counts as abandoned (retried after backoff)`,
      { cause: error },
    );
  }

  /**
   * What a failed ending batch left: `committed` (the slot ended), `held` (the transaction is still ours, the
   * work rolled back to its savepoint), `endedByWork` (the work had ended the slot's transaction itself),
   * `rolledBack` (the ending failed and was rolled back whole: the slot is free, the connection fine), or
   * `lost` (the connection is gone: the slot is free, its ending not recorded).
   */
  async #fate(error: unknown): Promise<'committed' | 'held' | 'endedByWork' | 'rolledBack' | 'lost'> {
    const state = sqlStateOf(error);
    if (this.#state === 'held' && !isConnectionError(error)) {
      if (this.#hasSavepoint && TRANSACTION_ENDED.includes(state ?? '')) return 'endedByWork';
      if (this.#hasSavepoint && (await succeeds(this.#client, 'ROLLBACK TO SAVEPOINT dtm_work')))
        return 'held';
      if (await succeeds(this.#client, 'ROLLBACK')) {
        return (await transactionStatus(this.#client, this.#xid)) === 'committed'
          ? 'committed'
          : 'rolledBack';
      }
    }
    // The connection is gone: ask through another one whether the holding transaction committed.
    const status = await transactionStatus(this.#settings.pool, this.#xid);
    return status === 'committed' ? 'committed' : 'lost';
  }

  /** After the work ended the slot's transaction itself: what it did, asked of the server. */
  async #whatTheWorkDid(): Promise<string> {
    await succeeds(this.#client, 'ROLLBACK');
    return (await transactionStatus(this.#client, this.#xid)) === 'committed'
      ? 'the work committed the slot’s transaction itself (COMMIT through task.client), so what it wrote may have been committed outside the slot; the slot was not completed'
      : 'the work ended the slot’s transaction itself (ROLLBACK through task.client), releasing its lock early; the slot was not completed';
  }

  /**
   * Records a failed attempt with `message` after the holding transaction ended without a recorded ending (on
   * a live connection): the slot is locked again, in a new transaction, and failed, counted and backed off
   * like any failure. If that fails too (another worker took the slot meanwhile, or counted the attempt as
   * abandoned), the lock is lost.
   */
  async #recordFailure(message: string): Promise<void> {
    const { statements } = this.#settings;
    const lock = execute(statements.lockSlot, [this.task.name, this.task.slot]);
    try {
      await setUp(this.#client, [statements.lockSlot]);
      const results = await batch(
        this.#client,
        ['BEGIN', lock, ...this.#failing(storableText(message), false)].join(';\n'),
      );
      if ((results[1]?.rowCount ?? 0) === 0) throw new Error('the slot was taken meanwhile');
      this.#finish('fail', results[2]?.rows[0] as EndedRow | undefined);
      this.#lane.ended(true);
    } catch (error) {
      await succeeds(this.#client, 'ROLLBACK');
      this.#lose(toError(error));
    }
  }

  #finish(outcome: 'complete' | 'skip' | 'fail', row: EndedRow | undefined): void {
    this.#state = 'finished';
    this.#outcome = outcome;
    this.#detach();
    const { task } = this;
    const state =
      row?.state ?? (outcome === 'complete' ? 'COMPLETE' : outcome === 'skip' ? 'SKIP' : 'AVAILABLE');
    this.#ended = {
      ...task,
      state,
      acquiredBy: this.#worker,
      acquiredAt: row?.acquired_at ?? task.acquiredAt,
      completedAt: row ? row.completed_at : task.completedAt,
      failedAttempts: row?.failed_attempts ?? task.failedAttempts + (outcome === 'fail' ? 1 : 0),
      message: row ? row.message : task.message,
      nextAttemptAt: row?.next_attempt_at instanceof Date ? row.next_attempt_at : null,
      hasGivenUp: row?.next_attempt_at === Number.POSITIVE_INFINITY,
      holder: null,
    };
  }

  #startHeartbeat(heartbeat: Heartbeat): void {
    this.#heartbeat = startHeartbeat(this.#client, heartbeat, {
      isHeld: () => this.#state === 'held',
      onDead: (timeoutMs) =>
        this.#lose(
          new LockLostError(
            `the connection holding ${this.#describe()} did not answer within ${timeoutMs} ms: presumed dead`,
          ),
          true,
        ),
    });
  }

  #assertHeld(action: string): void {
    if (this.#state === 'held') return;
    if (this.#state === 'lost') {
      throw new LockLostError(
        `cannot ${action} ${this.#describe()}: the lock was lost, nothing was written`,
        {
          cause: this.signal.reason,
        },
      );
    }
    throw new TaskNotAvailableError(
      `cannot ${action} ${this.#describe()}: it was already finished or released`,
    );
  }

  /**
   * The lock is gone (or in doubt): fire the signal and give the connection up, never reuse it. `isSilent`:
   * the server may not have noticed (dead network, hung statement, abort), so close the socket ourselves
   * rather than wait for a polite goodbye that would never be answered.
   */
  #lose(error?: Error, isSilent = false): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#outcome = 'lost';
    this.#detach();
    this.#abort ??= new AbortController();
    this.#abort.abort(
      error instanceof LockLostError
        ? error
        : new LockLostError(`lost the lock on ${this.#describe()}`, { cause: error }),
    );
    if (isSilent) destroyConnection(this.#client);
    this.#lane.ended(false, error ?? new Error('connection ended while holding a slot'));
  }

  #detach(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#registering);
    this.#client.off('end', this.#onConnectionLost);
    this.#client.off('error', this.#onConnectionLost);
  }

  #describe(): string {
    return `${JSON.stringify(this.task.name)} @ ${this.task.slot.toISOString()}`;
  }
}

/**
 * Asks a held connection `SELECT 1` every `everyMs`; one left unanswered for `timeoutMs` (a dead network, or a
 * statement that hangs) means the connection is presumed dead: `onDead`, whose caller destroys it and fires the
 * work's signal. It is queued behind the work's own statements, so it also bounds how long any of them may
 * hang. Stop it with clearInterval.
 */
export function startHeartbeat(
  client: pg.PoolClient,
  { everyMs, timeoutMs }: Heartbeat,
  holder: { isHeld(): boolean; onDead(timeoutMs: number): void },
): NodeJS.Timeout {
  let isBeating = false;
  const timer = setInterval(() => {
    if (isBeating || !holder.isHeld()) return;
    isBeating = true;
    const deadline = setTimeout(() => holder.onDead(timeoutMs), timeoutMs);
    deadline.unref();
    // Any answer, an error included (an aborted transaction), proves the connection alive.
    const answered = () => {
      clearTimeout(deadline);
      isBeating = false;
    };
    client.query('SELECT 1').then(answered, answered);
  }, everyMs);
  timer.unref();
  return timer;
}

/**
 * How long until the soonest failed slot of `name` in [from, to) is due again, in ms (null if none is
 * waiting; slots that gave up are never due).
 */
export async function nextDueIn(
  pool: pg.Pool,
  schema: Schema,
  name: string,
  from: Date,
  to: Date,
): Promise<number | null> {
  const { rows } = await pool.query<{ wait_ms: number | null }>(
    `SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000)::float8 AS wait_ms
     FROM ${schema.sql}.tasks
     WHERE name = $1 AND state = 'AVAILABLE' AND next_attempt_at > now()
       AND next_attempt_at < 'infinity' AND slot >= $2 AND slot < $3`,
    [name, from, to],
  );
  return rows[0]?.wait_ms ?? null;
}

const DOING = { complete: 'completing', skip: 'skipping', fail: 'failing' } as const;

/**
 * The statement that counts the abandoned attempt of `row`, locked by `take`'s lane: a failed attempt with the
 * backoff of the take's policy (see `abandon` in holder-statements.ts).
 */
export function abandonStatement(
  statements: HolderStatements,
  take: NextTake | SlotTake,
  row: Pick<TaskRow, 'name' | 'slot' | 'failed_attempts'> & { abandoned_xid: string | null },
): string {
  return execute(statements.abandon, [
    row.name,
    row.slot,
    take.worker,
    retryDelay(take.retry, row.failed_attempts + 1),
    row.abandoned_xid,
  ]);
}

/** A lane's id: random, so that the lanes of every process tell their registrations apart. */
export function newLaneId(): number {
  return randomInt(1, 2 ** 47);
}

/** What became of a transaction, asked by its id: committed, aborted, in progress; null if unknown. */
export async function transactionStatus(
  queryable: pg.Pool | pg.PoolClient,
  xid: string,
): Promise<string | null> {
  try {
    const { rows } = await queryable.query<{ status: string | null }>(
      'SELECT pg_xact_status($1::xid8) AS status',
      [xid],
    );
    return rows[0]?.status ?? null;
  } catch {
    return null;
  }
}

async function succeeds(client: pg.PoolClient, text: string): Promise<boolean> {
  return client.query(text).then(
    () => true,
    () => false,
  );
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function ignore(): void {}

/** Errors after which the transaction's outcome is the server's, not ours: the connection is gone. */
function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const state = sqlStateOf(error);
  // 57P01-57P05: admin shutdown, crash shutdown, cannot connect now, database dropped, idle session timeout;
  // 25P03: idle-in-transaction timeout; class 08: connection exceptions; no SQLSTATE: the socket itself
  // failed (ECONNRESET, EPIPE, a destroyed connection).
  return state === undefined || state.startsWith('57P') || state === '25P03' || state.startsWith('08');
}
