import type pg from 'pg';
import { destroyConnection } from './connection.ts';
import { DtmError, LockLostError, sqlStateOf, translatePgError } from './errors.ts';
import { batch, execute, type HolderStatements } from './holder-statements.ts';
import type { Task } from './types.ts';

/** How long a failed slot waits before its next attempt: exponential, capped, with jitter. */
export interface RetryPolicy {
  /** Delay after the first failure, in ms. Default 1000. */
  baseMs?: number;
  /** Longest delay, in ms. Default 300000 (5 minutes). */
  maxMs?: number;
  /** Random spread as a fraction of the delay (0.2 = ±20%). Default 0.2. */
  jitter?: number;
}

/** The delay before attempt `failedAttempts + 1`, in ms. */
export function retryDelay(policy: RetryPolicy, failedAttempts: number): number {
  const { baseMs = 1000, maxMs = 300_000, jitter = 0.2 } = policy;
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(failedAttempts - 1, 40));
  return Math.max(0, Math.round(exponential * (1 + jitter * (2 * Math.random() - 1))));
}

type HandleState = 'held' | 'finished' | 'lost';

/** How a handle ended: by `complete`, `skip`, `fail`, `release`, or by losing its lock (or `abort`). */
export type HandleOutcome = 'complete' | 'skip' | 'fail' | 'release' | 'lost';

/**
 * @internal What `completeThen` resolves with once the slot is COMPLETE: the results of the statements that
 * followed COMMIT, or the error that stopped them.
 */
export type Continuation = { results: pg.QueryResult[] } | { error: unknown };

/** @internal The liveness check on a held connection (see `ConnectionLossOptions`). */
export interface Heartbeat {
  everyMs: number;
  timeoutMs: number;
}

/**
 * A slot held by this process: the row lock lives in `client`'s open transaction until `complete`, `skip`,
 * `fail` or `release` ends it. What the work writes through `client` commits atomically with COMPLETE or
 * SKIP and is rolled back by `fail` and `release`.
 */
export class AcquiredTask {
  /** The slot as it was when acquired (state ACQUIRED). */
  readonly task: Task;

  readonly #client: pg.PoolClient;

  readonly #statements: HolderStatements;
  readonly #worker: string;
  readonly #retry: RetryPolicy;
  /** Made when `signal` is first read or fired: most work never reads it. */
  #abort: AbortController | null = null;
  #state: HandleState = 'held';
  #outcome: HandleOutcome | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
  #isBeating = false;
  #isWorkUndone = false;
  /** The batch ending the slot got past its COMMIT: whatever happens to the connection now, the slot is ended. */
  #isCommitted = false;
  /** The work's savepoint was asked for (see `client`). */
  #hasSavepoint = false;
  readonly #onConnectionLost: (error?: Error) => void;

