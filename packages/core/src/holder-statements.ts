import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Schema } from './schema.ts';

/**
 * The statements of a holder's hot path, prepared once per connection and run by EXECUTE inside a
 * multi-statement batch: one round trip opens the transaction and locks the slot (`BEGIN; EXECUTE lock…`),
 * one more ends it (`EXECUTE finish…; COMMIT`, after `RELEASE SAVEPOINT dtm_work` if the work took its
 * savepoint: see AcquiredTask.client), and the server does not plan them again for every slot. A worker's lane
 * sends both in one: the batch that completes a slot goes on to take the next (`…; COMMIT; BEGIN; EXECUTE
 * lock…`), so a slot costs one round trip. A batch cannot carry parameters, so EXECUTE's arguments are
 * literals, escaped by `execute`.
 *
 * While held, the row is locked (`FOR UPDATE`: the mutex) but not written: ACQUIRED is never stored. Other
 * sessions learn of the holder from the lock itself (the row's xmax is the id of a running transaction: the
 * `holders` view), the holder from its handle, and the statement that ends the slot records both
 * transitions (AVAILABLE → ACQUIRED at the transaction's start, then ACQUIRED → its end). That spares a
 * row version and a history statement per slot, and lets the ending UPDATE run in the top-level transaction,
 * after RELEASE SAVEPOINT: a row locked by a transaction and then updated by one of its subtransactions gets a
 * MultiXact for its xmax, slow to create, slow for every other worker scanning past it, and not the id of a
 * running transaction (the holder would no longer read as held).
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
  /** $1 name, $2 from (NULL: unbounded), $3 to (NULL: unbounded): the oldest due slot. */
  lockOldest: Prepared;
  /** Same as lockOldest, newest first. */
  lockNewest: Prepared;
  /** $1 name, $2 slot: this exact slot, or 55P03 at once if another worker holds it. */
  lockSlot: Prepared;
  /** $1 name, $2 slot, $3 state (COMPLETE or SKIP), $4 message, $5 worker. */
  finish: Prepared;
  /** $1 name, $2 slot, $3 message, $4 delay before the next attempt in ms, $5 worker. */
  fail: Prepared;
}

