import type pg from 'pg';
import type { HandleOutcome } from './lane.ts';
import type { Task } from './types.ts';

export type { HandleOutcome } from './lane.ts';

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

/** @internal What an `AcquiredTask` is a view of: a lane's held slot (lane.ts), or one slot of a batch (batch-lane.ts). */
export interface SlotHandle {
  readonly task: Task;
  readonly client: pg.PoolClient;
  readonly signal: AbortSignal;
  readonly isHeld: boolean;
  readonly outcome: HandleOutcome | null;
  readonly ended: Task | null;
  abort(reason?: Error): void;
  finish(state: 'COMPLETE' | 'SKIP', message: string | undefined): Promise<unknown>;
  fail(message: string): Promise<void>;
  release(): Promise<void>;
}

/**
 * A slot held by this process: the row lock lives in `client`'s open transaction until `complete`, `skip`,
 * `fail` or `release` ends it. What the work writes through `client` commits atomically with COMPLETE or
 * SKIP and is rolled back by `fail` and `release`.
 *
 * The work must not end that transaction itself: no `COMMIT`, `ROLLBACK`, `END` or `ROLLBACK AND CHAIN`
 * through `client` (savepoints of its own are fine), and no `client.release()`. Should it do so anyway, the
 * slot is failed (never COMPLETE), with a message that says so and that what the work wrote before may have
 * been committed outside the slot, and retried after its backoff.
 */
export class AcquiredTask {
  /** The slot as it was when acquired (state ACQUIRED). */
  readonly task: Task;
  readonly #holding: SlotHandle;

  /** @internal Made by a lane (lane.ts, batch-lane.ts), the owner of the connection, for a slot it holds. */
  constructor(holding: SlotHandle) {
    this.#holding = holding;
    this.task = holding.task;
  }

  /**
   * The connection whose transaction holds the lock; write the work's results through it, and never end
   * its transaction (see the class). Its first read takes the work's savepoint (queued ahead of anything
   * the work then sends), which `fail` rolls back to: work that never reads it costs the slot two statements
   * less.
   */
  get client(): pg.PoolClient {
    return this.#holding.client;
  }

  /** Fires when the lock is lost (connection error, backend terminated, transaction timeout): stop the work. */
  get signal(): AbortSignal {
    return this.#holding.signal;
  }

  /** Whether the lock is still held. */
  get isHeld(): boolean {
    return this.#holding.isHeld;
  }

  /** How the handle ended; null while it is held. */
  get outcome(): HandleOutcome | null {
    return this.#holding.outcome;
  }

  /**
   * The slot as its ending recorded it (state, failed attempts, message, next attempt); null while held, and
   * when the ending recorded nothing (`release`, a lost lock).
   */
  get ended(): Task | null {
    return this.#holding.ended;
  }

  /**
   * Gives the slot up now, whatever the work is doing: fires `signal` with a `LockLostError` (caused by
   * `reason`) and destroys the connection, so the server rolls back at once (the slot is AVAILABLE again,
   * unchanged, its attempt not counted) and nothing the work still sends can commit. No-op once ended.
   */
  abort(reason?: Error): void {
    this.#holding.abort(reason);
  }

  /**
   * ACQUIRED → COMPLETE with `message` (made storable: see the README), committing the work. Throws
   * `LockLostError` (writing nothing) if the lock is gone; fails the slot instead if the work ended its
   * transaction (then throws `LockLostError` too).
   */
  async complete(message?: string): Promise<void> {
    await this.#holding.finish('COMPLETE', message);
  }

  /** ACQUIRED → SKIP, committing the work; as `complete`. */
  async skip(message?: string): Promise<void> {
    await this.#holding.finish('SKIP', message);
  }

  /**
   * ACQUIRED → AVAILABLE with `message`, failed attempts + 1 and a next attempt after the retry policy's
   * backoff (or, at the name's `maxAttempts`, never again until re-queued: "gave up after N attempts").
   * The work's own writes are rolled back (to the savepoint taken before the work's first statement), even if
   * its SQL failed. If recording the failure fails, the transaction is rolled back whole, the error is
   * thrown, and the attempt is counted as abandoned by the next worker to look.
   */
  async fail(message: string): Promise<void> {
    await this.#holding.fail(message);
  }

  /**
   * Gives the slot back unchanged (rolls back everything, the acquisition included; the attempt is not
   * counted). No-op once ended.
   */
  async release(): Promise<void> {
    await this.#holding.release();
  }
}