  /** @internal Built by TaskManager after the acquiring statement succeeded. */
  constructor(
    client: pg.PoolClient,
    task: Task,
    options: { statements: HolderStatements; worker: string; retry: RetryPolicy; heartbeat?: Heartbeat },
  ) {
    this.#client = client;
    this.task = task;
    this.#statements = options.statements;
    this.#worker = options.worker;
    this.#retry = options.retry;
    this.#onConnectionLost = (error) => this.#lose(error);
    // A checked-out pg client with no 'error' listener would crash the process when its connection dies.
    client.on('error', this.#onConnectionLost);
    client.on('end', this.#onConnectionLost);
    if (options.heartbeat) this.#startHeartbeat(options.heartbeat);
  }

  /**
   * The connection whose transaction holds the lock; write the work's results through it. Its first read
   * takes the work's savepoint (queued ahead of anything the work then sends), which `fail` rolls back to:
   * work that never reads it costs the slot two statements less.
   */
  get client(): pg.PoolClient {
    if (!this.#hasSavepoint && this.#state === 'held') {
      this.#hasSavepoint = true;
      // Its failure is the connection's, which the work's own statements and the ending will meet too.
      this.#client.query('SAVEPOINT dtm_work').catch(ignore);
    }
    return this.#client;
  }

  /** @internal The holding connection, for the manager, without taking the work's savepoint. */
  get connection(): pg.PoolClient {
    return this.#client;
  }

  /** Fires when the lock is lost (connection error, backend terminated, transaction timeout): stop the work. */
  get signal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  /** Whether the lock is still held. */
  get isHeld(): boolean {
    return this.#state === 'held';
  }

  /** How the handle ended; null while it is held. */
  get outcome(): HandleOutcome | null {
    return this.#outcome;
  }

  /**
   * Gives the slot up now, whatever the work is doing: fires `signal` with a `LockLostError` (caused by
   * `reason`) and destroys the connection, so the server rolls back at once (the slot is AVAILABLE again,
   * unchanged) and nothing the work still sends can commit. No-op once ended.
   */
  abort(reason?: Error): void {
    this.#lose(reason ?? new Error('aborted'), true);
  }

  /** ACQUIRED → COMPLETE, committing the work. Throws `LockLostError` (writing nothing) if the lock is gone. */
  async complete(message?: string): Promise<void> {
    await this.#finish('COMPLETE', message ?? null);
  }

  /** ACQUIRED → SKIP, committing the work. Throws `LockLostError` (writing nothing) if the lock is gone. */
  async skip(message?: string): Promise<void> {
    await this.#finish('SKIP', message ?? null);
  }

  /**
   * @internal For the worker: complete(), with `next` (statements that begin the worker's next transaction)
   * run on this connection right after COMMIT, in the same round trip. Once the slot is COMPLETE the connection
   * is no longer this handle's but the caller's, to hold the next slot on or to roll back and release. Throws
   * as complete() does when the slot could not be completed.
   */
  async completeThen(message: string | undefined, next: string): Promise<Continuation> {
    return (await this.#finish('COMPLETE', message ?? null, next)) as Continuation;
  }

  /**
   * ACQUIRED → AVAILABLE with `message`, failed attempts + 1 and a next-attempt time from the retry policy.
   * The work's own writes are rolled back (to the savepoint taken before the work's first statement), even if
   * its SQL failed.
   * If recording the failure fails, the transaction is rolled back whole: the slot is AVAILABLE again,
   * unchanged, and the error is thrown.
   */
  async fail(message: string): Promise<void> {
    this.#assertHeld('fail');
    const delayMs = retryDelay(this.#retry, this.task.failedAttempts + 1);
    const { name, slot } = this.task;
    const fail = execute(this.#statements.fail, [name, slot, message, delayMs, this.#worker]);
    await this.#end(
      this.#hasSavepoint
        ? ['ROLLBACK TO SAVEPOINT dtm_work', 'RELEASE SAVEPOINT dtm_work', fail, 'COMMIT']
        : [fail, 'COMMIT'],
      'fail',
    );
  }

  /** Gives the slot back unchanged (rolls back everything, the acquisition included). No-op once ended. */
  async release(): Promise<void> {
    if (this.#state !== 'held') return;
    try {
      await this.#client.query('ROLLBACK');
      this.#state = 'finished';
      this.#outcome = 'release';
      this.#detach();
      this.#client.release();
    } catch (error) {
      // A failed rollback means the connection is gone, and with it the transaction: the slot is free.
      this.#lose(error instanceof Error ? error : undefined);
    }
  }

  async #finish(
    state: 'COMPLETE' | 'SKIP',
    message: string | null,
    next?: string,
  ): Promise<Continuation | undefined> {
    const outcome = state === 'COMPLETE' ? 'complete' : 'skip';
    this.#assertHeld(outcome);
    if (this.#isWorkUndone) {
      throw new DtmError(
        'NOT_AVAILABLE',
        `cannot ${outcome} ${this.#describe()}: the work's writes were rolled back when ending it failed; fail or release it`,
      );
    }
    const { name, slot } = this.task;
    const finish = execute(this.#statements.finish, [name, slot, state, message, this.#worker]);
    // The savepoint is released first so that the UPDATE runs in the top-level transaction, the one that
    // locked the row (see holder-statements.ts).
    return this.#end(
      this.#hasSavepoint ? ['RELEASE SAVEPOINT dtm_work', finish, 'COMMIT'] : [finish, 'COMMIT'],
      outcome,
      next,
    );
  }

  /**
   * Runs the batch that ends the slot (its statements and COMMIT, in one round trip; then `next`, if given),
   * and returns the connection, or, with `next`, hands it on. If the batch fails on a live connection before
   * its COMMIT completed, what is left depends on where it failed. Before the savepoint was released (the work
   * had left the transaction aborted), the transaction is still ours: it is rolled back to the savepoint, so
   * that `fail` can record why and `complete` can no longer commit the undone work. After it, the transaction
   * is aborted or over: rolled back whole, the slot AVAILABLE again, unchanged.
   */
  async #end(
    statements: string[],
    outcome: 'complete' | 'skip' | 'fail',
    next?: string,
  ): Promise<Continuation | undefined> {
    const text = (next === undefined ? statements : [...statements, next]).join(';\n');
    let results: pg.QueryResult[] | undefined;
    let error: unknown;
    try {
      results = await batch(this.#client, text, (count) => {
        if (count === statements.length) this.#isCommitted = true;
      });
    } catch (caught) {
      error = caught;
    }
    if (!this.#isCommitted) {
      if (this.#state === 'lost' || isConnectionError(error)) this.#lockLost(error, this.#doing(outcome));
      if (outcome !== 'fail' && (await this.#undoWork())) throw translatePgError(error, this.#doing(outcome));
      this.#lose(error instanceof Error ? error : undefined);
      throw translatePgError(
        error,
        `${this.#doing(outcome)}: rolled back, the slot is AVAILABLE again, unchanged`,
      );
    }
    this.#state = 'finished';
    this.#outcome = outcome;
    this.#detach();
    if (next !== undefined) {
      return results ? { results: results.slice(statements.length) } : { error };
    }
    // A connection that failed after COMMIT (on its way back from the server) is not reused.
    this.#client.release(error instanceof Error ? error : undefined);
    return undefined;
  }

  /** Rolls back to the work's savepoint; false if that is no longer possible (or there is none). */
  async #undoWork(): Promise<boolean> {
    if (!this.#hasSavepoint) return false;
    const isUndone = await this.#client.query('ROLLBACK TO SAVEPOINT dtm_work').then(
      () => true,
      () => false,
    );
    this.#isWorkUndone ||= isUndone;
    return isUndone;
  }

  /**
   * Asks the held connection `SELECT 1` every `everyMs`; one left unanswered for `timeoutMs` (a dead network,
   * or a statement that hangs) means the connection is presumed dead: destroyed, and `signal` fired. It is
   * queued behind the work's own statements, so it also bounds how long any of them may hang.
   */
  #startHeartbeat({ everyMs, timeoutMs }: Heartbeat): void {
    this.#heartbeat = setInterval(() => {
      if (this.#isBeating || this.#state !== 'held') return;
      this.#isBeating = true;
      const deadline = setTimeout(() => {
        this.#lose(
          new LockLostError(
            `the connection holding ${this.#describe()} did not answer within ${timeoutMs} ms: presumed dead`,
          ),
          true,
        );
      }, timeoutMs);
      deadline.unref();
      // Any answer, an error included (an aborted transaction), proves the connection alive.
      const answered = () => {
        clearTimeout(deadline);
        this.#isBeating = false;
      };
      this.#client.query('SELECT 1').then(answered, answered);
    }, everyMs);
    this.#heartbeat.unref();
  }

  #lockLost(error: unknown, context: string): never {
    this.#lose(error instanceof Error ? error : undefined);
    throw new LockLostError(`${context}: the lock was lost, nothing was written`, { cause: error });
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
    throw new DtmError(
      'NOT_AVAILABLE',
      `cannot ${action} ${this.#describe()}: it was already finished or released`,
    );
  }

