import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Schema } from './schema.ts';

/**
 * The statements of a holder's hot path, prepared once per connection and run by EXECUTE inside a
 * multi-statement batch: one round trip opens the transaction and locks the slot (`BEGIN; EXECUTE lock…`), one
 * more ends it (`EXECUTE finish…; COMMIT`, after `RELEASE SAVEPOINT dtm_work` if the work took its savepoint:
 * see AcquiredTask.client). A worker's lane sends both in one: the batch that completes a slot goes on to take
 * the next (`…; COMMIT; BEGIN; EXECUTE lock…`), so a slot costs one round trip and one commit. A batch cannot
 * carry parameters, so EXECUTE's arguments are literals, escaped by `execute`.
 *
 * While held, the row is locked (`FOR UPDATE`: the mutex) but not written: ACQUIRED is never stored. Other
 * sessions learn of the holder from the lock itself (the row's xmax is the id of a running transaction: the
 * `holders` view), the holder from its handle, and the statement that ends the slot records both
 * transitions in one history row (ACQUIRED → its end, acquired at the transaction's start: see the
 * `transitions` view, sql/000004.sql). That spares a row version and a history statement per slot, and lets
 * the ending UPDATE run in the top-level transaction, after RELEASE SAVEPOINT: a row locked by a transaction
 * and then updated by one of its subtransactions gets a MultiXact for its xmax, slow to create, slow for every
 * other worker scanning past it, and not the id of a running transaction (the holder would no longer read as
 * held, nor, once gone, as gone).
 *
 * The xmax a locking statement reads is the row's before its own lock: that of the row's last locker. If that
 * transaction aborted, the last holder went away without recording an ending, and the statement says so
 * (`abandoned_xid`): the lane counts that attempt (`abandon`) before it takes the slot (sql/000005.sql).
 */
export interface Prepared extends SetUpStatement {}

/**
 * A statement that a holder's connection runs before it holds a slot, known by its name: a PREPARE, the
 * session settings, the session's name. It runs again only when its declaration changed.
 */
export interface SetUpStatement {
  name: string;
  declaration: string;
}

export interface HolderStatements {
  /** Locks the oldest due slot that nobody holds: $1 name, $2 from (NULL: unbounded), $3 to (NULL: unbounded). */
  lockOldest: Prepared;
  /** Same as lockOldest, newest first. */
  lockNewest: Prepared;
  /** Locks this exact slot if it is due: $1 name, $2 slot; 55P03 at once if another worker holds it. */
  lockSlot: Prepared;
  /** Locks up to $4 of the oldest due slots that nobody holds, oldest first; otherwise as lockOldest. */
  lockBatch: Prepared;
  /** $1 name, $2 slot, $3 state (COMPLETE or SKIP), $4 message, $5 worker. */
  finish: Prepared;
  /** $1 name, $2 slot, $3 message, $4 delay before the next attempt in ms, $5 worker. */
  fail: Prepared;
  /**
   * Counts the abandoned attempt of a held slot whose last holder, transaction $5 (`abandoned_xid`), went away:
   * a failed attempt, found by worker $3, with the delay $4 (ms) before the next one. $1 name, $2 slot.
   */
  abandon: Prepared;
  /**
   * Ends a batch's slots in one statement: $1 name, $2 slots, $3 their outcomes (COMPLETE, SKIP or FAIL), $4
   * their messages, $5 for each failure its delay before the next attempt in ms, $6 worker. Each as `finish`
   * or `fail` would; returns the slots as ended.
   */
  finishBatch: Prepared;
}

/** The slot's columns after an ending statement (`finish`, `fail`, `abandon`). */
export interface EndedRow {
  state: 'AVAILABLE' | 'COMPLETE' | 'SKIP';
  failed_attempts: number;
  message: string | null;
  next_attempt_at: Date | number | null;
  acquired_at: Date;
  completed_at: Date | null;
}

/**
 * The message prefix (SQL) of a slot that gives up with its failed attempt number `n` (an SQL expression):
 * "gave up after 1 attempt: ", "gave up after 3 attempts: ", as `attemptsText` writes it.
 */
