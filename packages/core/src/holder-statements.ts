import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Schema } from './schema.ts';

/**
 * The statements of a holder's hot path, prepared once per connection and run by EXECUTE inside a
 * multi-statement batch (see lane.ts for the batches). A slot is taken in two transactions sent in one message:
 * the first reserves it (`claim…`: a row in `attempts`, committed, so that an attempt that never ends is still
 * counted), the second locks it (`lockReserved`) and stays open for the work; the statement that ends the slot
 * (`finish`, `fail`) closes the reservation in that second transaction (by setting the slot's acquired_at). A worker's lane reserves its next slot
 * in the transaction that ends the previous one: `…finish; claim…; COMMIT; BEGIN; lockReserved`, one round
 * trip and one commit per slot. A batch cannot carry parameters, so EXECUTE's arguments are literals, escaped
 * by `execute`.
 *
 * While held, the row is locked (`FOR UPDATE`: the mutex) but not written: ACQUIRED is never stored. Other
 * sessions learn of the holder from the lock itself (the row's xmax is the id of a running transaction: the
 * `holders` view), the holder from its handle, and the statement that ends the slot records both
 * transitions in one history row (ACQUIRED → its end, acquired at the transaction's start: see the
 * `transitions` view, sql/000004.sql). That spares a
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
  /**
   * Reserves the oldest due slot that nobody holds or has reserved. $1 name, $2 from (NULL: unbounded), $3 to
   * (NULL: unbounded), $4 lane, $5 worker, $6-$8 the retry policy (base ms, max ms, jitter) from which the
   * reservation's backoff is computed, should the attempt be abandoned. Writes the lane's row whatever it
   * finds (no slot when none is due); returns the slot reserved (null: none).
   */
  claimOldest: Prepared;
  /** Same as claimOldest, newest first. */
  claimNewest: Prepared;
  /**
   * Reserves this exact slot if it is due and not reserved; 55P03 at once if another worker holds it.
   * $1 name, $2 slot, $3 lane, $4 worker, $5-$7 the retry policy.
   */
  claimSlot: Prepared;
  /** $1 lane: locks the slot the lane reserved, if it is still AVAILABLE and nobody holds it. */
  lockReserved: Prepared;
  /**
   * $1 name, $2 slot, $3 state (COMPLETE or SKIP), $4 message, $5 worker; closes the slot's reservation (its
   * transaction must also replace or clear the lane's row: see openReservations).
   */
  finish: Prepared;
  /** $1 name, $2 slot, $3 message, $4 delay before the next attempt in ms, $5 worker; as finish. */
  fail: Prepared;
  /**
   * A batch lane's claim: reserves up to $9 of the oldest due slots, one per lane id from $4 up ($4, $4 + 1,
   * …), and writes the rows of all $9 ids; otherwise as claimOldest.
   */
  claimBatch: Prepared;
  /** $1 first lane id, $2 how many: locks the slots those ids reserved (see lockReserved). */
  lockBatch: Prepared;
  /**
   * Ends a batch's slots in one statement: $1 name, $2 slots, $3 their outcomes (COMPLETE, SKIP or FAIL), $4
   * their messages, $5 for each failure its delay before the next attempt in ms, $6 worker. Each as `finish`
   * or `fail` would; returns the slots as ended.
   */
  finishBatch: Prepared;
}

/**
 * How many slots a claim's result reserved: a claim writes its lane's rows whether it found slots or not, and
 * returns each row's slot (null: none).
 */
export function reservedCount(claimed: pg.QueryResult | undefined): number {
  return (claimed?.rows ?? []).filter((row: { slot: Date | null }) => row.slot !== null).length;
}

