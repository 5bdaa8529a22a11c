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
  gaveUpSql,
  type HolderStatements,
  isSetUp,
  reservedCount,
  type SetUpStatement,
  setUp,
} from './holder-statements.ts';
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

/** The statements a lane sends for a take, built once for as long as the take and the lane's id are the same. */
interface Plan {
  key: string;
  doing: string;
  setUp: SetUpStatement[];
  /** Reserves the slot (runs in a transaction that commits before the slot is locked). */
  claim: string;
  /** Locks the reserved slot, in the transaction that then stays open for the work. */
  lock: string;
}

/** The row the locking statement returns. */
interface HeldRow extends TaskRow {
  holder_xid: string;
}

/** See Lane.#hold. */
const LOST_RACE = Symbol('lost race');

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
 * Every slot is reserved before it is locked (`attempts`, sql/000001.sql), in a transaction that commits first:
 * an attempt whose holder dies is counted even though its own transaction is rolled back. A lane has at most
 * one reservation, found by the lane's id; the id changes with the connection and after any attempt whose
 * ending was not recorded, so that a lane never finds a reservation of an earlier attempt.
 */
export class Lane {
  readonly #settings: LaneSettings;
  readonly #isKept: boolean;
  #client: pg.PoolClient | null = null;
  #id = newLaneId();
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
   * `TaskNotAvailableError`, `TaskNotFoundError` when it cannot). One round trip: `BEGIN; claim…; COMMIT;
   * BEGIN; lockReserved…`. An exact slot still reserved by a holder that went away is counted first.
   */
  async take(take: NextTake | SlotTake): Promise<AcquiredTask | null> {
    return this.#take(take, false);
  }

  /** `isAfterLostRace`: the lane's transaction is still open on the reservation another lane beat it to. */
  async #take(take: NextTake | SlotTake, isAfterLostRace: boolean): Promise<AcquiredTask | null> {
    for (let tries = 0; ; tries++) {
      const task = await this.#takeOnce(take, isAfterLostRace);
      isAfterLostRace = false;
      if (task === LOST_RACE) {
        // Another lane locked the slot this one had just reserved: look again (a few times at most), in the
        // round trip that ends this attempt's transaction.
        if (tries < 3) {
          isAfterLostRace = true;
          continue;
        }
        await this.#abandonTake();
        return null;
      }
      if (task || !('slot' in take)) return task;
      // The exact slot was not taken: #explain throws why, or counts an abandoned reservation in the way.
      await this.#explain(take);
      if (tries > 0) {
        throw new TaskBusyError(
          `acquiring ${JSON.stringify(take.name)} @ ${take.slot.toISOString()}: another worker took it meanwhile`,
        );
      }
    }
  }

  /**
   * Completes the held slot as `complete(message)` does and, in the same round trip, reserves and locks the
   * lane's next slot (`…finish; claim…; COMMIT; BEGIN; lockReserved…`). Throws as `complete` does when the slot
   * could not be completed; once it is COMPLETE, resolves with the next slot (null when none is due) or with
   * the error that taking it met.
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
    const after = await holding.finish('COMPLETE', message, plan);
    if (!after) return { next: null };
    if ('error' in after) {
      await this.#abandonTake(after.error);
      return { error: translatePgError(after.error, plan.doing) };
    }
    try {
      const next = await this.#hold(take, after.locked, after.isClaimed);
      return { next: next === LOST_RACE ? await this.#take(take, true) : next };
    } catch (error) {
      return { error };
    }
  }

  /**
   * Gives the connection back to the pool (a slot still held is aborted first); resolves once it is back. The
   * lane takes a connection again (with a new id) at its next take.
   */
  async close(): Promise<void> {
    this.#holding?.abort(new Error('lane closed'));
    await this.#dropConnection();
  }

  /** Called by the holding when its slot ended; `isUsable`: the connection is idle and may be used again. */
  ended(isUsable: boolean, isReservationLeft: boolean, error?: Error): void {
    this.#holding = null;
    if (isReservationLeft) this.#id = newLaneId();
    if (!isUsable) {
      void this.#dropConnection(error ?? new Error('connection lost while holding a slot'));
    } else if (!this.#isKept) {
      // The ending deleted the lane's row (Holding.#rowEnding).
      this.#releaseConnection();
    }
  }

  async #takeOnce(
    take: NextTake | SlotTake,
    isAfterLostRace: boolean,
  ): Promise<AcquiredTask | null | typeof LOST_RACE> {
    // The connection first: a new one gives the lane a new id, which the plan's statements carry.
    const client = await this.#connection(`acquiring a slot of ${JSON.stringify(take.name)}`);
    const plan = this.#planFor(take);
    // After a lost race: end the empty holding transaction and clear the reservation it lost, should the
    // claim find nothing to replace it with.
    const start = isAfterLostRace
      ? `ROLLBACK; BEGIN; ${clearReservation(this.#settings.schema, this.#id)}`
      : 'BEGIN';
    let results: pg.QueryResult[];
    try {
      await setUp(client, plan.setUp);
      results = await batch(client, `${start}; ${plan.claim}; COMMIT; BEGIN; ${plan.lock}`);
    } catch (error) {
      await this.#abandonTake(error);
      if (!this.#isKept) await this.#dropConnection();
      throw translatePgError(error, plan.doing);
    }
    return this.#hold(take, results.at(-1), reservedCount(results.at(-4)) > 0);
  }

  /**
   * Makes the handle of the slot `locked` holds, or ends the empty transaction: null when nothing was
   * reserved, LOST_RACE when the reserved slot was locked by another lane first (its reservation, made in the
   * instant between this one's COMMIT and lock, could not see this one's).
   */
  async #hold(
    take: NextTake | SlotTake,
    locked: pg.QueryResult | undefined,
    isClaimed: boolean,
  ): Promise<AcquiredTask | null | typeof LOST_RACE> {
    const client = this.#client;
    const row = locked?.rows[0] as HeldRow | undefined;
    if (!client || !row) {
      // A lost race leaves the transaction open: the next take's round trip ends it.
      if (client && isClaimed && !('slot' in take)) return LOST_RACE;
      if (isClaimed) await this.#abandonTake();
      else await this.#rollback();
      if (!this.#isKept) await this.#dropConnection();
      return null;
    }
    row.acquired_by = take.worker;
    row.acquired_at = row.holder_since;
    this.#holding = new Holding(this, client, toTask(row), {
      settings: this.#settings,
      xid: row.holder_xid,
      laneId: this.#id,
      isOneShot: !this.#isKept,
      worker: take.worker,
      retry: take.retry,
    });
    return new AcquiredTask(this.#holding);
  }

  /**
   * After an exact slot was not taken: throws why, or, if a reservation of a holder that went away was in the
   * way, counts it and returns (take again).
   */
  async #explain(take: SlotTake): Promise<void> {
    const { pool, schema } = this.#settings;
    const slotText = `${JSON.stringify(take.name)} @ ${take.slot.toISOString()}`;
    const { rows } = await pool
      .query<{ state: string; is_due: boolean; is_reserved: boolean; is_stale: boolean; failed: number }>(
        `SELECT t.state, t.failed_attempts AS failed,
                t.next_attempt_at IS NULL OR t.next_attempt_at <= now() AS is_due,
                a.lane IS NOT NULL AS is_reserved,
                coalesce(a.started_at < clock_timestamp() - interval '1 second', false) AS is_stale
         FROM ${schema.sql}.tasks t
         LEFT JOIN ${schema.sql}.attempts a
           ON a.name = t.name AND a.slot = t.slot AND (t.acquired_at IS NULL OR t.acquired_at < a.reserved_at)
         WHERE t.name = $1 AND t.slot = $2`,
        [take.name, take.slot],
      )
      .catch((error: unknown) => {
        throw translatePgError(error, `acquiring ${slotText}`);
      });
    const [row] = rows;
    if (!row) throw new TaskNotFoundError(`no slot ${slotText}`);
    if (row.state !== 'AVAILABLE')
      throw new TaskNotAvailableError(`slot ${slotText} is ${row.state}, not AVAILABLE`);
    if (row.is_reserved && row.is_stale && (await countAbandoned(pool, schema, take.name)).counted > 0)
      return;
    if (row.is_reserved) {
      throw new TaskBusyError(
        `acquiring ${slotText}: another worker holds it (or is taking it, or its holder went away less than a second ago)`,
      );
    }
    if (!row.is_due) {
      throw new TaskNotAvailableError(
        `slot ${slotText} is waiting out its retry backoff after ${row.failed} failed attempts (or gave up: re-queue it)`,
      );
    }
    throw new TaskBusyError(`acquiring ${slotText}: another worker took it meanwhile`);
  }

  #planFor(take: NextTake | SlotTake): Plan {
    const { statements } = this.#settings;
    const { baseMs = 1000, maxMs = 300_000, jitter = 0.2 } = take.retry;
    const policy = [baseMs, maxMs, jitter];
    const isSlot = 'slot' in take;
    const key = JSON.stringify([
      this.#id,
      take.name,
      isSlot ? take.slot.getTime() : [take.from?.getTime(), take.to?.getTime(), take.order],
      take.worker,
      policy,
    ]);
    if (this.#plan?.key === key) return this.#plan;
    const claimStatement = isSlot
      ? statements.claimSlot
      : take.order === 'oldest'
        ? statements.claimOldest
        : statements.claimNewest;
    const claim = isSlot
      ? execute(claimStatement, [take.name, take.slot, this.#id, take.worker, ...policy])
      : execute(claimStatement, [take.name, take.from, take.to, this.#id, take.worker, ...policy]);
    this.#plan = {
      key,
      doing: isSlot
        ? `acquiring ${JSON.stringify(take.name)} @ ${take.slot.toISOString()}`
        : `acquiring the next slot of ${JSON.stringify(take.name)}`,
      setUp: [
        this.#settings.sessionSettings,
        this.#sessionNameFor(take.worker),
        claimStatement,
        statements.lockReserved,
        statements.finish,
        statements.fail,
      ],
      claim,
      lock: execute(statements.lockReserved, [this.#id]),
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
    this.#id = newLaneId();
    return this.#client;
  }

  /** Ends an empty transaction; a connection that cannot is dropped. */
  async #rollback(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await client.query('ROLLBACK').catch((error: unknown) => this.#dropConnection(toError(error)));
  }

  /**
   * Ends whatever transaction a failed or empty take left open and deletes the lane's reservation, which was
   * not an attempt; a connection that cannot is dropped (its reservation, if committed, is then counted as
   * abandoned: the price of not knowing).
   */
  async #abandonTake(cause?: unknown): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const { schema } = this.#settings;
    try {
      await batch(client, `ROLLBACK; ${clearReservation(schema, this.#id)}`);
      if (STALE_PREPARED.includes(sqlStateOf(cause) ?? ''))
        await this.#dropConnection(new Error('stale prepared statements'));
    } catch (error) {
      await this.#dropConnection(toError(error));
    }
  }

  /** Gives the connection back as it is: the lane holds nothing and has no row. */
  #releaseConnection(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    this.#plan = null;
    this.#id = newLaneId();
    client.release();
  }

  async #dropConnection(error?: Error): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const lane = this.#id;
    this.#client = null;
    this.#plan = null;
    this.#id = newLaneId();
    if (error) {
      client.release(error);
      return;
    }
    // The lane's row goes with it (one left by a lane that died is deleted by countAbandoned); awaited, so
    // that close() resolves once the connection is back in the pool.
    const { schema } = this.#settings;
    await client.query(`DELETE FROM ${schema.sql}.attempts WHERE lane = $1 AND slot IS NULL`, [lane]).then(
      () => client.release(),
      (failure: unknown) => client.release(toError(failure)),
    );
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
  readonly #laneId: number;
  /**
   * The lane's row goes with the ending: cleared (a worker's lane, when no next claim replaces it) or deleted
   * (a lane for one slot: see Lane.#dropConnection).
   */
  readonly #rowEnding: string[];
  readonly #worker: string;
  readonly #retry: RetryPolicy;
  /** Made when `signal` is first read or fired: most work never reads it. */
  #abort: AbortController | null = null;
  #state: 'held' | 'finished' | 'lost' = 'held';
  #outcome: HandleOutcome | null = null;
  #ended: Task | null = null;
  #heartbeat: NodeJS.Timeout | undefined;
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
      laneId: number;
      isOneShot: boolean;
      worker: string;
      retry: RetryPolicy;
    },
  ) {
    this.#lane = lane;
    this.#client = client;
    this.task = task;
    this.#settings = options.settings;
    this.#xid = options.xid;
    this.#laneId = options.laneId;
    this.#rowEnding = options.isOneShot
      ? [`DELETE FROM ${options.settings.schema.sql}.attempts WHERE lane = ${options.laneId}`]
      : [clearReservation(options.settings.schema, options.laneId)];
    this.#worker = options.worker;
    this.#retry = options.retry;
    this.#onConnectionLost = (error) => this.#lose(error);
    client.on('error', this.#onConnectionLost);
    client.on('end', this.#onConnectionLost);
    this.#startHeartbeat(options.settings.heartbeat);
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
    this.#lose(reason ?? new Error('aborted'), true);
    // Given up on purpose: the attempt is not counted (best effort; the reservation is otherwise counted).
    const { pool, schema } = this.#settings;
    pool.query(`DELETE FROM ${schema.sql}.attempts WHERE lane = $1`, [this.#laneId]).catch(ignore);
  }

  /**
   * ACQUIRED → COMPLETE or SKIP. With `next` (a lane's plan), the batch goes on after COMMIT to reserve and
   * lock the lane's next slot: the reservation is made before COMMIT, in the ending's transaction, so that it
   * costs no commit of its own. Returns what the part after COMMIT found: the locking statement's result and
   * whether a slot was reserved, or the error it met; undefined without `next`.
   */
  async finish(
    state: 'COMPLETE' | 'SKIP',
    message: string | undefined,
    next?: Pick<Plan, 'claim' | 'lock'>,
  ): Promise<{ locked: pg.QueryResult | undefined; isClaimed: boolean } | { error: unknown } | undefined> {
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
    const statements = [...(this.#hasSavepoint ? ['RELEASE SAVEPOINT dtm_work'] : []), finish];
    // The next claim replaces the lane's row; without one, the row is cleared (see openReservations).
    statements.push(...(next ? [next.claim] : this.#rowEnding));
    const after = await this.#end(
      outcome,
      [...statements, 'COMMIT'],
      statements.indexOf(finish),
      next ? ['BEGIN', next.lock] : [],
    );
    if (!next || !after) return undefined;
    if ('error' in after) return after;
    const claimed = after.ending[statements.indexOf(next.claim)];
    return { locked: after.results[1], isClaimed: reservedCount(claimed) > 0 };
  }

  async fail(message: string): Promise<void> {
    this.#assertHeld('fail');
    const text = storableText(String(message));
    const statements = this.#failing(text, this.#hasSavepoint);
    await this.#end('fail', statements, statements.length - 2 - this.#rowEnding.length, [], text);
  }

  async release(): Promise<void> {
    if (this.#state !== 'held') return;
    try {
      await batch(this.#client, `ROLLBACK; ${this.#rowEnding.join('; ')}`);
      this.#state = 'finished';
      this.#outcome = 'release';
      this.#detach();
      this.#lane.ended(true, false);
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
      ? ['ROLLBACK TO SAVEPOINT dtm_work', 'RELEASE SAVEPOINT dtm_work', fail, ...this.#rowEnding, 'COMMIT']
      : [fail, ...this.#rowEnding, 'COMMIT'];
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
  ): Promise<{ ending: pg.QueryResult[]; results: pg.QueryResult[] } | { error: unknown } | undefined> {
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
      this.#lane.ended(true, false);
      return { ending: results.slice(0, statements.length), results: results.slice(statements.length) };
    }
    const doing = `${DOING[outcome]} ${this.#describe()}`;
    const fate = await this.#fate(error);
    if (fate === 'committed') {
      // The slot ended; what failed came after COMMIT (taking the next slot), or on the way back.
      this.#finish(outcome, undefined);
      const isUsable = this.#state !== 'lost' && !isConnectionError(error);
      this.#lane.ended(isUsable, false, isUsable ? undefined : toError(error));
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
   * a live connection): the slot is locked again through its reservation, in a new transaction, and failed,
   * counted and backed off like any failure. If that fails too, the lock is lost and the reservation left, to
   * be counted as abandoned.
   */
  async #recordFailure(message: string): Promise<void> {
    const lock = execute(this.#settings.statements.lockReserved, [this.#laneId]);
    try {
      const results = await batch(
        this.#client,
        ['BEGIN', lock, ...this.#failing(storableText(message), false)].join(';\n'),
      );
      if ((results[1]?.rowCount ?? 0) === 0) throw new Error('the slot was taken meanwhile');
      this.#finish('fail', results[2]?.rows[0] as EndedRow | undefined);
      this.#lane.ended(true, false);
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
    this.#lane.ended(false, true, error ?? new Error('connection ended while holding a slot'));
  }

  #detach(): void {
    clearInterval(this.#heartbeat);
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
 * Counts the abandoned attempts of `name`: reservations older than a second whose slot nobody holds (their
 * holder died, or lost its connection or its lock, without recording an ending). Each is recorded as a failed
 * attempt (history: "the holder went away"), with the backoff its holder's policy gave it, from now, or as the
 * last one when it reaches the name's max_attempts. Also deletes the name's closed reservations that no lane
 * cleared (`freed`: their slots may be due). Never waits on a holder or a lane.
 */
export async function countAbandoned(
  pool: pg.Pool,
  schema: Schema,
  name: string,
): Promise<{ counted: number; freed: number }> {
  const s = schema.sql;
  const { rows } = await pool.query<{ counted: number; freed: number }>(
    `WITH stale AS (
       SELECT lane, name, slot, reserved_at FROM ${s}.attempts
       WHERE name = $1 AND started_at < clock_timestamp() - interval '1 second'
       FOR UPDATE SKIP LOCKED
     ), free AS (
       -- a slot locked now is held: its reservation is not abandoned; one ended since is closed. Each by key,
       -- locked in its LATERAL subquery (see openReservations in holder-statements.ts).
       SELECT t.name, t.slot, stale.lane
       FROM stale
       CROSS JOIN LATERAL (
         SELECT t.name, t.slot FROM ${s}.tasks t
         WHERE t.name = stale.name AND t.slot = stale.slot
           AND (t.acquired_at IS NULL OR t.acquired_at < stale.reserved_at)
         FOR UPDATE SKIP LOCKED
       ) t
     ), removed AS (
       DELETE FROM ${s}.attempts a USING free f
       WHERE a.lane = f.lane
       RETURNING a.name, a.slot, a.worker, a.started_at, a.delay_ms
     ), closed AS (
       -- reservations of the name whose slot has ended since they were made: left by a lane that lost the race
       -- for its slot (another lane locked it first and ended it) and then went away without clearing its row.
       -- Each would keep its slot from every claim (see openReservations in holder-statements.ts).
       DELETE FROM ${s}.attempts r
       USING (SELECT lane FROM ${s}.attempts WHERE name = $1 FOR UPDATE SKIP LOCKED) l
       WHERE r.lane = l.lane AND r.name = $1
         AND NOT EXISTS (SELECT FROM ${s}.tasks t
                         WHERE t.name = r.name AND t.slot = r.slot
                           AND (t.acquired_at IS NULL OR t.acquired_at < r.reserved_at))
       RETURNING r.lane
     ), forgotten AS (
       -- the rows of lanes that reserved nothing for ten minutes (or are gone) and whose last reservation is
       -- closed (a live lane's next reservation inserts its row again)
       DELETE FROM ${s}.attempts r
       WHERE r.started_at < clock_timestamp() - interval '10 minutes'
         AND r.lane NOT IN (SELECT lane FROM closed)
         AND NOT EXISTS (SELECT FROM ${s}.tasks t
                         WHERE t.name = r.name AND t.slot = r.slot AND t.state = 'AVAILABLE'
                           AND (t.acquired_at IS NULL OR t.acquired_at < r.reserved_at))
     ), counted AS (
       UPDATE ${s}.tasks t
       SET failed_attempts = t.failed_attempts + 1,
           message = CASE WHEN t.failed_attempts + 1 >= n.max_attempts
                          THEN ${gaveUpSql('(t.failed_attempts + 1)')}
                          ELSE '' END
                     || format('the holder went away: the attempt %s started at %s never ended (its process died, or it lost its connection or its lock)',
                               r.worker, r.started_at),
           next_attempt_at = CASE WHEN t.failed_attempts + 1 >= n.max_attempts THEN 'infinity'
                                  ELSE clock_timestamp() + r.delay_ms * interval '1 millisecond' END,
           acquired_by = r.worker, acquired_at = r.started_at
       FROM removed r, ${s}.task_names n
       WHERE t.name = r.name AND t.slot = r.slot AND n.name = t.name AND t.state = 'AVAILABLE'
       RETURNING t.name, t.slot, r.worker, r.started_at, t.message
     ), recorded AS (
       -- the attempt of the holder that went away, ended now
       INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
       SELECT name, slot, 'ACQUIRED', 'AVAILABLE', worker, message, clock_timestamp(), started_at FROM counted
       RETURNING *
     ), announced AS (SELECT ${s}.announce(array_agg(r::${s}.task_history)) FROM recorded r)
     SELECT (SELECT count(*) FROM counted)::int AS counted, (SELECT count(*) FROM closed)::int AS freed
     FROM announced`,
    [name],
  );
  return { counted: rows[0]?.counted ?? 0, freed: rows[0]?.freed ?? 0 };
}

/**
 * How long until the soonest failed slot of `name` in [from, to) is due again, in ms (null if none is
 * waiting; slots that gave up are never due), and until the oldest reservation of the name made less than a
 * second ago can be judged (null if none: see countAbandoned).
 */
export async function nextDueIn(
  pool: pg.Pool,
  schema: Schema,
  name: string,
  from: Date,
  to: Date,
): Promise<{ waitMs: number | null; reservedWaitMs: number | null }> {
  const s = schema.sql;
  const { rows } = await pool.query<{ wait_ms: number | null; reserved_wait_ms: number | null }>(
    `SELECT (SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000)::float8
             FROM ${s}.tasks
             WHERE name = $1 AND state = 'AVAILABLE' AND next_attempt_at > now()
               AND next_attempt_at < 'infinity' AND slot >= $2 AND slot < $3) AS wait_ms,
            (SELECT ceil(extract(epoch FROM min(started_at) + interval '1 second' - clock_timestamp()) * 1000)::float8
             FROM ${s}.attempts
             WHERE name = $1 AND started_at >= clock_timestamp() - interval '1 second') AS reserved_wait_ms`,
    [name, from, to],
  );
  const row = rows[0];
  return { waitMs: row?.wait_ms ?? null, reservedWaitMs: row?.reserved_wait_ms ?? null };
}

const DOING = { complete: 'completing', skip: 'skipping', fail: 'failing' } as const;

/** The statement that clears a lane's reservation: the slot was not attempted, or given back unchanged. */
function clearReservation(schema: Schema, lane: number): string {
  return `UPDATE ${schema.sql}.attempts SET name = NULL, slot = NULL WHERE lane = ${lane}`;
}

/** A lane's id: random, so that the lanes of every process tell their reservations apart. */
function newLaneId(): number {
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