export function gaveUpSql(n: string): string {
  return `'gave up after ' || ${n} || CASE WHEN ${n} = 1 THEN ' attempt: ' ELSE ' attempts: ' END`;
}

export function holderStatements(schema: Schema): HolderStatements {
  const s = schema.sql;
  // The due slots of $1 in [$2, $3) that nobody holds, the first `limit` in `order`, locked, each with the
  // xmax it had before (`prior`).
  const dueSlots = (order: 'ASC' | 'DESC', limit: string) =>
    `SELECT *, xmax AS prior
     FROM ${s}.tasks
     WHERE name = $1
       AND state = 'AVAILABLE'
       AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       AND slot >= coalesce($2, '-infinity')
       AND slot < coalesce($3, 'infinity')
     ORDER BY slot ${order}
     LIMIT ${limit}
     FOR UPDATE SKIP LOCKED`;
  // What the locking statements return: the committed row, the transaction now holding it, and the last
  // locker's transaction if it aborted (NULL otherwise). Its columns are listed, so that a column added to the
  // table later does not change a prepared statement's result type (which the server refuses to re-plan:
  // 0A000). The last locker's status is asked of the rows returned only, here rather than in the scan. Its
  // full id is this transaction's less the distance age() gives; a CASE asks in order, so that a value that
  // is no transaction's id (0, or a MultiXact's that would read as one from the future) is never asked about.
  const held = `t.name, t.slot, t.state, t.created_by, t.created_at, t.acquired_by, t.acquired_at,
     t.completed_at, t.failed_attempts, t.message, t.next_attempt_at, n.interval_ms, true AS is_held,
     current_setting('application_name') AS holder_worker, now() AS holder_since,
     pg_current_xact_id()::text AS holder_xid,
     CASE WHEN t.prior = '0'::xid OR age(t.prior) <= 0 THEN NULL
          WHEN pg_xact_status((pg_current_xact_id()::text::bigint - age(t.prior))::text::xid8) = 'aborted'
          THEN t.prior::text
     END AS abandoned_xid`;
  const lockNext = (order: 'ASC' | 'DESC') =>
    prepared(
      ['text', 'timestamptz', 'timestamptz'],
      `SELECT ${held}
       FROM (${dueSlots(order, '1')}) t
       JOIN ${s}.task_names n ON n.name = t.name`,
    );
  const ended = `state, failed_attempts, message, next_attempt_at, acquired_at, completed_at`;
  // The ending statements record both transitions (one row) and announce neither: a notification would make
  // every slot's commit wait for every other's (sql/000001.sql). Subscribers read them from the history. The
  // INSERT into task_history (`recorded`) runs all the same, as every data-modifying CTE does, read or not.
  return {
    lockOldest: lockNext('ASC'),
    lockNewest: lockNext('DESC'),
    // Only a due slot is locked: a lock taken on any other would be rolled back with the empty transaction,
    // and read later as an abandoned attempt.
    lockSlot: prepared(
      ['text', 'timestamptz'],
      `SELECT ${held}
       FROM (
         SELECT *, xmax AS prior
         FROM ${s}.tasks
         WHERE name = $1 AND slot = $2
           AND state = 'AVAILABLE' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
         FOR UPDATE NOWAIT
       ) t
       JOIN ${s}.task_names n ON n.name = t.name`,
    ),
    lockBatch: prepared(
      ['text', 'timestamptz', 'timestamptz', 'integer'],
      `SELECT ${held}
       FROM (${dueSlots('ASC', '$4')}) t
       JOIN ${s}.task_names n ON n.name = t.name
       ORDER BY t.slot`,
    ),
    finish: prepared(
      ['text', 'timestamptz', 'text', 'text', 'text'],
      `WITH done AS (
         UPDATE ${s}.tasks
         SET state = $3, message = $4, next_attempt_at = NULL,
             acquired_by = $5, acquired_at = now(), completed_at = clock_timestamp()
         WHERE name = $1 AND slot = $2
         RETURNING name, slot, ${ended}
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
         SELECT name, slot, 'ACQUIRED', $3, $5, $4, completed_at, acquired_at FROM done
       )
       SELECT ${ended} FROM done`,
    ),
    // A failure that reaches the name's max_attempts gives up: never due again ('infinity') until re-queued.
    fail: prepared(['text', 'timestamptz', 'text', 'bigint', 'text'], failing('$3', '$5', 'now()')),
    // The holder that went away is named if its lane had registered the slot (Lane.#register): an attempt
    // that died within a moment of its start is told as "an attempt", counted by the worker that found it.
    abandon: prepared(
      ['text', 'timestamptz', 'text', 'bigint', 'xid'],
      `WITH gone AS (
         SELECT coalesce(max(worker), $3) AS worker, max(since) AS since,
                format('the holder went away: %s never ended (its process died, or it lost its connection or its lock); counted by %s',
                       coalesce(format('the attempt of %s started at %s', max(worker), max(since)), 'an attempt'), $3) AS message
         FROM ${s}.lanes WHERE name = $1 AND slot = $2 AND xid = $5
       ), ${failing('g.message', 'g.worker', 'coalesce(g.since, now())', 'gone g').slice('WITH '.length)}`,
    ),
    finishBatch: prepared(
      ['text', 'timestamptz[]', 'text[]', 'text[]', 'bigint[]', 'text'],
      `WITH outcome AS (
         SELECT * FROM unnest($2, $3, $4, $5) AS o(slot, outcome, message, delay_ms)
       ), ended AS (
         UPDATE ${s}.tasks t
         SET state = CASE WHEN o.outcome = 'FAIL' THEN 'AVAILABLE' ELSE o.outcome END,
             failed_attempts = t.failed_attempts + CASE WHEN o.outcome = 'FAIL' THEN 1 ELSE 0 END,
             message = CASE WHEN o.outcome = 'FAIL' AND t.failed_attempts + 1 >= n.max_attempts
                            THEN ${gaveUpSql('(t.failed_attempts + 1)')} || o.message
                            ELSE o.message END,
             next_attempt_at = CASE WHEN o.outcome <> 'FAIL' THEN NULL
                                    WHEN t.failed_attempts + 1 >= n.max_attempts THEN 'infinity'
                                    ELSE clock_timestamp() + o.delay_ms * interval '1 millisecond' END,
             acquired_by = $6, acquired_at = now(),
             completed_at = CASE WHEN o.outcome = 'FAIL' THEN t.completed_at ELSE clock_timestamp() END
         FROM outcome o, ${s}.task_names n
         -- slot = ANY($2): looked up by primary key, whatever the name's number of slots
         WHERE t.name = $1 AND t.slot = ANY($2) AND t.slot = o.slot AND n.name = t.name
         RETURNING t.name, t.slot, ${ended
           .split(', ')
           .map((c) => `t.${c}`)
           .join(', ')}, clock_timestamp() AS ended_at
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
         SELECT name, slot, 'ACQUIRED', state, $6, message, ended_at, acquired_at FROM ended
       )
       SELECT slot, ${ended},
              CASE WHEN state = 'AVAILABLE' AND next_attempt_at < 'infinity' THEN pg_notify('${schema.workChannel}', name) END
       FROM ended`,
    ),
  };

  /**
   * A failed attempt of $1 @ $2, $4 ms before the next: its message, actor and start are SQL expressions,
   * over `from` (a FROM item) if given.
   */
  function failing(message: string, actor: string, acquiredAt: string, from?: string): string {
    return `WITH failed AS (
         UPDATE ${s}.tasks t
         SET state = 'AVAILABLE', failed_attempts = t.failed_attempts + 1,
             message = CASE WHEN t.failed_attempts + 1 >= n.max_attempts
                            THEN ${gaveUpSql('(t.failed_attempts + 1)')} || ${message}
                            ELSE ${message} END,
             next_attempt_at = CASE WHEN t.failed_attempts + 1 >= n.max_attempts THEN 'infinity'
                                    ELSE clock_timestamp() + $4 * interval '1 millisecond' END,
             acquired_by = ${actor}, acquired_at = ${acquiredAt}
         FROM ${s}.task_names n${from ? `, ${from}` : ''}
         WHERE t.name = $1 AND t.slot = $2 AND n.name = t.name
         RETURNING t.name, t.slot, t.state, t.failed_attempts, t.message, t.next_attempt_at, t.acquired_at,
                   t.completed_at, clock_timestamp() AS failed_at, ${actor} AS actor
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
         SELECT name, slot, 'ACQUIRED', 'AVAILABLE', actor, message, failed_at, acquired_at FROM failed
       )
       SELECT ${ended}, CASE WHEN next_attempt_at < 'infinity' THEN pg_notify('${schema.workChannel}', name) END
       FROM failed`;
  }
}