  /**
   * The lock is gone (or in doubt): fire the signal and destroy the connection, never reuse it. `isSilent`:
   * the server may not have noticed (dead network, hung statement, abort), so close the socket ourselves
   * rather than wait for a polite goodbye that would never be answered.
   */
  #lose(error?: Error, isSilent = false): void {
    if (this.#state !== 'held') return;
    if (this.#isCommitted) {
      // The slot is ended already; #end hands the connection on, once its batch failed.
      if (isSilent) destroyConnection(this.#client);
      return;
    }
    this.#state = 'lost';
    this.#outcome = 'lost';
    this.#detach();
    // The destroyed connection may still emit an error; with no listener that would crash the process.
    this.#client.on('error', ignore);
    this.#abort ??= new AbortController();
    this.#abort.abort(
      error instanceof LockLostError
        ? error
        : new LockLostError(`lost the lock on ${this.#describe()}`, { cause: error }),
    );
    if (isSilent) destroyConnection(this.#client);
    this.#client.release(error ?? new Error('connection ended while holding a slot'));
  }

  #detach(): void {
    clearInterval(this.#heartbeat);
    this.#client.off('end', this.#onConnectionLost);
    this.#client.off('error', this.#onConnectionLost);
  }

  #doing(outcome: keyof typeof DOING): string {
    return `${DOING[outcome]} ${this.#describe()}`;
  }

  #describe(): string {
    return `${JSON.stringify(this.task.name)} @ ${this.task.slot.toISOString()}`;
  }
}

const DOING = { complete: 'completing', skip: 'skipping', fail: 'failing' } as const;

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
