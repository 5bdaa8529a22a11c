import type pg from 'pg';
import { AcquiredTask, retryDelay, type SlotHandle } from './acquired-task.ts';
import { destroyConnection, sessionName } from './connection.ts';
import { LockLostError, sqlStateOf, TaskNotAvailableError, translatePgError } from './errors.ts';
import { batch, type EndedRow, execute, literal, setUp } from './holder-statements.ts';
import {
  abandonStatement,
  type HandleOutcome,
  type LaneSettings,
  type NextTake,
  newLaneId,
  startHeartbeat,
  TRANSACTION_ENDED,
  transactionStatus,
} from './lane.ts';
import { REGISTER_AFTER_MS } from './lane-registry.ts';
import { messageOf, storableText } from './text.ts';
import { type Task, type TaskRow, toTask } from './types.ts';

/** What a slot's handler did: returned, threw, or was given up on by stop(). */
export type HandlerResult = { isOk: true; value: unknown } | { isOk: false; error: unknown } | 'forced';

/** How one slot of a batch is to end, decided by its handler; written when the batch ends. */
type Decision =
  | { outcome: 'COMPLETE' | 'SKIP'; message: string | null }
  | { outcome: 'FAIL'; message: string }
  | { outcome: 'RELEASE' };

/** The row the batch's locking statement returns for each slot. */
interface HeldRow extends TaskRow {
  holder_xid: string;
  /** The last locker's transaction, if it aborted: its holder went away (see holder-statements.ts). */
  abandoned_xid: string | null;
}

/**
 * A worker's lane in batch mode (`commitBatch` > 1): it locks up to `size` due slots of one name in one
 * statement, and the worker runs their handlers one after the other in that one transaction; then one round
 * trip ends them all (one UPDATE, one history INSERT), commits, and locks the next batch. A crash rolls back
 * the batch's effects and endings together: nothing is recorded twice, nothing is lost, and each of its slots
 * counts an abandoned attempt, as a lost single slot does (see Lane).
 */
export class BatchLane {
  readonly #settings: LaneSettings;
  readonly #size: number;
  /** The lane registers its slots under `size` ids from this one (see LaneRegistry). */
  readonly #firstId = newLaneId();
  #client: pg.PoolClient | null = null;

  constructor(settings: LaneSettings, size: number) {
    this.#settings = settings;
    this.#size = size;
  }

  /** Takes up to `size` due slots of `take`: one round trip (`BEGIN; lockBatch…`). */
  async take(take: NextTake): Promise<Batch | null> {
    for (;;) {
      const client = await this.#connection(take);
      let results: pg.QueryResult[];
      try {
        results = await batch(client, `BEGIN; ${this.#lock(take)}`);
      } catch (error) {
        await this.#drop(error);
        throw translatePgError(error, `acquiring slots of ${JSON.stringify(take.name)}`);
      }
      const held = await this.#hold(take, results.at(-1));
      if (held !== COUNTED) return held;
    }
  }