/** The slot's columns after an ending statement (`finish`, `fail`). */
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
  // The backoff of an attempt that would be the slot's (failed_attempts + 1)-th failure: retryDelay() in SQL.
  const delay = (base: string, max: string, jitter: string) =>
    `greatest(0, round(least(${max}, ${base} * 2 ^ least(t.failed_attempts, 40))
       * (1 + ${jitter} * (2 * random() - 1))))::bigint`;
  // A reservation is open until its slot's ending is recorded: the ending sets acquired_at to the holding
  // transaction's start, never before the start of the transaction that reserved it (reserved_at; both are
  // now(), which is the same for every transaction of one message). So the ending need
  // not touch the lane's row, and a lane's row is written once per slot.
  const isOpen = `(t.acquired_at IS NULL OR t.acquired_at < r.reserved_at)`;
  // The open reservations of a name, as a set the statement computes once (a hashed subplan): checking each
  // candidate slot against the reservations instead would read every lane's row for each slot that other
  // lanes hold, which grows with the square of the slots held at once. A lane's row names a slot only while
  // its attempt is open: the transaction that records the slot's ending also replaces the row (the next
  // claim) or clears it, so a row never has to be checked against its slot here (isOpen still holds for it).
  const openReservations = (name: string) =>
    `SELECT r.name, r.slot FROM ${s}.attempts r WHERE r.name = ${name}`;
  // The due slots of $1 in [$2, $3) that nobody holds or has reserved, the first `limit` in `order`, locked.
  const dueSlots = (order: 'ASC' | 'DESC', limit: string) =>
    `SELECT name, slot, failed_attempts
     FROM ${s}.tasks t
     WHERE name = $1
       AND state = 'AVAILABLE'
       AND (next_attempt_at IS NULL OR next_attempt_at <= now())
       AND slot >= coalesce($2, '-infinity')
       AND slot < coalesce($3, 'infinity')
       AND (name, slot) NOT IN (${openReservations('$1')})
     ORDER BY slot ${order}
     LIMIT ${limit}
     FOR UPDATE SKIP LOCKED`;
  // The lane's row is written in place: a new lane's first reservation inserts it.
  const reserve = `ON CONFLICT (lane) DO UPDATE
       SET name = excluded.name, slot = excluded.slot, worker = excluded.worker,
           started_at = excluded.started_at, reserved_at = excluded.reserved_at, delay_ms = excluded.delay_ms`;
  // A worker's claim always writes its lane's row, with no slot when none is due: it replaces the reservation
  // of the slot whose ending runs in the same transaction (see openReservations). Returns the slot reserved.
  const claimNext = (order: 'ASC' | 'DESC') =>
    prepared(
      ['text', 'timestamptz', 'timestamptz', 'bigint', 'text', 'float8', 'float8', 'float8'],
      `INSERT INTO ${s}.attempts AS a (lane, name, slot, worker, started_at, reserved_at, delay_ms)
       SELECT $4, t.name, t.slot, $5, clock_timestamp(), now(), coalesce(${delay('$6', '$7', '$8')}, 0)
       FROM (SELECT) AS one
       LEFT JOIN LATERAL (${dueSlots(order, '1')}) t ON true
       ${reserve}
       RETURNING a.slot`,
    );
  // What the locking statement returns: the committed row, and the reservation and transaction holding it.
  // Its columns are listed, so that a column added to the table later does not change a prepared statement's
  // result type (which the server refuses to re-plan: 0A000).
  const held = `t.name, t.slot, t.state, t.created_by, t.created_at, t.acquired_by, t.acquired_at,
     t.completed_at, t.failed_attempts, t.message, t.next_attempt_at, n.interval_ms, true AS is_held,
     current_setting('application_name') AS holder_worker, now() AS holder_since,
     pg_current_xact_id()::text AS holder_xid`;
  const ended = `state, failed_attempts, message, next_attempt_at, acquired_at, completed_at`;
  // The ending statements record both transitions (one row) and announce neither: a notification would make
  // every slot's commit wait for every other's (sql/000001.sql). Subscribers read them from the history. The
  // INSERT into task_history (`recorded`) runs all the same, as every data-modifying CTE does, read or not.
  return {
    claimOldest: claimNext('ASC'),
    claimNewest: claimNext('DESC'),
    claimSlot: prepared(
      ['text', 'timestamptz', 'bigint', 'text', 'float8', 'float8', 'float8'],
      `INSERT INTO ${s}.attempts AS a (lane, name, slot, worker, started_at, reserved_at, delay_ms)
       SELECT $3, t.name, t.slot, $4, clock_timestamp(), now(), ${delay('$5', '$6', '$7')}
       FROM (
         SELECT name, slot, failed_attempts
         FROM ${s}.tasks t
         WHERE name = $1 AND slot = $2
           AND state = 'AVAILABLE' AND (next_attempt_at IS NULL OR next_attempt_at <= now())
           AND NOT EXISTS (SELECT FROM ${s}.attempts r WHERE r.name = t.name AND r.slot = t.slot AND ${isOpen})
         FOR UPDATE NOWAIT
       ) t
       ${reserve}`,
    ),
    lockReserved: prepared(
      ['bigint'],
      `SELECT ${held}
       FROM (
         SELECT t.*
         FROM ${s}.attempts a
         JOIN ${s}.tasks t ON t.name = a.name AND t.slot = a.slot
         WHERE a.lane = $1 AND t.state = 'AVAILABLE' AND (t.acquired_at IS NULL OR t.acquired_at < a.reserved_at)
         FOR UPDATE OF t SKIP LOCKED
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
         RETURNING name, slot, ${ended}
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
         SELECT name, slot, 'ACQUIRED', $3, $5, $4, completed_at, acquired_at FROM done
       )
       SELECT ${ended} FROM done`,
    ),
    // A failure that reaches the name's max_attempts gives up: never due again ('infinity') until re-queued.
    fail: prepared(
      ['text', 'timestamptz', 'text', 'bigint', 'text'],
      `WITH failed AS (
         UPDATE ${s}.tasks t
         SET state = 'AVAILABLE', failed_attempts = t.failed_attempts + 1,
             message = CASE WHEN t.failed_attempts + 1 >= n.max_attempts
                            THEN ${gaveUpSql('(t.failed_attempts + 1)')} || $3
                            ELSE $3 END,
             next_attempt_at = CASE WHEN t.failed_attempts + 1 >= n.max_attempts THEN 'infinity'
                                    ELSE clock_timestamp() + $4 * interval '1 millisecond' END,
             acquired_by = $5, acquired_at = now()
         FROM ${s}.task_names n
         WHERE t.name = $1 AND t.slot = $2 AND n.name = t.name
         RETURNING t.name, t.slot, t.state, t.failed_attempts, t.message, t.next_attempt_at, t.acquired_at,
                   t.completed_at, clock_timestamp() AS failed_at
       ), recorded AS (
         INSERT INTO ${s}.task_history (name, slot, from_state, to_state, actor, message, at, acquired_at)
         SELECT name, slot, 'ACQUIRED', 'AVAILABLE', $5, message, failed_at, acquired_at FROM failed
       )
       SELECT ${ended}, CASE WHEN next_attempt_at < 'infinity' THEN pg_notify('${schema.workChannel}', name) END
       FROM failed`,
    ),
    // Writes all $9 rows of the lane's ids, those beyond the due slots found with no slot (see claimNext).
    claimBatch: prepared(
      ['text', 'timestamptz', 'timestamptz', 'bigint', 'text', 'float8', 'float8', 'float8', 'integer'],
      `INSERT INTO ${s}.attempts AS a (lane, name, slot, worker, started_at, reserved_at, delay_ms)
       SELECT $4 + i.n, t.name, t.slot, $5, clock_timestamp(), now(), coalesce(${delay('$6', '$7', '$8')}, 0)
       FROM generate_series(0, $9 - 1) AS i (n)
       LEFT JOIN (
         SELECT row_number() OVER (ORDER BY d.slot) - 1 AS n, d.* FROM (${dueSlots('ASC', '$9')}) d
       ) t ON t.n = i.n
       ${reserve}
       RETURNING a.slot`,
    ),
    lockBatch: prepared(
      ['bigint', 'integer'],
      // Each reserved slot by key, locked in its LATERAL subquery (see openReservations).
      `SELECT ${held}
       FROM ${s}.attempts a
       CROSS JOIN LATERAL (
         SELECT t.*
         FROM ${s}.tasks t
         WHERE t.name = a.name AND t.slot = a.slot
           AND t.state = 'AVAILABLE' AND (t.acquired_at IS NULL OR t.acquired_at < a.reserved_at)
         FOR UPDATE SKIP LOCKED
       ) t
       JOIN ${s}.task_names n ON n.name = t.name
       WHERE a.lane >= $1 AND a.lane < $1 + $2
       ORDER BY t.slot`,
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