function prepared(types: string[], body: string): Prepared {
  const signature = `(${types.join(', ')}) AS\n${body}`;
  const name = `dtm_${createHash('sha256').update(signature).digest('hex').slice(0, 24)}`;
  return { name, declaration: `PREPARE ${name}${signature}` };
}

/** Per connection: the declaration last run under each name. */
const setUpOn = new WeakMap<pg.ClientBase, Map<string, string>>();

/**
 * Runs on `client` those of `statements` whose declaration it has not run under that name yet, one at a
 * time (each is recorded only once it succeeded). Run outside a transaction, so that nothing undoes them.
 * A connection that loses them (DISCARD ALL) must be destroyed, not reused.
 */
export async function setUp(client: pg.ClientBase, statements: readonly SetUpStatement[]): Promise<void> {
  let declarations = setUpOn.get(client);
  if (!declarations) {
    declarations = new Map();
    setUpOn.set(client, declarations);
  }
  for (const statement of statements) {
    if (declarations.get(statement.name) === statement.declaration) continue;
    await client.query(statement.declaration);
    declarations.set(statement.name, statement.declaration);
  }
}

/** Whether `client` has run every one of `statements` as declared (see setUp). */
export function isSetUp(client: pg.ClientBase, statements: readonly SetUpStatement[]): boolean {
  const declarations = setUpOn.get(client);
  return statements.every((statement) => declarations?.get(statement.name) === statement.declaration);
}