  /** Gives the connection back to the pool (a batch still held is rolled back: its attempts count as abandoned). */
  async close(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    await client.query('ROLLBACK').then(
      () => client.release(),
      (error: unknown) => client.release(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** @internal Called by the batch when it ended, with whether the connection is still fit for use. */
  ended(isUsable: boolean, error?: unknown): void {
    if (!isUsable) void this.#drop(error ?? new Error('connection lost while holding a batch'));
  }

  /** @internal The statement that locks the batch after `take`. */
  lock(take: NextTake): string {
    return this.#lock(take);
  }

  /** @internal Makes the batch of the slots `locked` holds (see #hold); null when there is none. */
  async hold(take: NextTake, locked: pg.QueryResult | undefined): Promise<Batch | null> {
    const held = await this.#hold(take, locked);
    return held === COUNTED ? this.take(take) : held;
  }

  /**
   * Makes the batch of the slots `locked` holds. The slots whose last holder went away are counted as
   * abandoned attempts (in the batch's transaction) and left out. With no slot left, the transaction commits
   * (see Lane.#hold): null if nothing was locked, COUNTED if attempts were counted (take again).
   */
  async #hold(take: NextTake, locked: pg.QueryResult | undefined): Promise<Batch | null | typeof COUNTED> {
    const client = this.#client;
    if (!client) return null;
    const rows = (locked?.rows ?? []) as HeldRow[];
    const abandoned = rows.filter((row) => row.abandoned_xid !== null);
    const live = rows.filter((row) => row.abandoned_xid === null);
    const counting = abandoned.map((row) => abandonStatement(this.#settings.statements, take, row));
    const ending = live.length === 0 ? ['COMMIT'] : [];
    if (counting.length + ending.length > 0) {
      try {
        await batch(client, [...counting, ...ending].join(';\n'));
      } catch (error) {
        await this.#drop(error);
        throw translatePgError(error, `counting abandoned attempts of ${JSON.stringify(take.name)}`);
      }
    }
    if (live.length === 0) return abandoned.length > 0 ? COUNTED : null;
    return new Batch(this, client, this.#settings, { take, rows: live, firstId: this.#firstId });
  }

  #lock(take: NextTake): string {
    return execute(this.#settings.statements.lockBatch, [take.name, take.from, take.to, this.#size]);
  }

  async #connection(take: NextTake): Promise<pg.PoolClient> {
    if (!this.#client) {
      try {
        this.#client = await this.#settings.pool.connect();
      } catch (error) {
        throw translatePgError(error, `acquiring slots of ${JSON.stringify(take.name)}`);
      }
    }
    const { statements, sessionSettings } = this.#settings;
    try {
      await setUp(this.#client, [
        sessionSettings,
        sessionName(take.worker),
        statements.lockBatch,
        statements.abandon,
        statements.finishBatch,
      ]);
    } catch (error) {
      await this.#drop(error);
      throw translatePgError(error, `acquiring slots of ${JSON.stringify(take.name)}`);
    }
    return this.#client;
  }

  /** Gives up the connection (destroyed), and with it whatever it held. */
  async #drop(error: unknown): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    client.release(error instanceof Error ? error : new Error(String(error)));
  }
}

/** See BatchLane.#hold. */
const COUNTED = Symbol('counted abandoned attempts');

/**
 * The slots a batch lane holds in one transaction, and the `AcquiredTask` view of each. A handler's
 * `complete`, `skip`, `fail` and `release` decide how its slot ends; the batch writes every decision when it
 * ends (`end`), so they take effect, and become visible, together.
 */
export class Batch {
  readonly tasks: AcquiredTask[];
  readonly #slots: BatchSlot[];
  readonly #lane: BatchLane;
  readonly #client: pg.PoolClient;
  readonly #settings: LaneSettings;
  readonly #take: NextTake;
  readonly #xid: string;
  readonly #abort = new AbortController();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #registering: NodeJS.Timeout;
  readonly #onConnectionLost: (error?: Error) => void;
  #state: 'held' | 'ended' | 'lost' = 'held';

  constructor(
    lane: BatchLane,
    client: pg.PoolClient,
    settings: LaneSettings,
    options: { take: NextTake; rows: HeldRow[]; firstId: number },
  ) {
    this.#lane = lane;
    this.#client = client;
    this.#settings = settings;
    this.#take = options.take;
    this.#xid = options.rows[0]?.holder_xid ?? '0';
    this.#slots = options.rows.map((row) => {
      row.acquired_by = options.take.worker;
      row.acquired_at = row.holder_since;
      return new BatchSlot(this, toTask(row));
    });
    this.tasks = this.#slots.map((slot) => new AcquiredTask(slot));
    this.#onConnectionLost = (error) =>
      this.#lose(error ?? new Error('connection ended while holding a batch'));
    client.on('error', this.#onConnectionLost);
    client.on('end', this.#onConnectionLost);
    this.#heartbeat = startHeartbeat(client, settings.heartbeat, {
      isHeld: () => this.#state === 'held',
      onDead: (timeoutMs) =>
        this.#lose(
          new LockLostError(
            `the connection holding a batch did not answer within ${timeoutMs} ms: presumed dead`,
          ),
          true,
        ),
    });
    // Registered if still held in a moment, one lane id per slot (see LaneRegistry).
    this.#registering = setTimeout(() => {
      if (this.#state !== 'held') return;
      options.rows.forEach((row, index) => {
        void settings.registry.register({
          lane: options.firstId + index,
          name: row.name,
          slot: row.slot,
          worker: options.take.worker,
          since: row.holder_since ?? new Date(),
          xid: row.holder_xid,
        });
      });
    }, REGISTER_AFTER_MS);
    this.#registering.unref();
  }

  /** Whether the batch's transaction is still held. */
  get isHeld(): boolean {
    return this.#state === 'held';
  }

  /** @internal */
  get client(): pg.PoolClient {
    return this.#client;
  }

  /** @internal */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * After the handler of `tasks[index]` ended with `result`: its slot is decided (a return completes it, a throw
   * fails it), and its savepoint, if the work took one, is released or rolled back to, so that a failed slot's
   * writes go and its batch-mates' stay. Work that ended the transaction itself loses the whole batch.
   */
  async settle(index: number, result: HandlerResult): Promise<void> {
    const slot = this.#slots[index];
    if (!slot || this.#state !== 'held') return;
    if (result !== 'forced' && slot.isHeld) {
      slot.decide(
        result.isOk
          ? {
              outcome: 'COMPLETE',
              message: typeof result.value === 'string' ? storableText(result.value) : null,
            }
          : { outcome: 'FAIL', message: storableText(messageOf(result.error)) },
      );
    }
    if (!slot.hasSavepoint) return;
    const isKept = slot.decision?.outcome === 'COMPLETE' || slot.decision?.outcome === 'SKIP';
    try {
      await this.#client.query(
        isKept ? 'RELEASE SAVEPOINT dtm_work' : 'ROLLBACK TO SAVEPOINT dtm_work; RELEASE SAVEPOINT dtm_work',
      );
    } catch (error) {
      if (TRANSACTION_ENDED.includes(sqlStateOf(error) ?? '')) {
        const what = `the work of ${slot.describe()} ended the batch's transaction itself (COMMIT or ROLLBACK through task.client): what the batch wrote before may have been committed outside its slots; none of them was completed`;
        await this.#failAll(what);
        this.#lose(new LockLostError(`${what}; each was recorded as a failed attempt`, { cause: error }));
        return;
      }
      // The work's SQL failed and left the transaction aborted: its writes cannot be kept; fail the slot.
      try {
        await this.#client.query('ROLLBACK TO SAVEPOINT dtm_work; RELEASE SAVEPOINT dtm_work');
        slot.decide(
          { outcome: 'FAIL', message: storableText(`could not keep the work's writes: ${messageOf(error)}`) },
          true,
        );
      } catch (failure) {
        this.#lose(failure instanceof Error ? failure : new Error(String(failure)));
      }
    }
  }

  /**
   * Writes every slot's decision (slots left undecided are failed: their handler did not end them) in one
   * round trip, which also locks the lane's next batch unless `isLast`. Each task's `outcome` and
   * `ended` then say what was recorded. Resolves with the next batch (null if none is due), or with the error
   * that taking it met; throws if the batch could not be ended (its slots then count abandoned attempts).
   */
  async end(isLast: boolean): Promise<{ next: Batch | null } | { error: unknown }> {
    if (this.#state !== 'held') {
      throw new LockLostError('the batch was lost before it ended: its slots count abandoned attempts', {
        cause: this.#abort.signal.reason,
      });
    }
    const { statements } = this.#settings;
    const decided = this.#slots.map((slot) => {
      if (slot.isHeld)
        slot.decide({ outcome: 'FAIL', message: 'the handler returned without ending its slot' });
      return slot;
    });
    const written = decided.filter((slot) => slot.decision?.outcome !== 'RELEASE');
    const writtenSlots = written.map((slot) => slot.task.slot);
    const finish = execute(statements.finishBatch, [
      this.#take.name,
      writtenSlots,
      written.map((slot) => slot.decision?.outcome ?? 'FAIL'),
      written.map((slot) => (slot.decision && 'message' in slot.decision ? slot.decision.message : null)),
      written.map((slot) =>
        slot.decision?.outcome === 'FAIL' ? retryDelay(this.#take.retry, slot.task.failedAttempts + 1) : 0,
      ),
      this.#take.worker,
    ]);
    // Released slots are not written: their locks commit with the batch (see Lane.#hold).
    const ending = [finish, 'COMMIT'];
    const after = isLast ? [] : ['BEGIN', this.#lane.lock(this.#take)];
    let results: pg.QueryResult[];
    try {
      results = await batch(this.#client, [...ending, ...after].join(';\n'));
    } catch (error) {
      return this.#failedEnding(error, !isLast);
    }
    this.#ended(results[ending.indexOf(finish)]?.rows as Array<EndedRow & { slot: Date }> | undefined);
    this.#lane.ended(true);
    if (isLast) return { next: null };
    try {
      return { next: await this.#lane.hold(this.#take, results.at(-1)) };
    } catch (error) {
      return { error };
    }
  }

  /**
   * After the work ended the batch's transaction: locks the batch's slots again, in a new transaction, and
   * fails each with `message`, as a failure, with backoff (those another worker took meanwhile are left to
   * it). If that fails too, the attempts go uncounted: the lock the work committed reads as no abandonment.
   */
  async #failAll(message: string): Promise<void> {
    const { statements, schema } = this.#settings;
    const { name, worker, retry } = this.#take;
    try {
      const results = await batch(
        this.#client,
        `ROLLBACK; BEGIN;
         SELECT slot, failed_attempts FROM ${schema.sql}.tasks
         WHERE name = ${literal(name)} AND slot = ANY(${literal(this.#slots.map((slot) => slot.task.slot))}::timestamptz[])
           AND state = 'AVAILABLE'
         FOR UPDATE SKIP LOCKED`,
      );
      const locked = (results.at(-1)?.rows ?? []) as Array<{ slot: Date; failed_attempts: number }>;
      const fail = execute(statements.finishBatch, [
        name,
        locked.map((row) => row.slot),
        locked.map(() => 'FAIL'),
        locked.map(() => storableText(message)),
        locked.map((row) => retryDelay(retry, row.failed_attempts + 1)),
        worker,
      ]);
      await batch(this.#client, `${fail}; COMMIT`);
    } catch {
      await this.#client.query('ROLLBACK').catch(() => {});
    }
  }

  /** Gives the batch up now: the connection is destroyed, its transaction rolled back; `signal` fires. */
  abort(reason?: Error): void {
    this.#lose(reason ?? new Error('aborted'), true);
  }

  /** What a failed ending left: asked of the server, by the batch's transaction id. */
  async #failedEnding(error: unknown, wasTaking: boolean): Promise<{ error: unknown }> {
    const status = await transactionStatus(this.#settings.pool, this.#xid);
    if (status === 'committed') {
      // Everything was written; what failed came after COMMIT (taking the next batch), or on the way back.
      this.#ended(undefined);
      this.#lane.ended(false, error);
      if (wasTaking) return { error };
      throw translatePgError(error, 'ending a batch');
    }
    this.#lose(error instanceof Error ? error : new Error(String(error)), true);
    throw new LockLostError(
      'ending a batch failed and was rolled back: none of its slots was recorded, each counts an abandoned attempt (retried after backoff)',
      { cause: error },
    );
  }

  #ended(rows: Array<EndedRow & { slot: Date }> | undefined): void {
    this.#state = 'ended';
    this.#detach();
    const bySlot = new Map(rows?.map((row) => [new Date(row.slot).getTime(), row]));
    for (const slot of this.#slots) slot.record(bySlot.get(slot.task.slot.getTime()), this.#take.worker);
  }

  #lose(error: Error, isSilent = false): void {
    if (this.#state !== 'held') return;
    this.#state = 'lost';
    this.#detach();
    this.#abort.abort(
      error instanceof LockLostError
        ? error
        : new LockLostError('lost the lock on a batch', { cause: error }),
    );
    for (const slot of this.#slots) slot.lost();
    if (isSilent) destroyConnection(this.#client);
    this.#lane.ended(false, error);
  }

  #detach(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#registering);
    this.#client.off('end', this.#onConnectionLost);
    this.#client.off('error', this.#onConnectionLost);
  }
}

/** One slot of a batch, behind its `AcquiredTask`. */
class BatchSlot implements SlotHandle {
  readonly task: Task;
  readonly #batch: Batch;
  #decision: Decision | null = null;
  #outcome: HandleOutcome | null = null;
  #ended: Task | null = null;
  #hasSavepoint = false;

  constructor(batch: Batch, task: Task) {
    this.#batch = batch;
    this.task = task;
  }

  get client(): pg.PoolClient {
    const client = this.#batch.client;
    if (!this.#hasSavepoint && this.isHeld) {
      this.#hasSavepoint = true;
      client.query('SAVEPOINT dtm_work').catch(() => {});
    }
    return client;
  }

  get signal(): AbortSignal {
    return this.#batch.signal;
  }

  get isHeld(): boolean {
    return this.#decision === null && this.#outcome === null && this.#batch.isHeld;
  }

  get outcome(): HandleOutcome | null {
    return this.#outcome;
  }

  get ended(): Task | null {
    return this.#ended;
  }

  get decision(): Decision | null {
    return this.#decision;
  }

  get hasSavepoint(): boolean {
    return this.#hasSavepoint;
  }

  abort(reason?: Error): void {
    this.#batch.abort(reason);
  }

  async finish(state: 'COMPLETE' | 'SKIP', message: string | undefined): Promise<void> {
    this.#assertHeld(state === 'COMPLETE' ? 'complete' : 'skip');
    this.decide({
      outcome: state,
      message: message === undefined || message === null ? null : storableText(String(message)),
    });
  }

  async fail(message: string): Promise<void> {
    this.#assertHeld('fail');
    this.decide({ outcome: 'FAIL', message: storableText(String(message)) });
  }

  async release(): Promise<void> {
    if (this.isHeld) this.decide({ outcome: 'RELEASE' });
  }

  decide(decision: Decision, isOverride = false): void {
    if (this.#decision === null || isOverride) this.#decision = decision;
  }

  /** The batch ended: `row` as its ending recorded this slot (none for a released one). */
  record(row: EndedRow | undefined, worker: string): void {
    const decision = this.#decision;
    if (!decision || decision.outcome === 'RELEASE') {
      this.#outcome = 'release';
      return;
    }
    this.#outcome =
      decision.outcome === 'COMPLETE' ? 'complete' : decision.outcome === 'SKIP' ? 'skip' : 'fail';
    const { task } = this;
    this.#ended = {
      ...task,
      state: row?.state ?? (decision.outcome === 'FAIL' ? 'AVAILABLE' : decision.outcome),
      acquiredBy: worker,
      acquiredAt: row?.acquired_at ?? task.acquiredAt,
      completedAt: row ? row.completed_at : task.completedAt,
      failedAttempts: row?.failed_attempts ?? task.failedAttempts + (decision.outcome === 'FAIL' ? 1 : 0),
      message: row ? row.message : decision.message,
      nextAttemptAt: row?.next_attempt_at instanceof Date ? row.next_attempt_at : null,
      hasGivenUp: row?.next_attempt_at === Number.POSITIVE_INFINITY,
      holder: null,
    };
  }

  lost(): void {
    this.#outcome = 'lost';
  }

  describe(): string {
    return `${JSON.stringify(this.task.name)} @ ${this.task.slot.toISOString()}`;
  }

  #assertHeld(action: string): void {
    if (this.isHeld) return;
    if (this.#outcome === 'lost' || !this.#batch.isHeld) {
      throw new LockLostError(
        `cannot ${action} ${this.describe()}: the batch's lock was lost, nothing was written`,
        {
          cause: this.signal.reason,
        },
      );
    }
    throw new TaskNotAvailableError(`cannot ${action} ${this.describe()}: it was already ended or released`);
  }
}