export function holderStatements(schema: Schema): HolderStatements {
  const s = schema.sql;
  // What the locking statements return: the committed row, and whether this transaction now holds it. Its
  // columns are listed, so that a column added to the table later does not change a prepared statement's
  // result type (which the server refuses to re-plan: 0A000).
  const held = (isHeld: string) =>
    `t.name, t.slot, t.state, t.created_by, t.created_at, t.acquired_by, t.acquired_at, t.completed_at,
     t.failed_attempts, t.message, t.next_attempt_at, n.interval_ms, ${isHeld} AS is_held,
     current_setting('application_name') AS holder_worker, now() AS holder_since`;
  const lockNext = (order: 'ASC' | 'DESC') =>
    prepared(
      ['text', 'timestamptz', 'timestamptz'],
      `SELECT ${held('true')}
       FROM (
         SELECT *
         FROM ${s}.tasks
         WHERE name = $1
           AND state = 'AVAILABLE'
           AND (next_attempt_at IS NULL OR next_attempt_at <= now())
           AND slot >= coalesce($2, '-infinity')
           AND slot < coalesce($3, 'infinity')
         ORDER BY slot ${order}
         LIMIT 1
         FOR UPDATE SKIP LOCKED
       ) t
       JOIN ${s}.task_names n ON n.name = t.name`,
    );
  const isTakeable = `t.state = 'AVAILABLE' AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now())`;
  // The ending statements record both transitions and announce neither: a notification would make every
  // slot's commit wait for every other's (sql/000006.sql). Subscribers read them from task_history. The
  // INSERT into task_history (`recorded`) runs all the same, as every data-modifying CTE does, read or not.
  return {
    lockOldest: lockNext('ASC'),
    lockNewest: lockNext('DESC'),
    lockSlot: prepared(
      ['text', 'timestamptz'],
      `SELECT ${held(isTakeable)}
       FROM (
         SELECT *
         FROM ${s}.tasks
         WHERE name = $1 AND slot = $2
         FOR UPDATE NOWAIT
       ) t
       JOIN ${s}.task_names n ON n.name = t.name`,
    ),
    finish: prepared(
      ['text', 'timestamptz', 'text', 'text', 'text'],
      `WITH done AS (
         UPDATE ${s}.tasks
         SET state = $3, message = $4, next_attempt_at = NULL,
             acquired_by = $5, acquired_at = now(), completed_at = clock_timestamp()
         WHERE name = $1 AND slot = $2
         RETURNING name, slot, acquired_at, completed_at
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at)
         SELECT name, slot, 'AVAILABLE', 'ACQUIRED', $5, NULL, acquired_at FROM done
         UNION ALL
         SELECT name, slot, 'ACQUIRED', $3, $5, $4, completed_at FROM done
       )
       SELECT FROM done`,
    ),
    fail: prepared(
      ['text', 'timestamptz', 'text', 'bigint', 'text'],
      `WITH failed AS (
         UPDATE ${s}.tasks
         SET state = 'AVAILABLE', message = $3, failed_attempts = failed_attempts + 1,
             next_attempt_at = clock_timestamp() + $4 * interval '1 millisecond',
             acquired_by = $5, acquired_at = now()
         WHERE name = $1 AND slot = $2
         RETURNING name, slot, acquired_at, clock_timestamp() AS failed_at
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at)
         SELECT name, slot, 'AVAILABLE', 'ACQUIRED', $5, NULL, acquired_at FROM failed
         UNION ALL
         SELECT name, slot, 'ACQUIRED', 'AVAILABLE', $5, $3, failed_at FROM failed
       )
       SELECT pg_notify('${schema.workChannel}', name) FROM failed`,
    ),
  };
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

export type Argument = string | Date | number | null;

/** `EXECUTE name(…)` with the arguments as literals, for a batch. */
export function execute(statement: Prepared, args: readonly Argument[]): string {
  return `EXECUTE ${statement.name}(${args.map(literal).join(', ')})`;
}

/**
 * Runs a multi-statement batch in one round trip; one result per statement. `onCompleted(n)` is called as
 * soon as its n-th statement has completed: a batch fails as a whole (the server skips the statements after
 * the one that failed), and only that tells how far it got, COMMIT included.
 */
export function batch(
  client: pg.ClientBase,
  text: string,
  onCompleted?: (count: number) => void,
): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    client.query(
      new CountingQuery(
        text,
        (error, result) => {
          if (error) reject(error);
          else resolve(Array.isArray(result) ? result : [result as pg.QueryResult]);
        },
        onCompleted,
      ),
    );
  });
}

/**
 * A batch's query, counting its CommandComplete messages (node-pg calls `handleCommandComplete` for each: the
 * hook pg-cursor also uses). A subclass, not a method set on each query, so that every query keeps one shape
 * for node-pg's code.
 */
class CountingQuery extends (pg.Query as unknown as new (
  text: string,
  callback: (error: Error | undefined, result: unknown) => void,
) => CommandCompletion) {
  readonly #onCompleted: ((count: number) => void) | undefined;
  #count = 0;

  constructor(
    text: string,
    callback: (error: Error | undefined, result: unknown) => void,
    onCompleted: ((count: number) => void) | undefined,
  ) {
    super(text, callback);
    this.#onCompleted = onCompleted;
  }

  override handleCommandComplete(message: unknown, connection: unknown): void {
    super.handleCommandComplete(message, connection);
    this.#count += 1;
    this.#onCompleted?.(this.#count);
  }
}

interface CommandCompletion extends pg.Query {
  handleCommandComplete(message: unknown, connection: unknown): void;
}

function literal(value: Argument): string {
  if (value === null) return 'NULL';
  if (value instanceof Date) return `'${value.toISOString()}'`;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not an integer: ${value}`);
    return String(value);
  }
  // Most text has neither quote nor backslash, and is quoted as it is, as escapeLiteral would.
  return /['\\]/.test(value) ? pg.escapeLiteral(value) : `'${value}'`;
}