type Scalar = string | Date | number | null;
export type Argument = Scalar | readonly Scalar[];

/** `EXECUTE name(…)` with the arguments as literals, for a batch. */
export function execute(statement: Prepared, args: readonly Argument[]): string {
  return `EXECUTE ${statement.name}(${args.map(literal).join(', ')})`;
}

/**
 * Runs a multi-statement batch in one round trip (node-postgres's simple query); one result per statement.
 * A batch fails as a whole: the server skips the statements after the one that failed, and the error does
 * not say which one that was (lane.ts asks the server what became of the transaction instead).
 */
export async function batch(client: pg.ClientBase, text: string): Promise<pg.QueryResult[]> {
  const result: pg.QueryResult | pg.QueryResult[] = await client.query(text);
  return Array.isArray(result) ? result : [result];
}

/** A value as an SQL literal (an array as the text of an array literal). */
export function literal(value: Argument): string {
  if (value === null) return 'NULL';
  // An array as the text of an array literal, which EXECUTE casts to the parameter's array type.
  if (isList(value)) return literal(`{${value.map(arrayElement).join(',')}}`);
  if (value instanceof Date) return `'${value.toISOString()}'`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
    return String(value);
  }
  // Most text has neither quote nor backslash, and is quoted as it is, as escapeLiteral would.
  return /['\\]/.test(value) ? pg.escapeLiteral(value) : `'${value}'`;
}

function isList(value: Argument): value is readonly Scalar[] {
  return Array.isArray(value);
}

function arrayElement(value: Scalar): string {
  if (value === null) return 'NULL';
  if (value instanceof Date) return `"${value.toISOString()}"`;
  if (typeof value === 'number') return literal(value);
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
